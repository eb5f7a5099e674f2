//! A local S3: moto's server (`pip install 'moto[server]'`), started by the test
//! on a free loopback port and killed when dropped. moto takes the access key
//! from the `Authorization` header without checking the signature, so a plain
//! request carrying one is "another S3 client". (With no header at all it is
//! anonymous, and moto refuses it objects that already exist: 403.)

use std::path::PathBuf;

use megamon_store::{HistoryStore, StoreOptions};

use super::conformance::Backend;
use super::emulator::Emulator;
use super::http;

pub struct MotoServer {
    _emulator: Emulator,
    pub port: u16,
}

impl MotoServer {
    pub async fn start() -> MotoServer {
        let python = python_with_moto();
        let port = super::free_port();
        let args = [
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ]
        .map(String::from);
        let emulator = Emulator::start("moto", &python, &args, port, |port| {
            http::request(port, "GET", "/", &[], b"").is_ok_and(|r| r.status == 200)
        })
        .await;
        MotoServer {
            _emulator: emulator,
            port,
        }
    }

    /// Creates a bucket with a plain unsigned request.
    pub fn create_bucket(&self, bucket: &str) {
        let r = http::request(self.port, "PUT", &format!("/{bucket}"), &[], b"")
            .expect("create bucket");
        assert_eq!(r.status, 200, "creating bucket {bucket}: {}", r.text());
    }

    pub fn options(&self) -> StoreOptions {
        options_for_port(self.port)
    }

    /// The conformance suite's view of `s3://{bucket}/...` on this server.
    pub fn backend(&self, bucket: &str) -> MotoBucket<'_> {
        self.create_bucket(bucket);
        MotoBucket {
            moto: self,
            bucket: bucket.to_string(),
        }
    }
}

/// python3, provided it has moto's server; panics with the install step otherwise.
fn python_with_moto() -> PathBuf {
    let probe = std::process::Command::new("python3")
        .args(["-c", "import moto.server"])
        .output();
    match probe {
        Ok(out) if out.status.success() => PathBuf::from("python3"),
        Ok(out) => panic!(
            "the S3 tests need moto's server: install it with `pip install 'moto[server]'` \
             (scripts/test does). python3 said: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => panic!(
            "the S3 tests need python3 with moto's server (`pip install 'moto[server]'`): {e}"
        ),
    }
}

/// Options for an S3 endpoint on a loopback port, with moto's test credentials.
pub fn options_for_port(port: u16) -> StoreOptions {
    StoreOptions::without_environment()
        .with("aws_endpoint", format!("http://127.0.0.1:{port}"))
        .with("aws_allow_http", "true")
        .with("aws_region", "us-east-1")
        .with("aws_access_key_id", "testing")
        .with("aws_secret_access_key", "testing")
}

/// moto's test access key, in a header whose signature moto does not check.
fn authorization() -> (&'static str, String) {
    (
        "Authorization",
        "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/s3/aws4_request, \
         SignedHeaders=host, Signature=0"
            .to_string(),
    )
}

pub struct MotoBucket<'a> {
    moto: &'a MotoServer,
    bucket: String,
}

impl MotoBucket<'_> {
    fn target(&self, dir: &str, file: &str) -> String {
        http::encode_path(&format!("/{}/{dir}/{file}", self.bucket))
    }
}

impl Backend for MotoBucket<'_> {
    fn open(&self, dir: &str) -> HistoryStore {
        HistoryStore::open_with(&format!("s3://{}/{dir}", self.bucket), &self.moto.options())
            .unwrap()
    }

    fn put_plain(&self, dir: &str, file: &str, bytes: &[u8]) {
        let r = http::request(
            self.moto.port,
            "PUT",
            &self.target(dir, file),
            &[authorization()],
            bytes,
        )
        .expect("plain S3 PUT");
        assert_eq!(r.status, 200, "plain S3 PUT: {}", r.text());
    }

    fn get_plain(&self, dir: &str, file: &str) -> Option<Vec<u8>> {
        let r = http::request(
            self.moto.port,
            "GET",
            &self.target(dir, file),
            &[authorization()],
            b"",
        )
        .expect("plain S3 GET");
        match r.status {
            200 => Some(r.body),
            404 => None,
            other => panic!("plain S3 GET: {other} {}", r.text()),
        }
    }
}

//! Azurite, Microsoft's Azure Storage emulator (npm `azurite`, blob service
//! only), started by the test on a free loopback port with in-memory storage
//! and telemetry off, killed when dropped.
//!
//! Azurite checks Shared Key signatures, so the plain client here signs its
//! requests with the emulator's well-known account key, as any Azure client does.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use megamon_store::{HistoryStore, StoreOptions};

use super::conformance::Backend;
use super::emulator::{Emulator, find_program};
use super::http::{self, Response, encode_path};

/// Azurite's well-known development account and key.
pub const ACCOUNT: &str = "devstoreaccount1";
pub const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

pub struct Azurite {
    _emulator: Emulator,
    pub port: u16,
}

impl Azurite {
    pub async fn start() -> Azurite {
        Self::start_on(super::free_port()).await
    }

    /// Starts on a given port (e.g. the one of an Azurite stopped before).
    pub async fn start_on(port: u16) -> Azurite {
        let program = find_program(
            "Azurite",
            "MEGAMON_AZURITE_BLOB",
            &["azurite-blob"],
            || None,
            "npm install -g azurite",
        );
        let args = [
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            &port.to_string(),
            "--inMemoryPersistence",
            // Azurite reports usage over the network unless told not to.
            "--disableTelemetry",
            "--silent",
            // object_store may send a newer x-ms-version than this Azurite knows.
            "--skipApiVersionCheck",
        ]
        .map(String::from);
        let emulator = Emulator::start("Azurite", &program, &args, port, |port| {
            // Any answer will do: unsigned, it is 403.
            http::request(port, "GET", "/", &[], b"").is_ok()
        })
        .await;
        Azurite {
            _emulator: emulator,
            port,
        }
    }

    /// Store options for this Azurite: the account, its key and endpoint.
    pub fn options(&self) -> StoreOptions {
        options_for_port(self.port)
    }

    /// A request signed with the account key (Shared Key authorisation).
    pub fn signed(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        headers: &[(&str, String)],
        body: &[u8],
    ) -> Response {
        let date = jiff::fmt::rfc2822::DateTimePrinter::new()
            .timestamp_to_rfc9110_string(&jiff::Timestamp::now())
            .expect("an HTTP date");
        let mut all: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
            .collect();
        all.push(("x-ms-date".into(), date));
        all.push(("x-ms-version".into(), "2021-08-06".into()));
        let path = encode_path(&format!("/{ACCOUNT}{path}"));
        let authorization = shared_key(method, &path, query, &all, body.len());
        all.push(("authorization".into(), authorization));
        let mut target = path;
        for (i, (name, value)) in query.iter().enumerate() {
            target.push(if i == 0 { '?' } else { '&' });
            target.push_str(&format!("{name}={}", http::encode_query(value)));
        }
        let headers: Vec<(&str, String)> =
            all.iter().map(|(n, v)| (n.as_str(), v.clone())).collect();
        http::request(self.port, method, &target, &headers, body).expect("request to Azurite")
    }

    pub fn create_container(&self, container: &str) {
        let r = self.signed(
            "PUT",
            &format!("/{container}"),
            &[("restype", "container")],
            &[],
            b"",
        );
        assert_eq!(
            r.status,
            201,
            "creating container {container}: {}",
            r.text()
        );
    }

    /// The conformance suite's view of `az://{container}/...` here.
    pub fn backend(&self, container: &str) -> AzuriteContainer<'_> {
        self.create_container(container);
        AzuriteContainer {
            azurite: self,
            container: container.to_string(),
        }
    }
}

/// Options for an Azurite on a loopback port, with its well-known account.
pub fn options_for_port(port: u16) -> StoreOptions {
    StoreOptions::without_environment()
        .with("azure_storage_account_name", ACCOUNT)
        .with("azure_storage_account_key", KEY)
        .with(
            "azure_storage_endpoint",
            format!("http://127.0.0.1:{port}/{ACCOUNT}"),
        )
        .with("azure_allow_http", "true")
}

/// The `Authorization` value for a request: the Blob service's Shared Key
/// scheme (string to sign: verb, the standard headers, the `x-ms-` headers
/// sorted, then `/account/path` and the query parameters sorted).
fn shared_key(
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    headers: &[(String, String)],
    length: usize,
) -> String {
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let length = if length == 0 {
        String::new()
    } else {
        length.to_string()
    };
    let mut to_sign = format!(
        "{method}\n{}\n{}\n{length}\n{}\n{}\n\n{}\n{}\n{}\n{}\n{}\n",
        header("content-encoding"),
        header("content-language"),
        header("content-md5"),
        header("content-type"),
        header("if-modified-since"),
        header("if-match"),
        header("if-none-match"),
        header("if-unmodified-since"),
        header("range"),
    );
    let mut ms: Vec<&(String, String)> = headers
        .iter()
        .filter(|(n, _)| n.starts_with("x-ms-"))
        .collect();
    ms.sort();
    for (name, value) in ms {
        to_sign.push_str(&format!("{name}:{value}\n"));
    }
    to_sign.push_str(&format!("/{ACCOUNT}{path}"));
    let mut query: Vec<&(&str, &str)> = query.iter().collect();
    query.sort();
    for (name, value) in query {
        to_sign.push_str(&format!("\n{}:{value}", name.to_ascii_lowercase()));
    }
    let key = ring::hmac::Key::new(
        ring::hmac::HMAC_SHA256,
        &BASE64.decode(KEY).expect("the well-known key is base64"),
    );
    let signature = ring::hmac::sign(&key, to_sign.as_bytes());
    format!("SharedKey {ACCOUNT}:{}", BASE64.encode(signature.as_ref()))
}

pub struct AzuriteContainer<'a> {
    azurite: &'a Azurite,
    container: String,
}

impl Backend for AzuriteContainer<'_> {
    fn open(&self, dir: &str) -> HistoryStore {
        HistoryStore::open_with(
            &format!("az://{}/{dir}", self.container),
            &self.azurite.options(),
        )
        .unwrap()
    }

    /// Put Blob, as the Azure SDKs and azcopy do for small files.
    fn put_plain(&self, dir: &str, file: &str, bytes: &[u8]) {
        let r = self.azurite.signed(
            "PUT",
            &format!("/{}/{dir}/{file}", self.container),
            &[],
            &[("x-ms-blob-type", "BlockBlob".into())],
            bytes,
        );
        assert_eq!(r.status, 201, "plain Put Blob: {}", r.text());
    }

    fn get_plain(&self, dir: &str, file: &str) -> Option<Vec<u8>> {
        let r = self.azurite.signed(
            "GET",
            &format!("/{}/{dir}/{file}", self.container),
            &[],
            &[],
            b"",
        );
        match r.status {
            200 => Some(r.body),
            404 => None,
            other => panic!("plain Get Blob: {other} {}", r.text()),
        }
    }
}

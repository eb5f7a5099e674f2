//! A local S3: moto's server (`pip install 'moto[server]'`), started by the test
//! on a free loopback port and killed when dropped.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use megamon_store::StoreOptions;

pub struct MotoServer {
    child: Child,
    pub port: u16,
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl MotoServer {
    pub async fn start() -> MotoServer {
        let probe = Command::new("python3")
            .args(["-c", "import moto.server"])
            .output();
        match probe {
            Ok(out) if out.status.success() => {}
            Ok(out) => panic!(
                "the S3 tests need moto's server: install it with `pip install 'moto[server]'` \
                 (scripts/test does). python3 said: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(e) => panic!(
                "the S3 tests need python3 with moto's server (`pip install 'moto[server]'`): {e}"
            ),
        }
        let port = super::free_port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start python3 -m moto.server");
        let mut server = MotoServer { child, port };
        super::wait_for("moto to listen", Duration::from_secs(30), async || {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("moto exited early: {status}");
            }
            http(port, "GET", "/").ok()
        })
        .await;
        server
    }

    /// Creates a bucket with a plain unsigned request (moto does not check signatures).
    pub fn create_bucket(&self, bucket: &str) {
        let status = http(self.port, "PUT", &format!("/{bucket}")).expect("create bucket");
        assert_eq!(status, 200, "creating bucket {bucket}");
    }

    pub fn options(&self) -> StoreOptions {
        options_for_port(self.port)
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

/// One HTTP/1.1 request without a body; returns the status code.
fn http(port: u16, method: &str, path: &str) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad response {response:?}")))
}

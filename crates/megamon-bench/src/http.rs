//! A minimal HTTP/1.1 client over loopback TCP: the benchmark times requests
//! itself and talks to two local servers only (the simulator without auth, the
//! monitor's plain /metrics and probes), so a small blocking client keeps its
//! own cost visible and out of the way.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{method} http://{addr}{path}: {source}")]
    Io {
        method: String,
        addr: String,
        path: String,
        source: std::io::Error,
    },
    #[error("{method} http://{addr}{path}: malformed response: {what}")]
    Malformed {
        method: String,
        addr: String,
        path: String,
        what: String,
    },
}

/// A response: status and whole body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One keep-alive connection to `addr`, reopened when the server closes it.
pub struct Conn {
    addr: String,
    stream: Option<BufReader<TcpStream>>,
}

impl Conn {
    pub fn new(addr: &str) -> Conn {
        Conn {
            addr: addr.to_string(),
            stream: None,
        }
    }

    pub fn get(&mut self, path: &str) -> Result<Response, HttpError> {
        self.send("GET", path, None, &[])
    }

    /// Sends one request; a reused connection the server closed meanwhile is
    /// reopened once.
    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Response, HttpError> {
        let reused = self.stream.is_some();
        match self.try_send(method, path, content_type, body) {
            Err(Attempt::Stale) if reused => {
                self.stream = None;
                self.try_send(method, path, content_type, body)
            }
            other => other,
        }
        .map_err(|e| match e {
            Attempt::Stale => HttpError::Io {
                method: method.into(),
                addr: self.addr.clone(),
                path: path.into(),
                source: std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed before a response",
                ),
            },
            Attempt::Io(source) => HttpError::Io {
                method: method.into(),
                addr: self.addr.clone(),
                path: path.into(),
                source,
            },
            Attempt::Malformed(what) => HttpError::Malformed {
                method: method.into(),
                addr: self.addr.clone(),
                path: path.into(),
                what,
            },
        })
    }

    fn try_send(
        &mut self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Response, Attempt> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(&self.addr).map_err(Attempt::Io)?;
            stream.set_nodelay(true).map_err(Attempt::Io)?;
            stream
                .set_read_timeout(Some(Duration::from_secs(120)))
                .map_err(Attempt::Io)?;
            self.stream = Some(BufReader::with_capacity(64 * 1024, stream));
        }
        let Some(reader) = self.stream.as_mut() else {
            return Err(Attempt::Stale);
        };
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        if let Some(ct) = content_type {
            head.push_str(&format!("Content-Type: {ct}\r\n"));
        }
        head.push_str("\r\n");
        let stream = reader.get_mut();
        let written = stream
            .write_all(head.as_bytes())
            .and_then(|_| stream.write_all(body));
        if written.is_err() {
            return Err(Attempt::Stale);
        }
        let (status, framing, close) = match read_head(reader) {
            Ok(h) => h,
            Err(Attempt::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(Attempt::Stale);
            }
            Err(e) => return Err(e),
        };
        let body = read_body(reader, framing)?;
        if close {
            self.stream = None;
        }
        Ok(Response { status, body })
    }
}

enum Attempt {
    /// The connection was closed before the request got an answer.
    Stale,
    Io(std::io::Error),
    Malformed(String),
}

#[derive(Debug, Clone, Copy)]
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

fn read_line(reader: &mut impl BufRead) -> Result<String, Attempt> {
    let mut line = String::new();
    let n = reader.read_line(&mut line).map_err(Attempt::Io)?;
    if n == 0 {
        return Err(Attempt::Io(std::io::ErrorKind::UnexpectedEof.into()));
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn read_head(reader: &mut impl BufRead) -> Result<(u16, Framing, bool), Attempt> {
    let status_line = read_line(reader)?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Attempt::Malformed(format!("status line {status_line:?}")))?;
    let mut framing = Framing::UntilClose;
    let mut close = false;
    loop {
        let line = read_line(reader)?;
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => {
                framing = Framing::Length(
                    value
                        .parse()
                        .map_err(|_| Attempt::Malformed(format!("content-length {value:?}")))?,
                );
            }
            "transfer-encoding" if value.eq_ignore_ascii_case("chunked") => {
                framing = Framing::Chunked;
            }
            "connection" if value.eq_ignore_ascii_case("close") => close = true,
            _ => {}
        }
    }
    if matches!(framing, Framing::UntilClose) {
        close = true;
    }
    Ok((status, framing, close))
}

fn read_body(reader: &mut impl BufRead, framing: Framing) -> Result<Vec<u8>, Attempt> {
    let mut body = Vec::new();
    match framing {
        Framing::Length(n) => {
            body.resize(n, 0);
            reader.read_exact(&mut body).map_err(Attempt::Io)?;
        }
        Framing::UntilClose => {
            reader.read_to_end(&mut body).map_err(Attempt::Io)?;
        }
        Framing::Chunked => {
            let mut chunks = Chunks { reader };
            while let Some(chunk) = chunks.next_chunk()? {
                body.extend_from_slice(&chunk);
            }
        }
    }
    Ok(body)
}

/// Chunked transfer decoding, one chunk at a time.
struct Chunks<'a, R: BufRead> {
    reader: &'a mut R,
}

impl<R: BufRead> Chunks<'_, R> {
    fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, Attempt> {
        let size_line = read_line(self.reader)?;
        let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| Attempt::Malformed(format!("chunk size {size_line:?}")))?;
        if size == 0 {
            // Trailers, then the blank line.
            while !read_line(self.reader)?.is_empty() {}
            return Ok(None);
        }
        let mut chunk = vec![0; size];
        self.reader.read_exact(&mut chunk).map_err(Attempt::Io)?;
        read_line(self.reader)?;
        Ok(Some(chunk))
    }
}

/// Follows a streaming response (a watch) line by line until `each` returns
/// false or the server closes it. Returns an error only if it could not start.
pub fn stream_lines(
    addr: &str,
    path: &str,
    mut each: impl FnMut(&[u8]) -> bool,
) -> Result<(), HttpError> {
    let io = |source| HttpError::Io {
        method: "GET".into(),
        addr: addr.into(),
        path: path.into(),
        source,
    };
    let mut stream = TcpStream::connect(addr).map_err(io)?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\n\r\n"
    )
    .map_err(io)?;
    let mut reader = BufReader::with_capacity(256 * 1024, stream);
    let malformed = |what: String| HttpError::Malformed {
        method: "GET".into(),
        addr: addr.into(),
        path: path.into(),
        what,
    };
    let (status, framing, _) = read_head(&mut reader).map_err(|e| match e {
        Attempt::Io(e) => io(e),
        Attempt::Stale => malformed("closed before a response".into()),
        Attempt::Malformed(w) => malformed(w),
    })?;
    if status != 200 {
        return Err(malformed(format!("status {status}")));
    }
    let mut pending: Vec<u8> = Vec::new();
    let mut feed = |data: &[u8], pending: &mut Vec<u8>| -> bool {
        pending.extend_from_slice(data);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let keep_going = each(&pending[..end]);
            pending.drain(..=end);
            if !keep_going {
                return false;
            }
        }
        true
    };
    match framing {
        Framing::Chunked => {
            let mut chunks = Chunks {
                reader: &mut reader,
            };
            while let Ok(Some(chunk)) = chunks.next_chunk() {
                if !feed(&chunk, &mut pending) {
                    break;
                }
            }
        }
        _ => {
            let mut buf = vec![0; 64 * 1024];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 || !feed(&buf[..n], &mut pending) {
                    break;
                }
            }
        }
    }
    Ok(())
}

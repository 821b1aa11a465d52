//! A minimal HTTP/1.1 client for the firmware download: one GET per
//! connection (`Connection: close`), an optional `Range: bytes=N-`, a body
//! delimited by Content-Length. It runs over any [`Transport`]; the OTA
//! session gives it a TLS connection verified against the configured CA.

use crate::transport::{Transport, TransportError};
use std::time::{Duration, Instant};

/// Largest response head accepted.
const MAX_HEAD: usize = 8 * 1024;

/// An `https://host[:port]/path?query` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub target: String,
}

/// Parses a download URL. Only `https` is accepted: the image is never
/// fetched without verifying the server.
pub fn parse_url(url: &str) -> Result<Url, String> {
    let Some(rest) = url.strip_prefix("https://") else {
        let scheme = url.split("://").next().unwrap_or("");
        return Err(if url.contains("://") {
            format!("the download URL uses {scheme}://; only https:// is accepted (the server must be verified)")
        } else {
            "the download URL is not an https:// URL".to_owned()
        });
    };
    let (authority, target) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let target = if target.starts_with('?') {
        format!("/{target}")
    } else {
        target.to_owned()
    };
    if authority.contains('@') {
        return Err("the download URL carries user information, which is not supported".to_owned());
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| "the download URL's IPv6 address lacks its closing ']'".to_owned())?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("the download URL has no host".to_owned());
    }
    let port = match port {
        None => 443,
        Some(p) => p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| {
            format!("the download URL's port {p:?} is not a number from 1 to 65535")
        })?,
    };
    if target.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err("the download URL holds spaces or control characters".to_owned());
    }
    Ok(Url {
        host: host.to_owned(),
        port,
        target,
    })
}

/// Why a download step failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// The connection broke or closed early: resuming with a Range may work.
    Cut(String),
    /// Resuming cannot help; the sentence says why.
    Fatal(String),
}

/// The request for `url`, from byte `from` on.
pub fn request(url: &Url, from: u64) -> String {
    let host = if url.host.contains(':') {
        format!("[{}]", url.host)
    } else {
        url.host.clone()
    };
    let range = if from > 0 {
        format!("Range: bytes={from}-\r\n")
    } else {
        String::new()
    };
    format!(
        "GET {} HTTP/1.1\r\nHost: {host}:{}\r\nUser-Agent: iotkit-rs-ota\r\nAccept: */*\r\n{range}Connection: close\r\n\r\n",
        url.target, url.port
    )
}

/// What a response head says about the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    pub content_length: Option<u64>,
    /// `Content-Range: bytes START-END/TOTAL`.
    pub content_range: Option<(u64, u64, Option<u64>)>,
    pub chunked: bool,
}

/// Parses a response head (everything before the blank line).
pub fn parse_head(head: &[u8]) -> Result<Head, String> {
    let text = std::str::from_utf8(head)
        .map_err(|_| "the download server's response head is not text".to_owned())?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    let status = parts.next().and_then(|s| s.parse::<u16>().ok());
    let (true, Some(status)) = (version.starts_with("HTTP/1."), status) else {
        return Err(format!(
            "the download server did not answer with HTTP/1.x (status line {:?})",
            status_line.chars().take(60).collect::<String>()
        ));
    };
    let mut out = Head {
        status,
        content_length: None,
        content_range: None,
        chunked: false,
    };
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            out.content_length = Some(value.parse::<u64>().map_err(|_| {
                format!("the download server sent an invalid Content-Length {value:?}")
            })?);
        } else if name.eq_ignore_ascii_case("content-range") {
            out.content_range = Some(parse_content_range(value).ok_or_else(|| {
                format!("the download server sent an invalid Content-Range {value:?}")
            })?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            out.chunked = value.to_ascii_lowercase().contains("chunked");
        }
    }
    Ok(out)
}

fn parse_content_range(value: &str) -> Option<(u64, u64, Option<u64>)> {
    let rest = value.strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (start, end) = range.split_once('-')?;
    let total = if total == "*" {
        None
    } else {
        Some(total.parse().ok()?)
    };
    let (start, end) = (start.parse().ok()?, end.parse().ok()?);
    (start <= end).then_some((start, end, total))
}

/// Decides whether a response for bytes `from..size` can be used: returns
/// the body length, or why not.
pub fn accept(head: &Head, from: u64, size: u64) -> Result<u64, FetchError> {
    let fatal = |s: String| Err(FetchError::Fatal(s));
    match head.status {
        200 | 206 => {}
        403 | 410 => {
            return fatal(format!(
                "the download server refused the URL (HTTP {}): the signed download URL has expired or is not valid; \
                 ask the platform for the upgrade again (a new push carries a fresh URL)",
                head.status
            ))
        }
        404 => return fatal("the download server has no such file (HTTP 404)".to_owned()),
        416 => {
            return fatal(format!(
                "the download server cannot serve bytes from {from} on (HTTP 416): the file is shorter than the upgrade message said"
            ))
        }
        500..=599 => {
            return Err(FetchError::Cut(format!(
                "the download server failed (HTTP {})",
                head.status
            )))
        }
        other => return fatal(format!("the download server answered HTTP {other}")),
    }
    if head.chunked {
        return fatal(
            "the download server sent a chunked body; a Content-Length is required".to_owned(),
        );
    }
    if head.status == 200 && from > 0 {
        return fatal(format!(
            "the download server ignored the Range request after the connection was cut at byte {from} of {size} \
             (HTTP 200 instead of 206); the bytes already handed to the firmware cannot be taken back, so the download \
             stops here: start the upgrade again"
        ));
    }
    if head.status == 206 {
        let Some((start, end, total)) = head.content_range else {
            return fatal("the download server answered 206 without a Content-Range".to_owned());
        };
        if start != from || total.is_some_and(|t| t != size) || end >= size {
            return fatal(format!(
                "the download server sent bytes {start}-{end}/{} but bytes {from}-{}/{size} were asked for",
                total.map_or("*".to_owned(), |t| t.to_string()),
                size - 1
            ));
        }
    }
    let expected = size - from;
    match head.content_length {
        Some(len) if len == expected => Ok(len),
        Some(len) => fatal(format!(
            "the download server announces {len} bytes where {expected} were expected (the upgrade message said {size} in all)"
        )),
        None => fatal("the download server sent no Content-Length".to_owned()),
    }
}

/// An open response body.
pub struct Body {
    transport: Box<dyn Transport>,
    /// Body bytes read together with the head.
    pending: Vec<u8>,
    remaining: u64,
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Body")
            .field("remaining", &self.remaining)
            .finish()
    }
}

fn transport_error(e: TransportError) -> FetchError {
    match e {
        TransportError::PeerClosed => {
            FetchError::Cut("the download server closed the connection early".to_owned())
        }
        TransportError::Failed(why) | TransportError::OpenFailed { message: why, .. } => {
            FetchError::Cut(why)
        }
    }
}

/// Sends the request on `transport` and reads the response head, all before
/// `deadline`. Returns the body.
pub fn start(
    mut transport: Box<dyn Transport>,
    url: &Url,
    from: u64,
    size: u64,
    deadline: Instant,
) -> Result<Body, FetchError> {
    let request = request(url, from);
    let mut written = 0;
    while written < request.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(FetchError::Cut(
                "sending the download request timed out".to_owned(),
            ));
        }
        written += transport
            .write(&request.as_bytes()[written..], left)
            .map_err(transport_error)?;
    }
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let end = loop {
        if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if head.len() > MAX_HEAD {
            return Err(FetchError::Fatal(format!(
                "the download server's response head exceeds {MAX_HEAD} bytes"
            )));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(FetchError::Cut(
                "the download server did not answer in time".to_owned(),
            ));
        }
        let n = transport.read(&mut chunk, left).map_err(transport_error)?;
        head.extend_from_slice(&chunk[..n]);
    };
    let parsed = parse_head(&head[..end]).map_err(FetchError::Fatal)?;
    let remaining = accept(&parsed, from, size)?;
    let mut pending = head.split_off(end + 4);
    if pending.len() as u64 > remaining {
        pending.truncate(remaining as usize);
    }
    Ok(Body {
        transport,
        pending,
        remaining,
    })
}

impl Body {
    /// Reads up to `buf.len()` body bytes within `timeout`; `Ok(0)` when none
    /// arrived in time. A body that ends early is a [`FetchError::Cut`].
    pub fn read(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, FetchError> {
        if self.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = if !self.pending.is_empty() {
            let n = want.min(self.pending.len());
            buf[..n].copy_from_slice(&self.pending[..n]);
            self.pending.drain(..n);
            n
        } else {
            self.transport
                .read(&mut buf[..want], timeout)
                .map_err(transport_error)?
        };
        self.remaining -= n as u64;
        Ok(n)
    }

    pub fn remaining(&self) -> u64 {
        self.remaining
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = parse_url("https://127.0.0.1:8443/ota/a?Expires=1&Signature=2").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("127.0.0.1", 8443));
        assert_eq!(u.target, "/ota/a?Expires=1&Signature=2");
        let u = parse_url("https://example.com").unwrap();
        assert_eq!((u.port, u.target.as_str()), (443, "/"));
        let u = parse_url("https://[::1]:9/x").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 9));
        assert!(request(&u, 5).contains("Host: [::1]:9\r\nUser-Agent"));
        assert!(parse_url("http://h/x")
            .unwrap_err()
            .contains("only https://"));
        assert!(parse_url("ftp:x").is_err());
        assert!(parse_url("https://h:0/").is_err());
        assert!(parse_url("https://h:99999/").is_err());
        assert!(parse_url("https:///x").is_err());
        assert!(parse_url("https://h/a b").is_err());
        assert!(parse_url("https://u@h/").is_err());
    }

    #[test]
    fn requests_ask_for_ranges_only_when_resuming() {
        let u = parse_url("https://h:1/f").unwrap();
        assert!(!request(&u, 0).contains("Range"));
        assert!(request(&u, 100).contains("Range: bytes=100-\r\n"));
    }

    fn head(text: &str) -> Head {
        parse_head(text.as_bytes()).unwrap()
    }

    #[test]
    fn heads_and_acceptance() {
        let full = head("HTTP/1.1 200 OK\r\nContent-Length: 10\r\nX: y");
        assert_eq!(accept(&full, 0, 10), Ok(10));
        let part = head(
            "HTTP/1.1 206 Partial Content\r\ncontent-range: bytes 4-9/10\r\nContent-Length: 6",
        );
        assert_eq!(part.content_range, Some((4, 9, Some(10))));
        assert_eq!(accept(&part, 4, 10), Ok(6));
        assert!(matches!(accept(&part, 3, 10), Err(FetchError::Fatal(_))));
        let FetchError::Fatal(why) = accept(&full, 4, 10).unwrap_err() else {
            panic!()
        };
        assert!(why.contains("ignored the Range request"), "{why}");
        for status in [403, 410] {
            let h = head(&format!("HTTP/1.1 {status} Gone\r\nContent-Length: 0"));
            let FetchError::Fatal(why) = accept(&h, 0, 10).unwrap_err() else {
                panic!()
            };
            assert!(why.contains("expired"), "{why}");
        }
        assert!(matches!(
            accept(&head("HTTP/1.1 503 x\r\nContent-Length: 0"), 0, 10),
            Err(FetchError::Cut(_))
        ));
        assert!(accept(&head("HTTP/1.1 200 OK\r\nContent-Length: 9"), 0, 10).is_err());
        assert!(accept(&head("HTTP/1.1 200 OK"), 0, 10).is_err());
        assert!(accept(
            &head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked"),
            0,
            10
        )
        .is_err());
        assert!(parse_head(b"SSH-2.0 hello").is_err());
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: -1").is_err());
        assert!(parse_head(b"HTTP/1.1 206 OK\r\nContent-Range: bytes 9-4/10").is_err());
    }
}

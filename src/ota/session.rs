//! The OTA state machine of one device: the pushed upgrade, the download
//! (resumed with a Range after a cut), the digests, the last error. It knows
//! nothing of MQTT: the caller feeds it the upgrade messages and sends what
//! it returns.

use super::http::{self, Body, FetchError, Url};
use super::message::{SignMethod, Upgrade};
use super::{codes::*, progress_step};
use crate::transport::Transport;
use mbedtls::hash::{Md, Type};
use std::time::{Duration, Instant};

/// Resumes after cuts before the download is given up.
pub(crate) const MAX_RESUMES: u32 = 5;
/// Time allowed for the TCP + TLS handshake and the response head.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// IOT_OTA_State_t.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Inited = 1,
    Fetching = 2,
    Fetched = 3,
}

/// Opens the connection to the download server (TLS verified against the
/// configured CA in the library; anything in tests).
pub trait Dialer: Send {
    /// A [`FetchError::Cut`] is retried (refused, timed out); a
    /// [`FetchError::Fatal`] is not (e.g. an untrusted server certificate).
    fn dial(
        &self,
        host: &str,
        port: u16,
        timeout: Duration,
    ) -> Result<Box<dyn Transport>, FetchError>;
}

/// A failure: the IOT_OTAE_* code and a sentence for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: i32,
    pub message: String,
    /// The IOT_OTAP_* step to report to the platform, if any.
    pub report: Option<i32>,
}

impl Failure {
    fn new(code: i32, message: impl Into<String>, report: Option<i32>) -> Failure {
        Failure {
            code,
            message: message.into(),
            report,
        }
    }
}

/// What happened to the download, for the caller to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every byte arrived and the digests match.
    Good,
    /// The download or the check failed; the sentence says why.
    Bad(String),
}

pub struct Session {
    state: State,
    upgrade: Option<Upgrade>,
    url: Option<Url>,
    fetched: u64,
    md5: Option<Md>,
    sha256: Option<Md>,
    body: Option<Body>,
    resumes: u32,
    verdict: Option<Verdict>,
    last_error: i32,
    md5_hex: Option<String>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("state", &self.state)
            .field("fetched", &self.fetched)
            .field("verdict", &self.verdict)
            .finish()
    }
}

impl Default for Session {
    fn default() -> Session {
        Session::new()
    }
}

/// Compares an image's MD5 and SHA-256 (hex) with what the upgrade message
/// announced; the error lists each mismatch.
pub fn check_digests(
    upgrade: &Upgrade,
    md5: Option<&str>,
    sha256: Option<&str>,
) -> Result<(), String> {
    let mut problems = Vec::new();
    if let Some(expected) = &upgrade.md5 {
        if md5 != Some(expected.as_str()) {
            problems.push(format!(
                "its MD5 is {} but the upgrade message says {expected}",
                md5.unwrap_or("unavailable")
            ));
        }
    }
    if let Some((method, expected)) = &upgrade.sign {
        let (got, name) = match method {
            SignMethod::Md5 => (md5, "MD5"),
            SignMethod::Sha256 => (sha256, "SHA-256"),
        };
        if got != Some(expected.as_str()) {
            problems.push(format!(
                "its {name} is {} but the upgrade message's sign is {expected}",
                got.unwrap_or("unavailable")
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join(", and "))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn finish(md: Option<Md>, len: usize) -> Option<String> {
    let md = md?;
    let mut out = [0u8; 32];
    md.finish(&mut out[..len]).ok()?;
    Some(hex(&out[..len]))
}

impl Session {
    pub fn new() -> Session {
        Session {
            state: State::Inited,
            upgrade: None,
            url: None,
            fetched: 0,
            md5: None,
            sha256: None,
            body: None,
            resumes: 0,
            verdict: None,
            last_error: IOT_OTAE_NONE,
            md5_hex: None,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }
    pub fn upgrade(&self) -> Option<&Upgrade> {
        self.upgrade.as_ref()
    }
    pub fn fetched(&self) -> u64 {
        self.fetched
    }
    pub fn verdict(&self) -> Option<&Verdict> {
        self.verdict.as_ref()
    }
    pub fn last_error(&self) -> i32 {
        self.last_error
    }
    pub fn set_last_error(&mut self, code: i32) {
        self.last_error = code;
    }
    /// The MD5 (hex) of the downloaded image once complete, else the one
    /// the upgrade message announced.
    pub fn md5_hex(&self) -> Option<&str> {
        self.md5_hex
            .as_deref()
            .or_else(|| self.upgrade.as_ref().and_then(|u| u.md5.as_deref()))
    }
    /// Whether the whole image arrived and its digests match.
    pub fn is_good(&self) -> bool {
        self.state == State::Fetched && self.verdict == Some(Verdict::Good)
    }

    /// A new upgrade was pushed: it replaces whatever was going on. Returns
    /// the sentence why it cannot be used, if it cannot.
    pub fn on_upgrade(&mut self, upgrade: Upgrade) -> Result<(), Failure> {
        let url = match http::parse_url(&upgrade.url) {
            Ok(url) => url,
            Err(why) => {
                self.last_error = IOT_OTAE_INVALID_PARAM;
                return Err(Failure::new(
                    IOT_OTAE_INVALID_PARAM,
                    format!(
                        "the pushed upgrade to {} cannot be downloaded: {why}",
                        upgrade.version
                    ),
                    Some(progress_step::FETCH_FAILED),
                ));
            }
        };
        *self = Session {
            state: State::Fetching,
            url: Some(url),
            md5: Md::new(Type::Md5).ok(),
            sha256: Md::new(Type::Sha256).ok(),
            upgrade: Some(upgrade),
            last_error: self.last_error,
            ..Session::new()
        };
        Ok(())
    }

    /// Forgets the downloaded bytes, so the next fetch starts from byte 0
    /// (IOT_OTAG_RESET_FETCHED_SIZE). Only meaningful before fetching.
    pub fn reset_fetched(&mut self) {
        if self.state == State::Fetching && self.fetched > 0 {
            let upgrade = self.upgrade.take();
            if let Some(upgrade) = upgrade {
                let last = self.last_error;
                let _ = self.on_upgrade(upgrade);
                self.last_error = last;
            }
        }
    }

    fn fail(&mut self, failure: Failure) -> Failure {
        self.body = None;
        self.state = State::Fetched;
        self.verdict = Some(Verdict::Bad(failure.message.clone()));
        self.md5 = None;
        self.sha256 = None;
        self.last_error = failure.code;
        failure
    }

    /// Reads the next bytes of the image into `buf`, waiting at most
    /// `timeout`: `Ok(n)` with n > 0 bytes, `Ok(0)` when nothing came in
    /// time. After a cut the download resumes from the next byte with a
    /// Range request (at most [`MAX_RESUMES`] times). When the last byte
    /// arrives the digests are checked and the state becomes Fetched; a
    /// fatal error also ends in Fetched, with a bad verdict.
    pub fn fetch(
        &mut self,
        dialer: &dyn Dialer,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<usize, Failure> {
        if self.state != State::Fetching {
            self.last_error = IOT_OTAE_INVALID_STATE;
            return Err(Failure::new(
                IOT_OTAE_INVALID_STATE,
                "no firmware is being fetched: wait until IOT_OTA_IsFetching() returns 1",
                None,
            ));
        }
        if buf.is_empty() {
            self.last_error = IOT_OTAE_INVALID_PARAM;
            return Err(Failure::new(
                IOT_OTAE_INVALID_PARAM,
                "the buffer is empty",
                None,
            ));
        }
        let (Some(upgrade), Some(url)) = (self.upgrade.clone(), self.url.clone()) else {
            return Err(Failure::new(IOT_OTAE_INVALID_STATE, "no upgrade", None));
        };
        let size = upgrade.size;
        let deadline = Instant::now() + timeout;
        loop {
            if self.body.is_none() {
                let left = deadline.saturating_duration_since(Instant::now());
                let connect = left.max(Duration::from_millis(1)).min(CONNECT_TIMEOUT);
                let opened = dialer.dial(&url.host, url.port, connect).and_then(|t| {
                    http::start(t, &url, self.fetched, size, Instant::now() + connect)
                });
                match opened {
                    Ok(body) => self.body = Some(body),
                    Err(FetchError::Fatal(why)) => {
                        return Err(self.fail(Failure::new(
                            IOT_OTAE_FETCH_FAILED,
                            format!("downloading firmware {} failed: {why}", upgrade.version),
                            Some(progress_step::FETCH_FAILED),
                        )))
                    }
                    Err(FetchError::Cut(why)) => {
                        if let Some(f) = self.count_resume(&upgrade, &why) {
                            return Err(f);
                        }
                        if Instant::now() >= deadline {
                            return Ok(0);
                        }
                        continue;
                    }
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let body = self.body.as_mut().expect("opened above");
            match body.read(buf, left.max(Duration::from_millis(1))) {
                Ok(0) => return Ok(0),
                Ok(n) => {
                    let data = &buf[..n];
                    if let Some(md) = self.md5.as_mut() {
                        let _ = md.update(data);
                    }
                    if let Some(md) = self.sha256.as_mut() {
                        let _ = md.update(data);
                    }
                    self.fetched += n as u64;
                    if self.fetched == size {
                        self.body = None;
                        self.state = State::Fetched;
                        self.check(&upgrade);
                    }
                    return Ok(n);
                }
                Err(FetchError::Cut(why)) => {
                    self.body = None;
                    if let Some(f) = self.count_resume(&upgrade, &why) {
                        return Err(f);
                    }
                    crate::log_info!(
                        "OTA download cut at byte {} of {size} ({why}); resuming with a Range request",
                        self.fetched
                    );
                }
                Err(FetchError::Fatal(why)) => {
                    return Err(self.fail(Failure::new(
                        IOT_OTAE_FETCH_FAILED,
                        format!("downloading firmware {} failed: {why}", upgrade.version),
                        Some(progress_step::FETCH_FAILED),
                    )))
                }
            }
        }
    }

    fn count_resume(&mut self, upgrade: &Upgrade, why: &str) -> Option<Failure> {
        self.resumes += 1;
        if self.resumes > MAX_RESUMES {
            return Some(self.fail(Failure::new(
                IOT_OTAE_FETCH_FAILED,
                format!(
                    "downloading firmware {} failed after {MAX_RESUMES} resumed attempts at byte {} of {}: {why}",
                    upgrade.version, self.fetched, upgrade.size
                ),
                Some(progress_step::FETCH_FAILED),
            )));
        }
        None
    }

    fn check(&mut self, upgrade: &Upgrade) {
        let md5 = finish(self.md5.take(), 16);
        let sha256 = finish(self.sha256.take(), 32);
        self.verdict = Some(
            match check_digests(upgrade, md5.as_deref(), sha256.as_deref()) {
                Ok(()) => Verdict::Good,
                Err(problems) => {
                    self.last_error = IOT_OTAE_GENERAL;
                    Verdict::Bad(format!(
                        "firmware {} was downloaded ({} bytes) but is corrupt: {problems}; it must not be installed",
                        upgrade.version, upgrade.size
                    ))
                }
            },
        );
        self.md5_hex = md5;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::TcpConnection;
    use crate::ota::message::parse_upgrade;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    /// Plain TCP to the test server (the TLS dialer is tested end to end).
    struct Plain;
    impl Dialer for Plain {
        fn dial(
            &self,
            host: &str,
            port: u16,
            t: Duration,
        ) -> Result<Box<dyn Transport>, FetchError> {
            TcpConnection::connect(host, port, t)
                .map(|c| Box::new(c) as Box<dyn Transport>)
                .map_err(|e| FetchError::Cut(e.to_string()))
        }
    }

    #[derive(Clone, Copy)]
    enum Mode {
        Normal,
        /// Close after this many body bytes on the first connection.
        CutAt(usize),
        /// Answer 200 with the whole file even to a Range request.
        NoRanges(usize),
        Status(u16),
    }

    /// A real HTTP/1.1 server on loopback serving `image`; records the Range
    /// headers it saw.
    fn serve(image: Vec<u8>, mode: Mode) -> (u16, Arc<Mutex<Vec<Option<u64>>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(mut s) = stream else { return };
                let mut head = Vec::new();
                let mut b = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && s.read(&mut b).unwrap_or(0) == 1 {
                    head.push(b[0]);
                }
                let text = String::from_utf8_lossy(&head).to_string();
                let from = text
                    .lines()
                    .find_map(|l| l.strip_prefix("Range: bytes="))
                    .and_then(|r| r.trim_end_matches('-').parse::<u64>().ok());
                log.lock().unwrap().push(from);
                let start = from.unwrap_or(0) as usize;
                let reply = match mode {
                    Mode::Status(code) => {
                        format!("HTTP/1.1 {code} X\r\nContent-Length: 0\r\n\r\n").into_bytes()
                    }
                    Mode::NoRanges(_) if n > 0 => {
                        let mut r =
                            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", image.len())
                                .into_bytes();
                        r.extend_from_slice(&image);
                        r
                    }
                    _ => {
                        let body = &image[start..];
                        let mut r = if from.is_some() {
                            format!(
                                "HTTP/1.1 206 Partial\r\nContent-Range: bytes {start}-{}/{}\r\nContent-Length: {}\r\n\r\n",
                                image.len() - 1,
                                image.len(),
                                body.len()
                            )
                        } else {
                            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len())
                        }
                        .into_bytes();
                        let cut = match mode {
                            Mode::CutAt(c) | Mode::NoRanges(c) if n == 0 => c,
                            _ => body.len(),
                        };
                        r.extend_from_slice(&body[..cut]);
                        r
                    }
                };
                let _ = s.write_all(&reply);
            }
        });
        (port, seen)
    }

    fn image() -> Vec<u8> {
        (0..20_000u32).map(|i| (i * 7 % 251) as u8).collect()
    }

    fn digests(data: &[u8]) -> (String, String) {
        let mut a = [0u8; 16];
        let mut b = [0u8; 32];
        Md::hash(Type::Md5, data, &mut a).unwrap();
        Md::hash(Type::Sha256, data, &mut b).unwrap();
        (hex(&a), hex(&b))
    }

    fn push(port: u16, data: &[u8], corrupt: bool) -> Upgrade {
        let (md5, sha) = digests(data);
        let sha = if corrupt { "0".repeat(64) } else { sha };
        // The test server is plain HTTP; the session only needs the URL to
        // parse (the dialer decides the transport).
        let payload = format!(
            r#"{{"code":"1000","data":{{"size":{},"version":"2.0","url":"https://127.0.0.1:{port}/fw?Expires=9","md5":"{md5}","sign":"{sha}","signMethod":"SHA256"}},"id":1,"message":"success"}}"#,
            data.len()
        );
        parse_upgrade(payload.as_bytes()).unwrap()
    }

    fn run(session: &mut Session) -> (Vec<u8>, Option<Failure>) {
        let mut out = Vec::new();
        let mut buf = [0u8; 3000];
        for _ in 0..200 {
            if session.state() != State::Fetching {
                break;
            }
            match session.fetch(&Plain, &mut buf, Duration::from_secs(5)) {
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(f) => return (out, Some(f)),
            }
        }
        (out, None)
    }

    #[test]
    fn a_whole_download_is_checked_good() {
        let data = image();
        let (port, seen) = serve(data.clone(), Mode::Normal);
        let mut s = Session::new();
        assert!(s
            .fetch(&Plain, &mut [0u8; 4], Duration::from_millis(1))
            .is_err());
        assert_eq!(s.last_error(), IOT_OTAE_INVALID_STATE);
        s.on_upgrade(push(port, &data, false)).unwrap();
        let (got, failure) = run(&mut s);
        assert!(failure.is_none());
        assert_eq!(got, data);
        assert!(s.is_good());
        assert_eq!(s.md5_hex(), Some(digests(&data).0.as_str()));
        assert_eq!(*seen.lock().unwrap(), vec![None]);
    }

    #[test]
    fn a_cut_download_resumes_with_a_range() {
        let data = image();
        let (port, seen) = serve(data.clone(), Mode::CutAt(7_000));
        let mut s = Session::new();
        s.on_upgrade(push(port, &data, false)).unwrap();
        let (got, failure) = run(&mut s);
        assert!(failure.is_none(), "{failure:?}");
        assert_eq!(got, data);
        assert!(s.is_good());
        assert_eq!(*seen.lock().unwrap(), vec![None, Some(7_000)]);
    }

    #[test]
    fn a_server_ignoring_ranges_fails_clearly() {
        let data = image();
        let (port, _) = serve(data.clone(), Mode::NoRanges(5_000));
        let mut s = Session::new();
        s.on_upgrade(push(port, &data, false)).unwrap();
        let (got, failure) = run(&mut s);
        let failure = failure.unwrap();
        assert_eq!(got.len(), 5_000);
        assert_eq!(failure.code, IOT_OTAE_FETCH_FAILED);
        assert!(
            failure.message.contains("ignored the Range request"),
            "{}",
            failure.message
        );
        assert_eq!(s.state(), State::Fetched);
        assert!(!s.is_good());
    }

    #[test]
    fn a_wrong_digest_is_refused() {
        let data = image();
        let (port, _) = serve(data.clone(), Mode::Normal);
        let mut s = Session::new();
        s.on_upgrade(push(port, &data, true)).unwrap();
        let (got, failure) = run(&mut s);
        assert!(failure.is_none());
        assert_eq!(got, data);
        assert_eq!(s.state(), State::Fetched);
        let Some(Verdict::Bad(why)) = s.verdict() else {
            panic!()
        };
        assert!(
            why.contains("SHA-256") && why.contains("must not be installed"),
            "{why}"
        );
        assert_eq!(s.last_error(), IOT_OTAE_GENERAL);
    }

    #[test]
    fn an_expired_url_is_reported() {
        let data = image();
        let (port, _) = serve(data.clone(), Mode::Status(403));
        let mut s = Session::new();
        s.on_upgrade(push(port, &data, false)).unwrap();
        let (_, failure) = run(&mut s);
        let failure = failure.unwrap();
        assert!(failure.message.contains("expired"), "{}", failure.message);
        assert_eq!(failure.report, Some(progress_step::FETCH_FAILED));
    }

    #[test]
    fn a_plain_http_url_is_refused_at_the_push() {
        let mut up = push(1, b"x", false);
        up.url = "http://127.0.0.1:1/fw".into();
        let mut s = Session::new();
        let f = s.on_upgrade(up).unwrap_err();
        assert!(f.message.contains("only https://"), "{}", f.message);
        assert_eq!(s.state(), State::Inited);
    }
}

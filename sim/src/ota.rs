//! Firmware updates (OTA), as the platform runs them: firmware images per
//! product, upgrade jobs for one device or a whole product, the upgrade push
//! on `/ota/device/upgrade/PK/DN`, the image served over HTTPS (the server
//! certificate of the platform CA) with Range support behind an expiring
//! signed URL, and the device's progress (`/ota/device/progress`) and
//! version (`/ota/device/inform`) reports. A job is done when every target
//! device reports the job's version.
//!
//! Test hooks, set per job: `cut_at` (the first download of each device
//! stops after that many body bytes), `corrupt` (the push carries a wrong
//! MD5 and sign), `no_range` (the server answers 200 with the whole file to a
//! Range request) and `url_ttl` (seconds the signed URL stays valid).

use anyhow::{anyhow, bail, Context, Result};
use openssl::hash::{hash, MessageDigest};
use openssl::pkey::PKey;
use openssl::sign::Signer;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::Duration;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS ota_firmware (
    firmware_id INTEGER PRIMARY KEY AUTOINCREMENT,
    product_key TEXT NOT NULL,
    version     TEXT NOT NULL,
    size        INTEGER NOT NULL,
    md5         TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    path        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (product_key, version)
);
CREATE TABLE IF NOT EXISTS ota_jobs (
    job_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    firmware_id INTEGER NOT NULL REFERENCES ota_firmware(firmware_id),
    product_key TEXT NOT NULL,
    device_name TEXT,
    sign_method TEXT NOT NULL,
    cut_at      INTEGER,
    corrupt     INTEGER NOT NULL DEFAULT 0,
    no_range    INTEGER NOT NULL DEFAULT 0,
    url_ttl     INTEGER NOT NULL,
    status      TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS ota_targets (
    job_id      INTEGER NOT NULL REFERENCES ota_jobs(job_id),
    product_key TEXT NOT NULL,
    device_name TEXT NOT NULL,
    status      TEXT NOT NULL,
    step        INTEGER,
    descr       TEXT,
    token       TEXT,
    expires     INTEGER,
    cuts        INTEGER NOT NULL DEFAULT 0,
    downloads   INTEGER NOT NULL DEFAULT 0,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (job_id, product_key, device_name)
);
CREATE TABLE IF NOT EXISTS ota_versions (
    product_key TEXT NOT NULL,
    device_name TEXT NOT NULL,
    version     TEXT NOT NULL,
    reported_at INTEGER NOT NULL,
    PRIMARY KEY (product_key, device_name)
);
";

/// Default lifetime of a signed download URL.
pub const DEFAULT_URL_TTL: i64 = 3600;
const URL_KEY_FILE: &str = "ota/url.key";

pub fn open(data_dir: &Path) -> Result<Connection> {
    let path = data_dir.join(crate::store::DB_FILE);
    if !path.exists() {
        bail!(
            "no registry in {}: run `iotkit-sim --data-dir {} init` first",
            data_dir.display(),
            data_dir.display()
        );
    }
    let conn = Connection::open(&path).with_context(|| format!("opening {}", path.display()))?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Stores an image for `product_key` as `version`; returns its record.
pub fn upload(data_dir: &Path, product_key: &str, version: &str, image: &[u8]) -> Result<Value> {
    if version.is_empty()
        || version.len() > 64
        || version
            .chars()
            .any(|c| c.is_control() || c == '"' || c == '/')
    {
        bail!("the version must be 1 to 64 characters without control characters, quotes or '/'");
    }
    if image.is_empty() {
        bail!("the firmware image is empty");
    }
    let store = crate::store::Store::open(data_dir)?;
    store.require_product(product_key)?;
    let conn = open(data_dir)?;
    let dir = data_dir.join("ota").join(product_key);
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{version}.bin"));
    let temp = dir.join(format!(".{version}.bin.tmp"));
    std::fs::write(&temp, image)?;
    std::fs::rename(&temp, &path)?;
    let md5 = hex(&hash(MessageDigest::md5(), image)?);
    let sha256 = hex(&hash(MessageDigest::sha256(), image)?);
    conn.execute(
        "INSERT INTO ota_firmware (product_key, version, size, md5, sha256, path, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (product_key, version) DO UPDATE SET size = ?3, md5 = ?4, sha256 = ?5, path = ?6",
        params![product_key, version, image.len() as i64, md5, sha256, path.to_string_lossy(), crate::clock::now()],
    )?;
    println!(
        "[sim] OTA firmware {version} of product {product_key} stored ({} bytes, md5 {md5})",
        image.len()
    );
    Ok(
        json!({"productKey": product_key, "version": version, "size": image.len(), "md5": md5, "sha256": sha256}),
    )
}

/// What a new job asks for.
#[derive(Debug, Clone, Default)]
pub struct JobSpec {
    pub product_key: String,
    pub device_name: Option<String>,
    pub version: String,
    pub sign_method: Option<String>,
    pub cut_at: Option<u64>,
    pub corrupt: bool,
    pub no_range: bool,
    pub url_ttl: Option<i64>,
}

/// Creates a job and its targets (the device, or every device of the product).
pub fn create_job(data_dir: &Path, spec: &JobSpec) -> Result<i64> {
    let store = crate::store::Store::open(data_dir)?;
    store.require_product(&spec.product_key)?;
    let conn = open(data_dir)?;
    let firmware: Option<i64> = conn
        .query_row(
            "SELECT firmware_id FROM ota_firmware WHERE product_key = ?1 AND version = ?2",
            params![spec.product_key, spec.version],
            |r| r.get(0),
        )
        .optional()?;
    let firmware = firmware.ok_or_else(|| {
        anyhow!(
            "no firmware {} for product {}: upload it first with `iotkit-sim ota upload --product {} --version {} --file F`",
            spec.version, spec.product_key, spec.product_key, spec.version
        )
    })?;
    let sign_method = match spec.sign_method.as_deref().unwrap_or("SHA256") {
        m if m.eq_ignore_ascii_case("sha256") => "SHA256",
        m if m.eq_ignore_ascii_case("md5") => "Md5",
        other => bail!("sign method {other:?} is neither SHA256 nor Md5"),
    };
    let ttl = spec.url_ttl.unwrap_or(DEFAULT_URL_TTL);
    if ttl < 0 {
        bail!("the URL lifetime must not be negative");
    }
    let targets: Vec<String> = match &spec.device_name {
        Some(dn) => {
            if !store.device_exists(&spec.product_key, dn)? {
                bail!("no device {dn:?} in product {}", spec.product_key);
            }
            vec![dn.clone()]
        }
        None => store
            .devices(Some(&spec.product_key))?
            .into_iter()
            .map(|d| d.device_name)
            .collect(),
    };
    if targets.is_empty() {
        bail!("product {} has no devices to upgrade", spec.product_key);
    }
    let now = crate::clock::now();
    conn.execute(
        "INSERT INTO ota_jobs (firmware_id, product_key, device_name, sign_method, cut_at, corrupt, no_range, url_ttl, status, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'running', ?9)",
        params![firmware, spec.product_key, spec.device_name, sign_method, spec.cut_at.map(|c| c as i64), spec.corrupt, spec.no_range, ttl, now],
    )?;
    let job = conn.last_insert_rowid();
    for dn in &targets {
        conn.execute(
            "INSERT INTO ota_targets (job_id, product_key, device_name, status, updated_at) VALUES (?1, ?2, ?3, 'created', ?4)",
            params![job, spec.product_key, dn, now],
        )?;
    }
    println!(
        "[sim] OTA job {job}: firmware {} for {} device(s) of {}",
        spec.version,
        targets.len(),
        spec.product_key
    );
    Ok(job)
}

/// The jobs with their targets, and the reported versions.
pub fn status(data_dir: &Path, job: Option<i64>) -> Result<Value> {
    let conn = open(data_dir)?;
    let mut jobs = Vec::new();
    let mut stmt = conn.prepare(
        "SELECT j.job_id, j.product_key, j.device_name, f.version, f.size, j.status, j.sign_method, j.cut_at, j.corrupt, j.no_range, j.url_ttl
         FROM ota_jobs j JOIN ota_firmware f USING (firmware_id) WHERE ?1 IS NULL OR j.job_id = ?1 ORDER BY j.job_id",
    )?;
    let rows = stmt.query_map(params![job], |r| {
        Ok(json!({
            "jobId": r.get::<_, i64>(0)?, "productKey": r.get::<_, String>(1)?, "deviceName": r.get::<_, Option<String>>(2)?,
            "version": r.get::<_, String>(3)?, "size": r.get::<_, i64>(4)?, "status": r.get::<_, String>(5)?,
            "signMethod": r.get::<_, String>(6)?, "cutAt": r.get::<_, Option<i64>>(7)?, "corruptDigest": r.get::<_, bool>(8)?,
            "noRange": r.get::<_, bool>(9)?, "urlTtl": r.get::<_, i64>(10)?,
        }))
    })?;
    for row in rows {
        let mut row = row?;
        let id = row["jobId"].as_i64().unwrap_or(0);
        let mut t = conn.prepare(
            "SELECT t.product_key, t.device_name, t.status, t.step, t.descr, t.cuts, t.downloads, v.version
             FROM ota_targets t LEFT JOIN ota_versions v USING (product_key, device_name) WHERE t.job_id = ?1 ORDER BY t.device_name",
        )?;
        let targets: Vec<Value> = t
            .query_map(params![id], |r| {
                Ok(json!({
                    "productKey": r.get::<_, String>(0)?, "deviceName": r.get::<_, String>(1)?, "status": r.get::<_, String>(2)?,
                    "step": r.get::<_, Option<i64>>(3)?, "desc": r.get::<_, Option<String>>(4)?, "cuts": r.get::<_, i64>(5)?,
                    "downloads": r.get::<_, i64>(6)?, "reportedVersion": r.get::<_, Option<String>>(7)?,
                }))
            })?
            .collect::<rusqlite::Result<_>>()?;
        row["targets"] = Value::Array(targets);
        jobs.push(row);
    }
    let mut v = conn.prepare("SELECT product_key, device_name, version, reported_at FROM ota_versions ORDER BY product_key, device_name")?;
    let versions: Vec<Value> = v
        .query_map([], |r| {
            Ok(
                json!({"productKey": r.get::<_, String>(0)?, "deviceName": r.get::<_, String>(1)?,
                      "version": r.get::<_, String>(2)?, "reportedAt": r.get::<_, i64>(3)?}),
            )
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(json!({"jobs": jobs, "versions": versions}))
}

// ---- the running service (inside `serve`) -----------------------------------

struct Service {
    data_dir: PathBuf,
    broker: String,
    https_port: u16,
    url_key: Vec<u8>,
    events: Mutex<mpsc::Sender<DeviceMessage>>,
}

/// ProductKey, DeviceName, topic, payload of a device's OTA publish.
type DeviceMessage = (String, String, String, Vec<u8>);
/// A download target: job, ProductKey, DeviceName, image path, cut_at, no_range, cuts so far.
type DownloadRow = (i64, String, String, String, Option<i64>, bool, i64);

static SERVICE: OnceLock<Arc<Service>> = OnceLock::new();

fn url_key(data_dir: &Path) -> Result<Vec<u8>> {
    let path = data_dir.join(URL_KEY_FILE);
    if let Ok(key) = std::fs::read(&path) {
        if key.len() == 32 {
            return Ok(key);
        }
    }
    let mut key = vec![0u8; 32];
    openssl::rand::rand_bytes(&mut key)?;
    std::fs::create_dir_all(path.parent().unwrap_or(data_dir))?;
    std::fs::write(&path, &key)?;
    Ok(key)
}

fn signature(key: &[u8], token: &str, expires: i64) -> Result<String> {
    let pkey = PKey::hmac(key)?;
    let mut signer = Signer::new(MessageDigest::sha256(), &pkey)?;
    signer.update(format!("{token}\n{expires}").as_bytes())?;
    Ok(hex(&signer.sign_to_vec()?))
}

/// Starts the HTTPS download server on `address` and the OTA worker; returns
/// the HTTPS port.
pub fn start(data_dir: &Path, broker: &str, address: &str) -> Result<u16> {
    use openssl::ssl::{SslAcceptor, SslFiletype, SslMethod};
    let mut builder = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())?;
    builder.set_certificate_chain_file(data_dir.join("server.pem"))?;
    builder.set_private_key_file(data_dir.join("server.key"), SslFiletype::PEM)?;
    builder.check_private_key()?;
    let acceptor = Arc::new(builder.build());
    let listener = TcpListener::bind(address)
        .with_context(|| format!("binding the OTA download server to {address}; pick another --ota-https address or port 0"))?;
    let port = listener.local_addr()?.port();
    let (tx, rx) = mpsc::channel();
    let service = Arc::new(Service {
        data_dir: data_dir.to_path_buf(),
        broker: broker.to_owned(),
        https_port: port,
        url_key: url_key(data_dir)?,
        events: Mutex::new(tx),
    });
    SERVICE
        .set(service.clone())
        .map_err(|_| anyhow!("the OTA service runs already"))?;
    let worker = service.clone();
    std::thread::Builder::new()
        .name("ota".into())
        .spawn(move || {
            for (pk, dn, topic, payload) in rx {
                if let Err(e) = worker.device_message(&pk, &dn, &topic, &payload) {
                    println!("[sim] OTA: handling {topic} of pk={pk} dn={dn} failed: {e:#}");
                }
            }
        })?;
    std::thread::Builder::new()
        .name("ota-https".into())
        .spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (acceptor, service) = (acceptor.clone(), service.clone());
                let _ = std::thread::Builder::new()
                    .name("ota-dl".into())
                    .spawn(move || {
                        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                        let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
                        match acceptor.accept(stream) {
                            Ok(mut tls) => {
                                if let Err(e) = service.download(&mut tls) {
                                    println!("[sim] OTA download: {e:#}");
                                }
                                let _ = tls.shutdown();
                            }
                            Err(e) => println!("[sim] OTA download: TLS handshake failed: {e}"),
                        }
                    });
            }
        })?;
    println!("[sim] OTA download server https://127.0.0.1:{port}");
    Ok(port)
}

/// The endpoint's hook: a device published on an `/ota/device/...` topic.
pub fn device_published(pk: &str, dn: &str, topic: &str, payload: &[u8]) {
    if let Some(service) = SERVICE.get() {
        let events = service.events.lock().unwrap_or_else(|p| p.into_inner());
        let _ = events.send((
            pk.to_owned(),
            dn.to_owned(),
            topic.to_owned(),
            payload.to_vec(),
        ));
    }
}

/// Pushes job `job` to its targets that are not done (the running serve only).
pub fn push(job: i64) -> Result<usize> {
    let service = SERVICE
        .get()
        .ok_or_else(|| anyhow!("the OTA service is not running"))?;
    service.push(job, None)
}

impl Service {
    fn push(&self, job: i64, only: Option<(&str, &str)>) -> Result<usize> {
        let conn = open(&self.data_dir)?;
        let (pk, version, size, md5, sha256, sign_method, corrupt, ttl): (String, String, i64, String, String, String, bool, i64) = conn
            .query_row(
                "SELECT j.product_key, f.version, f.size, f.md5, f.sha256, j.sign_method, j.corrupt, j.url_ttl
                 FROM ota_jobs j JOIN ota_firmware f USING (firmware_id) WHERE j.job_id = ?1",
                params![job],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?)),
            )
            .optional()?
            .ok_or_else(|| anyhow!("no OTA job {job}"))?;
        let mut stmt = conn.prepare(
            "SELECT device_name FROM ota_targets WHERE job_id = ?1 AND status != 'done'",
        )?;
        let targets: Vec<String> = stmt
            .query_map(params![job], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let flip = |digest: &str| {
            let mut d = digest.to_owned();
            let first = if d.starts_with('0') { "1" } else { "0" };
            d.replace_range(0..1, first);
            d
        };
        let (md5_sent, sha_sent) = if corrupt {
            (flip(&md5), flip(&sha256))
        } else {
            (md5.clone(), sha256.clone())
        };
        let sign = if sign_method == "Md5" {
            md5_sent.clone()
        } else {
            sha_sent
        };
        let mut pushed = 0;
        for dn in targets {
            if only.is_some_and(|(p, d)| p != pk || d != dn) {
                continue;
            }
            let mut token = [0u8; 16];
            openssl::rand::rand_bytes(&mut token)?;
            let token = hex(&token);
            let expires = crate::clock::now() + ttl;
            let url = format!(
                "https://127.0.0.1:{}/ota/dl/{token}?Expires={expires}&Signature={}",
                self.https_port,
                signature(&self.url_key, &token, expires)?
            );
            conn.execute(
                "UPDATE ota_targets SET status = 'pushed', token = ?1, expires = ?2, updated_at = ?3 WHERE job_id = ?4 AND product_key = ?5 AND device_name = ?6",
                params![token, expires, crate::clock::now(), job, pk, dn],
            )?;
            let message = json!({
                "code": "1000",
                "data": {"size": size, "version": version, "url": url, "md5": md5_sent, "sign": sign, "signMethod": sign_method},
                "id": crate::clock::now() * 1000 + job,
                "message": "success",
            });
            let topic = format!("/ota/device/upgrade/{pk}/{dn}");
            crate::broker::publish(
                &self.broker,
                &format!("iotkit-sim-ota-{job}-{dn}"),
                &topic,
                message.to_string().as_bytes(),
                1,
            )?;
            println!(
                "[sim] OTA job {job}: pushed firmware {version} to pk={pk} dn={dn}{}",
                if corrupt {
                    " (with a corrupted digest)"
                } else {
                    ""
                }
            );
            pushed += 1;
        }
        Ok(pushed)
    }

    fn device_message(&self, pk: &str, dn: &str, topic: &str, payload: &[u8]) -> Result<()> {
        let value: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
        let params = &value["params"];
        let conn = open(&self.data_dir)?;
        let now = crate::clock::now();
        if topic == format!("/ota/device/inform/{pk}/{dn}") {
            let Some(version) = params["version"].as_str() else {
                println!(
                    "[sim] OTA: version report of pk={pk} dn={dn} has no params.version; ignored"
                );
                return Ok(());
            };
            conn.execute(
                "INSERT INTO ota_versions (product_key, device_name, version, reported_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (product_key, device_name) DO UPDATE SET version = ?3, reported_at = ?4",
                params![pk, dn, version, now],
            )?;
            println!("[sim] OTA: pk={pk} dn={dn} reports version {version}");
            let done = conn.execute(
                "UPDATE ota_targets SET status = 'done', step = 100, updated_at = ?1
                 WHERE product_key = ?2 AND device_name = ?3 AND status != 'done'
                   AND job_id IN (SELECT job_id FROM ota_jobs JOIN ota_firmware USING (firmware_id) WHERE version = ?4)",
                params![now, pk, dn, version],
            )?;
            if done > 0 {
                println!(
                    "[sim] OTA: pk={pk} dn={dn} runs the job's version {version}: upgrade done"
                );
            }
            conn.execute(
                "UPDATE ota_jobs SET status = 'done' WHERE status != 'done'
                 AND NOT EXISTS (SELECT 1 FROM ota_targets t WHERE t.job_id = ota_jobs.job_id AND t.status != 'done')",
                [],
            )?;
            // Like the platform: a device that comes online with an old
            // version gets its pending upgrade again.
            let mut stmt = conn.prepare(
                "SELECT t.job_id FROM ota_targets t JOIN ota_jobs j USING (job_id) WHERE t.product_key = ?1 AND t.device_name = ?2
                 AND t.status IN ('created', 'pushed', 'downloading') AND j.status = 'running'",
            )?;
            let pending: Vec<i64> = stmt
                .query_map(params![pk, dn], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            for job in pending {
                self.push(job, Some((pk, dn)))?;
            }
        } else if topic == format!("/ota/device/progress/{pk}/{dn}") {
            let step = match &params["step"] {
                Value::String(s) => s.parse::<i64>().ok(),
                Value::Number(n) => n.as_i64(),
                _ => None,
            };
            let Some(step) = step else {
                println!(
                    "[sim] OTA: progress report of pk={pk} dn={dn} has no params.step; ignored"
                );
                return Ok(());
            };
            let desc = params["desc"].as_str().unwrap_or("");
            let status = if step < 0 { "failed" } else { "downloading" };
            conn.execute(
                "UPDATE ota_targets SET step = ?1, descr = ?2, status = ?3, updated_at = ?4
                 WHERE product_key = ?5 AND device_name = ?6 AND status NOT IN ('done', 'failed')
                   AND job_id = (SELECT MAX(job_id) FROM ota_targets WHERE product_key = ?5 AND device_name = ?6)",
                params![step, desc, status, now, pk, dn],
            )?;
            // The first failure of a push stays (a later report of the same
            // download does not hide why it failed); a new push resets it.
            println!("[sim] OTA: pk={pk} dn={dn} progress {step} {desc:?}");
        }
        Ok(())
    }

    fn download(&self, tls: &mut openssl::ssl::SslStream<TcpStream>) -> Result<()> {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if head.len() > 8192 || tls.read(&mut byte)? == 0 {
                bail!("the request head did not end");
            }
            head.push(byte[0]);
        }
        let text = String::from_utf8_lossy(&head).into_owned();
        let target = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("GET "))
            .and_then(|l| l.split(' ').next())
            .unwrap_or("");
        let range = text.lines().find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("range")
                .then(|| value.trim().to_owned())
        });
        let reply = |tls: &mut openssl::ssl::SslStream<TcpStream>,
                     status: &str,
                     body: &str|
         -> Result<()> {
            let _ = write!(tls, "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            Ok(())
        };
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let Some(token) = path.strip_prefix("/ota/dl/") else {
            return reply(tls, "404 Not Found", "no such file\n");
        };
        let get = |key: &str| {
            query
                .split('&')
                .find_map(|p| p.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
        };
        let expires = get("Expires")
            .and_then(|e| e.parse::<i64>().ok())
            .unwrap_or(0);
        let expected = signature(&self.url_key, token, expires)?;
        if get("Signature") != Some(expected.as_str()) {
            println!("[sim] OTA download refused: bad signature");
            return reply(tls, "403 Forbidden", "the URL signature is not valid\n");
        }
        if crate::clock::now() >= expires {
            println!(
                "[sim] OTA download refused: the URL expired at {}",
                crate::clock::rfc3339(expires)
            );
            return reply(tls, "403 Forbidden", "the signed URL has expired\n");
        }
        let conn = open(&self.data_dir)?;
        let row: Option<DownloadRow> = conn
            .query_row(
                "SELECT t.job_id, t.product_key, t.device_name, f.path, j.cut_at, j.no_range, t.cuts
                 FROM ota_targets t JOIN ota_jobs j USING (job_id) JOIN ota_firmware f USING (firmware_id) WHERE t.token = ?1",
                params![token],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)),
            )
            .optional()?;
        let Some((job, pk, dn, file, cut_at, no_range, cuts)) = row else {
            return reply(tls, "410 Gone", "this download URL is no longer valid\n");
        };
        let image = std::fs::read(&file).with_context(|| format!("reading {file}"))?;
        let total = image.len();
        let from = match range.as_deref().filter(|_| !no_range) {
            None => None,
            Some(r) => {
                let start = r
                    .strip_prefix("bytes=")
                    .and_then(|r| r.strip_suffix('-'))
                    .and_then(|s| s.parse::<usize>().ok());
                match start {
                    Some(s) if s < total => Some(s),
                    _ => return reply(tls, "416 Range Not Satisfiable", "bad range\n"),
                }
            }
        };
        let start = from.unwrap_or(0);
        let body = &image[start..];
        let head = match from {
            Some(s) => format!("HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {s}-{}/{total}\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\nConnection: close\r\n\r\n", total - 1, body.len()),
            None => format!("HTTP/1.1 200 OK\r\nContent-Length: {total}\r\nAccept-Ranges: {}\r\nConnection: close\r\n\r\n", if no_range { "none" } else { "bytes" }),
        };
        let cut = cut_at
            .map(|c| c as usize)
            .filter(|c| cuts == 0 && *c > start && *c < total);
        conn.execute(
            "UPDATE ota_targets SET downloads = downloads + 1, cuts = cuts + ?1, status = CASE status WHEN 'pushed' THEN 'downloading' ELSE status END
             WHERE job_id = ?2 AND product_key = ?3 AND device_name = ?4",
            params![i64::from(cut.is_some()), job, pk, dn],
        )?;
        tls.write_all(head.as_bytes())?;
        match cut {
            Some(c) => {
                tls.write_all(&image[start..c])?;
                tls.flush()?;
                println!("[sim] OTA download of pk={pk} dn={dn} cut after byte {c} of {total} (test hook cut_at)");
                // Close the TCP connection without a TLS close-notify, as a dropped link would.
                let _ = tls.get_ref().shutdown(std::net::Shutdown::Both);
            }
            None => {
                tls.write_all(body)?;
                println!(
                    "[sim] OTA download of pk={pk} dn={dn}: bytes {start}-{} of {total} sent",
                    total - 1
                );
            }
        }
        Ok(())
    }
}

// ---- the HTTP API ---------------------------------------------------------------

/// Largest image the HTTP API accepts.
pub const MAX_IMAGE: usize = 64 * 1024 * 1024;

fn query_param<'a>(query: &'a [(String, String)], key: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// POST /api/ota/firmware?productKey=&version= with the image as the body.
pub fn http_upload(data_dir: &Path, query: &[(String, String)], image: &[u8]) -> Result<Value> {
    let (Some(pk), Some(version)) = (
        query_param(query, "productKey"),
        query_param(query, "version"),
    ) else {
        bail!("give productKey and version as query parameters and the image as the body");
    };
    upload(data_dir, pk, version, image)
}

/// POST /api/ota/jobs?productKey=&version=[&deviceName=][&signMethod=][&cutAt=][&corruptDigest=1][&noRange=1][&urlTtl=]
/// creates a job and pushes it to the targets that are online.
pub fn http_job(data_dir: &Path, query: &[(String, String)]) -> Result<Value> {
    let (Some(pk), Some(version)) = (
        query_param(query, "productKey"),
        query_param(query, "version"),
    ) else {
        bail!("give productKey and version (and optionally deviceName) as query parameters");
    };
    let flag = |k: &str| matches!(query_param(query, k), Some("1" | "true"));
    let number = |k: &str| -> Result<Option<i64>> {
        query_param(query, k)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| anyhow!("{k} must be a number"))
            })
            .transpose()
    };
    let spec = JobSpec {
        product_key: pk.to_owned(),
        device_name: query_param(query, "deviceName")
            .filter(|d| !d.is_empty())
            .map(str::to_owned),
        version: version.to_owned(),
        sign_method: query_param(query, "signMethod").map(str::to_owned),
        cut_at: number("cutAt")?.map(|c| c.max(0) as u64),
        corrupt: flag("corruptDigest"),
        no_range: flag("noRange"),
        url_ttl: number("urlTtl")?,
    };
    let job = create_job(data_dir, &spec)?;
    let pushed = push(job)?;
    Ok(json!({"jobId": job, "pushed": pushed}))
}

/// POST /api/ota/push?job=ID pushes a job again to its targets not yet done.
pub fn http_push(query: &[(String, String)]) -> Result<Value> {
    let job = query_param(query, "job")
        .and_then(|j| j.parse::<i64>().ok())
        .ok_or_else(|| anyhow!("give job=ID"))?;
    Ok(json!({"jobId": job, "pushed": push(job)?}))
}

/// GET /api/ota/jobs[?job=ID]: jobs, targets, reported versions.
pub fn http_status(data_dir: &Path, query: &[(String, String)]) -> Result<Value> {
    status(
        data_dir,
        query_param(query, "job").and_then(|j| j.parse().ok()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_depend_on_token_and_expiry() {
        let key = [7u8; 32];
        let a = signature(&key, "t", 5).unwrap();
        assert_eq!(a.len(), 64);
        assert_ne!(a, signature(&key, "t", 6).unwrap());
        assert_ne!(a, signature(&key, "u", 5).unwrap());
        assert_ne!(a, signature(&[8u8; 32], "t", 5).unwrap());
    }
}

//! The registry: products, devices, certificates and batches in SQLite.
//! Every change runs in one transaction, so a crash leaves either the whole
//! change or none of it.

use anyhow::{anyhow, bail, Context, Result};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::Serialize;
use std::path::Path;
use std::time::Duration;

pub const DB_FILE: &str = "registry.db";

/// How long a batch CertUrl stays valid (the platform's 30 days).
pub const CERT_URL_LIFETIME_SECS: i64 = 30 * 86_400;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS products (
    product_key TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    auth_type   TEXT NOT NULL,
    net_type    TEXT NOT NULL,
    node_type   TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
    batch_id    INTEGER PRIMARY KEY AUTOINCREMENT,
    product_key TEXT NOT NULL REFERENCES products(product_key),
    count       INTEGER NOT NULL,
    url_base    TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS devices (
    product_key  TEXT NOT NULL REFERENCES products(product_key),
    device_name  TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('enabled', 'disabled')),
    batch_id     INTEGER REFERENCES batches(batch_id),
    url_token    TEXT UNIQUE,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (product_key, device_name)
);
CREATE TABLE IF NOT EXISTS certificates (
    serial       TEXT PRIMARY KEY,
    fingerprint  TEXT NOT NULL UNIQUE,
    product_key  TEXT NOT NULL,
    device_name  TEXT NOT NULL,
    key_type     TEXT NOT NULL,
    cert_pem     TEXT NOT NULL,
    key_pem      TEXT NOT NULL,
    status       TEXT NOT NULL,
    not_after    INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    FOREIGN KEY (product_key, device_name) REFERENCES devices(product_key, device_name)
);
CREATE INDEX IF NOT EXISTS certificates_by_device ON certificates(product_key, device_name);
CREATE TABLE IF NOT EXISTS topic_classes (
    product_key TEXT NOT NULL REFERENCES products(product_key),
    topic       TEXT NOT NULL,
    access      TEXT NOT NULL CHECK (access IN ('PUB', 'SUB', 'ALL')),
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (product_key, topic)
);
CREATE TABLE IF NOT EXISTS applies (
    apply_id    INTEGER PRIMARY KEY AUTOINCREMENT,
    product_key TEXT NOT NULL REFERENCES products(product_key),
    kind        TEXT NOT NULL CHECK (kind IN ('names', 'random')),
    status      TEXT NOT NULL,
    names       TEXT NOT NULL,
    invalid     TEXT NOT NULL,
    count       INTEGER NOT NULL,
    batch_id    INTEGER REFERENCES batches(batch_id),
    error       TEXT,
    created_at  INTEGER NOT NULL
);
";

/// A batch application (BatchCheckDeviceNames / BatchRegisterDevice).
#[derive(Debug, Clone)]
pub struct Apply {
    pub apply_id: i64,
    pub product_key: String,
    pub kind: String,
    pub status: String,
    /// Valid device names (kind "names"); empty for random names.
    pub names: Vec<String>,
    /// (deviceName, reason) of refused names.
    pub invalid: Vec<(String, String)>,
    pub count: i64,
    pub batch_id: Option<i64>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    pub product_key: String,
    pub name: String,
    pub auth_type: String,
    pub net_type: String,
    pub node_type: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    pub product_key: String,
    pub device_name: String,
    pub status: String,
    pub batch_id: Option<i64>,
    pub created_at: i64,
    pub cert_serial: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertRecord {
    pub product_key: String,
    pub device_name: String,
    pub serial_number: String,
    pub status: String,
    pub key_type: String,
    pub certificate: String,
    pub private_key: String,
    pub not_after: i64,
}

/// What the endpoint needs to admit a certificate.
#[derive(Debug, Clone)]
pub struct CertIdentity {
    pub product_key: String,
    pub device_name: String,
    pub device_status: String,
    pub auth_type: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Batch {
    pub batch_id: i64,
    pub product_key: String,
    pub count: i64,
    pub url_base: String,
    pub created_at: i64,
}

pub struct NewDevice {
    pub device_name: String,
    pub url_token: Option<String>,
    pub issued: crate::pki::Issued,
    pub key_type: &'static str,
}

pub struct Store {
    conn: Connection,
}

impl Store {
    pub fn open(data_dir: &Path) -> Result<Store> {
        let path = data_dir.join(DB_FILE);
        if !path.exists() {
            bail!(
                "no registry in {}: run `iotkit-sim --data-dir {} init` first",
                data_dir.display(),
                data_dir.display()
            );
        }
        Store::open_path(&path)
    }

    pub fn create(data_dir: &Path) -> Result<Store> {
        Store::open_path(&data_dir.join(DB_FILE))
    }

    fn open_path(path: &Path) -> Result<Store> {
        let conn = Connection::open(path)
            .with_context(|| format!("opening the registry {}", path.display()))?;
        // WAL lets `serve` read while a CLI command writes; a busy timeout makes
        // concurrent writers wait instead of failing.
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Store { conn })
    }

    pub fn insert_product(&mut self, product: &Product) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO products (product_key, name, auth_type, net_type, node_type, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                product.product_key,
                product.name,
                product.auth_type,
                product.net_type,
                product.node_type,
                product.created_at
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn product(&self, product_key: &str) -> Result<Option<Product>> {
        Ok(self
            .conn
            .query_row(
                "SELECT product_key, name, auth_type, net_type, node_type, created_at
                 FROM products WHERE product_key = ?1",
                [product_key],
                |r| {
                    Ok(Product {
                        product_key: r.get(0)?,
                        name: r.get(1)?,
                        auth_type: r.get(2)?,
                        net_type: r.get(3)?,
                        node_type: r.get(4)?,
                        created_at: r.get(5)?,
                    })
                },
            )
            .optional()?)
    }

    pub fn require_product(&self, product_key: &str) -> Result<Product> {
        self.product(product_key)?.ok_or_else(|| {
            anyhow!(
                "no product with productKey {product_key}; see `iotkit-sim product list`",
                product_key = crate::quote::q(&product_key)
            )
        })
    }

    pub fn products(&self) -> Result<Vec<Product>> {
        let mut stmt = self.conn.prepare(
            "SELECT product_key, name, auth_type, net_type, node_type, created_at
             FROM products ORDER BY rowid",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(Product {
                product_key: r.get(0)?,
                name: r.get(1)?,
                auth_type: r.get(2)?,
                net_type: r.get(3)?,
                node_type: r.get(4)?,
                created_at: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn device_exists(&self, product_key: &str, device_name: &str) -> Result<bool> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM devices WHERE product_key = ?1 AND device_name = ?2",
                [product_key, device_name],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Inserts devices with their certificates, optionally as one batch, in a
    /// single transaction. Returns the batch id when `batch_url_base` is given.
    pub fn insert_devices(
        &mut self,
        product_key: &str,
        devices: &[NewDevice],
        batch_url_base: Option<&str>,
        now: i64,
    ) -> Result<Option<i64>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let batch_id = match batch_url_base {
            Some(url_base) => {
                tx.execute(
                    "INSERT INTO batches (product_key, count, url_base, created_at) VALUES (?1, ?2, ?3, ?4)",
                    params![product_key, devices.len() as i64, url_base, now],
                )?;
                Some(tx.last_insert_rowid())
            }
            None => None,
        };
        {
            let mut add_device = tx.prepare(
                "INSERT INTO devices (product_key, device_name, status, batch_id, url_token, created_at)
                 VALUES (?1, ?2, 'enabled', ?3, ?4, ?5)",
            )?;
            let mut add_cert = tx.prepare(
                "INSERT INTO certificates (serial, fingerprint, product_key, device_name, key_type,
                                           cert_pem, key_pem, status, not_after, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'valid', ?8, ?9)",
            )?;
            let pause = test_pause_inside_batch();
            for (index, device) in devices.iter().enumerate() {
                if index == devices.len() / 2 && batch_id.is_some() {
                    if let Some(pause) = pause {
                        eprintln!("[sim] test hook: pausing inside the batch transaction");
                        std::thread::sleep(pause);
                    }
                }
                add_device
                    .execute(params![product_key, device.device_name, batch_id, device.url_token, now])
                    .map_err(|e| match e {
                        rusqlite::Error::SqliteFailure(f, _)
                            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                        {
                            anyhow!(
                                "device {} already exists in product {product_key}; choose another name \
                                 (see `iotkit-sim device list --product {product_key}`)",
                                crate::quote::q(&device.device_name)
                            )
                        }
                        other => other.into(),
                    })?;
                add_cert.execute(params![
                    device.issued.serial,
                    device.issued.fingerprint,
                    product_key,
                    device.device_name,
                    device.key_type,
                    device.issued.cert_pem,
                    device.issued.key_pem,
                    device.issued.not_after,
                    now
                ])?;
            }
        }
        tx.commit()?;
        Ok(batch_id)
    }

    /// Sets a device's status; returns the previous status.
    pub fn set_device_status(
        &mut self,
        product_key: &str,
        device_name: &str,
        status: &str,
    ) -> Result<String> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let previous: Option<String> = tx
            .query_row(
                "SELECT status FROM devices WHERE product_key = ?1 AND device_name = ?2",
                [product_key, device_name],
                |r| r.get(0),
            )
            .optional()?;
        let Some(previous) = previous else {
            bail!(
                "no device {device_name} in product {product_key}; see `iotkit-sim device list --product {product_key}`", device_name = crate::quote::q(&device_name)
            );
        };
        tx.execute(
            "UPDATE devices SET status = ?3 WHERE product_key = ?1 AND device_name = ?2",
            [product_key, device_name, status],
        )?;
        tx.commit()?;
        Ok(previous)
    }

    pub fn devices(&self, product_key: Option<&str>) -> Result<Vec<Device>> {
        let mut stmt = self.conn.prepare(
            "SELECT d.product_key, d.device_name, d.status, d.batch_id, d.created_at,
                    (SELECT c.serial FROM certificates c
                      WHERE c.product_key = d.product_key AND c.device_name = d.device_name
                      ORDER BY c.created_at DESC LIMIT 1)
             FROM devices d
             WHERE ?1 IS NULL OR d.product_key = ?1
             ORDER BY d.product_key, d.rowid",
        )?;
        let rows = stmt.query_map([product_key], |r| {
            Ok(Device {
                product_key: r.get(0)?,
                device_name: r.get(1)?,
                status: r.get(2)?,
                batch_id: r.get(3)?,
                created_at: r.get(4)?,
                cert_serial: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// QueryDeviceCert: the device's current certificate and key.
    pub fn device_cert(&self, product_key: &str, device_name: &str) -> Result<Option<CertRecord>> {
        Ok(self
            .conn
            .query_row(
                "SELECT product_key, device_name, serial, status, key_type, cert_pem, key_pem, not_after
                 FROM certificates WHERE product_key = ?1 AND device_name = ?2
                 ORDER BY created_at DESC LIMIT 1",
                [product_key, device_name],
                cert_record,
            )
            .optional()?)
    }

    /// The device behind a batch CertUrl token, with the URL's expiry time.
    pub fn cert_by_url_token(&self, token: &str) -> Result<Option<(CertRecord, i64)>> {
        let found: Option<(String, String, i64)> = self
            .conn
            .query_row(
                "SELECT d.product_key, d.device_name, b.created_at FROM devices d
                 JOIN batches b ON b.batch_id = d.batch_id WHERE d.url_token = ?1",
                [token],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((product_key, device_name, created_at)) = found else {
            return Ok(None);
        };
        Ok(self
            .device_cert(&product_key, &device_name)?
            .map(|record| (record, created_at + CERT_URL_LIFETIME_SECS)))
    }

    pub fn identity_by_fingerprint(&self, fingerprint: &str) -> Result<Option<CertIdentity>> {
        Ok(self
            .conn
            .query_row(
                "SELECT c.product_key, c.device_name, d.status, p.auth_type
                 FROM certificates c
                 JOIN devices d ON d.product_key = c.product_key AND d.device_name = c.device_name
                 JOIN products p ON p.product_key = c.product_key
                 WHERE c.fingerprint = ?1 AND c.status = 'valid'",
                [fingerprint],
                |r| {
                    Ok(CertIdentity {
                        product_key: r.get(0)?,
                        device_name: r.get(1)?,
                        device_status: r.get(2)?,
                        auth_type: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    /// Topic classes defined for a product beyond the rule file's defaults.
    pub fn topic_classes(&self, product_key: &str) -> Result<Vec<(String, String)>> {
        let mut stmt = self.conn.prepare(
            "SELECT topic, access FROM topic_classes WHERE product_key = ?1 ORDER BY rowid",
        )?;
        let rows = stmt.query_map([product_key], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Adds or replaces a topic class (short name below `/${pk}/${dn}/`).
    pub fn set_topic_class(
        &mut self,
        product_key: &str,
        topic: &str,
        access: &str,
        now: i64,
    ) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO topic_classes (product_key, topic, access, created_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(product_key, topic) DO UPDATE SET access = excluded.access",
            params![product_key, topic, access, now],
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn insert_apply(&mut self, apply: &Apply, now: i64) -> Result<i64> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO applies (product_key, kind, status, names, invalid, count, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                apply.product_key,
                apply.kind,
                apply.status,
                serde_json::to_string(&apply.names)?,
                serde_json::to_string(&apply.invalid)?,
                apply.count,
                now
            ],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        Ok(id)
    }

    pub fn set_apply_status(
        &mut self,
        apply_id: i64,
        status: &str,
        batch_id: Option<i64>,
        error: Option<&str>,
    ) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "UPDATE applies SET status = ?2, batch_id = COALESCE(?3, batch_id), error = ?4 WHERE apply_id = ?1",
            params![apply_id, status, batch_id, error],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The outcome of a name check: the valid names and the refused ones.
    pub fn set_apply_result(
        &mut self,
        apply_id: i64,
        status: &str,
        valid: &[String],
        invalid: &[(String, String)],
    ) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "UPDATE applies SET status = ?2, names = ?3, invalid = ?4 WHERE apply_id = ?1",
            params![
                apply_id,
                status,
                serde_json::to_string(valid)?,
                serde_json::to_string(invalid)?
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn apply(&self, apply_id: i64) -> Result<Option<Apply>> {
        // names and invalid are JSON text, decoded after the query.
        let row = self
            .conn
            .query_row(
                "SELECT product_key, kind, status, names, invalid, count, batch_id, error
                 FROM applies WHERE apply_id = ?1",
                [apply_id],
                |r| {
                    Ok((
                        Apply {
                            apply_id,
                            product_key: r.get(0)?,
                            kind: r.get(1)?,
                            status: r.get(2)?,
                            names: Vec::new(),
                            invalid: Vec::new(),
                            count: r.get(5)?,
                            batch_id: r.get(6)?,
                            error: r.get(7)?,
                        },
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                    ))
                },
            )
            .optional()?;
        let Some((mut apply, names, invalid)) = row else {
            return Ok(None);
        };
        apply.names = serde_json::from_str(&names)?;
        apply.invalid = serde_json::from_str(&invalid)?;
        Ok(Some(apply))
    }

    pub fn batches(&self) -> Result<Vec<Batch>> {
        let mut stmt = self.conn.prepare(
            "SELECT batch_id, product_key, count, url_base, created_at FROM batches ORDER BY batch_id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(Batch {
                batch_id: r.get(0)?,
                product_key: r.get(1)?,
                count: r.get(2)?,
                url_base: r.get(3)?,
                created_at: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// (deviceName, url token) of every device in a batch, in creation order.
    pub fn batch_rows(&self, batch_id: i64) -> Result<Vec<(String, String)>> {
        let mut stmt = self.conn.prepare(
            "SELECT device_name, url_token FROM devices WHERE batch_id = ?1 ORDER BY rowid",
        )?;
        let rows = stmt.query_map([batch_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Consistency report: an empty list means the registry is sound.
    pub fn check(&self) -> Result<Vec<String>> {
        let mut problems = Vec::new();
        let integrity: String = self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        if integrity != "ok" {
            problems.push(format!("SQLite integrity check: {integrity}"));
        }
        let mut stmt = self.conn.prepare("PRAGMA foreign_key_check")?;
        let violations = stmt.query_map([], |r| r.get::<_, String>(0))?.count();
        if violations > 0 {
            problems.push(format!("{violations} rows break a foreign key"));
        }
        let queries = [
            (
                "SELECT COUNT(*) FROM devices d JOIN products p ON p.product_key = d.product_key
                 WHERE p.auth_type = 'x509' AND NOT EXISTS (SELECT 1 FROM certificates c
                   WHERE c.product_key = d.product_key AND c.device_name = d.device_name)",
                "x509 devices without a certificate",
            ),
            (
                "SELECT COUNT(*) FROM batches b WHERE b.count !=
                   (SELECT COUNT(*) FROM devices d WHERE d.batch_id = b.batch_id)",
                "batches whose device count does not match",
            ),
        ];
        for (sql, what) in queries {
            let count: i64 = self.conn.query_row(sql, [], |r| r.get(0))?;
            if count > 0 {
                problems.push(format!("{count} {what}"));
            }
        }
        Ok(problems)
    }
}

/// Fault-injection hook for the crash tests: `IOTKIT_SIM_TEST_PAUSE_IN_BATCH_MS`
/// makes a batch stop halfway through its inserts, inside the open
/// transaction, so a test can `kill -9` it at exactly that point.
pub const TEST_PAUSE_ENV: &str = "IOTKIT_SIM_TEST_PAUSE_IN_BATCH_MS";

fn test_pause_inside_batch() -> Option<Duration> {
    let millis = std::env::var(TEST_PAUSE_ENV).ok()?.parse().ok()?;
    Some(Duration::from_millis(millis))
}

fn cert_record(r: &rusqlite::Row<'_>) -> rusqlite::Result<CertRecord> {
    Ok(CertRecord {
        product_key: r.get(0)?,
        device_name: r.get(1)?,
        serial_number: r.get(2)?,
        status: r.get(3)?,
        key_type: r.get(4)?,
        certificate: r.get(5)?,
        private_key: r.get(6)?,
        not_after: r.get(7)?,
    })
}

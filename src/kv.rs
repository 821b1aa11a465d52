//! Key-value storage behind HAL_Kv_*: one file per key in a directory.
//!
//! Writes are crash-safe: the value goes to a temporary file that is flushed
//! to disk, renamed over the old file, and the directory is flushed too, so a
//! power cut leaves either the old or the new value. Each file carries a
//! header with a checksum, so a corrupted or truncated file is detected and
//! reported instead of being handed to the firmware.
//!
//! Several threads and processes may write one directory at once: every
//! write has its own temporary file (named after the writing process, a
//! per-process random number and a counter, created exclusively), and only
//! temporary files that are provably abandoned are ever removed (see
//! `is_abandoned`). Readers see the old or the new value, whole.

use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};

/// Longest key accepted.
pub(crate) const KEY_MAX_LEN: usize = 64;
/// Largest value accepted.
pub(crate) const VALUE_MAX_LEN: usize = 64 * 1024;

const MAGIC: &[u8; 6] = b"IOTKV1";
const HEADER_LEN: usize = MAGIC.len() + 4 + 4;
const FILE_SUFFIX: &str = ".kv";
const TEMP_SUFFIX: &str = ".kv.tmp";
/// Temporary files start with a dot (no key may), so they never name a key.
const TEMP_PREFIX: &str = ".tmp-";

/// A temporary file whose writing process is gone is removed once it is this
/// old. A write (at most 64 KiB and two fsyncs) takes milliseconds; the margin
/// protects a writer in another PID namespace sharing the directory, whose
/// PID this process cannot see and would take for dead.
const DEAD_WRITER_GRACE: Duration = Duration::from_secs(5);
/// Any temporary file older than this is abandoned, whoever wrote it: it
/// covers a PID reused after a reboot, files of older versions (named
/// `KEY.kv.tmp`) and systems without /proc. A writer stopped for longer than
/// this (SIGSTOP) loses its file, and its Set fails cleanly: the rename finds
/// nothing, the stored value stays as it was.
const ABANDONED_AFTER: Duration = Duration::from_secs(10 * 60);

/// A random number chosen once per process: with the PID it tells this
/// process's temporary files from those of an earlier process that had the
/// same PID (a device reboots into the same PID every time).
fn process_nonce() -> u64 {
    static NONCE: OnceLock<u64> = OnceLock::new();
    *NONCE.get_or_init(|| {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        hasher.finish()
    })
}

/// A name no other write, in this or any other process, uses at the same time.
fn temp_name(key: &str) -> String {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    format!(
        "{TEMP_PREFIX}{}-{:016x}-{seq}-{key}{TEMP_SUFFIX}",
        std::process::id(),
        process_nonce()
    )
}

/// The writer (PID, process nonce) a temporary file name records, if any.
fn temp_owner(name: &str) -> Option<(u32, u64)> {
    let rest = name.strip_prefix(TEMP_PREFIX)?;
    let mut parts = rest.splitn(3, '-');
    let pid = parts.next()?.parse().ok()?;
    let nonce = u64::from_str_radix(parts.next()?, 16).ok()?;
    Some((pid, nonce))
}

/// Whether process `pid` exists: `None` when this system cannot tell (no
/// /proc). A zombie counts as existing, which only delays the cleanup.
fn process_exists(pid: u32) -> Option<bool> {
    let proc_root = Path::new("/proc");
    if !proc_root.join("self").exists() {
        return None;
    }
    Some(proc_root.join(pid.to_string()).exists())
}

/// Whether the temporary file `name`, last modified `age` ago (`None` when
/// its time is unknown or in the future, as after a clock was set back), can
/// be removed without harming a write in progress:
/// - this process's own files never (its writes remove their own leftovers);
/// - older than `ABANDONED_AFTER`: yes;
/// - written by a process that no longer exists (or by an earlier process
///   with this process's PID), once older than `DEAD_WRITER_GRACE`: yes.
fn is_abandoned(name: &str, age: Option<Duration>) -> bool {
    let owner = temp_owner(name);
    let me = (std::process::id(), process_nonce());
    if owner == Some(me) {
        return false;
    }
    if age.is_some_and(|age| age >= ABANDONED_AFTER) {
        return true;
    }
    let Some((pid, _)) = owner else {
        return false;
    };
    let writer_gone = pid == me.0 || process_exists(pid) == Some(false);
    writer_gone && age.map_or(true, |age| age >= DEAD_WRITER_GRACE)
}

#[derive(Debug, PartialEq, Eq)]
pub enum KvError {
    InvalidKey(String),
    ValueTooLarge(usize),
    NotFound,
    /// The stored file is damaged (truncated, bad checksum); it was left alone.
    Corrupt(String),
    Io(String),
}

impl std::fmt::Display for KvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KvError::InvalidKey(why) => write!(f, "invalid key: {why}"),
            KvError::ValueTooLarge(len) => {
                write!(
                    f,
                    "value of {len} bytes is larger than the {VALUE_MAX_LEN} bytes allowed"
                )
            }
            KvError::NotFound => f.write_str("no value stored under this key"),
            KvError::Corrupt(why) => write!(f, "stored value is damaged: {why}"),
            KvError::Io(why) => f.write_str(why),
        }
    }
}

/// Checks a key: 1..=64 characters of letters, digits and `_.-`, not starting
/// with a dot (so it can never name a hidden, temporary or parent entry).
pub fn validate_key(key: &str) -> Result<(), KvError> {
    if key.is_empty() || key.len() > KEY_MAX_LEN {
        return Err(KvError::InvalidKey(format!(
            "keys are 1 to {KEY_MAX_LEN} characters, this one has {}",
            key.len()
        )));
    }
    if key.starts_with('.')
        || !key
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(&c))
    {
        return Err(KvError::InvalidKey(format!(
            "'{key}' may use only letters, digits and _ . - and may not start with a dot"
        )));
    }
    Ok(())
}

/// CRC-32 (IEEE), bitwise: values are small and written rarely.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn io_error(what: &str, path: &Path, err: io::Error) -> KvError {
    KvError::Io(format!("{what} {}: {err}", path.display()))
}

/// Parses a stored file's bytes; the checks a reader needs against damage.
pub fn decode(bytes: &[u8]) -> Result<&[u8], KvError> {
    if bytes.len() < HEADER_LEN {
        return Err(KvError::Corrupt(format!(
            "file is {} bytes, shorter than its header",
            bytes.len()
        )));
    }
    if &bytes[..MAGIC.len()] != MAGIC {
        return Err(KvError::Corrupt(
            "not an iotkit value file (bad magic)".to_owned(),
        ));
    }
    let len_bytes: [u8; 4] = bytes[6..10].try_into().unwrap_or_default();
    let crc_bytes: [u8; 4] = bytes[10..14].try_into().unwrap_or_default();
    let len = u32::from_le_bytes(len_bytes) as usize;
    let value = &bytes[HEADER_LEN..];
    if value.len() != len {
        return Err(KvError::Corrupt(format!(
            "header says {len} bytes, file holds {}",
            value.len()
        )));
    }
    if crc32(value) != u32::from_le_bytes(crc_bytes) {
        return Err(KvError::Corrupt("checksum mismatch".to_owned()));
    }
    Ok(value)
}

fn encode(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + value.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32(value).to_le_bytes());
    out.extend_from_slice(value);
    out
}

#[derive(Clone, Debug)]
pub struct KvStore {
    dir: PathBuf,
}

impl KvStore {
    /// Opens (creating if needed, mode 0700) the directory and removes
    /// temporary files a crashed writer left behind (only abandoned ones:
    /// `is_abandoned`).
    pub fn open(dir: impl Into<PathBuf>) -> Result<KvStore, KvError> {
        let store = KvStore { dir: dir.into() };
        store.create_dir()?;
        store.remove_abandoned_temp_files();
        Ok(store)
    }

    fn create_dir(&self) -> Result<(), KvError> {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(&self.dir)
            .map_err(|e| io_error("cannot create KV directory", &self.dir, e))
    }

    fn remove_abandoned_temp_files(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        let now = SystemTime::now();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if !name.ends_with(TEMP_SUFFIX) {
                continue;
            }
            let age = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|modified| now.duration_since(modified).ok());
            if is_abandoned(&name, age) {
                // Another process may remove it first; that is fine.
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}{FILE_SUFFIX}"))
    }

    /// Stores `value` under `key` durably (see the module comment).
    pub fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        validate_key(key)?;
        if value.len() > VALUE_MAX_LEN {
            return Err(KvError::ValueTooLarge(value.len()));
        }
        let final_path = self.path(key);
        let (temp_path, mut file) = self.create_temp_file(key)?;
        let written = file
            .write_all(&encode(value))
            .and_then(|()| file.sync_all())
            .map_err(|e| io_error("cannot write", &temp_path, e));
        drop(file);
        if let Err(err) = written {
            let _ = fs::remove_file(&temp_path);
            return Err(err);
        }
        fs::rename(&temp_path, &final_path).map_err(|e| {
            let _ = fs::remove_file(&temp_path);
            io_error("cannot replace", &final_path, e)
        })?;
        self.sync_dir()
    }

    /// Creates a new temporary file for `key`, exclusively (never opening a
    /// file another writer uses). Recreates the directory once if it was
    /// removed since the store was opened.
    fn create_temp_file(&self, key: &str) -> Result<(PathBuf, File), KvError> {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut recreated_dir = false;
        let mut attempts = 0;
        loop {
            let temp_path = self.dir.join(temp_name(key));
            match options.open(&temp_path) {
                Ok(file) => return Ok((temp_path, file)),
                // Left by an earlier process with the same PID and nonce
                // (practically never): the next name has a new number.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < 8 => {
                    attempts += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound && !recreated_dir => {
                    recreated_dir = true;
                    self.create_dir()?;
                }
                Err(e) => return Err(io_error("cannot create", &temp_path, e)),
            }
        }
    }

    fn sync_dir(&self) -> Result<(), KvError> {
        File::open(&self.dir)
            .and_then(|dir| dir.sync_all())
            .map_err(|e| io_error("cannot flush directory", &self.dir, e))
    }

    /// Reads the value of `key`.
    pub fn get(&self, key: &str) -> Result<Vec<u8>, KvError> {
        validate_key(key)?;
        let path = self.path(key);
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(KvError::NotFound),
            Err(e) => return Err(io_error("cannot open", &path, e)),
        };
        let mut bytes = Vec::new();
        // Read one byte past the largest legal file so an oversized one is caught.
        (&mut file)
            .take((HEADER_LEN + VALUE_MAX_LEN + 1) as u64)
            .read_to_end(&mut bytes)
            .map_err(|e| io_error("cannot read", &path, e))?;
        decode(&bytes).map(<[u8]>::to_vec)
    }

    /// Deletes `key`; deleting a missing key is not an error.
    pub fn delete(&self, key: &str) -> Result<(), KvError> {
        validate_key(key)?;
        let path = self.path(key);
        match fs::remove_file(&path) {
            Ok(()) => self.sync_dir(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("cannot delete", &path, e)),
        }
    }
}

static CONFIGURED_DIR: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Sets the directory HAL_Kv_* use (`None` returns to the default).
pub fn set_dir(dir: Option<PathBuf>) {
    *CONFIGURED_DIR.lock().unwrap_or_else(|p| p.into_inner()) = dir;
}

/// The directory HAL_Kv_* use, in this order: the one set with
/// `iotkit_kv_set_dir`, env IOTX_KV_DIR, `$HOME/.iotkit/kv`, `./.iotkit/kv`.
pub fn current_dir() -> PathBuf {
    if let Some(dir) = CONFIGURED_DIR
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
    {
        return dir;
    }
    if let Some(dir) = std::env::var_os("IOTX_KV_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => PathBuf::from(home).join(".iotkit").join("kv"),
        None => PathBuf::from(".iotkit").join("kv"),
    }
}

/// The store at [`current_dir`]. The directory is created and cleaned of
/// abandoned temporary files the first time this process uses it; after that
/// this costs no file-system call (HAL_Kv_* call it every time).
pub fn default_store() -> Result<KvStore, KvError> {
    static OPENED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    let dir = current_dir();
    let mut opened = OPENED.lock().unwrap_or_else(|p| p.into_inner());
    if opened.contains(&dir) {
        return Ok(KvStore { dir });
    }
    let store = KvStore::open(dir)?;
    opened.push(store.dir.clone());
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_overwrite_and_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = KvStore::open(dir.path()).unwrap();
        assert_eq!(store.get("identity"), Err(KvError::NotFound));
        store.set("identity", b"first").unwrap();
        assert_eq!(store.get("identity").unwrap(), b"first");
        store.set("identity", b"").unwrap();
        assert_eq!(store.get("identity").unwrap(), b"");
        store.set("identity", &[7u8; VALUE_MAX_LEN]).unwrap();
        assert_eq!(store.get("identity").unwrap().len(), VALUE_MAX_LEN);
        store.delete("identity").unwrap();
        store.delete("identity").unwrap();
        assert_eq!(store.get("identity"), Err(KvError::NotFound));
    }

    #[test]
    fn keys_and_sizes_are_validated() {
        let dir = tempfile::tempdir().unwrap();
        let store = KvStore::open(dir.path()).unwrap();
        for bad in ["", ".hidden", "../escape", "a/b", "sp ace", &"k".repeat(65)] {
            assert!(
                matches!(store.set(bad, b"v"), Err(KvError::InvalidKey(_))),
                "{bad:?}"
            );
        }
        assert!(store.set(&"k".repeat(64), b"v").is_ok());
        assert_eq!(
            store.set("big", &vec![0; VALUE_MAX_LEN + 1]),
            Err(KvError::ValueTooLarge(VALUE_MAX_LEN + 1))
        );
    }

    #[test]
    fn damaged_files_are_reported_not_returned() {
        let dir = tempfile::tempdir().unwrap();
        let store = KvStore::open(dir.path()).unwrap();
        store.set("k", b"hello world").unwrap();
        let path = dir.path().join("k.kv");
        let good = fs::read(&path).unwrap();
        // Truncated.
        fs::write(&path, &good[..good.len() - 3]).unwrap();
        assert!(matches!(store.get("k"), Err(KvError::Corrupt(_))));
        // One bit flipped.
        let mut flipped = good.clone();
        *flipped.last_mut().unwrap() ^= 1;
        fs::write(&path, &flipped).unwrap();
        assert!(matches!(store.get("k"), Err(KvError::Corrupt(_))));
        // Not ours at all, and empty.
        fs::write(&path, b"garbage").unwrap();
        assert!(matches!(store.get("k"), Err(KvError::Corrupt(_))));
        fs::write(&path, b"").unwrap();
        assert!(matches!(store.get("k"), Err(KvError::Corrupt(_))));
        // A fresh write repairs it.
        store.set("k", b"again").unwrap();
        assert_eq!(store.get("k").unwrap(), b"again");
    }

    #[cfg(unix)]
    #[test]
    fn files_are_private_and_writes_leave_no_temp_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = KvStore::open(dir.path().join("kv")).unwrap();
        store.set("secret", b"x").unwrap();
        let mode = fs::metadata(dir.path().join("kv/secret.kv"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir_mode = fs::metadata(dir.path().join("kv"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o700);
        // Writes leave no temporary file behind.
        assert_eq!(fs::read_dir(dir.path().join("kv")).unwrap().count(), 1);
    }

    /// Writes `name` in `dir` with a modification time `age` in the past.
    fn temp_file(dir: &Path, name: &str, age: Duration) -> PathBuf {
        let path = dir.join(name);
        let file = File::create(&path).unwrap();
        file.set_modified(SystemTime::now() - age).unwrap();
        path
    }

    #[cfg(unix)]
    #[test]
    fn only_abandoned_temp_files_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = Duration::ZERO;
        let grace = DEAD_WRITER_GRACE + Duration::from_secs(2);
        let ancient = ABANDONED_AFTER + Duration::from_secs(60);
        let dead_pid = {
            let mut child = std::process::Command::new("true").spawn().unwrap();
            let pid = child.id();
            child.wait().unwrap();
            pid
        };
        let mine = temp_name("k");
        let (me, nonce) = temp_owner(&mine).unwrap();
        assert_eq!((me, nonce), (std::process::id(), process_nonce()));
        let other = |pid: u32, nonce: u64| format!(".tmp-{pid}-{nonce:016x}-0-k.kv.tmp");
        let live_pid = std::os::unix::process::parent_id();
        let kept = [
            // This process's own write in progress, however long it takes.
            temp_file(dir.path(), &mine, grace),
            // A live writer in another process.
            temp_file(dir.path(), &other(live_pid, 1), grace),
            // A writer gone, but within the grace (it may be in another PID namespace).
            temp_file(dir.path(), &other(dead_pid, 2), fresh),
            // An older version's name, recent.
            temp_file(dir.path(), "legacy.kv.tmp", fresh),
        ];
        let removed = [
            temp_file(dir.path(), &other(dead_pid, 3), grace),
            // An earlier process with this PID (a reboot): another nonce.
            temp_file(dir.path(), &other(me, nonce ^ 1), grace),
            temp_file(dir.path(), &other(live_pid, 4), ancient),
            temp_file(dir.path(), "legacy2.kv.tmp", ancient),
        ];
        // A stored value is never touched, however old.
        let value = temp_file(dir.path(), "old.kv", ancient);
        KvStore::open(dir.path()).unwrap();
        for path in &kept {
            assert!(path.exists(), "{} was removed", path.display());
        }
        for path in &removed {
            assert!(!path.exists(), "{} was kept", path.display());
        }
        assert!(value.exists());
    }

    #[test]
    fn temp_names_are_unique_and_never_keys() {
        let names: std::collections::HashSet<String> = (0..1000).map(|_| temp_name("k")).collect();
        assert_eq!(names.len(), 1000);
        assert!(names
            .iter()
            .all(|n| n.ends_with(TEMP_SUFFIX) && n.starts_with('.')));
        assert!(temp_owner("k.kv.tmp").is_none());
    }

    #[test]
    fn crc_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }
}

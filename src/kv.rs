//! Key-value storage behind HAL_Kv_*: one file per key in a directory.
//!
//! Writes are crash-safe: the value goes to a temporary file that is flushed
//! to disk, renamed over the old file, and the directory is flushed too, so a
//! power cut leaves either the old or the new value. Each file carries a
//! header with a checksum, so a corrupted or truncated file is detected and
//! reported instead of being handed to the firmware.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Longest key accepted.
pub(crate) const KEY_MAX_LEN: usize = 64;
/// Largest value accepted.
pub(crate) const VALUE_MAX_LEN: usize = 64 * 1024;

const MAGIC: &[u8; 6] = b"IOTKV1";
const HEADER_LEN: usize = MAGIC.len() + 4 + 4;
const FILE_SUFFIX: &str = ".kv";
const TEMP_SUFFIX: &str = ".kv.tmp";

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
    /// temporary files a crash may have left behind.
    pub fn open(dir: impl Into<PathBuf>) -> Result<KvStore, KvError> {
        let dir = dir.into();
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(&dir)
            .map_err(|e| io_error("cannot create KV directory", &dir, e))?;
        if let Ok(entries) = fs::read_dir(&dir) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().ends_with(TEMP_SUFFIX) {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
        Ok(KvStore { dir })
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
        let temp_path = self.dir.join(format!("{key}{TEMP_SUFFIX}"));
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(&temp_path)
            .map_err(|e| io_error("cannot create", &temp_path, e))?;
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

/// The store at [`current_dir`].
pub fn default_store() -> Result<KvStore, KvError> {
    KvStore::open(current_dir())
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
    fn files_are_private_and_temp_files_are_cleaned() {
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
        fs::write(dir.path().join("kv/leftover.kv.tmp"), b"half").unwrap();
        KvStore::open(dir.path().join("kv")).unwrap();
        assert!(!dir.path().join("kv/leftover.kv.tmp").exists());
    }

    #[test]
    fn crc_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }
}

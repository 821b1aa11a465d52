//! The Linux default behind `HAL_Firmware_Persistence_Start/Write/Stop`: the
//! image goes to `<dir>/firmware.bin.part`, and only a complete image whose
//! digests match the pushed upgrade becomes `<dir>/firmware.bin` (fsync,
//! rename, fsync of the directory), so a cut, a full disk or a corrupt
//! download never leaves a half image under the final name.

use mbedtls::hash::{Md, Type};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

pub(crate) const IMAGE: &str = "firmware.bin";
pub(crate) const PART: &str = "firmware.bin.part";
pub(crate) const ENV_DIR: &str = "IOTX_OTA_DIR";

/// The directory: the one set by `iotkit_ota_set_dir`, else env
/// IOTX_OTA_DIR, else `$HOME/.iotkit/ota`, else `./.iotkit/ota`.
pub fn default_dir(configured: Option<&Path>) -> PathBuf {
    if let Some(dir) = configured {
        return dir.to_path_buf();
    }
    if let Some(dir) = std::env::var_os(ENV_DIR).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map_or_else(
            || PathBuf::from(".iotkit"),
            |h| PathBuf::from(h).join(".iotkit"),
        )
        .join("ota")
}

/// One image being written.
pub struct Writer {
    dir: PathBuf,
    file: File,
    written: u64,
    md5: Md,
    sha256: Md,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("dir", &self.dir)
            .field("written", &self.written)
            .finish()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Writer {
    /// Creates the directory (0700) and an empty `firmware.bin.part`.
    pub fn start(dir: &Path) -> Result<Writer, String> {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(|e| {
            format!(
                "the firmware directory {} cannot be created: {e}",
                dir.display()
            )
        })?;
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let path = dir.join(PART);
        let file = options
            .open(&path)
            .map_err(|e| format!("{} cannot be opened for writing: {e}", path.display()))?;
        let md = |t| Md::new(t).map_err(|_| "the digest context cannot be created".to_owned());
        Ok(Writer {
            dir: dir.to_path_buf(),
            file,
            written: 0,
            md5: md(Type::Md5)?,
            sha256: md(Type::Sha256)?,
        })
    }

    pub fn written(&self) -> u64 {
        self.written
    }

    /// Appends `data`; a failure (disk full, I/O error) is a sentence.
    pub fn write(&mut self, data: &[u8]) -> Result<(), String> {
        self.file.write_all(data).map_err(|e| {
            let full = e.raw_os_error() == Some(libc_enospc());
            format!(
                "writing the firmware image to {} failed after {} bytes: {e}{}",
                self.dir.join(PART).display(),
                self.written,
                if full { " (the storage is full)" } else { "" }
            )
        })?;
        let _ = self.md5.update(data);
        let _ = self.sha256.update(data);
        self.written += data.len() as u64;
        Ok(())
    }

    /// MD5 and SHA-256 (hex) of what was written.
    pub fn digests(&self) -> (String, String) {
        let mut a = [0u8; 16];
        let mut b = [0u8; 32];
        let _ = self.md5.clone().finish(&mut a);
        let _ = self.sha256.clone().finish(&mut b);
        (hex(&a), hex(&b))
    }

    /// Makes the image final after `accept` approved it (given the byte count
    /// and the digests); otherwise removes the partial file. Returns the
    /// final path.
    pub fn stop(
        mut self,
        accept: impl FnOnce(u64, &str, &str) -> Result<(), String>,
    ) -> Result<PathBuf, String> {
        let part = self.dir.join(PART);
        let (md5, sha256) = self.digests();
        let verdict = accept(self.written, &md5, &sha256);
        if let Err(why) = verdict {
            drop(self.file);
            let _ = fs::remove_file(&part);
            return Err(format!("{why}; the partial image was removed"));
        }
        let synced = self.file.flush().and_then(|_| self.file.sync_all());
        if let Err(e) = synced {
            let _ = fs::remove_file(&part);
            return Err(format!(
                "flushing the firmware image to storage failed: {e}"
            ));
        }
        let image = self.dir.join(IMAGE);
        fs::rename(&part, &image).map_err(|e| {
            format!(
                "renaming {} to {} failed: {e}",
                part.display(),
                image.display()
            )
        })?;
        if let Ok(dir) = File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        Ok(image)
    }
}

fn libc_enospc() -> i32 {
    #[cfg(unix)]
    return libc::ENOSPC;
    #[cfg(not(unix))]
    return -1;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_accepted_image_gets_the_final_name() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Writer::start(dir.path()).unwrap();
        w.write(b"hello ").unwrap();
        w.write(b"world").unwrap();
        assert_eq!(w.written(), 11);
        let (md5, _) = w.digests();
        assert_eq!(md5, "5eb63bbbe01eeed093cb22bb8f5acdc3");
        let image = w
            .stop(|n, _, sha| {
                assert_eq!(n, 11);
                assert_eq!(
                    sha,
                    "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
                );
                Ok(())
            })
            .unwrap();
        assert_eq!(fs::read(&image).unwrap(), b"hello world");
        assert!(!dir.path().join(PART).exists());

        let mut w = Writer::start(dir.path()).unwrap();
        w.write(b"half").unwrap();
        let err = w.stop(|_, _, _| Err("digest mismatch".into())).unwrap_err();
        assert!(err.contains("partial image was removed"));
        assert!(!dir.path().join(PART).exists());
        assert_eq!(
            fs::read(&image).unwrap(),
            b"hello world",
            "the old image stays"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_full_storage_is_named() {
        if !Path::new("/dev/full").exists() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        // The partial image goes to /dev/full: every write fails with ENOSPC.
        std::os::unix::fs::symlink("/dev/full", dir.path().join(PART)).unwrap();
        let mut w = Writer::start(dir.path()).unwrap();
        let err = w.write(&[0u8; 8192]).unwrap_err();
        assert!(err.contains("the storage is full"), "{err}");
        assert!(err.contains("after 0 bytes"), "{err}");
    }

    #[test]
    fn an_unusable_directory_is_a_sentence() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain");
        fs::write(&file, b"x").unwrap();
        let err = Writer::start(&file.join("sub")).unwrap_err();
        assert!(err.contains("cannot be created"), "{err}");
    }
}

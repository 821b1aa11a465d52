//! HAL_Kv_* used by several threads and by several processes on one
//! directory at once: every Set succeeds, readers running alongside only
//! ever see values that were written whole, and the final values are the
//! last ones written. Before unique temporary names, every call deleted the
//! other writers' temporary files in mid-write and most Sets failed.

use std::ffi::{c_int, CString};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use iotkit::ffi::kv::{iotkit_kv_set_dir, HAL_Kv_Get, HAL_Kv_Set};
use iotkit::state;

const SETS_PER_WRITER: u32 = 300;
const SHARED_KEY: &str = "shared";
const CHILD_DIR_ENV: &str = "IOTKIT_KV_CONCURRENCY_DIR";
const CHILD_NAME_ENV: &str = "IOTKIT_KV_CONCURRENCY_NAME";

/// The directory is process-wide state; the tests here take turns.
static SERIAL: Mutex<()> = Mutex::new(());

/// Value `n` of `writer`: a few KiB, its origin at both ends and a body that
/// depends on both, so a torn or mixed file cannot pass as valid.
fn value(writer: &str, n: u32) -> Vec<u8> {
    let tag = format!("{writer}:{n:06}");
    let mut v = format!("{tag}|").into_bytes();
    let fill = b'a' + ((n as usize + writer.len() * 7) % 26) as u8;
    v.extend(std::iter::repeat(fill).take(3000 + (n as usize % 97)));
    v.extend(format!("|{tag}").into_bytes());
    v
}

/// The (writer, n) of a value that is exactly one that was written.
fn parse_whole(bytes: &[u8]) -> Option<(String, u32)> {
    let head = std::str::from_utf8(bytes.split(|&b| b == b'|').next()?).ok()?;
    let (writer, n) = head.rsplit_once(':')?;
    let n: u32 = n.parse().ok()?;
    (bytes == value(writer, n).as_slice()).then(|| (writer.to_owned(), n))
}

fn use_dir(dir: &Path) {
    let dir = CString::new(dir.to_str().unwrap()).unwrap();
    assert_eq!(iotkit_kv_set_dir(dir.as_ptr()), 0);
}

fn kv_set(key: &str, value: &[u8]) -> c_int {
    let key = CString::new(key).unwrap();
    HAL_Kv_Set(key.as_ptr(), value.as_ptr().cast(), value.len() as c_int, 1)
}

/// The stored value, or HAL_Kv_Get's error code.
fn kv_get(key: &str) -> Result<Vec<u8>, c_int> {
    let key = CString::new(key).unwrap();
    let mut buf = vec![0u8; 8192];
    let mut len = buf.len() as c_int;
    match HAL_Kv_Get(key.as_ptr(), buf.as_mut_ptr().cast(), &mut len) {
        0 => {
            buf.truncate(len as usize);
            Ok(buf)
        }
        code => Err(code),
    }
}

/// One writer: SETS_PER_WRITER sets, alternating its own key (even n) and the
/// shared key (odd n). Returns the number of failed sets.
fn write_all(writer: &str) -> usize {
    (0..SETS_PER_WRITER)
        .filter(|&n| {
            let key = if n % 2 == 0 { writer } else { SHARED_KEY };
            kv_set(key, &value(writer, n)) != 0
        })
        .count()
}

/// What a reader saw: reads, whole values, and anything else.
struct ReaderReport {
    reads: usize,
    values: usize,
    bad: Vec<String>,
}

/// Reads `keys` until `done`. A key not stored yet reads as
/// STATE_SYS_DEPEND_KV_GET, which is fine; anything else that is not a whole
/// written value is recorded as bad.
fn read_until(
    keys: Vec<String>,
    done: Arc<AtomicBool>,
    exists: impl Fn(&str) -> bool,
) -> ReaderReport {
    let mut report = ReaderReport {
        reads: 0,
        values: 0,
        bad: Vec::new(),
    };
    while !done.load(Ordering::SeqCst) {
        for key in &keys {
            report.reads += 1;
            // Keys are never deleted here: once stored, a key must always read.
            let existed = exists(key);
            match kv_get(key) {
                Ok(bytes) => match parse_whole(&bytes) {
                    Some(_) => report.values += 1,
                    None => report
                        .bad
                        .push(format!("{key}: {} bytes, not a written value", bytes.len())),
                },
                Err(code) if code == state::STATE_SYS_DEPEND_KV_GET && !existed => {}
                Err(code) => report
                    .bad
                    .push(format!("{key}: HAL_Kv_Get returned {code}")),
            }
        }
    }
    report
}

fn final_value(key: &str) -> (String, u32) {
    let bytes = kv_get(key).unwrap_or_else(|code| panic!("{key}: HAL_Kv_Get returned {code}"));
    parse_whole(&bytes).unwrap_or_else(|| panic!("{key}: the final value is not a written one"))
}

fn temp_files_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".tmp"))
        .collect()
}

/// Whether `key` has a stored file in `dir` (a reader may look before the
/// first write, which is not an error).
fn stored(dir: &Path, key: &str) -> bool {
    dir.join(format!("{key}.kv")).exists()
}

#[test]
fn four_threads_set_their_own_keys_and_a_shared_key() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    use_dir(dir.path());
    let writers: Vec<String> = (0..4).map(|i| format!("thread{i}")).collect();
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let mut keys = writers.clone();
        keys.push(SHARED_KEY.to_owned());
        let done = Arc::clone(&done);
        let path = dir.path().to_owned();
        std::thread::spawn(move || read_until(keys, done, |key| stored(&path, key)))
    };
    let failures = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = writers
        .iter()
        .cloned()
        .map(|writer| {
            let failures = Arc::clone(&failures);
            std::thread::spawn(move || {
                failures.fetch_add(write_all(&writer), Ordering::SeqCst);
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let report = reader.join().unwrap();
    println!(
        "4 threads x {SETS_PER_WRITER} sets: {} failed; reader: {} reads, {} values",
        failures.load(Ordering::SeqCst),
        report.reads,
        report.values
    );
    assert_eq!(
        failures.load(Ordering::SeqCst),
        0,
        "HAL_Kv_Set calls failed"
    );
    assert!(
        report.bad.is_empty(),
        "readers saw: {:?}",
        &report.bad[..report.bad.len().min(10)]
    );
    for writer in &writers {
        assert_eq!(final_value(writer), (writer.clone(), SETS_PER_WRITER - 2));
    }
    // The last rename of the shared key is some writer's last shared set.
    let (_, n) = final_value(SHARED_KEY);
    assert_eq!(n, SETS_PER_WRITER - 1);
    assert!(
        temp_files_in(dir.path()).is_empty(),
        "{:?}",
        temp_files_in(dir.path())
    );
}

/// The child process of `two_processes_set_keys_in_one_directory`: waits for
/// the parent's go file, writes, prints its failure count.
#[test]
#[ignore = "the child process of two_processes_set_keys_in_one_directory"]
fn kv_concurrency_child() {
    let (Some(dir), Some(name)) = (
        std::env::var_os(CHILD_DIR_ENV),
        std::env::var(CHILD_NAME_ENV).ok(),
    ) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !dir.join("go").exists() {
        assert!(Instant::now() < deadline, "the parent never said go");
        std::thread::sleep(Duration::from_millis(1));
    }
    use_dir(&dir);
    println!("failures={}", write_all(&name));
}

#[test]
fn two_processes_set_keys_in_one_directory() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let kv_dir = dir.path().join("kv");
    std::fs::create_dir(&kv_dir).unwrap();
    let exe = std::env::current_exe().unwrap();
    let writers = ["process0", "process1"];
    let children: Vec<_> = writers
        .iter()
        .map(|name| {
            Command::new(&exe)
                .args([
                    "--exact",
                    "kv_concurrency_child",
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD_DIR_ENV, &kv_dir)
                .env(CHILD_NAME_ENV, name)
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap()
        })
        .collect();
    // This process reads alongside, through the same C API.
    use_dir(&kv_dir);
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let keys = vec![
            SHARED_KEY.to_owned(),
            writers[0].to_owned(),
            writers[1].to_owned(),
        ];
        let done = Arc::clone(&done);
        let path = kv_dir.clone();
        std::thread::spawn(move || read_until(keys, done, |key| stored(&path, key)))
    };
    std::fs::write(kv_dir.join("go"), b"").unwrap();
    let mut failures = Vec::new();
    for mut child in children {
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        assert!(
            child.wait().unwrap().success(),
            "a writer process failed:\n{out}"
        );
        // The harness prints its own text around the child's line.
        let count: usize = out
            .split("failures=")
            .nth(1)
            .map(|rest| {
                rest.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
            })
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no failure count from the child:\n{out}"));
        failures.push(count);
    }
    done.store(true, Ordering::SeqCst);
    let report = reader.join().unwrap();
    println!(
        "2 processes x {SETS_PER_WRITER} sets: failed {failures:?}; reader: {} reads, {} values",
        report.reads, report.values
    );
    assert_eq!(failures, [0, 0], "HAL_Kv_Set calls failed");
    assert!(
        report.bad.is_empty(),
        "the reader saw: {:?}",
        &report.bad[..report.bad.len().min(10)]
    );
    for writer in writers {
        assert_eq!(
            final_value(writer),
            (writer.to_owned(), SETS_PER_WRITER - 2)
        );
    }
    assert_eq!(final_value(SHARED_KEY).1, SETS_PER_WRITER - 1);
    assert!(
        temp_files_in(&kv_dir).is_empty(),
        "{:?}",
        temp_files_in(&kv_dir)
    );
}

/// Not a timed assertion: prints what one HAL_Kv_Set costs next to 2,000
/// other keys (each call used to create the directory and scan it), and
/// checks the values landed.
#[test]
fn set_cost_next_to_many_keys() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    use_dir(dir.path());
    for i in 0..2000 {
        std::fs::write(dir.path().join(format!("other{i}.kv")), b"").unwrap();
    }
    let rounds = 200u32;
    let start = Instant::now();
    for n in 0..rounds {
        assert_eq!(kv_set("timed", &value("timed", n)), 0);
    }
    let per_set = start.elapsed() / rounds;
    let start = Instant::now();
    for _ in 0..rounds {
        assert!(kv_get("timed").is_ok());
    }
    let per_get = start.elapsed() / rounds;
    println!("next to 2000 keys: HAL_Kv_Set {per_set:?}, HAL_Kv_Get {per_get:?} per call");
    assert_eq!(final_value("timed"), ("timed".to_owned(), rounds - 1));
}

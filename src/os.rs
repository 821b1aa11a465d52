//! The safe core of the OS HAL: heap counters, clock, random numbers, mutexes
//! and semaphores that C locks and unlocks in separate calls, firmware version.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

// ---- heap counters ----------------------------------------------------------
//
// HAL_Malloc hands out plain C `malloc` blocks, so firmware may resize them
// with `realloc` and free them with `free`, and may give HAL_Free blocks that
// came from `malloc` (the vendor's examples hook cJSON that way). No header
// can mark a block as ours, so the book keeps the address and requested size
// of every block HAL_Malloc handed out and HAL_Free has not taken back:
//
// - HAL_Free of an address the book does not hold (a block from malloc or
//   realloc) is freed and counts nothing, so the counters never go negative:
//   every release matches one earlier allocation.
// - A HAL_Malloc block that the firmware resized with `realloc` (to another
//   address) or freed with `free` stays counted until HAL_Malloc hands out
//   that address again (malloc returning it proves the old block is gone, so
//   the stale entry is dropped then) or HAL_Free receives that address.
//   Mixed use can therefore overstate `live_*` for a while, never understate.
//
// One lock for the table and the numbers keeps them consistent; HAL_Malloc is
// not on any hot path of the library (it never calls it itself).

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeapStats {
    pub live_bytes: u64,
    pub live_allocations: u64,
    pub peak_bytes: u64,
    pub total_allocations: u64,
}

struct HeapBook {
    /// Address -> requested size of the HAL_Malloc blocks not yet released.
    blocks: Option<HashMap<usize, u64>>,
    stats: HeapStats,
}

static HEAP: Mutex<HeapBook> = Mutex::new(HeapBook {
    blocks: None,
    stats: HeapStats {
        live_bytes: 0,
        live_allocations: 0,
        peak_bytes: 0,
        total_allocations: 0,
    },
});

/// Records that HAL_Malloc handed out `size` bytes at `address`.
pub fn record_allocation(address: usize, size: u64) {
    let mut book = lock_ignoring_poison(&HEAP);
    let HeapBook { blocks, stats } = &mut *book;
    if let Some(stale) = blocks
        .get_or_insert_with(HashMap::new)
        .insert(address, size)
    {
        // The allocator handed this address out again, so the block recorded
        // there was released behind our back (free or realloc by the firmware).
        stats.live_bytes = stats.live_bytes.saturating_sub(stale);
        stats.live_allocations = stats.live_allocations.saturating_sub(1);
    }
    stats.live_bytes = stats.live_bytes.saturating_add(size);
    stats.live_allocations += 1;
    stats.total_allocations += 1;
    stats.peak_bytes = stats.peak_bytes.max(stats.live_bytes);
}

/// Records that HAL_Free is about to free `address`. Call it before the block
/// goes back to the allocator, so that no other thread can be handed the same
/// address and record it first. Addresses HAL_Malloc did not hand out count
/// nothing.
pub fn record_release(address: usize) {
    let mut book = lock_ignoring_poison(&HEAP);
    let HeapBook { blocks, stats } = &mut *book;
    if let Some(size) = blocks.as_mut().and_then(|b| b.remove(&address)) {
        stats.live_bytes = stats.live_bytes.saturating_sub(size);
        stats.live_allocations = stats.live_allocations.saturating_sub(1);
    }
}

pub fn heap_stats() -> HeapStats {
    lock_ignoring_poison(&HEAP).stats
}

/// Starts a new measurement window: the peak drops to what is live now and the
/// allocation total to zero. Live counts are never reset (they are facts).
pub fn reset_heap_peak() {
    let mut book = lock_ignoring_poison(&HEAP);
    book.stats.peak_bytes = book.stats.live_bytes;
    book.stats.total_allocations = 0;
}

// ---- clock --------------------------------------------------------------------

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Milliseconds since the library first looked at the clock; monotonic.
pub fn uptime_ms() -> u64 {
    u64::try_from(epoch().elapsed().as_millis()).unwrap_or(u64::MAX)
}

pub fn sleep_ms(ms: u32) {
    thread::sleep(Duration::from_millis(u64::from(ms)));
}

/// Wall-clock milliseconds since 1970 (0 if the clock is before 1970).
pub fn unix_time_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

// ---- random -------------------------------------------------------------------

static RANDOM_STATE: AtomicU64 = AtomicU64::new(0);

/// Seeds the generator (HAL_Srandom). Without a seed it starts from the clock.
pub fn seed_random(seed: u32) {
    RANDOM_STATE.store(u64::from(seed) | (1 << 63), Ordering::Relaxed);
}

/// The next value of a SplitMix64 generator: fast, good enough for jitter and
/// packet ids; not for cryptography (TLS uses mbedTLS's own DRBG).
fn next_random() -> u64 {
    let mut state = RANDOM_STATE.load(Ordering::Relaxed);
    if state == 0 {
        state = unix_time_ms() ^ (uptime_ms() << 32) ^ 0x9E37_79B9_7F4A_7C15;
    }
    let next = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    RANDOM_STATE.store(next, Ordering::Relaxed);
    let mut z = next;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A random number in `0..region` (HAL_Random); 0 when `region` is 0.
pub fn random_below(region: u32) -> u32 {
    if region == 0 {
        return 0;
    }
    // The u64 → u32 reduction keeps the bias below 2^-32.
    (((next_random() >> 32) * u64::from(region)) >> 32) as u32
}

// ---- mutex and semaphore --------------------------------------------------------

fn lock_ignoring_poison<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A recursive mutex that C locks and unlocks in separate calls.
/// Recursive so that a firmware callback re-entering locked code never
/// deadlocks its own thread.
#[derive(Default)]
pub struct HalMutex {
    owner: Mutex<Option<(ThreadId, u32)>>,
    released: Condvar,
}

impl HalMutex {
    pub fn lock(&self) {
        let me = thread::current().id();
        let mut owner = lock_ignoring_poison(&self.owner);
        loop {
            match *owner {
                None => {
                    *owner = Some((me, 1));
                    return;
                }
                Some((holder, depth)) if holder == me => {
                    *owner = Some((me, depth.saturating_add(1)));
                    return;
                }
                Some(_) => {
                    owner = self
                        .released
                        .wait(owner)
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                }
            }
        }
    }

    /// Releases one level of the calling thread's lock. Returns false (and
    /// changes nothing) when the calling thread does not hold it.
    pub fn unlock(&self) -> bool {
        let me = thread::current().id();
        let mut owner = lock_ignoring_poison(&self.owner);
        match *owner {
            Some((holder, depth)) if holder == me => {
                if depth > 1 {
                    *owner = Some((me, depth - 1));
                } else {
                    *owner = None;
                    self.released.notify_one();
                }
                true
            }
            _ => false,
        }
    }
}

/// A counting semaphore starting at zero.
#[derive(Default)]
pub struct HalSemaphore {
    count: Mutex<u32>,
    posted: Condvar,
}

impl HalSemaphore {
    pub fn post(&self) {
        let mut count = lock_ignoring_poison(&self.count);
        *count = count.saturating_add(1);
        self.posted.notify_one();
    }

    /// Waits until the count is positive and takes one; `None` waits forever.
    /// Returns false when the time ran out.
    pub fn wait(&self, timeout: Option<Duration>) -> bool {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut count = lock_ignoring_poison(&self.count);
        while *count == 0 {
            count = match deadline {
                None => self
                    .posted
                    .wait(count)
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    self.posted
                        .wait_timeout(count, left)
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .0
                }
            };
        }
        *count -= 1;
        true
    }
}

// ---- firmware version and reboot ------------------------------------------------

static FIRMWARE_VERSION: Mutex<String> = Mutex::new(String::new());

/// The version HAL_GetFirmwareVersion reports: set by `iotkit_set_firmware_version`,
/// else env IOTX_FIRMWARE_VERSION, else "app-1.0.0".
pub fn firmware_version() -> String {
    let set = lock_ignoring_poison(&FIRMWARE_VERSION).clone();
    if !set.is_empty() {
        return set;
    }
    std::env::var("IOTX_FIRMWARE_VERSION")
        .ok()
        .filter(|v| !v.is_empty() && v.len() <= crate::ffi::types::IOTX_FIRMWARE_VER_LEN)
        .unwrap_or_else(|| "app-1.0.0".to_owned())
}

/// The version the firmware gave (`iotkit_set_firmware_version` or env
/// IOTX_FIRMWARE_VERSION), `None` while only the default applies.
pub fn firmware_version_if_set() -> Option<String> {
    let set = lock_ignoring_poison(&FIRMWARE_VERSION).clone();
    if !set.is_empty() {
        return Some(set);
    }
    std::env::var("IOTX_FIRMWARE_VERSION")
        .ok()
        .filter(|v| !v.is_empty() && v.len() <= crate::ffi::types::IOTX_FIRMWARE_VER_LEN)
}

/// Sets the firmware version; refuses empty or longer than IOTX_FIRMWARE_VER_LEN.
pub fn set_firmware_version(version: &str) -> bool {
    if version.is_empty() || version.len() > crate::ffi::types::IOTX_FIRMWARE_VER_LEN {
        return false;
    }
    *lock_ignoring_poison(&FIRMWARE_VERSION) = version.to_owned();
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn random_stays_in_range_and_varies() {
        seed_random(42);
        let values: Vec<u32> = (0..1000).map(|_| random_below(10)).collect();
        assert!(values.iter().all(|&v| v < 10));
        for digit in 0..10 {
            assert!(values.contains(&digit), "value {digit} never drawn");
        }
        assert_eq!(random_below(0), 0);
        assert!(random_below(1) == 0);
    }

    #[test]
    fn uptime_is_monotonic() {
        let a = uptime_ms();
        sleep_ms(5);
        let b = uptime_ms();
        assert!(b >= a + 4, "{a} then {b}");
    }

    #[test]
    fn mutex_is_recursive_and_excludes_other_threads() {
        let mutex = Arc::new(HalMutex::default());
        mutex.lock();
        mutex.lock();
        assert!(mutex.unlock());
        let other = Arc::clone(&mutex);
        let (tx, rx) = std::sync::mpsc::channel();
        let t = thread::spawn(move || {
            assert!(
                !other.unlock(),
                "a thread that does not hold it cannot unlock"
            );
            other.lock();
            tx.send(()).unwrap();
            other.unlock();
        });
        assert!(rx.recv_timeout(Duration::from_millis(100)).is_err());
        assert!(mutex.unlock());
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
        t.join().unwrap();
    }

    #[test]
    fn semaphore_counts_and_times_out() {
        let sem = HalSemaphore::default();
        assert!(!sem.wait(Some(Duration::from_millis(10))));
        sem.post();
        sem.post();
        assert!(sem.wait(Some(Duration::ZERO)));
        assert!(sem.wait(None));
        assert!(!sem.wait(Some(Duration::from_millis(1))));
    }

    #[test]
    fn heap_book_counts_only_its_own_blocks_and_never_goes_negative() {
        // Addresses no allocator hands out, so other tests cannot collide.
        let (a, b, foreign) = (usize::MAX - 15, usize::MAX - 31, usize::MAX - 47);
        let before = heap_stats();
        record_allocation(a, 100);
        record_allocation(b, 0);
        let during = heap_stats();
        assert!(during.live_bytes >= before.live_bytes + 100);
        // A block HAL_Malloc never handed out is not counted.
        record_release(foreign);
        // `a` was released behind the book's back and handed out again.
        record_allocation(a, 40);
        record_release(a);
        record_release(a);
        record_release(b);
        let after = heap_stats();
        assert_eq!(after.live_bytes, before.live_bytes);
        assert_eq!(after.live_allocations, before.live_allocations);
    }

    #[test]
    fn firmware_version_is_validated() {
        assert!(!set_firmware_version(""));
        assert!(!set_firmware_version(&"x".repeat(65)));
        assert!(set_firmware_version("fw-2.0"));
        assert_eq!(firmware_version(), "fw-2.0");
    }
}

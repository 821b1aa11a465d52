//! Event callbacks (`IOT_RegisterCallback`) and state events (`iotx_state_event`).
//!
//! The registry holds Rust closures; the FFI layer wraps the firmware's C
//! function pointers in them.
//!
//! **No firmware callback runs while a library lock is held.** Every
//! notice and state event raised inside an exported function (see
//! [`ExportScope`], entered by `ffi::guard`) is queued on the calling thread
//! and delivered when the outermost export returns, after every lock it
//! took is released (or earlier, at a point the caller knows to hold no
//! lock: [`deliver_pending`]). So a handler may call any API function,
//! including the one that raised the event.
//!
//! **Events never recurse.** An event raised while one of this thread's
//! handlers runs is delivered after that handler returns; events raised in
//! turn by the handlers of such a late event are dropped (counted by
//! [`dropped_events`], `iotkit_state_events_dropped()`), so a handler that
//! provokes the event it handles (e.g. publishes while offline from an
//! ITE_STATE_EVERYTHING handler) runs twice, not until the stack overflows.
//!
//! **Repeated identical state events are rate-limited in the log**: within
//! [`REPEAT_WINDOW`] of the first, the same code with the same message is not
//! logged again; the next line after the window carries "(repeated N times
//! in the last S s)". A different event is never held back. Handlers still
//! get every event: each failed call reports its own failure.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::log::Level;
use crate::state;

/// The vendor's `iotx_ioctl_event_t` values this library raises or stores.
/// (The wrappers-only build raises state events but no notices.)
#[cfg_attr(not(feature = "sdk"), allow(dead_code))]
pub mod ite {
    pub(crate) const CONNECT_SUCC: i32 = 1;
    pub(crate) const CONNECT_FAIL: i32 = 2;
    pub(crate) const DISCONNECTED: i32 = 3;
    pub(crate) const MQTT_CONNECT_SUCC: i32 = 18;
    pub(crate) const CLOUD_ERROR: i32 = 19;
    pub(crate) const DYNREG_DEVICE_SECRET: i32 = 20;
    pub(crate) const IDENTITY_RESPONSE: i32 = 21;
    pub(crate) const STATE_EVERYTHING: i32 = 23;
    pub(crate) const STATE_USER_INPUT: i32 = 24;
    pub(crate) const STATE_SYS_DEPEND: i32 = 25;
    pub(crate) const STATE_MQTT_COMM: i32 = 26;
    pub(crate) const STATE_WIFI_PROV: i32 = 27;
    pub(crate) const STATE_COAP_LOCAL: i32 = 28;
    pub(crate) const STATE_HTTP_COMM: i32 = 29;
    pub(crate) const STATE_OTA: i32 = 30;
    pub(crate) const STATE_DEV_BIND: i32 = 31;
    pub(crate) const STATE_DEV_MODEL: i32 = 32;
    /// One past the last event; the registry's size.
    pub(crate) const COUNT: usize = 33;
}

pub type StateFn = Arc<dyn Fn(i32, &str) + Send + Sync>;
pub type CloudErrorFn = Arc<dyn Fn(i32, &str, &str) + Send + Sync>;

/// What a registered handler is called with.
#[derive(Clone)]
pub enum Handler {
    /// `int (*)(void)`: connect/disconnect notices.
    Notice(Arc<dyn Fn() + Send + Sync>),
    /// `int (*)(const int code, const char *message)`: state events.
    State(StateFn),
    /// `int (*)(const char *payload)`: the identity response.
    Payload(Arc<dyn Fn(&str) + Send + Sync>),
    /// `int (*)(const int code, const char *, const char *)`: cloud errors.
    CloudError(CloudErrorFn),
}

/// One registration: the closure, and the raw address the firmware gave so
/// that `iotx_event_callback` can hand the same function back.
#[derive(Clone)]
pub struct Registration {
    pub address: usize,
    pub handler: Handler,
}

static REGISTRY: RwLock<Vec<Option<Registration>>> = RwLock::new(Vec::new());

fn with_registry<R>(f: impl FnOnce(&mut Vec<Option<Registration>>) -> R) -> R {
    let mut guard = REGISTRY
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if guard.len() < ite::COUNT {
        guard.resize(ite::COUNT, None);
    }
    f(&mut guard)
}

/// Stores (or with `None` removes) the handler for `event`.
/// Returns false when `event` is outside the vendor's event range.
pub fn register(event: i32, registration: Option<Registration>) -> bool {
    let Ok(index) = usize::try_from(event) else {
        return false;
    };
    if index >= ite::COUNT {
        return false;
    }
    with_registry(|slots| slots[index] = registration);
    true
}

/// The registration for `event`, if any.
pub fn registration(event: i32) -> Option<Registration> {
    let index = usize::try_from(event).ok()?;
    let guard = REGISTRY
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    guard.get(index).cloned().flatten()
}

// ---- delivery: queued per thread, never under a lock, never recursive --------------

/// Events waiting on one thread beyond this many are dropped (and counted).
const QUEUE_LIMIT: usize = 256;
/// Events raised by handlers of events that handlers raised are dropped.
const MAX_GENERATION: u8 = 1;

enum Pending {
    State {
        target: i32,
        code: i32,
        message: String,
    },
    Notice(i32),
    Payload(String),
}

#[derive(Default)]
struct Local {
    /// Nesting of exported functions on this thread.
    depth: u32,
    /// A handler of this thread is running (delivery in progress).
    delivering: bool,
    /// How many handler calls led to the event being delivered now.
    generation: u8,
    queue: VecDeque<(u8, Pending)>,
}

thread_local! {
    static LOCAL: RefCell<Local> = RefCell::new(Local::default());
}

static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Events dropped since start: raised by the handler of an event that a
/// handler raised (see the module documentation), or beyond the per-thread
/// queue limit.
pub fn dropped_events() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// Marks the extent of an exported function: events raised meanwhile are
/// delivered when the outermost scope of the thread ends.
pub struct ExportScope(());

impl ExportScope {
    pub fn enter() -> ExportScope {
        LOCAL.with(|l| l.borrow_mut().depth += 1);
        ExportScope(())
    }
}

impl Drop for ExportScope {
    fn drop(&mut self) {
        let outermost = LOCAL.with(|l| {
            let mut l = l.borrow_mut();
            l.depth = l.depth.saturating_sub(1);
            l.depth == 0
        });
        if outermost {
            deliver_pending();
        }
    }
}

/// Queues `item`, or delivers it at once when raised outside any export
/// (the Rust API) and outside any handler.
fn raise(item: Pending) {
    let deliver_now = LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        let generation = if l.delivering { l.generation + 1 } else { 0 };
        if generation > MAX_GENERATION || l.queue.len() >= QUEUE_LIMIT {
            DROPPED.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        l.queue.push_back((generation, item));
        !l.delivering && l.depth == 0
    });
    if deliver_now {
        deliver_pending();
    }
}

/// Delivers this thread's queued events. Call only where the thread holds no
/// library lock; does nothing inside a handler (the running delivery goes on
/// after the handler returns).
pub fn deliver_pending() {
    let start = LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        if l.delivering || l.queue.is_empty() {
            return false;
        }
        l.delivering = true;
        true
    });
    if !start {
        return;
    }
    loop {
        let next = LOCAL.with(|l| {
            let mut l = l.borrow_mut();
            let next = l.queue.pop_front();
            match &next {
                Some((generation, _)) => l.generation = *generation,
                None => {
                    l.delivering = false;
                    l.generation = 0;
                }
            }
            next
        });
        let Some((_, item)) = next else {
            return;
        };
        // A panic in a handler wrapper must not leave `delivering` set.
        let _ = catch_unwind(AssertUnwindSafe(|| call(&item)));
    }
}

fn call(item: &Pending) {
    match item {
        Pending::State {
            target,
            code,
            message,
        } => {
            let mut targets = [*target, ite::STATE_EVERYTHING];
            let count = if *target == ite::STATE_EVERYTHING {
                1
            } else {
                2
            };
            for target in &mut targets[..count] {
                if let Some(Registration {
                    handler: Handler::State(f),
                    ..
                }) = registration(*target)
                {
                    f(*code, message);
                }
            }
        }
        Pending::Notice(event) => {
            if let Some(Registration {
                handler: Handler::Notice(f),
                ..
            }) = registration(*event)
            {
                f();
            }
        }
        Pending::Payload(payload) => {
            if let Some(Registration {
                handler: Handler::Payload(f),
                ..
            }) = registration(ite::IDENTITY_RESPONSE)
            {
                f(payload);
            }
        }
    }
}

fn registered(event: i32) -> bool {
    let Ok(index) = usize::try_from(event) else {
        return false;
    };
    let guard = REGISTRY
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    guard.get(index).is_some_and(Option::is_some)
}

/// Calls the `int (*)(void)` handler of `event` if one is registered (once
/// no library lock is held).
pub fn notify(event: i32) {
    if registered(event) {
        raise(Pending::Notice(event));
    }
}

/// Hands the identity response payload to the ITE_IDENTITY_RESPONSE handler.
pub fn identity_response(payload: &str) {
    if registered(ite::IDENTITY_RESPONSE) {
        raise(Pending::Payload(payload.to_owned()));
    }
}

/// The ITE_STATE_* event a state code belongs to, from its range.
pub fn state_area(code: i32) -> i32 {
    match code.checked_neg().map_or(0, |c| c >> 8) {
        1 => ite::STATE_USER_INPUT,
        2 => ite::STATE_SYS_DEPEND,
        3 => ite::STATE_MQTT_COMM,
        4 => ite::STATE_WIFI_PROV,
        5 => ite::STATE_COAP_LOCAL,
        6 => ite::STATE_HTTP_COMM,
        7 => ite::STATE_OTA,
        8 => ite::STATE_DEV_BIND,
        9 => ite::STATE_DEV_MODEL,
        _ => ite::STATE_EVERYTHING,
    }
}

/// Codes that report progress rather than a fault; logged at INFO.
fn is_informational(code: i32) -> bool {
    matches!(
        code,
        state::STATE_SUCCESS
            | state::STATE_MQTT_CONN_USER_INFO
            | state::STATE_MQTT_SUB_INFO
            | state::STATE_MQTT_PUB_INFO
    )
}

/// Raises a state event: logs it, then calls the handler of the code's area
/// and the ITE_STATE_EVERYTHING handler.
pub fn state_event(code: i32, message: &str) {
    state_event_for(state_area(code), code, message);
}

/// Like [`state_event`] but delivered to an explicitly chosen ITE_STATE_* event
/// (what `iotx_state_event(event, code, fmt, ...)` asks for).
pub fn state_event_for(event: i32, code: i32, message: &str) {
    let level = if is_informational(code) {
        Level::Info
    } else {
        Level::Warning
    };
    if crate::log::enabled(level) {
        let verdict = lock_limiter().check(Instant::now(), event, code, message);
        if let Verdict::Deliver { repeats } = verdict {
            let suffix = repeats.map(|r| r.suffix());
            crate::log::write(
                level,
                format_args!(
                    "state {code} (-0x{:04X}): {message}{}",
                    -i64::from(code),
                    suffix.as_deref().unwrap_or("")
                ),
            );
        }
    }
    if registered(event) || registered(ite::STATE_EVERYTHING) {
        raise(Pending::State {
            target: event,
            code,
            message: message.to_owned(),
        });
    }
}

// ---- rate limit of repeated identical state events -------------------------------

/// How long identical state events stay out of the log after the first.
pub const REPEAT_WINDOW: Duration = Duration::from_secs(10);
/// Distinct recent events remembered; the oldest is forgotten first.
const REMEMBERED: usize = 32;

/// How often an event was held back, reported with its next delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repeats {
    pub count: u64,
    pub over: Duration,
}

impl Repeats {
    fn suffix(self) -> String {
        let times = if self.count == 1 { "time" } else { "times" };
        format!(
            " (repeated {} {times} in the last {} s)",
            group_thousands(self.count),
            self.over.as_secs().max(1)
        )
    }
}

fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Log it; `repeats` when earlier identical ones were held back.
    Deliver { repeats: Option<Repeats> },
    /// An identical event was delivered less than the window ago.
    Suppress,
}

struct Seen {
    key: u64,
    since: Instant,
    held_back: u64,
}

/// Decides per event; the clock is passed in so tests need no sleeps.
pub struct RateLimiter {
    window: Duration,
    seen: VecDeque<Seen>,
}

impl RateLimiter {
    pub const fn new(window: Duration) -> RateLimiter {
        RateLimiter {
            window,
            seen: VecDeque::new(),
        }
    }

    fn key(event: i32, code: i32, message: &str) -> u64 {
        // DefaultHasher::new() has fixed keys: the same event, the same key.
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (event, code, message).hash(&mut hasher);
        hasher.finish()
    }

    pub fn check(&mut self, now: Instant, event: i32, code: i32, message: &str) -> Verdict {
        let key = Self::key(event, code, message);
        if let Some(index) = self.seen.iter().position(|s| s.key == key) {
            let seen = &mut self.seen[index];
            let elapsed = now.saturating_duration_since(seen.since);
            if elapsed < self.window {
                seen.held_back += 1;
                return Verdict::Suppress;
            }
            let repeats = (seen.held_back > 0).then_some(Repeats {
                count: seen.held_back,
                over: elapsed,
            });
            seen.since = now;
            seen.held_back = 0;
            return Verdict::Deliver { repeats };
        }
        if self.seen.len() >= REMEMBERED {
            self.seen.pop_front();
        }
        self.seen.push_back(Seen {
            key,
            since: now,
            held_back: 0,
        });
        Verdict::Deliver { repeats: None }
    }
}

static LIMITER: Mutex<RateLimiter> = Mutex::new(RateLimiter::new(REPEAT_WINDOW));

fn lock_limiter() -> std::sync::MutexGuard<'static, RateLimiter> {
    LIMITER
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn areas_follow_the_code_ranges() {
        assert_eq!(
            state_area(state::STATE_USER_INPUT_PK),
            ite::STATE_USER_INPUT
        );
        assert_eq!(
            state_area(state::STATE_SYS_DEPEND_KV_GET),
            ite::STATE_SYS_DEPEND
        );
        assert_eq!(state_area(state::STATE_MQTT_PUB_INFO), ite::STATE_MQTT_COMM);
        assert_eq!(state_area(0), ite::STATE_EVERYTHING);
        assert_eq!(state_area(-0x7FFF_FFFF), ite::STATE_EVERYTHING);
    }

    #[test]
    fn out_of_range_events_are_refused() {
        assert!(!register(-1, None));
        assert!(!register(ite::COUNT as i32, None));
        assert!(registration(1000).is_none());
    }

    /// The registry is process-wide: tests that register handlers take turns.
    static REGISTRY_TESTS: Mutex<()> = Mutex::new(());

    #[test]
    fn state_event_reaches_area_and_everything_handlers() {
        let _turn = REGISTRY_TESTS.lock().unwrap_or_else(|p| p.into_inner());
        static SEEN: Mutex<Vec<(i32, i32, String)>> = Mutex::new(Vec::new());
        for event in [ite::STATE_DEV_MODEL, ite::STATE_EVERYTHING] {
            let handler = Handler::State(Arc::new(move |code, msg: &str| {
                SEEN.lock().unwrap().push((event, code, msg.to_owned()));
            }));
            register(
                event,
                Some(Registration {
                    address: 1,
                    handler,
                }),
            );
        }
        state_event(-0x0901, "model fault");
        register(ite::STATE_DEV_MODEL, None);
        register(ite::STATE_EVERYTHING, None);
        let seen = SEEN.lock().unwrap().clone();
        assert_eq!(
            seen,
            vec![
                (ite::STATE_DEV_MODEL, -0x0901, "model fault".to_owned()),
                (ite::STATE_EVERYTHING, -0x0901, "model fault".to_owned()),
            ]
        );
    }

    #[test]
    fn events_inside_an_export_wait_until_it_returns() {
        let _turn = REGISTRY_TESTS.lock().unwrap_or_else(|p| p.into_inner());
        static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());
        let handler = Handler::State(Arc::new(|_, msg: &str| {
            SEEN.lock().unwrap().push(msg.to_owned());
        }));
        register(
            ite::STATE_DEV_BIND,
            Some(Registration {
                address: 1,
                handler,
            }),
        );
        {
            let _outer = ExportScope::enter();
            {
                let _inner = ExportScope::enter();
                state_event(-0x0801, "queued inner");
            }
            assert!(
                SEEN.lock().unwrap().is_empty(),
                "not before the outer export ends"
            );
            state_event(-0x0801, "queued outer");
        }
        register(ite::STATE_DEV_BIND, None);
        assert_eq!(
            *SEEN.lock().unwrap(),
            vec!["queued inner".to_owned(), "queued outer".to_owned()]
        );
    }

    #[test]
    fn a_handler_raising_its_own_event_does_not_recurse() {
        let _turn = REGISTRY_TESTS.lock().unwrap_or_else(|p| p.into_inner());
        static CALLS: AtomicU64 = AtomicU64::new(0);
        let handler = Handler::State(Arc::new(|_, _: &str| {
            let n = CALLS.fetch_add(1, Ordering::SeqCst);
            assert!(n < 100, "recursing");
            let _scope = ExportScope::enter();
            state_event(-0x0802, &format!("raised by the handler, call {n}"));
        }));
        register(
            ite::STATE_DEV_BIND,
            Some(Registration {
                address: 1,
                handler,
            }),
        );
        let dropped_before = dropped_events();
        state_event(-0x0802, "first");
        register(ite::STATE_DEV_BIND, None);
        assert_eq!(
            CALLS.load(Ordering::SeqCst),
            2,
            "the event, then its one late follower"
        );
        assert_eq!(dropped_events() - dropped_before, 1);
    }

    #[test]
    fn identical_events_are_rate_limited_per_window() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut limiter = RateLimiter::new(Duration::from_secs(10));
        let deliver = Verdict::Deliver { repeats: None };
        assert_eq!(limiter.check(at(0), 26, -0x0208, "closed"), deliver);
        for i in 1..=1234 {
            assert_eq!(
                limiter.check(at(i), 26, -0x0208, "closed"),
                Verdict::Suppress
            );
        }
        // A different event is never held back, not even its first time.
        assert_eq!(limiter.check(at(2000), 26, -0x0208, "other text"), deliver);
        assert_eq!(limiter.check(at(2001), 26, -0x0209, "closed"), deliver);
        assert_eq!(limiter.check(at(2002), 24, -0x0208, "closed"), deliver);
        // After the window: delivered again, with the count.
        assert_eq!(
            limiter.check(at(10_000), 26, -0x0208, "closed"),
            Verdict::Deliver {
                repeats: Some(Repeats {
                    count: 1234,
                    over: Duration::from_secs(10)
                })
            }
        );
        assert_eq!(
            limiter.check(at(10_001), 26, -0x0208, "closed"),
            Verdict::Suppress
        );
        // Nothing held back in a window: no count.
        assert_eq!(
            limiter.check(at(30_000), 26, -0x0208, "closed"),
            Verdict::Deliver {
                repeats: Some(Repeats {
                    count: 1,
                    over: Duration::from_secs(20)
                })
            }
        );
        assert_eq!(limiter.check(at(45_000), 26, -0x0208, "closed"), deliver);
        assert_eq!(
            Repeats {
                count: 1234,
                over: Duration::from_secs(10)
            }
            .suffix(),
            " (repeated 1,234 times in the last 10 s)"
        );
        assert_eq!(group_thousands(1_234_567), "1,234,567");
        assert_eq!(group_thousands(999), "999");
    }

    #[test]
    fn many_distinct_events_never_hide_a_new_one() {
        let t0 = Instant::now();
        let mut limiter = RateLimiter::new(Duration::from_secs(10));
        for i in 0..1000 {
            assert_eq!(
                limiter.check(t0, 26, -0x0208, &format!("event {i}")),
                Verdict::Deliver { repeats: None }
            );
        }
    }
}

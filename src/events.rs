//! Event callbacks (`IOT_RegisterCallback`) and state events (`iotx_state_event`).
//!
//! The registry holds Rust closures; the FFI layer wraps the firmware's C
//! function pointers in them. Handlers are cloned out of the lock before they
//! run, so a handler may register handlers or raise events itself.

use std::sync::{Arc, RwLock};

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

/// Calls the `int (*)(void)` handler of `event` if one is registered.
pub fn notify(event: i32) {
    if let Some(Registration {
        handler: Handler::Notice(f),
        ..
    }) = registration(event)
    {
        f();
    }
}

/// Hands the identity response payload to the ITE_IDENTITY_RESPONSE handler.
pub fn identity_response(payload: &str) {
    if let Some(Registration {
        handler: Handler::Payload(f),
        ..
    }) = registration(ite::IDENTITY_RESPONSE)
    {
        f(payload);
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
    crate::log::write(
        level,
        format_args!("state {code} (-0x{:04X}): {message}", -code),
    );
    let mut targets = vec![event];
    if event != ite::STATE_EVERYTHING {
        targets.push(ite::STATE_EVERYTHING);
    }
    for target in targets {
        if let Some(Registration {
            handler: Handler::State(f),
            ..
        }) = registration(target)
        {
            f(code, message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

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

    #[test]
    fn state_event_reaches_area_and_everything_handlers() {
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
}

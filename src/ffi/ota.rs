//! `ota_api.h`: the vendor's 3.2.0 OTA functions (`IOT_OTA_*`) over an MQTT
//! client of this library, and the Linux defaults behind
//! `HAL_Firmware_Persistence_*` (`c/ota_weak.c` defines those names as weak
//! symbols that call the `iotkit_firmware_persistence_*` functions here, so
//! firmware that defines them itself keeps its own).
//!
//! The OTA logic is `crate::ota`; MQTT is reached only through [`Signal`],
//! a narrow adapter over the exported MQTT functions.

use std::ffi::{c_char, c_int};
use std::path::PathBuf;
use std::sync::Mutex;

use super::{c_str_bounded, guard};
use crate::ota::codes::*;
#[cfg(feature = "sdk")]
use crate::ota::message::Upgrade;
use crate::ota::persist::{self, Writer};
#[cfg(feature = "sdk")]
use crate::ota::session;
use crate::state::STATE_SYS_DEPEND_FIRMWAIRE_WIRTE;

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Raises an OTA state event (ITE_STATE_OTA and ITE_STATE_EVERYTHING).
fn ota_event(code: i32, message: &str) {
    #[cfg(feature = "sdk")]
    crate::events::state_event_for(crate::events::ite::STATE_OTA, code, message);
    #[cfg(not(feature = "sdk"))]
    crate::events::state_event(code, message);
}

// ---- the Linux firmware store (HAL_Firmware_Persistence_*) --------------------

static OTA_DIR: Mutex<Option<PathBuf>> = Mutex::new(None);
static WRITER: Mutex<Option<Writer>> = Mutex::new(None);
/// The upgrade most recently pushed to any OTA handle: what the stored image
/// must match before it is made final.
#[cfg(feature = "sdk")]
static EXPECTED: Mutex<Option<Upgrade>> = Mutex::new(None);

/// Whether the image written (`written` bytes with these digests) may become
/// final: it must be the whole image of the last push, digests matching.
#[cfg(feature = "sdk")]
fn accept_stored_image(written: u64, md5: &str, sha256: &str) -> Result<(), String> {
    let Some(up) = lock(&EXPECTED).clone() else {
        return Err(
            "no firmware upgrade was pushed, so the stored image cannot be checked".to_owned(),
        );
    };
    if written != up.size {
        return Err(format!(
            "the stored image of firmware {} has {written} of its {} bytes",
            up.version, up.size
        ));
    }
    session::check_digests(&up, Some(md5), Some(sha256)).map_err(|why| {
        format!(
            "the stored image of firmware {} is corrupt: {why}",
            up.version
        )
    })
}

/// The wrappers-only library has no IOT_OTA_*: the vendor's C core of the
/// firmware received the push, fetched the image and checks it
/// (IOT_OTAG_CHECK_FIRMWARE), so what was written is kept, as the vendor's
/// own HAL keeps it; only an empty image is refused (it would replace the
/// last stored one with nothing).
#[cfg(not(feature = "sdk"))]
fn accept_stored_image(written: u64, _md5: &str, _sha256: &str) -> Result<(), String> {
    if written == 0 {
        return Err("no bytes were written, so there is no firmware image to keep".to_owned());
    }
    Ok(())
}

/// Sets the directory where the default HAL_Firmware_Persistence_* write
/// `firmware.bin` (NULL: back to env IOTX_OTA_DIR, else `$HOME/.iotkit/ota`).
/// Returns 0, or IOT_OTAE_INVALID_PARAM for a path that is not UTF-8 or is
/// longer than 4096 bytes.
#[no_mangle]
pub extern "C" fn iotkit_ota_set_dir(dir: *const c_char) -> c_int {
    guard("iotkit_ota_set_dir", IOT_OTAE_GENERAL, || {
        // SAFETY: NULL or a NUL-terminated string, read up to 4097 bytes.
        let text = match unsafe { c_str_bounded(dir, 4096) } {
            Ok(None) => {
                *lock(&OTA_DIR) = None;
                return 0;
            }
            Ok(Some(bytes)) => std::str::from_utf8(bytes).ok().filter(|t| !t.is_empty()),
            Err(()) => None,
        };
        match text {
            Some(text) => {
                *lock(&OTA_DIR) = Some(PathBuf::from(text));
                0
            }
            None => {
                ota_event(
                    IOT_OTAE_INVALID_PARAM,
                    "iotkit_ota_set_dir: the directory must be a non-empty UTF-8 path of at most 4096 bytes",
                );
                IOT_OTAE_INVALID_PARAM
            }
        }
    })
}

fn store_dir() -> PathBuf {
    persist::default_dir(lock(&OTA_DIR).as_deref())
}

/// The library's HAL_Firmware_Persistence_Start: opens
/// `<dir>/firmware.bin.part` for a new image (any unfinished one is dropped).
#[no_mangle]
pub extern "C" fn iotkit_firmware_persistence_start() {
    guard("HAL_Firmware_Persistence_Start", (), || {
        let dir = store_dir();
        let mut writer = lock(&WRITER);
        *writer = None;
        match Writer::start(&dir) {
            Ok(w) => *writer = Some(w),
            Err(why) => ota_event(STATE_SYS_DEPEND_FIRMWAIRE_WIRTE, &why),
        }
    })
}

/// The library's HAL_Firmware_Persistence_Write: appends `length` bytes.
/// Returns 0, or -1 (with a state event) when nothing was started, the
/// arguments are bad, or the storage failed (e.g. full).
#[no_mangle]
pub extern "C" fn iotkit_firmware_persistence_write(buffer: *mut c_char, length: u32) -> c_int {
    guard("HAL_Firmware_Persistence_Write", -1, || {
        if buffer.is_null() && length > 0 {
            ota_event(
                IOT_OTAE_INVALID_PARAM,
                "HAL_Firmware_Persistence_Write: the buffer is NULL",
            );
            return -1;
        }
        let mut writer = lock(&WRITER);
        let Some(w) = writer.as_mut() else {
            ota_event(
                STATE_SYS_DEPEND_FIRMWAIRE_WIRTE,
                "HAL_Firmware_Persistence_Write: no image is being written (call HAL_Firmware_Persistence_Start first, and check that it succeeded)",
            );
            return -1;
        };
        let data: &[u8] = if length == 0 {
            &[]
        } else {
            // SAFETY: the caller passes `length` readable bytes at `buffer`.
            unsafe { std::slice::from_raw_parts(buffer.cast::<u8>(), length as usize) }
        };
        match w.write(data) {
            Ok(()) => 0,
            Err(why) => {
                *writer = None;
                ota_event(STATE_SYS_DEPEND_FIRMWAIRE_WIRTE, &why);
                -1
            }
        }
    })
}

/// The library's HAL_Firmware_Persistence_Stop: when the bytes written are
/// the whole image of the last pushed upgrade and their MD5/SHA-256 match it,
/// the image becomes `<dir>/firmware.bin` (fsync, rename, fsync of the
/// directory) and 0 is returned; otherwise the partial file is removed and
/// -1 returned with a state event. In the wrappers-only library (no
/// IOT_OTA_*: the vendor's C core checks the image) the bytes written become
/// `<dir>/firmware.bin` the same way without a check, unless there are none.
#[no_mangle]
pub extern "C" fn iotkit_firmware_persistence_stop() -> c_int {
    guard("HAL_Firmware_Persistence_Stop", -1, || {
        let Some(writer) = lock(&WRITER).take() else {
            ota_event(
                STATE_SYS_DEPEND_FIRMWAIRE_WIRTE,
                "HAL_Firmware_Persistence_Stop: no image is being written (Start failed, a write failed, or Stop was already called)",
            );
            return -1;
        };
        let result = writer.stop(accept_stored_image);
        match result {
            Ok(path) => {
                crate::log_info!("firmware image stored as {}", path.display());
                0
            }
            Err(why) => {
                ota_event(STATE_SYS_DEPEND_FIRMWAIRE_WIRTE, &why);
                -1
            }
        }
    })
}

// ---- the types of ota_api.h ----------------------------------------------------

/// The signal channel IOT_OTA_Init's `ch_signal` is (an MQTT client).
pub const OTA_CH_SIGNAL_MQTT: c_int = 0;
pub const OTA_CH_SIGNAL_COAP: c_int = 1;
pub const OTA_CH_FETCH_HTTP: c_int = 1;

/// Error codes of the IOT_OTA_* functions.
#[repr(C)]
#[allow(non_camel_case_types, clippy::enum_variant_names)]
pub enum IOT_OTA_Err_t {
    IOT_OTAE_GENERAL = -1,
    IOT_OTAE_INVALID_PARAM = -2,
    IOT_OTAE_INVALID_STATE = -3,
    IOT_OTAE_STR_TOO_LONG = -4,
    IOT_OTAE_FETCH_FAILED = -5,
    IOT_OTAE_NOMEM = -6,
    IOT_OTAE_OSC_FAILED = -7,
    IOT_OTAE_NONE = 0,
}

/// The state of an OTA handle.
#[repr(C)]
#[allow(non_camel_case_types, clippy::enum_variant_names)]
pub enum IOT_OTA_State_t {
    IOT_OTAS_UNINITED = 0,
    IOT_OTAS_INITED,
    IOT_OTAS_FETCHING,
    IOT_OTAS_FETCHED,
}

/// What an upgrade updates (IOT_OTAG_OTA_TYPE): only firmware (FOTA) here.
#[repr(C)]
#[allow(non_camel_case_types, clippy::enum_variant_names)]
pub enum IOT_OTA_Type_t {
    IOT_OTAT_NONE,
    IOT_OTAT_COTA,
    IOT_OTAT_FOTA,
}

/// The `progress` of IOT_OTA_ReportProgress: a percentage or a failure.
#[repr(C)]
#[allow(non_camel_case_types, clippy::enum_variant_names)]
pub enum IOT_OTA_Progress_values {
    IOT_OTAP_BURN_FAILED = -4,
    IOT_OTAP_CHECK_FALIED = -3,
    IOT_OTAP_FETCH_FAILED = -2,
    IOT_OTAP_GENERAL_FAILED = -1,
    IOT_OTAP_FETCH_PERCENTAGE_MIN = 0,
    IOT_OTAP_FETCH_PERCENTAGE_MAX = 100,
}

/// A progress as passed in from C (any int).
#[repr(transparent)]
#[derive(Clone, Copy, Debug)]
#[allow(non_camel_case_types)]
pub struct IOT_OTA_Progress_t(pub c_int);

/// The commands of IOT_OTA_Ioctl.
#[repr(C)]
#[allow(non_camel_case_types, clippy::enum_variant_names)]
pub enum IOT_OTA_CmdType_values {
    IOT_OTAG_COTA_CONFIG_ID,
    IOT_OTAG_COTA_CONFIG_SIZE,
    IOT_OTAG_COTA_SIGN,
    IOT_OTAG_COTA_SIGN_METHOD,
    IOT_OTAG_COTA_URL,
    IOT_OTAG_COTA_GETTYPE,
    IOT_OTAG_OTA_TYPE,
    IOT_OTAG_FETCHED_SIZE,
    IOT_OTAG_FILE_SIZE,
    IOT_OTAG_MD5SUM,
    IOT_OTAG_VERSION,
    IOT_OTAG_CHECK_FIRMWARE,
    IOT_OTAG_CHECK_CONFIG,
    IOT_OTAG_RESET_FETCHED_SIZE,
}

/// An IOT_OTA_Ioctl command as passed in from C (any int).
#[repr(transparent)]
#[derive(Clone, Copy, Debug)]
#[allow(non_camel_case_types)]
pub struct IOT_OTA_CmdType_t(pub c_int);

// ---- IOT_OTA_* ---------------------------------------------------------------

#[cfg(feature = "sdk")]
pub use sdk::*;

#[cfg(feature = "sdk")]
mod sdk {
    use super::*;
    use crate::ffi::mqtt::{
        iotkit_mqtt_get_identity, IOT_MQTT_Publish_Simple, IOT_MQTT_Subscribe_Sync,
        IOT_MQTT_Unsubscribe,
    };
    use crate::ffi::types::*;
    use crate::handles::HandleTable;
    use crate::ota::message::{self, Topic};
    use crate::ota::session::{Session, State, Verdict};
    use crate::ota::{progress_step, TlsDialer};
    use crate::state::{STATE_SUCCESS, STATE_USER_INPUT_INVALID};
    use std::ffi::{c_void, CString};
    use std::sync::Arc;
    use std::time::Duration;

    const SUBSCRIBE_TIMEOUT_MS: c_int = 5000;
    /// Longest progress description accepted.
    const DESC_MAX: usize = 256;
    const IOT_OTAT_NONE: u32 = 0;
    const IOT_OTAT_FOTA: u32 = 2;

    // IOT_OTA_CmdType_t.
    const IOT_OTAG_COTA_CONFIG_ID: c_int = 0;
    const IOT_OTAG_COTA_GETTYPE: c_int = 5;
    const IOT_OTAG_OTA_TYPE: c_int = 6;
    const IOT_OTAG_FETCHED_SIZE: c_int = 7;
    const IOT_OTAG_FILE_SIZE: c_int = 8;
    const IOT_OTAG_MD5SUM: c_int = 9;
    const IOT_OTAG_VERSION: c_int = 10;
    const IOT_OTAG_CHECK_FIRMWARE: c_int = 11;
    const IOT_OTAG_CHECK_CONFIG: c_int = 12;
    const IOT_OTAG_RESET_FETCHED_SIZE: c_int = 13;

    /// The narrow MQTT adapter: all OTA needs from a client. It goes through
    /// the exported MQTT functions, so it follows whatever core they use.
    struct Signal {
        /// The MQTT handle as the firmware passed it (NULL: the default client).
        handle: usize,
    }

    impl Signal {
        fn ptr(&self) -> *mut c_void {
            self.handle as *mut c_void
        }

        fn identity(&self) -> Result<(String, String), c_int> {
            let mut pk = [0 as c_char; IOTX_PRODUCT_KEY_LEN + 1];
            let mut dn = [0 as c_char; IOTX_DEVICE_NAME_LEN + 1];
            let rc = iotkit_mqtt_get_identity(self.ptr(), pk.as_mut_ptr(), dn.as_mut_ptr());
            if rc != 0 {
                return Err(rc);
            }
            let text = |b: &[c_char]| {
                let bytes: Vec<u8> = b
                    .iter()
                    .take_while(|c| **c != 0)
                    .map(|c| *c as u8)
                    .collect();
                String::from_utf8_lossy(&bytes).into_owned()
            };
            Ok((text(&pk), text(&dn)))
        }

        fn publish(&self, topic: &str, payload: &str) -> c_int {
            let Ok(topic) = CString::new(topic) else {
                return STATE_USER_INPUT_INVALID;
            };
            let Ok(len) = c_int::try_from(payload.len()) else {
                return STATE_USER_INPUT_INVALID;
            };
            IOT_MQTT_Publish_Simple(
                self.ptr(),
                topic.as_ptr(),
                1,
                payload.as_ptr() as *mut c_void,
                len,
            )
        }

        fn subscribe(&self, filter: &str, context: usize) -> c_int {
            let Ok(filter) = CString::new(filter) else {
                return STATE_USER_INPUT_INVALID;
            };
            // Waits for the SUBACK, so a push right after IOT_OTA_Init (e.g.
            // answering the version report) is not missed.
            IOT_MQTT_Subscribe_Sync(
                self.ptr(),
                filter.as_ptr(),
                iotx_mqtt_qos_t(1),
                Some(on_message),
                context as *mut c_void,
                SUBSCRIBE_TIMEOUT_MS,
            )
        }

        /// The CA the client verifies its MQTT server with (None: no such
        /// client lives any more).
        fn server_ca(&self) -> Option<Vec<u8>> {
            crate::ffi::mqtt::server_ca(self.ptr())
        }

        fn unsubscribe(&self, filter: &str) {
            if let Ok(filter) = CString::new(filter) {
                let _ = IOT_MQTT_Unsubscribe(self.ptr(), filter.as_ptr());
            }
        }
    }

    type PushedCallback = Option<unsafe extern "C" fn(context: *mut c_void) -> c_int>;

    struct Inner {
        session: Session,
        next_id: u32,
        pushed: PushedCallback,
        dialer: Option<TlsDialer>,
    }

    struct Ota {
        signal: Signal,
        product_key: String,
        device_name: String,
        inner: Mutex<Inner>,
    }

    impl Ota {
        fn topic(&self, topic: Topic) -> String {
            topic.name(&self.product_key, &self.device_name)
        }

        fn report(&self, inner: &mut Inner, step: i32, desc: &str) -> c_int {
            inner.next_id = inner.next_id.wrapping_add(1);
            let payload = message::progress(inner.next_id, step, desc);
            self.signal.publish(&self.topic(Topic::Progress), &payload)
        }
    }

    static OTAS: HandleTable<Ota> = HandleTable::new();

    fn resolve(function: &str, handle: *mut c_void) -> Result<(usize, Arc<Ota>), c_int> {
        let id = handle as usize;
        match OTAS.get(id) {
            Some(ota) if id != 0 => Ok((id, ota)),
            _ => {
                ota_event(
                    IOT_OTAE_INVALID_PARAM,
                    &format!("{function}: {handle:?} is not a live OTA handle (never returned by IOT_OTA_Init, or deinitialised)"),
                );
                Err(IOT_OTAE_INVALID_PARAM)
            }
        }
    }

    /// Records `code` as the handle's last error and raises its state event.
    fn fail(inner: &mut Inner, code: i32, message: &str) -> c_int {
        inner.session.set_last_error(code);
        ota_event(code, message);
        code
    }

    /// Messages on /ota/device/upgrade/PK/DN (called inside IOT_MQTT_Yield).
    unsafe extern "C" fn on_message(
        context: *mut c_void,
        _client: *mut c_void,
        msg: iotx_mqtt_event_msg_pt,
    ) {
        guard("OTA upgrade message", (), || {
            if msg.is_null() {
                return;
            }
            // SAFETY: the MQTT layer passes a valid event for the callback's duration.
            let event = unsafe { &*msg };
            if event.event_type != iotx_mqtt_event_type_t::IOTX_MQTT_EVENT_PUBLISH_RECEIVED
                || event.msg.is_null()
            {
                return;
            }
            // SAFETY: for PUBLISH_RECEIVED, msg points to the topic info.
            let info = unsafe { &*(event.msg as *const iotx_mqtt_topic_info_t) };
            let payload: &[u8] = if info.payload.is_null() || info.payload_len == 0 {
                &[]
            } else {
                // SAFETY: payload_len bytes at payload, valid during the callback.
                unsafe {
                    std::slice::from_raw_parts(info.payload.cast::<u8>(), info.payload_len as usize)
                }
            };
            let id = context as usize;
            let Some(ota) = OTAS.get(id) else {
                return;
            };
            let callback = {
                let mut inner = lock(&ota.inner);
                let upgrade = match message::parse_upgrade(payload) {
                    Ok(upgrade) => upgrade,
                    Err(why) => {
                        fail(
                            &mut inner,
                            IOT_OTAE_INVALID_PARAM,
                            &format!("{why}; the upgrade was ignored"),
                        );
                        return;
                    }
                };
                let (version, size) = (upgrade.version.clone(), upgrade.size);
                if inner.session.state() == State::Fetching && inner.session.fetched() > 0 {
                    crate::log_info!("a new upgrade push replaces the download in progress");
                }
                match inner.session.on_upgrade(upgrade.clone()) {
                    Ok(()) => {
                        *lock(&EXPECTED) = Some(upgrade);
                        ota_event(
                            STATE_SUCCESS,
                            &format!("firmware {version} ({size} bytes) was pushed; IOT_OTA_IsFetching() now returns 1"),
                        );
                    }
                    Err(f) => {
                        ota_event(f.code, &f.message);
                        if let Some(step) = f.report {
                            ota.report(&mut inner, step, &f.message);
                        }
                        return;
                    }
                }
                inner.pushed
            };
            if let Some(cb) = callback {
                // SAFETY: a function the firmware registered; it gets the OTA handle.
                unsafe { cb(id as *mut c_void) };
            }
        })
    }

    /// Reads a firmware string argument (product key, device name): `Ok(None)`
    /// for NULL or empty.
    fn text_arg(
        function: &str,
        what: &str,
        ptr: *const c_char,
        max: usize,
    ) -> Result<Option<String>, c_int> {
        // SAFETY: NULL or NUL-terminated; at most max + 1 bytes are read.
        match unsafe { c_str_bounded(ptr, max) } {
            Ok(None) => Ok(None),
            Ok(Some([])) => Ok(None),
            Ok(Some(b)) => match std::str::from_utf8(b) {
                Ok(t) => Ok(Some(t.to_owned())),
                Err(_) => {
                    ota_event(
                        IOT_OTAE_INVALID_PARAM,
                        &format!("{function}: the {what} is not UTF-8 text"),
                    );
                    Err(IOT_OTAE_INVALID_PARAM)
                }
            },
            Err(()) => {
                ota_event(
                    IOT_OTAE_STR_TOO_LONG,
                    &format!("{function}: the {what} is longer than {max} characters"),
                );
                Err(IOT_OTAE_STR_TOO_LONG)
            }
        }
    }

    /// Starts OTA for the device of MQTT client `ch_signal` (NULL: the default
    /// client) and subscribes to `/ota/device/upgrade/PK/DN`. An empty or NULL
    /// ProductKey/DeviceName means the identity the client learned on its
    /// X.509 connection. Returns the OTA handle, or NULL (with a state event).
    #[no_mangle]
    pub extern "C" fn IOT_OTA_Init(
        product_key: *const c_char,
        device_name: *const c_char,
        ch_signal: *mut c_void,
    ) -> *mut c_void {
        guard("IOT_OTA_Init", std::ptr::null_mut(), || {
            let f = "IOT_OTA_Init";
            let signal = Signal {
                handle: ch_signal as usize,
            };
            let Ok((known_pk, known_dn)) = signal.identity() else {
                ota_event(IOT_OTAE_INVALID_PARAM, &format!("{f}: ch_signal {ch_signal:?} is not a live MQTT client: call IOT_MQTT_Construct first"));
                return std::ptr::null_mut();
            };
            let Ok(pk) = text_arg(f, "product key", product_key, IOTX_PRODUCT_KEY_LEN) else {
                return std::ptr::null_mut();
            };
            let Ok(dn) = text_arg(f, "device name", device_name, IOTX_DEVICE_NAME_LEN) else {
                return std::ptr::null_mut();
            };
            let pick = |given: Option<String>, known: String, what: &str| -> Result<String, ()> {
                match given {
                    None if known.is_empty() => {
                        ota_event(IOT_OTAE_INVALID_PARAM, &format!(
                            "{f}: no {what} was given and the MQTT client does not know it yet (on an X.509 connection the platform sends it after CONNECT; IOT_MQTT_Construct waits for it)"));
                        Err(())
                    }
                    None => Ok(known),
                    Some(g) if !known.is_empty() && g != known => {
                        ota_event(IOT_OTAE_INVALID_PARAM, &format!(
                            "{f}: the {what} {g:?} is not the one of the MQTT connection ({known:?}); the platform only lets a device use its own OTA topics"));
                        Err(())
                    }
                    Some(g) => Ok(g),
                }
            };
            let (Ok(pk), Ok(dn)) = (
                pick(pk, known_pk, "product key"),
                pick(dn, known_dn, "device name"),
            ) else {
                return std::ptr::null_mut();
            };
            let ota = Arc::new(Ota {
                signal,
                product_key: pk,
                device_name: dn,
                inner: Mutex::new(Inner {
                    session: Session::new(),
                    next_id: 0,
                    pushed: None,
                    dialer: None,
                }),
            });
            let id = OTAS.insert(ota.clone());
            let rc = ota.signal.subscribe(&ota.topic(Topic::Upgrade), id);
            if rc < 0 {
                OTAS.remove(id);
                ota_event(
                    IOT_OTAE_OSC_FAILED,
                    &format!(
                        "{f}: subscribing to {} failed ({rc})",
                        ota.topic(Topic::Upgrade)
                    ),
                );
                return std::ptr::null_mut();
            }
            crate::log_info!("OTA ready for {}/{}", ota.product_key, ota.device_name);
            id as *mut c_void
        })
    }

    /// Ends OTA on `handle`: unsubscribes and frees it. Returns 0 or
    /// IOT_OTAE_INVALID_PARAM.
    #[no_mangle]
    pub extern "C" fn IOT_OTA_Deinit(handle: *mut c_void) -> c_int {
        guard("IOT_OTA_Deinit", IOT_OTAE_GENERAL, || {
            let (id, ota) = match resolve("IOT_OTA_Deinit", handle) {
                Ok(found) => found,
                Err(code) => return code,
            };
            OTAS.remove(id);
            ota.signal.unsubscribe(&ota.topic(Topic::Upgrade));
            0
        })
    }

    /// Publishes `{"id":"N","params":{"version":"V"}}` to
    /// `/ota/device/inform/PK/DN` (QoS 1). Returns 0 or a negative code.
    #[no_mangle]
    pub extern "C" fn IOT_OTA_ReportVersion(handle: *mut c_void, version: *const c_char) -> c_int {
        guard("IOT_OTA_ReportVersion", IOT_OTAE_GENERAL, || {
            let f = "IOT_OTA_ReportVersion";
            let (_, ota) = match resolve(f, handle) {
                Ok(found) => found,
                Err(code) => return code,
            };
            let mut inner = lock(&ota.inner);
            let version = match text_arg(f, "version", version, message::VERSION_MAX) {
                Ok(Some(v)) => v,
                Ok(None) => {
                    return fail(
                        &mut inner,
                        IOT_OTAE_INVALID_PARAM,
                        &format!("{f}: the version is NULL or empty"),
                    )
                }
                Err(code) => {
                    inner.session.set_last_error(code);
                    return code;
                }
            };
            if let Err(why) = message::validate_version(&version) {
                return fail(&mut inner, IOT_OTAE_INVALID_PARAM, &format!("{f}: {why}"));
            }
            inner.next_id = inner.next_id.wrapping_add(1);
            let payload = message::inform(inner.next_id, &version);
            let rc = ota.signal.publish(&ota.topic(Topic::Inform), &payload);
            if rc < 0 {
                return fail(
                    &mut inner,
                    IOT_OTAE_OSC_FAILED,
                    &format!("{f}: publishing the version failed ({rc})"),
                );
            }
            crate::log_info!("OTA version {version} reported");
            0
        })
    }

    /// Publishes `{"id":"N","params":{"step":"S","desc":"D"}}` to
    /// `/ota/device/progress/PK/DN`; `progress` is 0..100 or an IOT_OTAP_*
    /// failure (-4..-1); `msg` may be NULL. Returns 0 or a negative code.
    #[no_mangle]
    pub extern "C" fn IOT_OTA_ReportProgress(
        handle: *mut c_void,
        progress: IOT_OTA_Progress_t,
        msg: *const c_char,
    ) -> c_int {
        let progress = progress.0;
        guard("IOT_OTA_ReportProgress", IOT_OTAE_GENERAL, || {
            let f = "IOT_OTA_ReportProgress";
            let (_, ota) = match resolve(f, handle) {
                Ok(found) => found,
                Err(code) => return code,
            };
            let mut inner = lock(&ota.inner);
            if !(progress_step::BURN_FAILED..=progress_step::PERCENTAGE_MAX).contains(&progress) {
                return fail(&mut inner, IOT_OTAE_INVALID_PARAM, &format!(
                    "{f}: progress {progress} is neither a percentage (0 to 100) nor an IOT_OTAP_* failure (-4 to -1)"));
            }
            if inner.session.upgrade().is_none() {
                return fail(
                    &mut inner,
                    IOT_OTAE_INVALID_STATE,
                    &format!("{f}: no upgrade was pushed yet, so there is no progress to report"),
                );
            }
            let desc = match text_arg(f, "message", msg, DESC_MAX) {
                Ok(d) => d.unwrap_or_default(),
                Err(code) => {
                    inner.session.set_last_error(code);
                    return code;
                }
            };
            let rc = ota.report(&mut inner, progress, &desc);
            if rc < 0 {
                return fail(
                    &mut inner,
                    IOT_OTAE_OSC_FAILED,
                    &format!("{f}: publishing the progress failed ({rc})"),
                );
            }
            0
        })
    }

    /// 1 while an upgrade is being downloaded, else 0 (also for a bad handle).
    #[no_mangle]
    pub extern "C" fn IOT_OTA_IsFetching(handle: *mut c_void) -> c_int {
        guard("IOT_OTA_IsFetching", 0, || {
            match resolve("IOT_OTA_IsFetching", handle) {
                Ok((_, ota)) => c_int::from(lock(&ota.inner).session.state() == State::Fetching),
                Err(_) => 0,
            }
        })
    }

    /// 1 once the download ended (the whole image arrived, or it failed: see
    /// IOT_OTAG_CHECK_FIRMWARE and IOT_OTA_GetLastError), else 0.
    #[no_mangle]
    pub extern "C" fn IOT_OTA_IsFetchFinish(handle: *mut c_void) -> c_int {
        guard("IOT_OTA_IsFetchFinish", 0, || {
            match resolve("IOT_OTA_IsFetchFinish", handle) {
                Ok((_, ota)) => c_int::from(lock(&ota.inner).session.state() == State::Fetched),
                Err(_) => 0,
            }
        })
    }

    /// The CA the download server is verified with: the one the MQTT client
    /// this OTA handle rides on verifies its server with, resolved when that
    /// client was made (IOTX_X509_CA_FILE, else `mqtt_params.pub_key`, else
    /// `iotx_ca_crt`; or `ca_pem` of iotkit_mqtt_construct_x509).
    fn download_ca(signal: &Signal) -> Result<Vec<u8>, String> {
        match signal.server_ca() {
            Some(ca) if !ca.is_empty() => Ok(ca),
            _ => Err(format!(
                "the MQTT client this OTA handle rides on (ch_signal {:#x}; 0 is the default client) no longer exists, so there is no CA certificate to verify the download server with (the image is never fetched unverified)",
                signal.handle
            )),
        }
    }

    /// Downloads up to `buf_len` bytes of the image into `buf`, waiting up to
    /// `timeout_s` seconds: returns the count (> 0), 0 when nothing arrived,
    /// or a negative IOT_OTAE_* code. Cuts are resumed with HTTP Range; when
    /// the last byte arrives the MD5/SHA-256 are checked (a mismatch is
    /// reported to the platform and as a state event, and
    /// IOT_OTAG_CHECK_FIRMWARE then gives 0).
    #[no_mangle]
    pub extern "C" fn IOT_OTA_FetchYield(
        handle: *mut c_void,
        buf: *mut c_char,
        buf_len: u32,
        timeout_s: u32,
    ) -> c_int {
        guard("IOT_OTA_FetchYield", IOT_OTAE_GENERAL, || {
            let f = "IOT_OTA_FetchYield";
            let (_, ota) = match resolve(f, handle) {
                Ok(found) => found,
                Err(code) => return code,
            };
            let mut inner = lock(&ota.inner);
            if buf.is_null() || buf_len == 0 {
                return fail(
                    &mut inner,
                    IOT_OTAE_INVALID_PARAM,
                    &format!("{f}: the buffer is NULL or its length is 0"),
                );
            }
            if inner.session.state() != State::Fetching {
                return fail(&mut inner, IOT_OTAE_INVALID_STATE, &format!(
                    "{f}: no firmware is being fetched (wait until IOT_OTA_IsFetching() returns 1)"));
            }
            if inner.dialer.is_none() {
                let config = download_ca(&ota.signal).and_then(|ca| {
                    crate::tls::TlsConfig::new(&ca, None).map_err(|e| e.to_string())
                });
                match config {
                    Ok(config) => inner.dialer = Some(TlsDialer { config }),
                    Err(why) => {
                        return fail(&mut inner, IOT_OTAE_FETCH_FAILED, &format!("{f}: {why}"))
                    }
                }
            }
            let len = (buf_len as usize).min(c_int::MAX as usize);
            // SAFETY: the caller passes `buf_len` writable bytes at `buf`.
            let out = unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), len) };
            let timeout = Duration::from_secs(u64::from(timeout_s)).max(Duration::from_millis(10));
            let inner = &mut *inner;
            let dialer = inner.dialer.as_ref().expect("set above");
            let result = inner.session.fetch(dialer, out, timeout);
            match result {
                Ok(n) => {
                    if let Some(Verdict::Bad(why)) = inner.session.verdict().cloned() {
                        ota_event(IOT_OTAE_GENERAL, &why);
                        ota.report(inner, progress_step::CHECK_FAILED, &why);
                    } else if inner.session.is_good() {
                        ota_event(
                            STATE_SUCCESS,
                            "the firmware image arrived whole and its digests match",
                        );
                    }
                    n as c_int
                }
                Err(failure) => {
                    ota_event(failure.code, &failure.message);
                    if let Some(step) = failure.report {
                        ota.report(inner, step, &failure.message);
                    }
                    failure.code
                }
            }
        })
    }

    /// Writes a u32 into a caller's buffer of at least 4 bytes.
    fn put_u32(buf: *mut c_void, buf_len: c_int, value: u32) -> bool {
        if buf.is_null() || buf_len < 4 {
            return false;
        }
        // SAFETY: at least 4 writable bytes; unaligned write.
        unsafe { buf.cast::<u32>().write_unaligned(value) };
        true
    }

    /// Reads OTA information (IOT_OTAG_*). Returns 0 or a negative code:
    /// IOT_OTAE_INVALID_PARAM for a NULL or too small buffer or an unknown
    /// command, IOT_OTAE_INVALID_STATE when there is nothing to tell yet.
    /// Config updates (COTA) are not supported.
    #[no_mangle]
    pub extern "C" fn IOT_OTA_Ioctl(
        handle: *mut c_void,
        r#type: IOT_OTA_CmdType_t,
        buf: *mut c_void,
        buf_len: c_int,
    ) -> c_int {
        let r#type = r#type.0;
        guard("IOT_OTA_Ioctl", IOT_OTAE_GENERAL, || {
            let f = "IOT_OTA_Ioctl";
            let (_, ota) = match resolve(f, handle) {
                Ok(found) => found,
                Err(code) => return code,
            };
            let mut inner = lock(&ota.inner);
            let small = |inner: &mut Inner, need: &str| {
                fail(
                    inner,
                    IOT_OTAE_INVALID_PARAM,
                    &format!("{f}: command {} needs a buffer of {need}", r#type),
                )
            };
            let session = &inner.session;
            match r#type {
                IOT_OTAG_FETCHED_SIZE | IOT_OTAG_FILE_SIZE | IOT_OTAG_OTA_TYPE => {
                    let value = match r#type {
                        IOT_OTAG_FETCHED_SIZE => session.fetched() as u32,
                        IOT_OTAG_FILE_SIZE => session.upgrade().map_or(0, |u| u.size as u32),
                        _ if session.upgrade().is_some() => IOT_OTAT_FOTA,
                        _ => IOT_OTAT_NONE,
                    };
                    if put_u32(buf, buf_len, value) { 0 } else { small(&mut inner, "4 bytes (a uint32_t)") }
                }
                IOT_OTAG_MD5SUM | IOT_OTAG_VERSION => {
                    let text = if r#type == IOT_OTAG_MD5SUM {
                        session.md5_hex().map(str::to_owned)
                    } else {
                        session.upgrade().map(|u| u.version.clone())
                    };
                    let Some(text) = text else {
                        return fail(&mut inner, IOT_OTAE_INVALID_STATE, &format!("{f}: no upgrade was pushed yet"));
                    };
                    let cap = usize::try_from(buf_len).unwrap_or(0);
                    // SAFETY: the caller passes `buf_len` writable bytes.
                    if unsafe { super::super::copy_out_c_str(buf.cast::<c_char>(), cap, &text) } {
                        0
                    } else {
                        let code = if buf.is_null() { IOT_OTAE_INVALID_PARAM } else { IOT_OTAE_STR_TOO_LONG };
                        fail(&mut inner, code, &format!(
                            "{f}: the buffer must hold {} bytes ({text:?} and its NUL); it is NULL or holds {buf_len}", text.len() + 1))
                    }
                }
                IOT_OTAG_CHECK_FIRMWARE => {
                    if session.state() != State::Fetched {
                        return fail(&mut inner, IOT_OTAE_INVALID_STATE, &format!(
                            "{f}: the firmware can be checked only after the download finished (IOT_OTA_IsFetchFinish() returns 1)"));
                    }
                    let good = session.is_good();
                    if put_u32(buf, buf_len, u32::from(good)) { 0 } else { small(&mut inner, "4 bytes (a uint32_t)") }
                }
                IOT_OTAG_RESET_FETCHED_SIZE => {
                    inner.session.reset_fetched();
                    0
                }
                IOT_OTAG_COTA_CONFIG_ID..=IOT_OTAG_COTA_GETTYPE | IOT_OTAG_CHECK_CONFIG => fail(&mut inner, IOT_OTAE_INVALID_PARAM, &format!(
                    "{f}: command {} is for remote configuration (COTA), which iotkit does not support", r#type)),
                other => fail(&mut inner, IOT_OTAE_INVALID_PARAM, &format!("{f}: {other} is not an IOT_OTAG_* command")),
            }
        })
    }

    /// The last IOT_OTAE_* code of `handle` (0 when nothing failed), or
    /// IOT_OTAE_INVALID_PARAM for a bad handle.
    #[no_mangle]
    pub extern "C" fn IOT_OTA_GetLastError(handle: *mut c_void) -> c_int {
        guard("IOT_OTA_GetLastError", IOT_OTAE_GENERAL, || {
            match resolve("IOT_OTA_GetLastError", handle) {
                Ok((_, ota)) => lock(&ota.inner).session.last_error(),
                Err(code) => code,
            }
        })
    }

    /// Calls `cb(handle)` each time an upgrade is pushed (after
    /// IOT_OTA_IsFetching() became 1); NULL removes it. Returns 0 or
    /// IOT_OTAE_INVALID_PARAM.
    #[no_mangle]
    pub extern "C" fn IOT_OTA_SetOnPushedCallback(
        handle: *mut c_void,
        cb: Option<unsafe extern "C" fn(context: *mut c_void) -> c_int>,
    ) -> c_int {
        guard(
            "IOT_OTA_SetOnPushedCallback",
            IOT_OTAE_GENERAL,
            || match resolve("IOT_OTA_SetOnPushedCallback", handle) {
                Ok((_, ota)) => {
                    lock(&ota.inner).pushed = cb;
                    0
                }
                Err(code) => code,
            },
        )
    }
}

//! Firmware callbacks that call back into the API: a state handler whose
//! call fails again (no recursion), the retry pattern "Construct again from
//! ITE_CONNECT_FAIL" (no deadlock), and a state event raised by the
//! credential cache whose handler needs the same cache (no deadlock).
//! Each case runs in its own thread and must finish within a bound.
//!
//! The library's state is process-wide: the tests take turns (`TURN`).

mod support;

use std::ffi::{c_char, c_int, c_void};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::Duration;

use iotkit::ffi::compat::{
    iotkit_state_events_dropped, iotx_register_for_ITE_CONNECT_FAIL,
    iotx_register_for_ITE_STATE_EVERYTHING,
};
use iotkit::ffi::mqtt::{IOT_MQTT_Construct, IOT_MQTT_Publish_Simple};
use iotkit::ffi::sign::IOT_Sign_MQTT;
use iotkit::ffi::types::{
    iotx_dev_meta_info_t, iotx_mqtt_param_t, iotx_mqtt_region_types_t, iotx_sign_mqtt_t,
};

static TURN: Mutex<()> = Mutex::new(());
static CALLS: AtomicUsize = AtomicUsize::new(0);

/// Runs `body` on its own thread; fails the test when it does not end within `limit`.
fn finishes_within(limit: Duration, body: impl FnOnce() + Send + 'static) {
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        body();
        let _ = done.send(());
    });
    finished
        .recv_timeout(limit)
        .expect("the call did not return: deadlock or endless recursion");
}

fn reset_handlers() {
    iotx_register_for_ITE_STATE_EVERYTHING(None);
    iotx_register_for_ITE_CONNECT_FAIL(None);
    CALLS.store(0, Ordering::SeqCst);
}

unsafe extern "C" fn publish_again(_code: c_int, _message: *const c_char) -> c_int {
    let n = CALLS.fetch_add(1, Ordering::SeqCst);
    if n < 1000 {
        let topic = c"/x/y";
        // No such client: fails, and raises a state event again (naming
        // another handle each time, so no two events are identical).
        let handle = (0x10_0000 + 8 * n) as *mut c_void;
        IOT_MQTT_Publish_Simple(handle, topic.as_ptr(), 0, std::ptr::null_mut(), 0);
    }
    0
}

#[test]
fn a_state_handler_whose_call_fails_does_not_recurse() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    reset_handlers();
    let dropped = iotkit_state_events_dropped();
    iotx_register_for_ITE_STATE_EVERYTHING(Some(publish_again));
    finishes_within(Duration::from_secs(20), || {
        let topic = c"/x/y";
        let code = IOT_MQTT_Publish_Simple(
            0x0F_0000 as *mut c_void,
            topic.as_ptr(),
            0,
            std::ptr::null_mut(),
            0,
        );
        assert!(code < 0);
    });
    let calls = CALLS.load(Ordering::SeqCst);
    reset_handlers();
    // The handler ran for the first event and for the one its own call
    // raised; the event of that second call was dropped and counted.
    assert_eq!(calls, 2);
    assert_eq!(iotkit_state_events_dropped() - dropped, 1);
}

unsafe extern "C" fn count_only(_code: c_int, _message: *const c_char) -> c_int {
    0
}

static RETRIES: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn construct_again() -> c_int {
    RETRIES.fetch_add(1, Ordering::SeqCst);
    // The vendor's retry pattern: connect again from the failure notice.
    let client = IOT_MQTT_Construct(std::ptr::null_mut());
    assert!(client.is_null(), "nothing listens; it fails again");
    0
}

#[test]
fn construct_from_the_connect_fail_handler_does_not_deadlock() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    reset_handlers();
    RETRIES.store(0, Ordering::SeqCst);
    let pki = support::pki::shared();
    let cert = support::lasting_c_text(pki.read("client_rsa.crt"));
    let key = support::lasting_c_text(pki.read("client_rsa.key"));
    // SAFETY: the tests take turns; nothing else reads the globals meanwhile.
    unsafe {
        iotkit::ffi::tls::g_cli_crt = cert;
        iotkit::ffi::tls::g_cli_key = key;
    }
    let refusing = support::ports::RefusingPort::new();
    let port = refusing.port();
    // The handler's Construct(NULL) finds the endpoint in the environment.
    std::env::set_var("IOTX_MQTT_HOST", "127.0.0.1");
    std::env::set_var("IOTX_MQTT_PORT", port.to_string());
    std::env::set_var("IOTX_X509_CA_FILE", pki.path("ca.crt"));
    iotx_register_for_ITE_STATE_EVERYTHING(Some(count_only));
    iotx_register_for_ITE_CONNECT_FAIL(Some(construct_again));
    finishes_within(Duration::from_secs(60), move || {
        // SAFETY: all-zero is the documented "defaults" value of the struct.
        let mut params: iotx_mqtt_param_t = unsafe { std::mem::zeroed() };
        params.request_timeout_ms = 1000;
        assert!(IOT_MQTT_Construct(&mut params).is_null());
    });
    reset_handlers();
    // The notice of the first failure, and of the retry's failure; the
    // retry of the retry is not called back (no endless chain).
    assert_eq!(RETRIES.load(Ordering::SeqCst), 2);
    for name in ["IOTX_MQTT_HOST", "IOTX_MQTT_PORT", "IOTX_X509_CA_FILE"] {
        std::env::remove_var(name);
    }
    // SAFETY: as above.
    unsafe {
        iotkit::ffi::tls::g_cli_crt = std::ptr::null();
        iotkit::ffi::tls::g_cli_key = std::ptr::null();
    }
}

unsafe extern "C" fn sign_again(_code: c_int, _message: *const c_char) -> c_int {
    if CALLS.fetch_add(1, Ordering::SeqCst) == 0 {
        // SAFETY: zeroed C structs are valid inputs (empty strings).
        let mut meta: iotx_dev_meta_info_t = unsafe { std::mem::zeroed() };
        let mut out: iotx_sign_mqtt_t = unsafe { std::mem::zeroed() };
        // Needs the credential cache that raised the event.
        IOT_Sign_MQTT(iotx_mqtt_region_types_t(0), &mut meta, &mut out);
    }
    0
}

#[test]
fn a_credential_cache_event_handler_may_use_the_cache() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    reset_handlers();
    let pki = support::pki::shared();
    pki.issue_expired_client("expired", "ca");
    let cert = support::lasting_c_text(pki.read("expired.crt"));
    let key = support::lasting_c_text(pki.read("expired.key"));
    // SAFETY: the tests take turns; nothing else reads the globals meanwhile.
    unsafe {
        iotkit::ffi::tls::g_cli_crt = cert;
        iotkit::ffi::tls::g_cli_key = key;
    }
    iotx_register_for_ITE_STATE_EVERYTHING(Some(sign_again));
    finishes_within(Duration::from_secs(20), || {
        // SAFETY: zeroed C structs are valid inputs (empty strings).
        let mut meta: iotx_dev_meta_info_t = unsafe { std::mem::zeroed() };
        let mut out: iotx_sign_mqtt_t = unsafe { std::mem::zeroed() };
        // Parsing the new (expired) certificate raises a state event.
        assert_eq!(
            IOT_Sign_MQTT(iotx_mqtt_region_types_t(0), &mut meta, &mut out),
            0
        );
    });
    assert!(CALLS.load(Ordering::SeqCst) >= 1, "the expiry was reported");
    reset_handlers();
    // SAFETY: as above.
    unsafe {
        iotkit::ffi::tls::g_cli_crt = std::ptr::null();
        iotkit::ffi::tls::g_cli_key = std::ptr::null();
    }
}

const CHILD_ENV: &str = "IOTKIT_CALLBACKS_CHILD";
static DELIVERED: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn count_deliveries(_code: c_int, _message: *const c_char) -> c_int {
    DELIVERED.fetch_add(1, Ordering::SeqCst);
    0
}

/// Child: 1,000 identical failures, one different one, 10 more identical.
#[test]
#[ignore = "child process of identical_state_events_are_logged_once"]
fn child_repeats_a_failure() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    iotx_register_for_ITE_STATE_EVERYTHING(Some(count_deliveries));
    let topic = c"/x/y";
    let publish = |handle: usize| {
        IOT_MQTT_Publish_Simple(
            handle as *mut c_void,
            topic.as_ptr(),
            0,
            std::ptr::null_mut(),
            0,
        )
    };
    for _ in 0..1000 {
        assert!(publish(0x1230) < 0);
    }
    assert!(publish(0x4560) < 0);
    for _ in 0..10 {
        assert!(publish(0x1230) < 0);
    }
    println!("DELIVERED={}", DELIVERED.load(Ordering::SeqCst));
}

#[test]
fn identical_state_events_are_logged_once() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "child_repeats_a_failure",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .output()
        .expect("run the child test process");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let lines = |part: &str| stderr.lines().filter(|l| l.contains(part)).count();
    assert_eq!(lines("0x1230 is not a live MQTT client"), 1, "{stderr}");
    assert_eq!(lines("0x4560 is not a live MQTT client"), 1, "{stderr}");
    // Every failed call still reached the handler.
    assert!(stdout.contains("DELIVERED=1011"), "{stdout}");
}

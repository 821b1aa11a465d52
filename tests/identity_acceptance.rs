//! The identity response against a hostile broker (mosquitto, TLS): who may
//! set ProductKey/DeviceName, and when. Another client of the broker plays
//! the attacker and publishes on /ext/auth/identity/response — retained,
//! twice with different values, to an ioctl-configured device and to a
//! device-secret device — and the learned identity must stay bound to the
//! certificate it was learned for. Also: a failed Construct reports once and
//! changes nothing, an oversized identity response says what buffer it needs.
//!
//! The library's state is process-wide: the tests take turns (`TURN`) and
//! each starts from `Fixture::new`.

mod support;

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use iotkit::ffi::compat::{
    iotx_register_for_ITE_CONNECT_FAIL, iotx_register_for_ITE_IDENTITY_RESPONSE,
    iotx_register_for_ITE_STATE_EVERYTHING, IOT_Ioctl,
};
use iotkit::ffi::mqtt::{
    iotkit_mqtt_construct_x509, iotkit_x509_client_params_t, iotkit_x509_set_identity_persistence,
    IOT_MQTT_Construct, IOT_MQTT_Destroy, IOT_MQTT_Publish, IOT_MQTT_Subscribe, IOT_MQTT_Yield,
};
use iotkit::ffi::types::{
    iotx_ioctl_option_t, iotx_mqtt_event_handle_t, iotx_mqtt_event_msg_pt, iotx_mqtt_param_t,
    iotx_mqtt_qos_t, iotx_mqtt_topic_info_t,
};
use iotkit::kv::KvStore;
use support::peers::{self, Peer};
use support::pki::{self, Pki};

const TOPIC: &str = "/ext/auth/identity/response";
const WAIT: Duration = Duration::from_secs(10);

static TURN: Mutex<()> = Mutex::new(());
static EVENTS: Mutex<Vec<(i32, String)>> = Mutex::new(Vec::new());
static CONNECT_FAILS: AtomicUsize = AtomicUsize::new(0);
static IDENTITY_CALLBACKS: AtomicUsize = AtomicUsize::new(0);
static INJECTOR_ACKS: AtomicUsize = AtomicUsize::new(0);

fn events_lock() -> std::sync::MutexGuard<'static, Vec<(i32, String)>> {
    EVENTS.lock().unwrap_or_else(|p| p.into_inner())
}

unsafe extern "C" fn on_state(code: c_int, message: *const c_char) -> c_int {
    // SAFETY: the library passes a NUL-terminated message valid for the call.
    let text = unsafe { CStr::from_ptr(message) }
        .to_string_lossy()
        .into_owned();
    events_lock().push((code, text));
    0
}

unsafe extern "C" fn on_connect_fail() -> c_int {
    CONNECT_FAILS.fetch_add(1, Ordering::SeqCst);
    0
}

unsafe extern "C" fn on_identity(_payload: *const c_char) -> c_int {
    IDENTITY_CALLBACKS.fetch_add(1, Ordering::SeqCst);
    0
}

unsafe extern "C" fn on_injector_event(
    _context: *mut c_void,
    _client: *mut c_void,
    msg: iotx_mqtt_event_msg_pt,
) {
    // SAFETY: the library passes a valid event for the call.
    let event_type = unsafe { (*msg).event_type } as c_int;
    if event_type
        == iotkit::ffi::types::iotx_mqtt_event_type_t::IOTX_MQTT_EVENT_PUBLISH_SUCCESS as c_int
    {
        INJECTOR_ACKS.fetch_add(1, Ordering::SeqCst);
    }
}

fn events_containing(part: &str) -> Vec<(i32, String)> {
    EVENTS
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, m)| m.contains(part))
        .cloned()
        .collect()
}

fn leak(text: &str) -> *const c_char {
    support::lasting_c_text(text)
}

fn set_text(option: iotx_ioctl_option_t, value: &str) {
    let value = CString::new(value).unwrap();
    assert_eq!(IOT_Ioctl(option as c_int, value.as_ptr() as *mut c_void), 0);
}

fn get_text(option: iotx_ioctl_option_t) -> String {
    let mut buf = [0 as c_char; 80];
    assert_eq!(IOT_Ioctl(option as c_int, buf.as_mut_ptr().cast()), 0);
    // SAFETY: IOT_Ioctl wrote a NUL-terminated string.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

fn global_identity() -> (String, String) {
    (
        get_text(iotx_ioctl_option_t::IOTX_IOCTL_GET_PRODUCT_KEY),
        get_text(iotx_ioctl_option_t::IOTX_IOCTL_GET_DEVICE_NAME),
    )
}

/// Points g_cli_crt/g_cli_key at one of the PKI's client pairs (or none).
fn use_certificate(pki: &Pki, name: Option<&str>) {
    let (cert, key) = match name {
        Some(name) => (
            leak(&String::from_utf8(pki.read(&format!("{name}.crt"))).unwrap()),
            leak(&String::from_utf8(pki.read(&format!("{name}.key"))).unwrap()),
        ),
        None => (std::ptr::null(), std::ptr::null()),
    };
    // SAFETY: the tests take turns; nothing else reads the globals meanwhile.
    unsafe {
        iotkit::ffi::tls::g_cli_crt = cert;
        iotkit::ffi::tls::g_cli_key = key;
    }
}

struct Fixture {
    _turn: std::sync::MutexGuard<'static, ()>,
    pki: &'static Pki,
    broker: Peer,
    ca: *const c_char,
    _kv: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
        let pki = pki::shared();
        // No client certificate required: mosquitto then logs the user name
        // the device sent (not the certificate's CN).
        let broker = peers::mosquitto(pki, false);
        let kv = tempfile::tempdir().unwrap();
        iotkit::kv::set_dir(Some(kv.path().to_owned()));
        iotkit::device::reset();
        iotkit_x509_set_identity_persistence(1);
        events_lock().clear();
        CONNECT_FAILS.store(0, Ordering::SeqCst);
        IDENTITY_CALLBACKS.store(0, Ordering::SeqCst);
        iotx_register_for_ITE_STATE_EVERYTHING(Some(on_state));
        iotx_register_for_ITE_CONNECT_FAIL(Some(on_connect_fail));
        iotx_register_for_ITE_IDENTITY_RESPONSE(Some(on_identity));
        use_certificate(pki, Some("client_rsa"));
        let ca = leak(&String::from_utf8(pki.read("ca.crt")).unwrap());
        Fixture {
            _turn: turn,
            pki,
            broker,
            ca,
            _kv: kv,
        }
    }

    fn params(&self) -> iotx_mqtt_param_t {
        // SAFETY: all-zero is the documented "defaults" value of the struct.
        let mut params: iotx_mqtt_param_t = unsafe { std::mem::zeroed() };
        params.host = leak("localhost");
        params.port = self.broker.port;
        params.pub_key = self.ca;
        params.request_timeout_ms = 1000;
        params
    }

    /// The default client; it subscribes to /ext/# as a device might.
    fn construct_device(&self) -> *mut c_void {
        let mut params = self.params();
        let client = IOT_MQTT_Construct(&mut params);
        assert!(!client.is_null(), "construct: {:?}", events_lock());
        let filter = CString::new("/ext/#").unwrap();
        assert!(
            IOT_MQTT_Subscribe(
                client,
                filter.as_ptr(),
                iotx_mqtt_qos_t(1),
                None,
                std::ptr::null_mut()
            ) >= 0
        );
        client
    }

    /// Another device of the broker, with its own certificate: the attacker.
    fn injector(&self) -> *mut c_void {
        // SAFETY: all-zero is a valid parameter block (then filled in).
        let mut p: iotkit_x509_client_params_t = unsafe { std::mem::zeroed() };
        p.host = leak("localhost");
        p.port = self.broker.port;
        p.ca_pem = self.ca;
        p.cert = leak(&String::from_utf8(self.pki.read("client_ec.crt")).unwrap());
        p.key = leak(&String::from_utf8(self.pki.read("client_ec.key")).unwrap());
        p.product_key = leak("a1Inject");
        p.device_name = leak("injector");
        p.handle_event = iotx_mqtt_event_handle_t {
            h_fp: Some(on_injector_event),
            pcontext: std::ptr::null_mut(),
        };
        let client = iotkit_mqtt_construct_x509(&p);
        assert!(!client.is_null(), "injector: {:?}", events_lock());
        client
    }
}

/// Publishes `payload` on the identity topic (QoS 1) and waits for the PUBACK.
fn inject(injector: *mut c_void, payload: &str, retain: bool) {
    let before = INJECTOR_ACKS.load(Ordering::SeqCst);
    let topic = CString::new(TOPIC).unwrap();
    let mut msg = iotx_mqtt_topic_info_t {
        packet_id: 0,
        qos: 1,
        dup: 0,
        retain: u8::from(retain),
        topic_len: 0,
        payload_len: payload.len() as u32,
        ptopic: std::ptr::null(),
        payload: payload.as_ptr().cast(),
    };
    assert!(IOT_MQTT_Publish(injector, topic.as_ptr(), &mut msg) > 0);
    let deadline = Instant::now() + WAIT;
    while INJECTOR_ACKS.load(Ordering::SeqCst) == before {
        assert!(Instant::now() < deadline, "no PUBACK for the injection");
        IOT_MQTT_Yield(injector, 50);
    }
}

/// Serves `client` until `done` holds; panics after WAIT.
fn yield_until(client: *mut c_void, what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; events: {:?}",
            events_lock()
        );
        IOT_MQTT_Yield(client, 50);
    }
}

fn identity(pk: &str, dn: &str) -> String {
    format!(r#"{{"productKey":"{pk}","deviceName":"{dn}"}}"#)
}

#[test]
fn a_retained_identity_response_is_never_accepted() {
    let f = Fixture::new();
    let mut injector = f.injector();
    inject(injector, &identity("a1Evil", "evil-device"), true);
    let mut device = f.construct_device();
    yield_until(device, "the refusal of the retained response", || {
        !events_containing("retained message").is_empty()
    });
    assert_eq!(global_identity(), (String::new(), String::new()));
    assert_eq!(IDENTITY_CALLBACKS.load(Ordering::SeqCst), 0);
    // Clean up the broker's retained message for the other tests.
    inject(injector, "", true);
    IOT_MQTT_Destroy(&mut device);
    IOT_MQTT_Destroy(&mut injector);
    let persisted: Vec<_> = std::fs::read_dir(f._kv.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("iotkit-identity-"))
        .collect();
    assert!(persisted.is_empty(), "persisted: {persisted:?}");
}

#[test]
fn a_second_response_with_other_values_changes_nothing() {
    let f = Fixture::new();
    let mut injector = f.injector();
    let mut device = f.construct_device();
    inject(injector, &identity("a1First", "first-device"), false);
    yield_until(device, "the first response", || {
        global_identity().0 == "a1First"
    });
    inject(injector, &identity("a1Second", "second-device"), false);
    yield_until(device, "the refusal of the second response", || {
        !events_containing("already accepted on this connection").is_empty()
    });
    assert_eq!(
        global_identity(),
        ("a1First".to_owned(), "first-device".to_owned())
    );
    assert_eq!(IDENTITY_CALLBACKS.load(Ordering::SeqCst), 1);
    // A new connection: the identity known for this certificate is defended.
    IOT_MQTT_Destroy(&mut device);
    let mut device = f.construct_device();
    inject(injector, &identity("a1Second", "second-device"), false);
    yield_until(device, "the refusal on the new connection", || {
        !events_containing("another device than the identity already known").is_empty()
    });
    assert_eq!(
        global_identity(),
        ("a1First".to_owned(), "first-device".to_owned())
    );
    IOT_MQTT_Destroy(&mut device);
    IOT_MQTT_Destroy(&mut injector);
    let output = f.broker.output();
    assert!(
        !output.contains("u'second-device&a1Second'"),
        "the injected identity was used to sign in:\n{output}"
    );
}

#[test]
fn an_identity_set_with_ioctl_is_kept() {
    let f = Fixture::new();
    set_text(
        iotx_ioctl_option_t::IOTX_IOCTL_SET_PRODUCT_KEY,
        "a1Firmware",
    );
    set_text(iotx_ioctl_option_t::IOTX_IOCTL_SET_DEVICE_NAME, "fw-device");
    let mut injector = f.injector();
    let mut device = f.construct_device();
    inject(injector, &identity("a1Evil", "evil-device"), false);
    yield_until(device, "the refusal", || {
        !events_containing("set by the firmware").is_empty()
    });
    assert_eq!(
        global_identity(),
        ("a1Firmware".to_owned(), "fw-device".to_owned())
    );
    IOT_MQTT_Destroy(&mut device);
    IOT_MQTT_Destroy(&mut injector);
}

#[test]
fn a_device_secret_device_ignores_identity_responses() {
    let f = Fixture::new();
    use_certificate(f.pki, None);
    set_text(iotx_ioctl_option_t::IOTX_IOCTL_SET_PRODUCT_KEY, "a1Secret");
    set_text(
        iotx_ioctl_option_t::IOTX_IOCTL_SET_DEVICE_NAME,
        "secret-device",
    );
    set_text(iotx_ioctl_option_t::IOTX_IOCTL_SET_DEVICE_SECRET, "s3cr3t");
    let mut injector = f.injector();
    let mut device = f.construct_device();
    inject(injector, &identity("a1Evil", "evil-device"), false);
    yield_until(device, "the refusal", || {
        !events_containing("authenticates with a DeviceSecret").is_empty()
    });
    assert_eq!(
        global_identity(),
        ("a1Secret".to_owned(), "secret-device".to_owned())
    );
    IOT_MQTT_Destroy(&mut device);
    IOT_MQTT_Destroy(&mut injector);
}

#[test]
fn the_learned_identity_stays_with_its_certificate() {
    let f = Fixture::new();
    iotkit_x509_set_identity_persistence(0);
    let mut injector = f.injector();
    let mut device = f.construct_device();
    inject(injector, &identity("a1PK", "device-a"), false);
    yield_until(device, "certificate A's identity", || {
        global_identity().1 == "device-a"
    });
    IOT_MQTT_Destroy(&mut device);
    // Certificate B in the globals: A's identity must not be presented with it.
    use_certificate(f.pki, Some("client_ec"));
    let mut device = f.construct_device();
    assert_eq!(global_identity(), (String::new(), String::new()));
    inject(injector, &identity("a1PK", "device-b"), false);
    yield_until(device, "certificate B's identity", || {
        global_identity().1 == "device-b"
    });
    IOT_MQTT_Destroy(&mut device);
    IOT_MQTT_Destroy(&mut injector);
    let output = f.broker.output();
    let a_logins = output.matches("u'device-a&a1PK'").count();
    assert_eq!(
        a_logins, 0,
        "certificate B signed in as A (A itself never reconnected):\n{output}"
    );
    let connect_events = events_containing("username=device-a&a1PK");
    assert!(connect_events.is_empty(), "{connect_events:?}");
}

#[test]
fn a_failed_construct_reports_once_and_changes_nothing() {
    let f = Fixture::new();
    // An identity persisted for this certificate, and nothing listening.
    let fingerprint = {
        let cert = f.pki.read("client_rsa.crt");
        let key = f.pki.read("client_rsa.key");
        iotkit::tls::ClientCredentials::from_pem_or_der(&cert, &key, None)
            .unwrap()
            .fingerprint_sha256()
    };
    let store = KvStore::open(f._kv.path()).unwrap();
    iotkit::identity::save_identity(&store, &fingerprint, "a1Stored", "stored-device").unwrap();
    let mut params = f.params();
    let refusing = support::ports::RefusingPort::new();
    params.port = refusing.port();
    events_lock().clear();
    assert!(IOT_MQTT_Construct(&mut params).is_null());
    assert_eq!(
        CONNECT_FAILS.load(Ordering::SeqCst),
        1,
        "ITE_CONNECT_FAIL once"
    );
    let failures: Vec<_> = EVENTS
        .lock()
        .unwrap()
        .iter()
        .filter(|(code, _)| *code != iotkit::state::STATE_MQTT_CONN_USER_INFO)
        .cloned()
        .collect();
    assert_eq!(
        failures.len(),
        1,
        "one state event for one failure: {failures:?}"
    );
    assert!(failures[0].1.contains("refused"), "{failures:?}");
    assert_eq!(
        global_identity(),
        (String::new(), String::new()),
        "a failed Construct changes nothing"
    );
    // The same Construct against the broker succeeds with the stored identity.
    let mut device = f.construct_device();
    assert_eq!(
        global_identity(),
        ("a1Stored".to_owned(), "stored-device".to_owned())
    );
    IOT_MQTT_Destroy(&mut device);
}

#[test]
fn an_identity_response_larger_than_the_read_buffer_says_what_it_needs() {
    let f = Fixture::new();
    let mut injector = f.injector();
    let mut params = f.params();
    params.read_buf_size = 128;
    let mut device = IOT_MQTT_Construct(&mut params);
    assert!(!device.is_null());
    let filter = CString::new("/ext/#").unwrap();
    assert!(
        IOT_MQTT_Subscribe(
            device,
            filter.as_ptr(),
            iotx_mqtt_qos_t(0),
            None,
            std::ptr::null_mut()
        ) >= 0
    );
    let padding = "x".repeat(300);
    let payload = format!(r#"{{"productKey":"a1Big","deviceName":"big","note":"{padding}"}}"#);
    inject(injector, &payload, false);
    yield_until(device, "the overflow report", || {
        !events_containing("read_buf_size to at least").is_empty()
    });
    let report = events_containing("read_buf_size to at least");
    assert!(
        report[0].1.contains(TOPIC) && report[0].1.contains("the identity response arrived"),
        "{report:?}"
    );
    assert_eq!(report[0].0, iotkit::state::STATE_MQTT_RX_BUFFER_TOO_SHORT);
    IOT_MQTT_Destroy(&mut device);
    IOT_MQTT_Destroy(&mut injector);
}

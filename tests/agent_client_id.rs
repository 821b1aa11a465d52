//! The client id is computed once per client: its `timestamp=` part stays
//! the same on every reconnect, so the broker sees the same client (and a
//! `clean_session = 0` session resumes). Real parts: mosquitto over mutual
//! TLS, a loopback relay that cuts the link, and `IOT_MQTT_Construct`.

mod fault_proxy;
mod mqtt_support;
mod support;

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fault_proxy::{Fault, Proxy, Unit};
use iotkit::ffi::compat::{iotx_register_for_ITE_STATE_EVERYTHING, IOT_Ioctl};
use iotkit::ffi::mqtt::{IOT_MQTT_Construct, IOT_MQTT_Destroy, IOT_MQTT_Yield};
use iotkit::ffi::types::{iotx_ioctl_option_t, iotx_mqtt_param_t};
use support::{peers, pki};

static EVENTS: Mutex<Vec<String>> = Mutex::new(Vec::new());

unsafe extern "C" fn on_state(_code: c_int, message: *const c_char) -> c_int {
    // SAFETY: the library passes a NUL-terminated message valid for the call.
    let text = unsafe { CStr::from_ptr(message) }
        .to_string_lossy()
        .into_owned();
    EVENTS.lock().unwrap().push(text);
    0
}

fn leak(text: &str) -> *const c_char {
    support::lasting_c_text(text)
}

fn set_text(option: iotx_ioctl_option_t, value: &str) {
    let value = CString::new(value).unwrap();
    assert_eq!(IOT_Ioctl(option as c_int, value.as_ptr() as *mut c_void), 0);
}

/// The client ids of the CONNECTs sent so far, from the state events.
fn connect_ids() -> Vec<String> {
    EVENTS
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| e.strip_prefix("CONNECT "))
        .filter_map(|e| e.split(" clientId=").nth(1))
        .filter_map(|e| e.split(" username=").next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_client_id_is_the_same_on_every_reconnect() {
    let pki = pki::shared();
    let broker = peers::mosquitto(pki, true);
    let proxy = Proxy::start_framed(
        std::net::SocketAddr::from(([127, 0, 0, 1], broker.port)),
        Fault::None,
        Unit::Tls,
    );
    iotkit::device::reset();
    iotx_register_for_ITE_STATE_EVERYTHING(Some(on_state));
    set_text(iotx_ioctl_option_t::IOTX_IOCTL_SET_PRODUCT_KEY, "a1PK");
    set_text(iotx_ioctl_option_t::IOTX_IOCTL_SET_DEVICE_NAME, "dev1");
    // SAFETY: this test binary has one test; nothing else reads the globals.
    unsafe {
        iotkit::ffi::tls::g_cli_crt = leak(&String::from_utf8(pki.read("client_rsa.crt")).unwrap());
        iotkit::ffi::tls::g_cli_key = leak(&String::from_utf8(pki.read("client_rsa.key")).unwrap());
    }
    // SAFETY: all-zero is the documented "defaults" value of the struct.
    let mut params: iotx_mqtt_param_t = unsafe { std::mem::zeroed() };
    params.host = leak("127.0.0.1");
    params.port = proxy.addr.port();
    params.pub_key = leak(&String::from_utf8(pki.read("ca.crt")).unwrap());
    let client = IOT_MQTT_Construct(&mut params);
    assert!(!client.is_null(), "construct: {:?}", EVENTS.lock().unwrap());
    assert_eq!(connect_ids().len(), 1);

    // Two cuts, each followed by a reconnect (the backoff is at least 0.5 s,
    // so a clock read per CONNECT would give another timestamp).
    for round in 2..=3 {
        proxy.cut_all();
        let deadline = Instant::now() + Duration::from_secs(20);
        while connect_ids().len() < round {
            assert!(
                Instant::now() < deadline,
                "no reconnect {round}: {:?}",
                EVENTS.lock().unwrap()
            );
            IOT_MQTT_Yield(client, 50);
        }
    }
    let ids = connect_ids();
    assert!(
        ids[0].starts_with("a1PK.dev1|securemode=2,signmethod=hmacsha1,timestamp="),
        "{ids:?}"
    );
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "the client id changed: {ids:?}"
    );
    let mut client = client;
    IOT_MQTT_Destroy(&mut client);
}

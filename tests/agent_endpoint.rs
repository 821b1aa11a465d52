//! `IOT_Sign_MQTT` names the endpoint by the same rule as
//! `IOT_MQTT_Construct` (`iotkit_core::agent::endpoint::plan`): the
//! environment overrides, the `IOT_Ioctl` domain in every region, and X.509
//! without a host only in Shanghai. A DeviceSecret passed to `IOT_Sign_MQTT`
//! still selects device-secret mode while a certificate is loaded.
//!
//! The library's state (ioctl values, environment) is process-wide, so the
//! whole sequence runs in one test.

mod support;

use std::ffi::{c_char, c_int, c_void, CStr, CString};

use iotkit::ffi::compat::IOT_Ioctl;
use iotkit::ffi::sign::IOT_Sign_MQTT;
use iotkit::ffi::types::{
    iotx_dev_meta_info_t, iotx_ioctl_option_t, iotx_mqtt_region_types_t, iotx_sign_mqtt_t,
};
use iotkit::state::{STATE_USER_INPUT_MQTT_DOMAIN, STATE_USER_INPUT_OUT_RANGE};

fn meta(pk: &str, dn: &str, ds: &str) -> iotx_dev_meta_info_t {
    // SAFETY: a plain C struct of char arrays; all zero is valid.
    let mut meta: iotx_dev_meta_info_t = unsafe { std::mem::zeroed() };
    for (dst, src) in [
        (&mut meta.product_key[..], pk),
        (&mut meta.device_name[..], dn),
        (&mut meta.device_secret[..], ds),
    ] {
        for (d, s) in dst.iter_mut().zip(src.bytes()) {
            *d = s as c_char;
        }
    }
    meta
}

fn text(field: &[c_char]) -> String {
    // SAFETY: IOT_Sign_MQTT wrote NUL-terminated text into the field.
    unsafe { CStr::from_ptr(field.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// (return code, host, port)
fn sign(region: i32, meta: &mut iotx_dev_meta_info_t) -> (i32, String, u16) {
    // SAFETY: as in `meta`.
    let mut out: iotx_sign_mqtt_t = unsafe { std::mem::zeroed() };
    let rc = IOT_Sign_MQTT(iotx_mqtt_region_types_t(region), meta, &mut out);
    (rc, text(&out.hostname), out.port)
}

fn set_domain(value: &str) {
    let value = CString::new(value).unwrap();
    let option = iotx_ioctl_option_t::IOTX_IOCTL_SET_MQTT_DOMAIN as c_int;
    assert_eq!(IOT_Ioctl(option, value.as_ptr() as *mut c_void), 0);
}

fn set_port(mut port: u16) {
    let option = iotx_ioctl_option_t::IOTX_IOCTL_SET_MQTT_PORT as c_int;
    assert_eq!(IOT_Ioctl(option, (&mut port as *mut u16).cast()), 0);
}

#[test]
fn sign_follows_the_endpoint_rule_of_construct() {
    let mut secret = meta("a1PK", "dev1", "secret");
    assert_eq!(
        sign(0, &mut secret),
        (0, "a1PK.iot-as-mqtt.cn-shanghai.aliyuncs.com".into(), 443)
    );

    // The ioctl domain wins in every region, not only the custom one.
    set_domain("mqtt.example.com");
    for region in 0..=5 {
        assert_eq!(
            sign(region, &mut secret),
            (0, "mqtt.example.com".into(), 443),
            "region {region}"
        );
    }
    set_port(8883);
    assert_eq!(sign(4, &mut secret), (0, "mqtt.example.com".into(), 8883));

    // The environment overrides win over the ioctl values.
    std::env::set_var("IOTX_MQTT_HOST", "127.0.0.1");
    std::env::set_var("IOTX_MQTT_PORT", "18883");
    assert_eq!(sign(1, &mut secret), (0, "127.0.0.1".into(), 18883));
    std::env::set_var("IOTX_MQTT_PORT", "not-a-port");
    assert_eq!(sign(1, &mut secret).0, STATE_USER_INPUT_OUT_RANGE);
    std::env::remove_var("IOTX_MQTT_HOST");
    std::env::remove_var("IOTX_MQTT_PORT");
    set_domain("");
    set_port(0);
    assert_eq!(sign(5, &mut secret).0, STATE_USER_INPUT_MQTT_DOMAIN);

    // X.509: a certificate at run time and no DeviceSecret.
    let pki = support::pki::shared();
    std::env::set_var("IOTX_X509_CERT_FILE", pki.path("client_ec.crt"));
    std::env::set_var("IOTX_X509_KEY_FILE", pki.path("client_ec.key"));
    let mut x509 = meta("a1PK", "dev1", "");
    assert_eq!(
        sign(0, &mut x509),
        (0, "x509.itls.cn-shanghai.aliyuncs.com".into(), 1883)
    );
    // Outside Shanghai X.509 needs a host (Construct refuses the same way).
    assert_eq!(sign(2, &mut x509).0, STATE_USER_INPUT_MQTT_DOMAIN);
    std::env::set_var("IOTX_MQTT_HOST", "127.0.0.1");
    assert_eq!(sign(2, &mut x509), (0, "127.0.0.1".into(), 1883));
    std::env::remove_var("IOTX_MQTT_HOST");
    // A DeviceSecret passed in selects device-secret mode even now.
    assert_eq!(
        sign(3, &mut secret),
        (0, "a1PK.iot-as-mqtt.us-west-1.aliyuncs.com".into(), 443)
    );
    std::env::remove_var("IOTX_X509_CERT_FILE");
    std::env::remove_var("IOTX_X509_KEY_FILE");
}

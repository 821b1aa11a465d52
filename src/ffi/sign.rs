//! dev_sign_api.h: IOT_Sign_MQTT, the endpoint and CONNECT strings for a device.

use std::ffi::{c_char, CStr};

use super::types::*;
use super::{copy_out_c_str, guard};
use crate::device::{self, Field, Region};
use crate::events;
use crate::identity::{self, SignMethod};
use crate::state::*;

/// Reads a NUL-terminated field of a fixed-size char array; None when no NUL
/// ends it inside the array or it is not UTF-8.
fn array_text(bytes: &[c_char]) -> Option<&str> {
    // SAFETY: c_char and u8 have the same size and alignment.
    let raw: &[u8] =
        unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<u8>(), bytes.len()) };
    CStr::from_bytes_until_nul(raw).ok()?.to_str().ok()
}

fn write_array(dst: &mut [c_char], text: &str) -> bool {
    // SAFETY: `dst` is a live array of dst.len() chars.
    unsafe { copy_out_c_str(dst.as_mut_ptr(), dst.len(), text) }
}

/// Fills `signout` with the host, port, client id, user name and password a
/// device connects with. X.509 mode when `meta->device_secret` is empty and a
/// client certificate is available at run time (g_cli_crt/g_cli_key, the
/// setter, or IOTX_X509_* files): an empty password, and the user name
/// `DN&PK` once both are known. Otherwise device-secret mode, signed as the
/// vendor's 3.2.x does (HMAC-SHA256): a DeviceSecret passed in selects it
/// even while a certificate is loaded. Host and port follow the same rule as
/// IOT_MQTT_Construct (IOTX_MQTT_HOST/IOTX_MQTT_PORT > IOT_Ioctl domain/port
/// in every region > the mode's default; X.509 without a host only in Shanghai).
/// Returns 0 or a negative STATE_* code (signout untouched on failure).
#[no_mangle]
pub extern "C" fn IOT_Sign_MQTT(
    region: iotx_mqtt_region_types_t,
    meta: *mut iotx_dev_meta_info_t,
    signout: *mut iotx_sign_mqtt_t,
) -> i32 {
    guard("IOT_Sign_MQTT", STATE_USER_INPUT_INVALID, || {
        if meta.is_null() || signout.is_null() {
            return STATE_USER_INPUT_NULL_POINTER;
        }
        // SAFETY: non-NULL; the caller provides initialised structs that do not overlap.
        let (meta, signout) = unsafe { (&*meta, &mut *signout) };
        let (Some(pk), Some(dn), Some(ds)) = (
            array_text(&meta.product_key),
            array_text(&meta.device_name),
            array_text(&meta.device_secret),
        ) else {
            events::state_event(
                STATE_USER_INPUT_META_INFO,
                "IOT_Sign_MQTT: a field of iotx_dev_meta_info_t is not NUL-terminated text",
            );
            return STATE_USER_INPUT_META_INFO;
        };
        for (field, value) in [
            (Field::ProductKey, pk),
            (Field::DeviceName, dn),
            (Field::DeviceSecret, ds),
        ] {
            if let Err(why) = field.validate(value.as_bytes()) {
                events::state_event(field.error_code(), &format!("IOT_Sign_MQTT: {why}"));
                return field.error_code();
            }
        }
        let Some(region) = Region::from_int(i64::from(region.0)) else {
            events::state_event(
                STATE_USER_INPUT_OUT_RANGE,
                &format!("IOT_Sign_MQTT: region {} is not one of 0..5", region.0),
            );
            return STATE_USER_INPUT_OUT_RANGE;
        };
        let config = device::snapshot();
        // A DeviceSecret passed in selects device-secret mode for this call
        // (the firmware asks for those strings); otherwise X.509 when a
        // client certificate is available at run time.
        let fingerprint = if ds.is_empty() {
            match super::tls::runtime_client_credentials() {
                Ok(Some(credentials)) => Some(credentials.fingerprint_sha256()),
                _ => None,
            }
        } else {
            None
        };
        // The same rule as IOT_MQTT_Construct, without mqtt_params.
        let endpoint = match crate::agent::plan(
            &config,
            &crate::agent::Request {
                certificate: fingerprint.is_some(),
                product_key: pk,
                device_name: dn,
                device_secret: ds,
                region,
                param_host: None,
                param_port: 0,
                ..crate::agent::Request::default()
            },
        ) {
            Ok(endpoint) => endpoint,
            Err(why) => {
                let code = crate::agent::settings::plan_error_code(&why);
                events::state_event(code, &format!("IOT_Sign_MQTT: {why}"));
                return code;
            }
        };
        let signed = if let Some(fingerprint) = fingerprint {
            let base = match identity::x509_base_client_id(None, pk, dn, &fingerprint) {
                Ok(base) => base,
                Err(why) => {
                    events::state_event(
                        STATE_MQTT_SIGN_CLIENTID_BUF_SHORT,
                        &format!("IOT_Sign_MQTT: {why}"),
                    );
                    return STATE_MQTT_SIGN_CLIENTID_BUF_SHORT;
                }
            };
            identity::SignedConnect {
                host: endpoint.host,
                port: endpoint.port,
                client_id: identity::x509_client_id(
                    &base,
                    &config.customize_info,
                    crate::os::unix_time_ms(),
                ),
                username: identity::x509_username(pk, dn),
                password: String::new(),
            }
        } else {
            identity::sign_device_secret(
                pk,
                dn,
                ds,
                &endpoint.host,
                endpoint.port,
                SignMethod::HmacSha256,
            )
        };
        let port = signed.port;
        // Check every length before writing anything.
        let checks = [
            (
                signed.host.len() < DEV_SIGN_HOSTNAME_MAXLEN,
                STATE_MQTT_SIGN_HOSTNAME_BUF_SHORT,
            ),
            (
                signed.client_id.len() < DEV_SIGN_CLIENT_ID_MAXLEN,
                STATE_MQTT_SIGN_CLIENTID_BUF_SHORT,
            ),
            (
                signed.username.len() < DEV_SIGN_USERNAME_MAXLEN,
                STATE_MQTT_SIGN_USERNAME_BUF_SHORT,
            ),
            (
                signed.password.len() < DEV_SIGN_PASSWORD_MAXLEN,
                STATE_MQTT_SIGN_SOURCE_BUF_SHORT,
            ),
        ];
        if let Some(&(_, code)) = checks.iter().find(|(fits, _)| !fits) {
            events::state_event(
                code,
                "IOT_Sign_MQTT: a result does not fit its iotx_sign_mqtt_t field",
            );
            return code;
        }
        let all_written = write_array(&mut signout.hostname, &signed.host)
            && write_array(&mut signout.clientid, &signed.client_id)
            && write_array(&mut signout.username, &signed.username)
            && write_array(&mut signout.password, &signed.password);
        signout.port = port;
        if all_written {
            STATE_SUCCESS
        } else {
            STATE_MQTT_SIGN_SOURCE_BUF_SHORT
        }
    })
}

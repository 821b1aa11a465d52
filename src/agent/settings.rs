//! What a client is made from: the firmware's parameters as Rust values
//! (decoded from `iotx_mqtt_param_t` / `iotkit_x509_client_params_t` at the
//! C boundary), the credentials and CA it provisioned, and the rules that
//! turn them into a [`Session`] and the client's options. The precedence
//! rules are the core's (`iotkit_core::agent::{endpoint, options}`).

use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use iotkit_core::agent::endpoint::CaSource;
use iotkit_core::agent::options::{self, Fallback, OptionError, OptionInput};

use super::client::{first_connect_form, Session, SessionMode};
use super::identity_flow;
use crate::device;
use crate::events;
use crate::identity;
use crate::mqtt::client::{self as mqtt, Event};
use crate::state::*;
use crate::tls::{ClientCredentials, CredentialError, TlsConfig};

/// The longest CA (and certificate, key) argument accepted, in bytes.
pub(crate) const MAX_CA_LEN: usize = 64 * 1024;
/// The environment variable naming a PEM file with the server CA.
pub const ENV_CA_FILE: &str = "IOTX_X509_CA_FILE";

/// Why a client could not be made: the state code and the sentence raised
/// with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub i32, pub String);

/// `Err(Refusal(code, message))`.
pub fn refuse<T>(code: i32, message: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal(code, message.into()))
}

/// The firmware's handler for the client's events and unhandled messages:
/// called with the client's handle and the event.
pub type EventSink = Arc<dyn Fn(usize, &Event<'_>) + Send + Sync>;

/// `iotx_mqtt_param_t` as Rust values: `None`/0 where C left a field NULL,
/// empty or 0. A NULL parameter block is `MqttParams::default()`.
#[derive(Clone, Default)]
pub struct MqttParams {
    /// `host`.
    pub host: Option<String>,
    /// `port`.
    pub port: u16,
    /// `client_id`.
    pub client_id: Option<String>,
    /// `username`.
    pub username: Option<String>,
    /// `password`.
    pub password: Option<String>,
    /// `customize_info`.
    pub customize_info: Option<String>,
    /// `pub_key`: the server CA (PEM).
    pub pub_key: Option<String>,
    /// The numbers and `clean_session`.
    pub options: OptionInput,
    /// `handle_event`.
    pub event_sink: Option<EventSink>,
}

/// `iotkit_x509_client_params_t` as Rust values.
#[derive(Clone)]
pub struct X509Params {
    /// The endpoint host.
    pub host: String,
    /// The port; 0 for the X.509 default.
    pub port: u16,
    /// The server CA (PEM).
    pub ca_pem: String,
    /// The device certificate and key.
    pub credentials: Arc<ClientCredentials>,
    /// The identity when known; empty when not (both or neither).
    pub product_key: String,
    /// See `product_key`.
    pub device_name: String,
    /// The client id, or `None` for the derived one.
    pub client_id: Option<String>,
    /// The numbers (`clean_session` is not offered).
    pub options: OptionInput,
    /// `handle_event`.
    pub event_sink: Option<EventSink>,
    /// Return only once the identity is known (up to the request timeout).
    pub wait_for_identity: bool,
}

/// The global `iotx_ca_crt` as the firmware left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GlobalCa {
    /// NULL or empty.
    Unset,
    /// The PEM text.
    Pem(Vec<u8>),
    /// No NUL within `MAX_CA_LEN` (64 KiB) bytes.
    TooLong,
}

/// What the firmware provisioned outside the parameters, read when
/// IOT_MQTT_Construct needs it.
pub trait Provisioning {
    /// The device certificate and key to use now, if any (`g_cli_crt`/`g_cli_key`,
    /// `iotkit_x509_set_credentials`, `IOTX_X509_CERT_FILE`/`IOTX_X509_KEY_FILE`).
    fn client_credentials(&self) -> Result<Option<Arc<ClientCredentials>>, CredentialError>;
    /// The CA of [`ENV_CA_FILE`] when set (the error is a sentence).
    fn environment_ca(&self) -> Option<Result<Vec<u8>, String>>;
    /// `iotx_ca_crt`.
    fn global_ca(&self) -> GlobalCa;
}

/// What a client is started with.
pub struct Settings {
    /// The client's options.
    pub options: mqtt::Options,
    /// The session it connects with.
    pub session: Session,
    /// Wait for the identity response before returning the client.
    pub wait_for_identity: bool,
}

/// The state event a replaced option raises.
pub fn fallback_notice(fallback: &Fallback) -> (i32, String) {
    (STATE_USER_INPUT_OUT_RANGE, fallback.to_string())
}

/// The refusal of a buffer size outside its range.
fn option_refusal(error: &OptionError) -> Refusal {
    Refusal(STATE_USER_INPUT_OUT_RANGE, error.to_string())
}

/// The client options for `input`, by the core's rules
/// (`iotkit_core::agent::options::resolve`), and the state events to raise:
/// one for each out-of-range keep-alive or request timeout that fell back
/// to its default. A buffer size outside 128 B..16 MiB refuses (the
/// fallbacks are still reported, as they always were).
pub fn resolve_options(input: OptionInput) -> (Result<mqtt::Options, Refusal>, Vec<(i32, String)>) {
    let notices = |fallbacks: &[Option<Fallback>]| -> Vec<(i32, String)> {
        fallbacks.iter().flatten().map(fallback_notice).collect()
    };
    let resolved = match options::resolve(input) {
        Ok(resolved) => resolved,
        Err(error) => {
            // Resolve the numbers without the buffers to name the fallbacks.
            let numbers = OptionInput {
                read_buf_size: 0,
                write_buf_size: 0,
                ..input
            };
            let notices = options::resolve(numbers)
                .map(|resolved| notices(&resolved.fallbacks))
                .unwrap_or_default();
            return (Err(option_refusal(&error)), notices);
        }
    };
    let values = resolved.options;
    let window = inflight_window();
    let options = mqtt::Options {
        keepalive: Duration::from_secs(u64::from(values.keep_alive_s)),
        clean_session: values.clean_session,
        request_timeout: Duration::from_millis(values.request_timeout_ms),
        read_buf_size: values.read_buf_size,
        write_buf_size: values.write_buf_size,
        inflight_window: window,
        offline_queue_limit: usize::from(window),
        ..mqtt::Options::default()
    };
    (Ok(options), notices(&resolved.fallbacks))
}

/// The inflight window of the clients constructed from now on (see
/// `iotkit_mqtt_set_inflight_window`).
static INFLIGHT_WINDOW: AtomicU16 = AtomicU16::new(mqtt::DEFAULT_INFLIGHT_WINDOW);

/// QoS 1 messages the clients constructed from now on let wait for PUBACK
/// at once (online, and queued while offline). Refuses 0 and values above
/// the core's maximum with a sentence.
pub fn set_inflight_window(window: i64) -> Result<(), String> {
    let max = iotkit_core::mqtt::session::MAX_INFLIGHT_WINDOW;
    match u16::try_from(window) {
        Ok(w) if (1..=max).contains(&w) => {
            INFLIGHT_WINDOW.store(w, Ordering::Relaxed);
            Ok(())
        }
        _ => Err(format!(
            "an inflight window of {window} messages is outside 1..{max}"
        )),
    }
}

/// See [`set_inflight_window`].
pub fn inflight_window() -> u16 {
    INFLIGHT_WINDOW.load(Ordering::Relaxed)
}

/// [`resolve_options`], with its state events raised.
pub fn session_options(input: OptionInput) -> Result<mqtt::Options, Refusal> {
    let (options, notices) = resolve_options(input);
    for (code, sentence) in notices {
        events::state_event(code, &sentence);
    }
    options
}

/// The vendor's state code for a refused endpoint plan.
pub fn plan_error_code(why: &super::PlanError) -> i32 {
    use super::PlanError;
    match why {
        PlanError::NoCredentials => STATE_USER_INPUT_META_INFO,
        PlanError::X509OutsideShanghai(_) | PlanError::CustomRegionNeedsHost => {
            STATE_USER_INPUT_MQTT_DOMAIN
        }
        PlanError::BadEnvPort(_) => STATE_USER_INPUT_OUT_RANGE,
    }
}

/// The server CA from the source the endpoint rule chose.
fn server_ca(
    choice: Option<CaSource>,
    environment: Option<Result<Vec<u8>, String>>,
    pub_key: Option<String>,
    global: GlobalCa,
) -> Result<Vec<u8>, Refusal> {
    let none = || {
        refuse(
            STATE_USER_INPUT_NULL_POINTER,
            format!(
                "no server CA certificate: set iotx_ca_crt or mqtt_params.pub_key to the platform's root CA (PEM), \
                 or {ENV_CA_FILE} to a PEM file"
            ),
        )
    };
    match (choice, environment, pub_key, global) {
        (Some(CaSource::EnvFile), Some(result), _, _) => {
            result.map_err(|why| Refusal(STATE_USER_INPUT_INVALID, why))
        }
        (Some(CaSource::Param), _, Some(pem), _) => Ok(pem.into_bytes()),
        (Some(CaSource::Global), _, _, GlobalCa::Pem(pem)) => Ok(pem),
        (Some(CaSource::Global), _, _, GlobalCa::TooLong) => refuse(
            STATE_USER_INPUT_OUT_RANGE,
            format!("iotx_ca_crt is longer than {MAX_CA_LEN} bytes"),
        ),
        _ => none(),
    }
}

/// The settings of IOT_MQTT_Construct's client: the parameters, the
/// process-wide configuration (IOT_Ioctl) and what `provisioning` holds.
pub fn default_client_settings(
    params: MqttParams,
    provisioning: &dyn Provisioning,
) -> Result<Settings, Refusal> {
    let config = device::snapshot();
    let MqttParams {
        host: param_host,
        port: param_port,
        client_id,
        username,
        password,
        customize_info,
        pub_key,
        options: option_input,
        event_sink,
    } = params;

    let customize_info = customize_info.unwrap_or(config.customize_info.clone());
    if let Err(why) = device::Field::CustomizeInfo.validate(customize_info.as_bytes()) {
        return refuse(STATE_USER_INPUT_INVALID, format!("customize_info: {why}"));
    }

    // Mode: X.509 whenever a client certificate is available at run time.
    let credentials = provisioning
        .client_credentials()
        .map_err(|e| Refusal(e.state_code(), e.to_string()))?;
    let persist = identity_flow::persistence_enabled();
    let mode = match &credentials {
        Some(credentials) => {
            let fingerprint = credentials.fingerprint_sha256();
            if let Some(problem) = credentials.validity_problem(std::time::SystemTime::now()) {
                events::state_event(STATE_USER_INPUT_INVALID, &problem);
            }
            SessionMode::X509 { fingerprint }
        }
        None => {
            if config.product_key.is_empty()
                || config.device_name.is_empty()
                || config.device_secret.is_empty()
            {
                return refuse(
                    STATE_USER_INPUT_META_INFO,
                    "no device credentials: for X.509 supply the certificate and key at run time \
                     (g_cli_crt/g_cli_key, iotkit_x509_set_credentials, or IOTX_X509_CERT_FILE/IOTX_X509_KEY_FILE); \
                     for device-secret mode set ProductKey, DeviceName and DeviceSecret with IOT_Ioctl",
                );
            }
            SessionMode::DeviceSecret
        }
    };

    let fingerprint = match &mode {
        SessionMode::X509 { fingerprint } => Some(fingerprint),
        SessionMode::DeviceSecret => None,
    };
    let configured_by_firmware = config.identity_configured_by_firmware();
    let start =
        identity_flow::start_identity(&config, fingerprint, persist, identity_flow::load_persisted);
    if let Some(fingerprint) = fingerprint {
        if let Err(why) = identity::x509_base_client_id(
            client_id.as_deref(),
            &start.identity.0,
            &start.identity.1,
            fingerprint,
        ) {
            if !client_id.as_deref().is_some_and(|id| id.contains('|')) {
                return refuse(STATE_MQTT_SIGN_CLIENTID_BUF_SHORT, why);
            }
        }
    }

    // Endpoint and CA: one rule with IOT_Sign_MQTT (iotkit_core::agent::endpoint).
    let environment_ca = provisioning.environment_ca();
    let global_ca = provisioning.global_ca();
    let endpoint = super::plan(
        &config,
        &super::Request {
            certificate: fingerprint.is_some(),
            product_key: &config.product_key,
            device_name: &config.device_name,
            device_secret: &config.device_secret,
            region: config.region,
            param_host: param_host.as_deref(),
            param_port,
            ca_env_file: environment_ca.is_some(),
            ca_param: pub_key.is_some(),
            ca_global: global_ca != GlobalCa::Unset,
        },
    )
    .map_err(|why| Refusal(plan_error_code(&why), why.to_string()))?;

    let ca = server_ca(endpoint.ca, environment_ca, pub_key, global_ca)?;
    let tls =
        TlsConfig::new(&ca, credentials).map_err(|e| Refusal(e.state_code(), e.to_string()))?;

    let options = session_options(option_input)?;
    let wait_for_identity = fingerprint.is_some() && !start.known;
    Ok(Settings {
        options,
        session: Session::new(super::client::SessionParts {
            identity: start.identity,
            identity_known: start.known,
            global: true,
            configured_by_firmware,
            device_secret: config.device_secret.clone(),
            host: endpoint.host,
            port: endpoint.port,
            tls,
            server_ca: ca,
            mode,
            configured_client_id: client_id,
            configured_username: username,
            configured_password: password,
            customize_info,
            persist,
            event_sink,
        }),
        wait_for_identity,
    })
}

/// The settings of one more X.509 device (iotkit_mqtt_construct_x509),
/// independent of the process-wide configuration.
pub fn x509_client_settings(params: X509Params) -> Result<Settings, Refusal> {
    let X509Params {
        host,
        port,
        ca_pem,
        credentials,
        product_key,
        device_name,
        client_id,
        options: option_input,
        event_sink,
        wait_for_identity,
    } = params;
    let fingerprint = credentials.fingerprint_sha256();
    if product_key.is_empty() != device_name.is_empty() {
        return refuse(
            STATE_USER_INPUT_META_INFO,
            "give both product_key and device_name, or neither",
        );
    }
    for (field, value) in [
        (device::Field::ProductKey, &product_key),
        (device::Field::DeviceName, &device_name),
    ] {
        field
            .validate(value.as_bytes())
            .map_err(|why| Refusal(field.error_code(), why))?;
    }
    identity::x509_base_client_id(
        client_id.as_deref(),
        &product_key,
        &device_name,
        &fingerprint,
    )
    .map_err(|why| Refusal(STATE_MQTT_SIGN_CLIENTID_BUF_SHORT, why))?;
    let tls = TlsConfig::new(ca_pem.as_bytes(), Some(credentials))
        .map_err(|e| Refusal(e.state_code(), e.to_string()))?;
    let options = session_options(OptionInput {
        clean_session: false,
        ..option_input
    })?;
    let identity_known = !product_key.is_empty();
    Ok(Settings {
        options,
        wait_for_identity: wait_for_identity && !identity_known,
        session: Session::new(super::client::SessionParts {
            identity: (product_key, device_name),
            identity_known,
            global: false,
            configured_by_firmware: identity_known,
            device_secret: String::new(),
            host,
            port: if port == 0 { identity::X509_PORT } else { port },
            tls,
            server_ca: ca_pem.into_bytes(),
            mode: SessionMode::X509 { fingerprint },
            configured_client_id: client_id,
            configured_username: None,
            configured_password: None,
            customize_info: String::new(),
            persist: false,
            event_sink,
        }),
    })
}

impl Session {
    /// A session in its initial state (nothing accepted, reported or
    /// failed yet, no handle).
    pub(super) fn new(parts: super::client::SessionParts) -> Session {
        Session {
            identity: Mutex::new(parts.identity),
            global: parts.global,
            configured_by_firmware: parts.configured_by_firmware,
            device_secret: parts.device_secret,
            accepted_on_connection: AtomicBool::new(false),
            disabled: AtomicBool::new(false),
            version_reported: AtomicBool::new(false),
            open_failure: Mutex::new(None),
            identity_overflow: Mutex::new(None),
            host: parts.host,
            port: parts.port,
            tls: parts.tls,
            server_ca: parts.server_ca,
            mode: parts.mode,
            configured_client_id: parts.configured_client_id,
            configured_username: parts.configured_username,
            configured_password: parts.configured_password,
            customize_info: parts.customize_info,
            first_connect_form: first_connect_form(),
            client_timestamp_ms: crate::os::unix_time_ms(),
            persist: parts.persist,
            identity_known: Mutex::new(parts.identity_known),
            identity_arrived: Condvar::new(),
            handle: Mutex::new(0),
            event_sink: parts.event_sink,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(keepalive: u32, timeout: u32, read: u32, write: u32) -> OptionInput {
        OptionInput {
            keepalive_interval_ms: keepalive,
            request_timeout_ms: timeout,
            read_buf_size: read,
            write_buf_size: write,
            clean_session: true,
        }
    }

    #[test]
    fn zero_means_the_vendor_defaults_without_a_notice() {
        let (options, notices) = resolve_options(input(0, 0, 0, 0));
        let options = options.unwrap();
        // CONNECT advertises twice the 60 s interval.
        assert_eq!(options.keepalive, Duration::from_secs(120));
        assert_eq!(options.request_timeout, Duration::from_millis(5000));
        assert_eq!(
            (options.read_buf_size, options.write_buf_size),
            (3072, 3072)
        );
        assert!(options.clean_session);
        assert!(notices.is_empty());
    }

    #[test]
    fn values_in_range_hold_and_the_advertised_keep_alive_is_capped() {
        let (options, notices) = resolve_options(input(30_000, 1_000, 128, 16 * 1024 * 1024));
        let options = options.unwrap();
        assert_eq!(options.keepalive, Duration::from_secs(60));
        assert_eq!(options.request_timeout, Duration::from_millis(1000));
        assert_eq!(options.read_buf_size, 128);
        assert_eq!(options.write_buf_size, 16 * 1024 * 1024);
        assert!(notices.is_empty());
        let (options, _) = resolve_options(input(1_200_000, 0, 0, 0));
        assert_eq!(options.unwrap().keepalive, Duration::from_secs(1200));
    }

    #[test]
    fn out_of_range_numbers_fall_back_with_one_notice_each() {
        let (options, notices) = resolve_options(input(10, 20_000, 0, 0));
        let options = options.unwrap();
        assert_eq!(options.keepalive, Duration::from_secs(120));
        assert_eq!(options.request_timeout, Duration::from_millis(5000));
        assert_eq!(
            notices,
            vec![
                (
                    STATE_USER_INPUT_OUT_RANGE,
                    "mqtt_params.keepalive_interval_ms = 10 is outside 30000..1200000; using the default 60000"
                        .to_owned()
                ),
                (
                    STATE_USER_INPUT_OUT_RANGE,
                    "mqtt_params.request_timeout_ms = 20000 is outside 1000..10000; using the default 5000"
                        .to_owned()
                ),
            ]
        );
    }

    #[test]
    fn a_buffer_out_of_range_refuses_and_the_fallbacks_are_still_named() {
        let (options, notices) = resolve_options(input(10, 0, 0, 127));
        assert_eq!(
            options.err(),
            Some(Refusal(
                STATE_USER_INPUT_OUT_RANGE,
                "write_buf_size = 127 is outside 128..16777216 bytes".to_owned()
            ))
        );
        assert_eq!(notices.len(), 1);
        assert!(notices[0]
            .1
            .starts_with("mqtt_params.keepalive_interval_ms = 10 "));
        let (options, notices) = resolve_options(input(0, 0, 16 * 1024 * 1024 + 1, 0));
        assert!(options
            .unwrap_err()
            .1
            .starts_with("read_buf_size = 16777217 "));
        assert!(notices.is_empty());
    }

    const PEM: &str = "-----BEGIN CERTIFICATE-----\n...";

    #[test]
    fn the_ca_comes_from_the_source_the_plan_chose() {
        let env = || Some(Ok(b"env".to_vec()));
        let global = || GlobalCa::Pem(b"global".to_vec());
        assert_eq!(
            server_ca(Some(CaSource::EnvFile), env(), Some(PEM.into()), global()),
            Ok(b"env".to_vec())
        );
        assert_eq!(
            server_ca(Some(CaSource::Param), None, Some(PEM.into()), global()),
            Ok(PEM.as_bytes().to_vec())
        );
        assert_eq!(
            server_ca(Some(CaSource::Global), None, None, global()),
            Ok(b"global".to_vec())
        );
    }

    #[test]
    fn an_unreadable_ca_file_refuses_even_when_others_are_set() {
        let refused = server_ca(
            Some(CaSource::EnvFile),
            Some(Err("IOTX_X509_CA_FILE=/nowhere cannot be read".to_owned())),
            Some(PEM.into()),
            GlobalCa::Pem(b"global".to_vec()),
        );
        assert_eq!(
            refused,
            Err(Refusal(
                STATE_USER_INPUT_INVALID,
                "IOTX_X509_CA_FILE=/nowhere cannot be read".to_owned()
            ))
        );
    }

    #[test]
    fn an_overlong_global_ca_and_no_ca_at_all_refuse_differently() {
        let too_long =
            server_ca(Some(CaSource::Global), None, None, GlobalCa::TooLong).unwrap_err();
        assert_eq!(too_long.0, STATE_USER_INPUT_OUT_RANGE);
        assert_eq!(too_long.1, "iotx_ca_crt is longer than 65536 bytes");
        let none = server_ca(None, None, None, GlobalCa::Unset).unwrap_err();
        assert_eq!(none.0, STATE_USER_INPUT_NULL_POINTER);
        assert!(none.1.starts_with("no server CA certificate"), "{}", none.1);
    }

    #[test]
    fn the_plan_ranks_the_ca_sources_env_file_param_global() {
        let config = device::DeviceConfig::default();
        let choose = |ca_env_file, ca_param, ca_global| {
            super::super::plan(
                &config,
                &super::super::Request {
                    certificate: true,
                    ca_env_file,
                    ca_param,
                    ca_global,
                    ..super::super::Request::default()
                },
            )
            .map(|plan| plan.ca)
        };
        assert_eq!(choose(true, true, true), Ok(Some(CaSource::EnvFile)));
        assert_eq!(choose(false, true, true), Ok(Some(CaSource::Param)));
        assert_eq!(choose(false, false, true), Ok(Some(CaSource::Global)));
        assert_eq!(choose(false, false, false), Ok(None));
    }

    #[test]
    fn refused_plans_map_to_the_vendor_codes() {
        use super::super::PlanError;
        assert_eq!(
            plan_error_code(&PlanError::NoCredentials),
            STATE_USER_INPUT_META_INFO
        );
        assert_eq!(
            plan_error_code(&PlanError::CustomRegionNeedsHost),
            STATE_USER_INPUT_MQTT_DOMAIN
        );
        assert_eq!(
            plan_error_code(&PlanError::BadEnvPort("x".into())),
            STATE_USER_INPUT_OUT_RANGE
        );
    }
}

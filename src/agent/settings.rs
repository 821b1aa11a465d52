//! What a client is made from: the firmware's parameters as Rust values
//! (decoded from `iotx_mqtt_param_t` / `iotkit_x509_client_params_t` at the
//! C boundary), the credentials and CA it provisioned, and the rules that
//! turn them into a [`Session`] and the client's options. The precedence
//! rules are the core's (`iotkit_core::agent::{endpoint, options}`).

use std::sync::atomic::AtomicBool;
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
    /// No NUL within [`MAX_CA_LEN`] bytes.
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
/// (`iotkit_core::agent::options::resolve`): each out-of-range keep-alive or
/// request timeout that fell back to its default raises its state event, a
/// buffer size outside 128 B..16 MiB refuses.
pub fn session_options(input: OptionInput) -> Result<mqtt::Options, Refusal> {
    let resolved = match options::resolve(input) {
        Ok(resolved) => resolved,
        Err(error) => {
            // The fallbacks are reported even when a buffer is refused, as
            // they always were: resolve them without the buffers.
            let numbers = OptionInput {
                read_buf_size: 0,
                write_buf_size: 0,
                ..input
            };
            if let Ok(resolved) = options::resolve(numbers) {
                report_fallbacks(&resolved.fallbacks);
            }
            return Err(option_refusal(&error));
        }
    };
    report_fallbacks(&resolved.fallbacks);
    let values = resolved.options;
    Ok(mqtt::Options {
        keepalive: Duration::from_secs(u64::from(values.keep_alive_s)),
        clean_session: values.clean_session,
        request_timeout: Duration::from_millis(values.request_timeout_ms),
        read_buf_size: values.read_buf_size,
        write_buf_size: values.write_buf_size,
        ..mqtt::Options::default()
    })
}

fn report_fallbacks(fallbacks: &[Option<Fallback>]) {
    for fallback in fallbacks.iter().flatten() {
        let (code, sentence) = fallback_notice(fallback);
        events::state_event(code, &sentence);
    }
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

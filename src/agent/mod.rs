//! The std side of the device agent: it gathers what the firmware set
//! (environment, `IOT_Ioctl` state) and asks the core's rules
//! (`iotkit_core::agent`) for the decision, so that `IOT_MQTT_Construct`
//! and `IOT_Sign_MQTT` name the same endpoint; and (with the `sdk` feature)
//! the device session behind the `IOT_MQTT_*` functions, which `ffi::mqtt`
//! calls with the C arguments already decoded:
//!
//! - [`settings`]: the parameters as Rust values and the rules that turn
//!   them into a session and client options;
//! - [`client`]: the session (connector, CONNECT credentials, events,
//!   version report, `thing/disable`) and starting a client;
//! - [`identity_flow`]: the identity a client starts with, the identity
//!   response, persistence;
//! - [`registry`]: the clients behind the handles, the default client and
//!   the turns of `IOT_MQTT_Construct`;
//! - [`ntp`]: the platform's NTP service.
//!
//! Nothing here uses C types or `unsafe` (forbidden below).

#![forbid(unsafe_code)]

#[cfg(feature = "sdk")]
pub mod client;
#[cfg(feature = "sdk")]
pub mod identity_flow;
#[cfg(feature = "sdk")]
pub mod ntp;
#[cfg(feature = "sdk")]
pub mod registry;
#[cfg(feature = "sdk")]
pub mod settings;
#[cfg(all(test, feature = "sdk"))]
mod test_pki;

pub use iotkit_core::agent::endpoint::{self, Mode, Origin, Plan, PlanError};

use crate::device::{DeviceConfig, Region};

/// Environment overrides that point unchanged firmware at another endpoint.
pub const ENV_HOST: &str = "IOTX_MQTT_HOST";
/// See [`ENV_HOST`].
pub const ENV_PORT: &str = "IOTX_MQTT_PORT";

/// The core's region for the device's (one type since the device
/// configuration uses the core's).
pub fn core_region(region: Region) -> endpoint::Region {
    region
}

/// What the caller knows beyond the device configuration.
#[derive(Debug, Clone, Copy, Default)]
pub struct Request<'a> {
    /// A client certificate is available at run time (and is to be used).
    pub certificate: bool,
    /// ProductKey, DeviceName and DeviceSecret to decide with.
    pub product_key: &'a str,
    /// See `product_key`.
    pub device_name: &'a str,
    /// See `product_key`.
    pub device_secret: &'a str,
    /// The region.
    pub region: Region,
    /// `mqtt_params.host` (`None` for `IOT_Sign_MQTT`).
    pub param_host: Option<&'a str>,
    /// `mqtt_params.port` (0 for `IOT_Sign_MQTT`).
    pub param_port: u16,
    /// env `IOTX_X509_CA_FILE` is set (false for `IOT_Sign_MQTT`, which needs no CA).
    pub ca_env_file: bool,
    /// `mqtt_params.pub_key` is set.
    pub ca_param: bool,
    /// `iotx_ca_crt` is set.
    pub ca_global: bool,
}

/// The endpoint for `request`, with the environment read now and the
/// `IOT_Ioctl` domain and port from `config`.
pub fn plan(config: &DeviceConfig, request: &Request<'_>) -> Result<Plan, PlanError> {
    let env_host = std::env::var(ENV_HOST).ok();
    let env_port = std::env::var(ENV_PORT).ok();
    let sources = endpoint::Sources {
        // The std side knows only that a certificate is there, not which
        // source won (ffi::tls decides that order itself).
        certificate_globals: request.certificate,
        product_key: request.product_key,
        device_name: request.device_name,
        device_secret: request.device_secret,
        region: core_region(request.region),
        env_host: env_host.as_deref(),
        env_port: env_port.as_deref(),
        param_host: request.param_host,
        param_port: request.param_port,
        ioctl_host: Some(config.mqtt_domain.as_str()),
        ioctl_port: config.mqtt_port,
        ca_env_file: request.ca_env_file,
        ca_param: request.ca_param,
        ca_global: request.ca_global,
        ..endpoint::Sources::default()
    };
    endpoint::plan(&sources)
}

/// Locks `mutex`, also after a panic elsewhere poisoned it (the agent's
/// state stays consistent at every unlock).
#[cfg(feature = "sdk")]
fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

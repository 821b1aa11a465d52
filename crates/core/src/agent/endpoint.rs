//! Where a device connects, how it authenticates and which server CA it
//! trusts: one rule for `IOT_MQTT_Construct` and `IOT_Sign_MQTT`.
//!
//! | setting | precedence (first wins) |
//! |---|---|
//! | mode | X.509 when a client certificate is available at run time; else device secret (ProductKey, DeviceName and DeviceSecret all set) |
//! | client certificate | the globals `g_cli_crt`/`g_cli_key` > `iotkit_x509_set_credentials` > env `IOTX_X509_CERT_FILE`/`IOTX_X509_KEY_FILE` |
//! | host | env `IOTX_MQTT_HOST` > `mqtt_params.host` > `IOT_Ioctl(IOTX_IOCTL_SET_MQTT_DOMAIN)` (in every region) > the mode's default |
//! | port | env `IOTX_MQTT_PORT` > `mqtt_params.port` > `IOT_Ioctl(IOTX_IOCTL_SET_MQTT_PORT)` > 1883 (X.509) / 443 (device secret) |
//! | server CA | env `IOTX_X509_CA_FILE` > `mqtt_params.pub_key` > the global `iotx_ca_crt` |
//!
//! The mode's default host: X.509 is offered only in the Shanghai region
//! (`x509.itls.cn-shanghai.aliyuncs.com`); device-secret devices use
//! `<ProductKey>.iot-as-mqtt.<site>.aliyuncs.com`; the custom region has no
//! default and needs a host. `IOT_Sign_MQTT` has no `mqtt_params`: it
//! passes `None` for them and gets the same answer Construct would.
//! Empty strings count as "not set".

use alloc::format;
use alloc::string::String;
use core::fmt;

/// The X.509 endpoint (Shanghai only).
pub const X509_HOST: &str = "x509.itls.cn-shanghai.aliyuncs.com";
/// The X.509 endpoint's port.
pub const X509_PORT: u16 = 1883;
/// The device-secret endpoints' port.
pub const SECRET_PORT: u16 = 443;

/// The vendor's regions (`iotx_mqtt_region_types_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Region {
    /// 0: cn-shanghai.
    #[default]
    Shanghai,
    /// 1: ap-southeast-1.
    Singapore,
    /// 2: ap-northeast-1.
    Japan,
    /// 3: us-west-1.
    UsaWest,
    /// 4: eu-central-1.
    Germany,
    /// 5: no platform default; a host must be set.
    Custom,
}

impl Region {
    /// The region for the vendor's number.
    pub fn from_int(value: i64) -> Option<Region> {
        Some(match value {
            0 => Region::Shanghai,
            1 => Region::Singapore,
            2 => Region::Japan,
            3 => Region::UsaWest,
            4 => Region::Germany,
            5 => Region::Custom,
            _ => return None,
        })
    }

    /// The platform's name of the region, as in host names.
    pub fn site(self) -> Option<&'static str> {
        Some(match self {
            Region::Shanghai => "cn-shanghai",
            Region::Singapore => "ap-southeast-1",
            Region::Japan => "ap-northeast-1",
            Region::UsaWest => "us-west-1",
            Region::Germany => "eu-central-1",
            Region::Custom => return None,
        })
    }
}

/// Where a client certificate can come from, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CertificateSource {
    /// `g_cli_crt` / `g_cli_key`.
    Globals,
    /// `iotkit_x509_set_credentials`.
    Setter,
    /// `IOTX_X509_CERT_FILE` / `IOTX_X509_KEY_FILE`.
    EnvFiles,
}

/// Where the server CA can come from, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CaSource {
    /// `IOTX_X509_CA_FILE`.
    EnvFile,
    /// `mqtt_params.pub_key`.
    Param,
    /// The global `iotx_ca_crt`.
    Global,
}

/// Where a host or port came from, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Origin {
    /// An environment variable.
    Env,
    /// `mqtt_params`.
    Param,
    /// `IOT_Ioctl`.
    Ioctl,
    /// The mode's default.
    Default,
}

/// How the device authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// TLS client certificate, from this source.
    X509(CertificateSource),
    /// HMAC-signed CONNECT with the DeviceSecret.
    DeviceSecret,
}

/// What is set, as the caller found it. `None`/empty/0: not set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sources<'a> {
    /// Which certificate sources hold a certificate and key.
    pub certificate_globals: bool,
    /// See [`CertificateSource::Setter`].
    pub certificate_setter: bool,
    /// See [`CertificateSource::EnvFiles`].
    pub certificate_env_files: bool,
    /// ProductKey (from `IOT_Ioctl` or the caller's meta info).
    pub product_key: &'a str,
    /// DeviceName.
    pub device_name: &'a str,
    /// DeviceSecret.
    pub device_secret: &'a str,
    /// The region.
    pub region: Region,
    /// env `IOTX_MQTT_HOST`.
    pub env_host: Option<&'a str>,
    /// env `IOTX_MQTT_PORT`, as text (checked here).
    pub env_port: Option<&'a str>,
    /// `mqtt_params.host`.
    pub param_host: Option<&'a str>,
    /// `mqtt_params.port`.
    pub param_port: u16,
    /// `IOT_Ioctl(IOTX_IOCTL_SET_MQTT_DOMAIN)`.
    pub ioctl_host: Option<&'a str>,
    /// `IOT_Ioctl(IOTX_IOCTL_SET_MQTT_PORT)`.
    pub ioctl_port: u16,
    /// env `IOTX_X509_CA_FILE` is set.
    pub ca_env_file: bool,
    /// `mqtt_params.pub_key` is set.
    pub ca_param: bool,
    /// `iotx_ca_crt` is set.
    pub ca_global: bool,
}

/// The decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// How the device authenticates.
    pub mode: Mode,
    /// The host.
    pub host: String,
    /// Where the host came from.
    pub host_origin: Origin,
    /// The port.
    pub port: u16,
    /// Where the port came from.
    pub port_origin: Origin,
    /// The server CA to use; `None`: none is set (Construct refuses then,
    /// `IOT_Sign_MQTT` needs none).
    pub ca: Option<CaSource>,
}

/// Why there is no plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    /// No certificate, and not all of ProductKey, DeviceName, DeviceSecret.
    NoCredentials,
    /// X.509 without a host outside the Shanghai region.
    X509OutsideShanghai(Region),
    /// The custom region without a host.
    CustomRegionNeedsHost,
    /// env `IOTX_MQTT_PORT` is not a port number 1..=65535.
    BadEnvPort(String),
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::NoCredentials => f.write_str(
                "no device credentials: for X.509 supply the certificate and key at run time \
                 (g_cli_crt/g_cli_key, iotkit_x509_set_credentials, or IOTX_X509_CERT_FILE/IOTX_X509_KEY_FILE); \
                 for device-secret mode set ProductKey, DeviceName and DeviceSecret",
            ),
            PlanError::X509OutsideShanghai(region) => write!(
                f,
                "X.509 authentication is offered only in the Shanghai region (region {} selected); \
                 select IOTX_CLOUD_REGION_SHANGHAI or set a host",
                *region as i32
            ),
            PlanError::CustomRegionNeedsHost => f.write_str(
                "the custom region needs a host: IOT_Ioctl(IOTX_IOCTL_SET_MQTT_DOMAIN) or mqtt_params.host",
            ),
            PlanError::BadEnvPort(text) => write!(f, "IOTX_MQTT_PORT={text} is not a TCP port"),
        }
    }
}

impl core::error::Error for PlanError {}

fn set(text: Option<&str>) -> Option<&str> {
    text.filter(|t| !t.is_empty())
}

/// The one rule (see the module documentation).
pub fn plan(sources: &Sources<'_>) -> Result<Plan, PlanError> {
    let certificate = if sources.certificate_globals {
        Some(CertificateSource::Globals)
    } else if sources.certificate_setter {
        Some(CertificateSource::Setter)
    } else if sources.certificate_env_files {
        Some(CertificateSource::EnvFiles)
    } else {
        None
    };
    let mode = match certificate {
        Some(source) => Mode::X509(source),
        None if !sources.product_key.is_empty()
            && !sources.device_name.is_empty()
            && !sources.device_secret.is_empty() =>
        {
            Mode::DeviceSecret
        }
        None => return Err(PlanError::NoCredentials),
    };

    let custom = [
        (Origin::Env, set(sources.env_host)),
        (Origin::Param, set(sources.param_host)),
        (Origin::Ioctl, set(sources.ioctl_host)),
    ]
    .into_iter()
    .find_map(|(origin, host)| host.map(|h| (origin, h)));
    let (host_origin, host) = match (custom, mode) {
        (Some((origin, host)), _) => (origin, String::from(host)),
        (None, Mode::X509(_)) if sources.region == Region::Shanghai => {
            (Origin::Default, String::from(X509_HOST))
        }
        (None, Mode::X509(_)) => return Err(PlanError::X509OutsideShanghai(sources.region)),
        (None, Mode::DeviceSecret) => match sources.region.site() {
            Some(site) => (
                Origin::Default,
                format!("{}.iot-as-mqtt.{site}.aliyuncs.com", sources.product_key),
            ),
            None => return Err(PlanError::CustomRegionNeedsHost),
        },
    };

    let env_port = match set(sources.env_port) {
        Some(text) => match text.parse::<u16>() {
            Ok(port) if port != 0 => Some(port),
            _ => return Err(PlanError::BadEnvPort(String::from(text))),
        },
        None => None,
    };
    let default_port = match mode {
        Mode::X509(_) => X509_PORT,
        Mode::DeviceSecret => SECRET_PORT,
    };
    let (port_origin, port) = [
        (Origin::Env, env_port),
        (Origin::Param, Some(sources.param_port).filter(|&p| p != 0)),
        (Origin::Ioctl, Some(sources.ioctl_port).filter(|&p| p != 0)),
    ]
    .into_iter()
    .find_map(|(origin, port)| port.map(|p| (origin, p)))
    .unwrap_or((Origin::Default, default_port));

    let ca = [
        (CaSource::EnvFile, sources.ca_env_file),
        (CaSource::Param, sources.ca_param),
        (CaSource::Global, sources.ca_global),
    ]
    .into_iter()
    .find_map(|(source, present)| present.then_some(source));

    Ok(Plan {
        mode,
        host,
        host_origin,
        port,
        port_origin,
        ca,
    })
}

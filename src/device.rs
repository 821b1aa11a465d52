//! The device's configuration as `IOT_Ioctl` sets and reads it: identity
//! (ProductKey, DeviceName, secrets, module), region and endpoint overrides.
//!
//! Every setter validates first and changes nothing on failure, returning the
//! vendor's STATE_USER_INPUT_* code for the defect.

use std::sync::{Mutex, MutexGuard};

use crate::ffi::types::{
    IOTX_CUSTOMIZE_INFO_LEN, IOTX_DEVICE_NAME_LEN, IOTX_DEVICE_SECRET_LEN, IOTX_DOMAIN_MAX_LEN,
    IOTX_MODULE_LEN, IOTX_PRODUCT_KEY_LEN, IOTX_PRODUCT_SECRET_LEN,
};
use crate::state::*;

/// The regions of `iotx_mqtt_region_types_t`: the core's type, so that the
/// endpoint rule and the ioctl state can never disagree on them.
pub use iotkit_core::agent::endpoint::Region;

/// The text fields IOT_Ioctl can set and get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    ProductKey,
    ProductSecret,
    DeviceName,
    DeviceSecret,
    Module,
    MqttDomain,
    CustomizeInfo,
}

impl Field {
    /// The longest value accepted, without the NUL.
    pub fn max_len(self) -> usize {
        match self {
            Field::ProductKey => IOTX_PRODUCT_KEY_LEN,
            Field::ProductSecret => IOTX_PRODUCT_SECRET_LEN,
            Field::DeviceName => IOTX_DEVICE_NAME_LEN,
            Field::DeviceSecret => IOTX_DEVICE_SECRET_LEN,
            Field::Module => IOTX_MODULE_LEN,
            Field::MqttDomain => IOTX_DOMAIN_MAX_LEN,
            Field::CustomizeInfo => IOTX_CUSTOMIZE_INFO_LEN,
        }
    }

    /// The state code reported when a value for this field is refused.
    pub fn error_code(self) -> i32 {
        match self {
            Field::ProductKey => STATE_USER_INPUT_PK,
            Field::ProductSecret => STATE_USER_INPUT_PS,
            Field::DeviceName => STATE_USER_INPUT_DN,
            Field::DeviceSecret => STATE_USER_INPUT_DS,
            Field::MqttDomain => STATE_USER_INPUT_MQTT_DOMAIN,
            Field::Module | Field::CustomizeInfo => STATE_USER_INPUT_INVALID,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Field::ProductKey => "ProductKey",
            Field::ProductSecret => "ProductSecret",
            Field::DeviceName => "DeviceName",
            Field::DeviceSecret => "DeviceSecret",
            Field::Module => "module",
            Field::MqttDomain => "MQTT domain",
            Field::CustomizeInfo => "customize info",
        }
    }

    fn allowed(self, c: u8) -> bool {
        match self {
            Field::ProductKey => c.is_ascii_alphanumeric(),
            // The platform's DeviceName alphabet.
            Field::DeviceName => c.is_ascii_alphanumeric() || b"-_@.:".contains(&c),
            Field::MqttDomain => c.is_ascii_alphanumeric() || b".-:[]".contains(&c),
            // key=value pairs go inside the client id's |...| section.
            Field::CustomizeInfo => c.is_ascii_graphic() && c != b'|',
            Field::ProductSecret | Field::DeviceSecret | Field::Module => c.is_ascii_graphic(),
        }
    }

    /// Checks a value; the error is a sentence for a person.
    pub fn validate(self, value: &[u8]) -> Result<(), String> {
        if value.len() > self.max_len() {
            return Err(format!(
                "{} is {} characters long; at most {} are allowed",
                self.label(),
                value.len(),
                self.max_len()
            ));
        }
        if let Some(&bad) = value.iter().find(|&&c| !self.allowed(c)) {
            return Err(format!(
                "{} contains a character that is not allowed (byte 0x{bad:02X})",
                self.label()
            ));
        }
        if self == Field::CustomizeInfo && !value.is_empty() {
            let text = std::str::from_utf8(value).unwrap_or_default();
            if text
                .split(',')
                .any(|pair| !pair.contains('=') || pair.starts_with('='))
            {
                return Err("customize info must be key=value pairs separated by commas".to_owned());
            }
        }
        Ok(())
    }
}

/// Where the ProductKey/DeviceName of the configuration came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IdentitySource {
    /// Set by the firmware with IOT_Ioctl (or never set).
    #[default]
    Firmware,
    /// Learned from the platform (identity response or the persisted copy)
    /// for the certificate with this SHA-256 fingerprint; another
    /// certificate never uses it.
    Learned([u8; 32]),
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceConfig {
    pub identity_source: IdentitySource,
    pub product_key: String,
    pub product_secret: String,
    pub device_name: String,
    pub device_secret: String,
    pub module: String,
    pub mqtt_domain: String,
    pub customize_info: String,
    pub region: Region,
    /// 0 = not set (the mode's default port).
    pub mqtt_port: u16,
    pub dynamic_register: bool,
}

impl DeviceConfig {
    pub fn get(&self, field: Field) -> &str {
        match field {
            Field::ProductKey => &self.product_key,
            Field::ProductSecret => &self.product_secret,
            Field::DeviceName => &self.device_name,
            Field::DeviceSecret => &self.device_secret,
            Field::Module => &self.module,
            Field::MqttDomain => &self.mqtt_domain,
            Field::CustomizeInfo => &self.customize_info,
        }
    }

    fn slot(&mut self, field: Field) -> &mut String {
        match field {
            Field::ProductKey => &mut self.product_key,
            Field::ProductSecret => &mut self.product_secret,
            Field::DeviceName => &mut self.device_name,
            Field::DeviceSecret => &mut self.device_secret,
            Field::Module => &mut self.module,
            Field::MqttDomain => &mut self.mqtt_domain,
            Field::CustomizeInfo => &mut self.customize_info,
        }
    }
}

static CONFIG: Mutex<DeviceConfig> = Mutex::new(DeviceConfig {
    identity_source: IdentitySource::Firmware,
    product_key: String::new(),
    product_secret: String::new(),
    device_name: String::new(),
    device_secret: String::new(),
    module: String::new(),
    mqtt_domain: String::new(),
    customize_info: String::new(),
    region: Region::Shanghai,
    mqtt_port: 0,
    dynamic_register: false,
});

fn config() -> MutexGuard<'static, DeviceConfig> {
    CONFIG
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A copy of the whole configuration.
pub fn snapshot() -> DeviceConfig {
    config().clone()
}

pub fn get(field: Field) -> String {
    config().get(field).to_owned()
}

/// Validates and stores `value`; on error returns the state code and raises a
/// state event that says what was wrong, leaving the old value in place.
pub fn set(field: Field, value: &[u8]) -> Result<(), i32> {
    if let Err(why) = field.validate(value) {
        crate::events::state_event(
            field.error_code(),
            &format!("IOT_Ioctl: {why}; value unchanged"),
        );
        return Err(field.error_code());
    }
    // validate() admits only ASCII, so this cannot fail.
    let text = std::str::from_utf8(value).map_err(|_| field.error_code())?;
    let mut config = config();
    if matches!(field, Field::ProductKey | Field::DeviceName) {
        config.identity_source = IdentitySource::Firmware;
    }
    *config.slot(field) = text.to_owned();
    Ok(())
}

pub fn set_region(value: i64) -> Result<(), i32> {
    match Region::from_int(value) {
        Some(region) => {
            config().region = region;
            Ok(())
        }
        None => {
            crate::events::state_event(
                STATE_USER_INPUT_OUT_RANGE,
                &format!("IOT_Ioctl(SET_REGION): {value} is not a region (0 = Shanghai ... 5 = custom); region unchanged"),
            );
            Err(STATE_USER_INPUT_OUT_RANGE)
        }
    }
}

pub fn set_mqtt_port(value: i64) -> Result<(), i32> {
    match u16::try_from(value) {
        Ok(port) => {
            config().mqtt_port = port;
            Ok(())
        }
        Err(_) => {
            crate::events::state_event(
                STATE_USER_INPUT_OUT_RANGE,
                &format!("IOT_Ioctl(SET_MQTT_PORT): {value} is not a TCP port (1..65535, 0 = default); port unchanged"),
            );
            Err(STATE_USER_INPUT_OUT_RANGE)
        }
    }
}

pub fn set_dynamic_register(enabled: bool) {
    config().dynamic_register = enabled;
}

impl DeviceConfig {
    /// Whether the firmware gave the whole identity itself (IOT_Ioctl).
    pub fn identity_configured_by_firmware(&self) -> bool {
        self.identity_source == IdentitySource::Firmware
            && !self.product_key.is_empty()
            && !self.device_name.is_empty()
    }
}

/// Stores the identity learned from the platform (identity response or
/// persisted copy) for the certificate `fingerprint`; the values are
/// validated like IOT_Ioctl input. Empty values say "not known yet".
pub fn set_learned_identity(
    product_key: &str,
    device_name: &str,
    fingerprint: &[u8; 32],
) -> Result<(), String> {
    Field::ProductKey.validate(product_key.as_bytes())?;
    Field::DeviceName.validate(device_name.as_bytes())?;
    let mut config = config();
    config.product_key = product_key.to_owned();
    config.device_name = device_name.to_owned();
    config.identity_source = IdentitySource::Learned(*fingerprint);
    Ok(())
}

/// Back to the state at start-up (tests, and firmware that re-provisions).
pub fn reset() {
    *config() = DeviceConfig::default();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_rules() {
        assert!(Field::ProductKey.validate(b"a1B2c3D4e5F").is_ok());
        assert!(
            Field::ProductKey.validate(b"").is_ok(),
            "empty is the X.509 first-run state"
        );
        assert!(Field::ProductKey.validate(&[b'a'; 21]).is_err());
        assert!(Field::ProductKey.validate(b"a1&b").is_err());
        assert!(Field::DeviceName.validate(b"dev-1_@.:x").is_ok());
        assert!(Field::DeviceName.validate(b"dev 1").is_err());
        assert!(Field::DeviceName.validate(&[b'd'; 33]).is_err());
        assert!(Field::DeviceSecret.validate(&[b's'; 64]).is_ok());
        assert!(Field::DeviceSecret.validate(&[b's'; 65]).is_err());
        assert!(Field::MqttDomain
            .validate(b"x509.itls.cn-shanghai.aliyuncs.com")
            .is_ok());
        assert!(Field::MqttDomain.validate(b"bad host").is_err());
        assert!(Field::CustomizeInfo.validate(b"authtype=id2,_v=1").is_ok());
        assert!(Field::CustomizeInfo.validate(b"a|b=c").is_err());
        assert!(Field::CustomizeInfo.validate(b"novalue").is_err());
        assert_eq!(Field::DeviceName.error_code(), STATE_USER_INPUT_DN);
    }

    #[test]
    fn regions_map_to_sites() {
        assert_eq!(Region::from_int(0), Some(Region::Shanghai));
        assert_eq!(Region::from_int(6), None);
        assert_eq!(Region::from_int(-1), None);
        assert_eq!(Region::Germany.site(), Some("eu-central-1"));
        assert_eq!(Region::Custom.site(), None);
    }
}

//! Firmware updates (OTA) as the vendor's 3.2.0 `ota_api.h` offers them:
//! the platform pushes an upgrade on `/ota/device/upgrade/PK/DN`, the device
//! downloads the image over HTTPS (verified against the configured CA,
//! resumed with a Range after a cut), checks its MD5/SHA-256, and reports
//! progress and its version. Pure logic: the C functions live in
//! `ffi::ota`, which connects this to an MQTT client.

pub mod http;
pub mod message;
pub mod persist;
pub mod session;

use crate::tls::{self, TlsConfig};
use crate::transport::Transport;
use std::time::Duration;

/// IOT_OTA_Err_t (all values, some unused here).
#[allow(dead_code)]
pub mod codes {
    pub(crate) const IOT_OTAE_GENERAL: i32 = -1;
    pub(crate) const IOT_OTAE_INVALID_PARAM: i32 = -2;
    pub(crate) const IOT_OTAE_INVALID_STATE: i32 = -3;
    pub(crate) const IOT_OTAE_STR_TOO_LONG: i32 = -4;
    pub(crate) const IOT_OTAE_FETCH_FAILED: i32 = -5;
    pub(crate) const IOT_OTAE_NOMEM: i32 = -6;
    pub(crate) const IOT_OTAE_OSC_FAILED: i32 = -7;
    pub(crate) const IOT_OTAE_NONE: i32 = 0;
}

/// IOT_OTA_Progress_t: the `step` of a progress report.
#[allow(dead_code)]
pub mod progress_step {
    pub(crate) const BURN_FAILED: i32 = -4;
    pub(crate) const CHECK_FAILED: i32 = -3;
    pub(crate) const FETCH_FAILED: i32 = -2;
    pub(crate) const GENERAL_FAILED: i32 = -1;
    pub(crate) const PERCENTAGE_MIN: i32 = 0;
    pub(crate) const PERCENTAGE_MAX: i32 = 100;
}

/// Downloads over TLS, the server verified against `config`'s CA (the
/// same CA the MQTT connection trusts). There is no unverified mode.
pub struct TlsDialer {
    pub config: TlsConfig,
}

impl session::Dialer for TlsDialer {
    fn dial(
        &self,
        host: &str,
        port: u16,
        timeout: Duration,
    ) -> Result<Box<dyn Transport>, http::FetchError> {
        use tls::TlsError::*;
        tls::connect(host, port, &self.config, timeout)
            .map(|c| Box::new(c) as Box<dyn Transport>)
            .map_err(|e| match e {
                // Trying again cannot make the server trusted.
                BadCaCertificate { .. }
                | UntrustedServerCertificate { .. }
                | HostnameMismatch { .. }
                | ServerCertificateDates { .. }
                | ServerCertificateRejected { .. }
                | ClientCertificateRequired { .. }
                | ClientCertificateRejected { .. } => http::FetchError::Fatal(e.to_string()),
                other => http::FetchError::Cut(other.to_string()),
            })
    }
}

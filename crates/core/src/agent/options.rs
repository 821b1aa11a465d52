//! The vendor's option ranges and fallbacks for `iotx_mqtt_param_t`.
//!
//! | option | 0 means | accepted | outside the range |
//! |---|---|---|---|
//! | keep-alive interval | 60 000 ms | 30 000..=1 200 000 ms | the default, with a [`Fallback`] to report |
//! | request timeout | 5 000 ms | 1 000..=10 000 ms | the default, with a [`Fallback`] to report |
//! | read / write buffer | 3072 B | 128 B..=16 MiB | refused ([`OptionError`]) |
//!
//! As the vendor's SDK does, CONNECT advertises twice the keep-alive
//! interval, never above 1200 s (the platform's maximum), and a PINGREQ
//! goes out after half the advertised time without sending: every
//! interval, or every 600 s where the maximum cuts it.

use core::fmt;
use core::ops::RangeInclusive;

use crate::mqtt::session::Config;

/// Keep-alive intervals accepted, in ms.
pub const KEEPALIVE_MS_RANGE: RangeInclusive<u32> = 30_000..=1_200_000;
/// Request timeouts accepted, in ms.
pub const REQUEST_TIMEOUT_MS_RANGE: RangeInclusive<u32> = 1_000..=10_000;
/// The keep-alive interval for 0 or an out-of-range value.
pub const DEFAULT_KEEPALIVE_MS: u32 = 60_000;
/// The request timeout for 0 or an out-of-range value.
pub const DEFAULT_REQUEST_TIMEOUT_MS: u32 = 5_000;
/// The buffer size for 0.
pub const DEFAULT_BUFFER: u32 = 3072;
/// Buffer sizes accepted.
pub const BUFFER_RANGE: RangeInclusive<u32> = 128..=16 * 1024 * 1024;
/// The largest keep-alive CONNECT advertises, in seconds.
pub const MAX_ADVERTISED_KEEPALIVE_S: u16 = 1200;

/// The numbers as the application gave them (0: not set).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OptionInput {
    /// `keepalive_interval_ms`.
    pub keepalive_interval_ms: u32,
    /// `request_timeout_ms`.
    pub request_timeout_ms: u32,
    /// `read_buf_size`.
    pub read_buf_size: u32,
    /// `write_buf_size`.
    pub write_buf_size: u32,
    /// `clean_session != 0`.
    pub clean_session: bool,
}

/// The values that hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionOptions {
    /// A PINGREQ after this long without sending.
    pub ping_interval_ms: u64,
    /// What CONNECT advertises.
    pub keep_alive_s: u16,
    /// How long each acknowledgement may take.
    pub request_timeout_ms: u64,
    /// The largest packet received.
    pub read_buf_size: usize,
    /// The largest packet sent.
    pub write_buf_size: usize,
    /// CONNECT's clean-session flag.
    pub clean_session: bool,
}

impl SessionOptions {
    /// Applies these values to a session configuration.
    pub fn apply(&self, config: &mut Config) {
        config.ping_interval_ms = self.ping_interval_ms;
        config.keep_alive_s = self.keep_alive_s;
        config.request_timeout_ms = self.request_timeout_ms;
        config.max_incoming_packet_size = self.read_buf_size;
        config.max_packet_size = self.write_buf_size;
        config.clean_session = self.clean_session;
    }
}

/// Which option fell back to its default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionName {
    /// `keepalive_interval_ms`.
    KeepaliveIntervalMs,
    /// `request_timeout_ms`.
    RequestTimeoutMs,
    /// `read_buf_size`.
    ReadBufSize,
    /// `write_buf_size`.
    WriteBufSize,
}

impl OptionName {
    /// The field's name in `iotx_mqtt_param_t`.
    pub fn field(self) -> &'static str {
        match self {
            OptionName::KeepaliveIntervalMs => "keepalive_interval_ms",
            OptionName::RequestTimeoutMs => "request_timeout_ms",
            OptionName::ReadBufSize => "read_buf_size",
            OptionName::WriteBufSize => "write_buf_size",
        }
    }
}

/// A value outside its range that was replaced by the default; the C layer
/// reports it as a state event with this sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fallback {
    /// Which option.
    pub option: OptionName,
    /// What was given.
    pub given: u32,
    /// The range allowed.
    pub range: (u32, u32),
    /// What is used instead.
    pub used: u32,
}

impl fmt::Display for Fallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "mqtt_params.{} = {} is outside {}..{}; using the default {}",
            self.option.field(),
            self.given,
            self.range.0,
            self.range.1,
            self.used
        )
    }
}

/// A buffer size outside 128 B..=16 MiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionError {
    /// Which buffer.
    pub option: OptionName,
    /// What was given.
    pub given: u32,
}

impl fmt::Display for OptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} = {} is outside {}..{} bytes",
            self.option.field(),
            self.given,
            BUFFER_RANGE.start(),
            BUFFER_RANGE.end()
        )
    }
}

impl core::error::Error for OptionError {}

/// The values that hold, and up to two fallbacks to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolved {
    /// The values.
    pub options: SessionOptions,
    /// Replaced values, in field order.
    pub fallbacks: [Option<Fallback>; 2],
}

fn in_range_or_default(
    option: OptionName,
    value: u32,
    range: RangeInclusive<u32>,
    default: u32,
) -> (u32, Option<Fallback>) {
    if value == 0 {
        (default, None)
    } else if range.contains(&value) {
        (value, None)
    } else {
        (
            default,
            Some(Fallback {
                option,
                given: value,
                range: (*range.start(), *range.end()),
                used: default,
            }),
        )
    }
}

fn buffer(option: OptionName, value: u32) -> Result<usize, OptionError> {
    match value {
        0 => Ok(DEFAULT_BUFFER as usize),
        v if BUFFER_RANGE.contains(&v) => Ok(v as usize),
        given => Err(OptionError { option, given }),
    }
}

/// The vendor's rules applied to what the application gave.
pub fn resolve(input: OptionInput) -> Result<Resolved, OptionError> {
    let (keepalive_ms, keepalive_fallback) = in_range_or_default(
        OptionName::KeepaliveIntervalMs,
        input.keepalive_interval_ms,
        KEEPALIVE_MS_RANGE,
        DEFAULT_KEEPALIVE_MS,
    );
    let (request_timeout_ms, timeout_fallback) = in_range_or_default(
        OptionName::RequestTimeoutMs,
        input.request_timeout_ms,
        REQUEST_TIMEOUT_MS_RANGE,
        DEFAULT_REQUEST_TIMEOUT_MS,
    );
    let advertised =
        (u64::from(keepalive_ms) * 2 / 1000).min(u64::from(MAX_ADVERTISED_KEEPALIVE_S));
    Ok(Resolved {
        options: SessionOptions {
            // Half the advertised value, as the client does today: equal to
            // the interval, except where the 1200 s maximum cuts it.
            ping_interval_ms: advertised * 1000 / 2,
            keep_alive_s: advertised as u16,
            request_timeout_ms: u64::from(request_timeout_ms),
            read_buf_size: buffer(OptionName::ReadBufSize, input.read_buf_size)?,
            write_buf_size: buffer(OptionName::WriteBufSize, input.write_buf_size)?,
            clean_session: input.clean_session,
        },
        fallbacks: [keepalive_fallback, timeout_fallback],
    })
}

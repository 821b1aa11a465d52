//! The platform's NTP service over MQTT: one request on
//! `/ext/ntp/${pk}/${dn}/request`, the answer on `.../response`, and what the
//! answer says about the device clock.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::lock;
use super::registry::MqttHandle;
use crate::events;
use crate::mqtt::client::{self as mqtt, ClientError, Event, QoS};
use crate::state::*;
use crate::tls;

/// An NTP response's payload and the device time (ms) it arrived.
type NtpAnswer = (Vec<u8>, u64);

/// The learned time agrees with the device clock when they differ by at most this.
pub(crate) const CLOCK_AGREEMENT_MS: u64 = 60_000;

/// A millisecond field of the NTP response: a string of digits (as the
/// platform sends it) or a number.
fn field(object: &serde_json::Map<String, serde_json::Value>, key: &str) -> Option<u64> {
    match object.get(key)? {
        serde_json::Value::String(text) => text.parse().ok(),
        value => value.as_u64(),
    }
}

/// The UTC time in ms from an NTP response and the device's receive time:
/// `(serverRecvTime + serverSendTime + deviceRecvTime - deviceSendTime) / 2`.
/// The error is a sentence for a person.
pub fn utc_time(payload: &[u8], device_recv_ms: u64) -> Result<u64, String> {
    let value: serde_json::Value = serde_json::from_slice(payload)
        .map_err(|_| "the NTP response is not valid JSON".to_owned())?;
    let object = value
        .as_object()
        .ok_or_else(|| "the NTP response is not a JSON object".to_owned())?;
    let field = |key: &str| {
        field(object, key)
            .ok_or_else(|| format!("the NTP response has no millisecond value \"{key}\""))
    };
    let (sent, received, answered) = (
        field("deviceSendTime")?,
        field("serverRecvTime")?,
        field("serverSendTime")?,
    );
    received
        .checked_add(answered)
        .and_then(|sum| sum.checked_add(device_recv_ms))
        .and_then(|sum| sum.checked_sub(sent))
        .map(|sum| sum / 2)
        .ok_or_else(|| "the NTP response's times are out of range".to_owned())
}

/// How the device clock compares with the platform's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// Within a minute (`CLOCK_AGREEMENT_MS`): off by this many ms.
    Agrees { off_ms: u64 },
    /// Further off: by this many ms, ahead or behind.
    Off { off_ms: u64, ahead: bool },
}

/// Compares the device clock `device_ms` with `utc_ms`.
pub fn compare_clock(device_ms: u64, utc_ms: u64) -> Clock {
    let off_ms = device_ms.abs_diff(utc_ms);
    if off_ms <= CLOCK_AGREEMENT_MS {
        Clock::Agrees { off_ms }
    } else {
        Clock::Off {
            off_ms,
            ahead: device_ms > utc_ms,
        }
    }
}

/// Asks the platform's NTP service for the time over `entry`'s connection,
/// serving the connection for up to `timeout_ms` until the answer arrives.
/// On success returns the UTC time in ms since 1970, raises a state event
/// with it and, when the device clock agrees, lets certificate dates be
/// checked against the clock. On failure returns the state code, after
/// raising a state event (every sentence prefixed with `function`).
pub fn sync(function: &str, entry: &MqttHandle, timeout_ms: u32) -> Result<u64, i32> {
    let (pk, dn, _) = entry.session.current();
    if pk.is_empty() || dn.is_empty() {
        events::state_event(
            STATE_USER_INPUT_META_INFO,
            &format!("{function}: the device's ProductKey and DeviceName are not known yet (the identity response has not arrived)"),
        );
        return Err(STATE_USER_INPUT_META_INFO);
    }
    let response_topic = format!("/ext/ntp/{pk}/{dn}/response");
    let request_topic = format!("/ext/ntp/{pk}/{dn}/request");
    let answer: Arc<Mutex<Option<NtpAnswer>>> = Arc::new(Mutex::new(None));
    let slot = Arc::clone(&answer);
    let handler: mqtt::Handler = Arc::new(move |event: &Event<'_>| {
        if let Event::Message(message) = event {
            *lock(&slot) = Some((message.payload.to_vec(), crate::os::unix_time_ms()));
        }
    });
    let timeout = Duration::from_millis(u64::from(timeout_ms));
    let deadline = Instant::now() + timeout;
    let fail = |code: i32, sentence: String| {
        events::state_event(code, &format!("{function}: {sentence}"));
        code
    };
    match entry
        .client
        .subscribe_sync(&response_topic, QoS::AtMostOnce, Some(handler), timeout)
    {
        Ok(_) => {}
        Err(ClientError::Reentrant(_)) => {
            return Err(fail(
                STATE_USER_INPUT_INVALID,
                "called from inside an MQTT callback; call it from the firmware's own thread"
                    .to_owned(),
            ))
        }
        Err(e) => {
            return Err(fail(
                e.state_code(),
                format!("subscribing to {response_topic}: {e}"),
            ))
        }
    }
    let sent_ms = crate::os::unix_time_ms();
    let request = format!("{{\"deviceSendTime\":\"{sent_ms}\"}}");
    let result =
        match entry
            .client
            .publish(&request_topic, request.as_bytes(), QoS::AtMostOnce, false)
        {
            Err(e) => Err(fail(
                e.state_code(),
                format!("publishing to {request_topic}: {e}"),
            )),
            Ok(_) => loop {
                if let Some((payload, recv_ms)) = lock(&answer).take() {
                    break utc_time(&payload, recv_ms)
                        .map_err(|sentence| fail(STATE_MQTT_DESERIALIZE_PUB_ERROR, sentence));
                }
                let now = Instant::now();
                if now >= deadline {
                    break Err(fail(
                        STATE_SYS_DEPEND_NWK_TIMEOUT,
                        format!("no answer from the platform's NTP service within {timeout_ms} ms"),
                    ));
                }
                let slice = (deadline - now).min(Duration::from_millis(100));
                if let Err(e) = entry.client.yield_for(slice) {
                    break Err(fail(e.state_code(), format!("serving the connection: {e}")));
                }
            },
        };
    let _ = entry.client.unsubscribe(&response_topic);
    let utc_ms = result?;
    let device_ms = crate::os::unix_time_ms();
    match compare_clock(device_ms, utc_ms) {
        Clock::Agrees { off_ms } => {
            tls::set_clock_trusted(true);
            events::state_event(
                STATE_MQTT_PUB_INFO,
                &format!("time from the platform's NTP service: {utc_ms} ms since 1970 UTC; the device clock agrees (within {off_ms} ms), certificate dates are checked against it"),
            );
        }
        Clock::Off { off_ms, ahead } => {
            events::state_event(
                STATE_MQTT_PUB_INFO,
                &format!(
                    "time from the platform's NTP service: {utc_ms} ms since 1970 UTC; the device clock is off by {} s ({}); the library cannot set the system clock — set it from this time",
                    off_ms / 1000,
                    if ahead { "ahead" } else { "behind" }
                ),
            );
        }
    }
    Ok(utc_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_is_the_midpoint_of_the_server_times_corrected_for_the_round_trip() {
        // Sent at 1000, server got it at 5000 and answered at 5002, back at 1010:
        // (5000 + 5002 + 1010 - 1000) / 2 = 5006.
        let payload =
            br#"{"deviceSendTime":"1000","serverRecvTime":"5000","serverSendTime":"5002"}"#;
        assert_eq!(utc_time(payload, 1010), Ok(5006));
    }

    #[test]
    fn numbers_are_accepted_as_well_as_digit_strings() {
        let payload = br#"{"deviceSendTime":1000,"serverRecvTime":"5000","serverSendTime":5002}"#;
        assert_eq!(utc_time(payload, 1010), Ok(5006));
    }

    #[test]
    fn a_missing_or_non_numeric_field_is_named() {
        let missing = br#"{"deviceSendTime":"1000","serverRecvTime":"5000"}"#;
        assert_eq!(
            utc_time(missing, 0),
            Err("the NTP response has no millisecond value \"serverSendTime\"".to_owned())
        );
        let text = br#"{"deviceSendTime":"soon","serverRecvTime":"5000","serverSendTime":"1"}"#;
        assert_eq!(
            utc_time(text, 0),
            Err("the NTP response has no millisecond value \"deviceSendTime\"".to_owned())
        );
        let negative = br#"{"deviceSendTime":-1,"serverRecvTime":"5000","serverSendTime":"1"}"#;
        assert!(utc_time(negative, 0).is_err());
    }

    #[test]
    fn not_json_or_not_an_object_is_refused() {
        assert_eq!(
            utc_time(b"12:00", 0),
            Err("the NTP response is not valid JSON".to_owned())
        );
        assert_eq!(
            utc_time(b"[1,2,3]", 0),
            Err("the NTP response is not a JSON object".to_owned())
        );
    }

    #[test]
    fn overflow_and_underflow_are_out_of_range_not_wrapped() {
        let huge = format!(
            r#"{{"deviceSendTime":"0","serverRecvTime":"{}","serverSendTime":"1"}}"#,
            u64::MAX
        );
        assert_eq!(
            utc_time(huge.as_bytes(), 0),
            Err("the NTP response's times are out of range".to_owned())
        );
        // deviceSendTime larger than everything else together.
        let later = br#"{"deviceSendTime":"100","serverRecvTime":"1","serverSendTime":"1"}"#;
        assert_eq!(
            utc_time(later, 1),
            Err("the NTP response's times are out of range".to_owned())
        );
    }

    #[test]
    fn the_clock_agrees_up_to_one_minute_and_says_which_way_it_is_off() {
        assert_eq!(compare_clock(1_000, 1_000), Clock::Agrees { off_ms: 0 });
        assert_eq!(
            compare_clock(61_000, 1_000),
            Clock::Agrees { off_ms: 60_000 }
        );
        assert_eq!(
            compare_clock(61_001, 1_000),
            Clock::Off {
                off_ms: 60_001,
                ahead: true
            }
        );
        assert_eq!(
            compare_clock(1_000, 100_000),
            Clock::Off {
                off_ms: 99_000,
                ahead: false
            }
        );
    }
}

//! How an X.509 client comes to know its ProductKey and DeviceName: the
//! identity it starts with (the firmware's, one learned in this process,
//! one persisted for its certificate), the platform's identity response
//! (accepted only as `identity::acceptance::decide` rules), and keeping a
//! learned identity for the next run.

use std::sync::atomic::Ordering;
use std::sync::Mutex;

use super::client::Session;
use super::lock;
use super::registry::CLIENTS;
use crate::device::{self, DeviceConfig};
use crate::events;
use crate::identity::acceptance::{self, Decision, Facts, Identity, Refusal};
use crate::identity::{self, IDENTITY_TOPIC};
use crate::kv;
use crate::mqtt::client::Message;
use crate::state::*;

/// "0" switches identity persistence off (like iotkit_x509_set_identity_persistence(0)).
pub const ENV_PERSIST: &str = "IOTX_PERSIST_IDENTITY";

/// iotkit_x509_set_identity_persistence, once called.
static PERSIST_IDENTITY: Mutex<Option<bool>> = Mutex::new(None);

/// Sets whether a learned identity is kept between runs (overrides [`ENV_PERSIST`]).
pub fn set_persistence(enable: bool) {
    *lock(&PERSIST_IDENTITY) = Some(enable);
}

/// Whether a learned identity is kept between runs, now.
pub fn persistence_enabled() -> bool {
    persistence(
        *lock(&PERSIST_IDENTITY),
        std::env::var(ENV_PERSIST).ok().as_deref(),
    )
}

/// The rule: the setter's choice, else on unless the environment says "0".
pub fn persistence(set: Option<bool>, env: Option<&str>) -> bool {
    set.unwrap_or_else(|| env != Some("0"))
}

/// ProductKey and DeviceName (empty while unknown).
pub type Pair = (String, String);

/// The identity a client starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    /// ProductKey and DeviceName; empty when unknown.
    pub identity: Pair,
    /// Known now: no identity response needs to be waited for.
    pub known: bool,
}

impl Start {
    fn known(identity: Pair) -> Start {
        Start {
            identity,
            known: true,
        }
    }

    fn unknown() -> Start {
        Start {
            identity: Pair::default(),
            known: false,
        }
    }
}

/// The identity IOT_MQTT_Construct's client starts with. Device-secret mode
/// (`fingerprint` None) and an identity the firmware set use `config`'s;
/// else the one learned in this process for this certificate, else (when
/// `persist`) the one `load` finds for it, else none. A failing `load`
/// raises a state event and counts as none. Nothing global changes here.
pub fn start_identity(
    config: &DeviceConfig,
    fingerprint: Option<&[u8; 32]>,
    persist: bool,
    load: impl FnOnce(&[u8; 32]) -> Result<Option<Pair>, String>,
) -> Start {
    let configured = || (config.product_key.clone(), config.device_name.clone());
    let Some(fingerprint) = fingerprint else {
        return Start::known(configured());
    };
    if config.identity_configured_by_firmware() {
        return Start::known(configured());
    }
    let learned_here = config.identity_source == device::IdentitySource::Learned(*fingerprint)
        && !config.product_key.is_empty()
        && !config.device_name.is_empty();
    if learned_here {
        return Start::known(configured());
    }
    if !persist {
        return Start::unknown();
    }
    match load(fingerprint) {
        Ok(Some((pk, dn))) => {
            crate::log_info!("using the persisted identity productKey={pk} deviceName={dn}");
            Start::known((pk, dn))
        }
        Ok(None) => Start::unknown(),
        Err(why) => {
            events::state_event(STATE_SYS_DEPEND_KV_GET, &why);
            Start::unknown()
        }
    }
}

/// The identity persisted for `fingerprint` in the default KV store.
pub fn load_persisted(fingerprint: &[u8; 32]) -> Result<Option<Pair>, String> {
    kv::default_store()
        .map_err(|e| e.to_string())
        .and_then(|store| identity::load_identity(&store, fingerprint))
}

/// What a client knows when an identity response arrives.
#[derive(Debug, Clone, Copy)]
pub struct Known<'a> {
    /// The client authenticates with a certificate.
    pub x509: bool,
    /// The firmware set the identity (IOT_Ioctl or the params).
    pub configured_by_firmware: bool,
    /// A response was accepted on the current connection.
    pub accepted_on_this_connection: bool,
    /// The identity, when known and complete.
    pub identity: Option<(&'a str, &'a str)>,
}

/// What to do with one identity response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// Take this identity.
    Learn(Pair),
    /// It names the identity already known: only note it was answered.
    Confirms,
    /// Leave everything as it is; raise this state event.
    Unchanged { code: i32, sentence: String },
}

/// Judges an identity response: parsed as `identity::parse_identity_response`
/// does, accepted only as `identity::acceptance::decide` rules.
pub fn judge(payload: &[u8], retained: bool, known: &Known<'_>) -> Response {
    let parsed = identity::parse_identity_response(payload);
    let facts = Facts {
        x509: known.x509,
        configured_by_firmware: known.configured_by_firmware,
        retained,
        accepted_on_this_connection: known.accepted_on_this_connection,
        known: known.identity.map(|(product_key, device_name)| Identity {
            product_key,
            device_name,
        }),
    };
    let response = parsed.as_ref().ok().map(|(pk, dn)| Identity {
        product_key: pk,
        device_name: dn,
    });
    let topic = IDENTITY_TOPIC;
    match (acceptance::decide(&facts, response), parsed) {
        (Decision::Accept, Ok(identity)) => Response::Learn(identity),
        (Decision::Matches, _) => Response::Confirms,
        (Decision::Refuse(Refusal::Malformed), Err(why)) | (Decision::Accept, Err(why)) => {
            Response::Unchanged {
                code: STATE_USER_INPUT_META_INFO,
                sentence: format!("identity response on {topic}: {why}; identity unchanged"),
            }
        }
        (Decision::Refuse(refusal), parsed) => {
            let named = match &parsed {
                Ok((pk, dn)) => format!(" (productKey={pk} deviceName={dn})"),
                Err(_) => String::new(),
            };
            let known = match (refusal, known.identity) {
                (Refusal::DiffersFromKnown, Some((pk, dn))) => {
                    format!(" (known: productKey={pk} deviceName={dn})")
                }
                _ => String::new(),
            };
            Response::Unchanged {
                code: STATE_USER_INPUT_META_INFO,
                sentence: format!(
                    "identity response on {topic}{named} {}{known}",
                    refusal.sentence()
                ),
            }
        }
    }
}

impl Session {
    /// The interceptor's work for [`IDENTITY_TOPIC`]: judge the response,
    /// and take a learned identity (mirrored into the process-wide
    /// configuration for the default client, persisted when asked).
    pub(super) fn on_identity_response(&self, message: &Message<'_>) {
        let known_flag = *lock(&self.identity_known);
        let identity = known_flag
            .then(|| lock(&self.identity).clone())
            .filter(|(pk, dn)| !pk.is_empty() && !dn.is_empty());
        let known = Known {
            x509: self.fingerprint().is_some(),
            configured_by_firmware: self.configured_by_firmware,
            accepted_on_this_connection: self.accepted_on_connection.load(Ordering::Acquire),
            identity: identity.as_ref().map(|(pk, dn)| (pk.as_str(), dn.as_str())),
        };
        let (product_key, device_name) = match judge(message.payload, message.retain, &known) {
            Response::Learn(identity) => identity,
            Response::Confirms => {
                self.accepted_on_connection.store(true, Ordering::Release);
                crate::log_info!(
                    "identity response on {IDENTITY_TOPIC}: confirms the known identity"
                );
                return;
            }
            Response::Unchanged { code, sentence } => {
                events::state_event(code, &sentence);
                return;
            }
        };
        *lock(&self.identity) = (product_key.clone(), device_name.clone());
        self.accepted_on_connection.store(true, Ordering::Release);
        crate::log_info!("identity response: productKey={product_key} deviceName={device_name}");
        if let Some(fingerprint) = self.fingerprint() {
            if self.global {
                // Validated by parse_identity_response: cannot fail.
                let _ = device::set_learned_identity(&product_key, &device_name, fingerprint);
            }
            if self.persist {
                let saved = kv::default_store().and_then(|store| {
                    identity::save_identity(&store, fingerprint, &product_key, &device_name)
                });
                if let Err(err) = saved {
                    events::state_event(
                        STATE_SYS_DEPEND_KV_SET,
                        &format!("the identity could not be persisted ({err}); it will be learned again next time"),
                    );
                }
            }
        }
        *lock(&self.identity_known) = true;
        self.identity_arrived.notify_all();
        if self.global {
            events::identity_response(&String::from_utf8_lossy(message.payload));
        }
        // A first X.509 connection reports the version now that the topic
        // can name the device (never /ota/device/inform//).
        if let Some(registered) = CLIENTS.get(self.handle()) {
            self.report_version(&registered.client);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::IdentitySource;

    const RESPONSE_A: &[u8] = br#"{"productKey":"a1PK","deviceName":"dev-a"}"#;

    fn first_run() -> Known<'static> {
        Known {
            x509: true,
            configured_by_firmware: false,
            accepted_on_this_connection: false,
            identity: None,
        }
    }

    fn unchanged(response: Response) -> (i32, String) {
        match response {
            Response::Unchanged { code, sentence } => (code, sentence),
            other => panic!("expected Unchanged, got {other:?}"),
        }
    }

    #[test]
    fn persistence_is_on_unless_switched_off() {
        assert!(persistence(None, None));
        assert!(persistence(None, Some("1")));
        assert!(persistence(None, Some("")));
        assert!(!persistence(None, Some("0")));
        // The setter wins over the environment, both ways.
        assert!(persistence(Some(true), Some("0")));
        assert!(!persistence(Some(false), None));
    }

    #[test]
    fn the_first_live_response_is_learned() {
        assert_eq!(
            judge(RESPONSE_A, false, &first_run()),
            Response::Learn(("a1PK".to_owned(), "dev-a".to_owned()))
        );
    }

    #[test]
    fn a_malformed_response_names_what_is_wrong() {
        let (code, sentence) = unchanged(judge(br#"{"productKey":"a1PK"}"#, false, &first_run()));
        assert_eq!(code, STATE_USER_INPUT_META_INFO);
        assert_eq!(
            sentence,
            "identity response on /ext/auth/identity/response: the identity response has no \"deviceName\"; identity unchanged"
        );
    }

    #[test]
    fn a_retained_response_is_ignored_and_named() {
        let (code, sentence) = unchanged(judge(RESPONSE_A, true, &first_run()));
        assert_eq!(code, STATE_USER_INPUT_META_INFO);
        assert!(
            sentence.starts_with(
                "identity response on /ext/auth/identity/response (productKey=a1PK deviceName=dev-a) ignored: it was a retained message"
            ),
            "{sentence}"
        );
    }

    #[test]
    fn a_response_naming_another_device_is_refused_with_both_identities() {
        let known = Known {
            identity: Some(("a1PK", "dev-b")),
            ..first_run()
        };
        let (_, sentence) = unchanged(judge(RESPONSE_A, false, &known));
        assert!(
            sentence.contains("(productKey=a1PK deviceName=dev-a) refused"),
            "{sentence}"
        );
        assert!(
            sentence.ends_with("(known: productKey=a1PK deviceName=dev-b)"),
            "{sentence}"
        );
    }

    #[test]
    fn the_known_identity_is_confirmed_once_per_connection() {
        let known = Known {
            identity: Some(("a1PK", "dev-a")),
            ..first_run()
        };
        assert_eq!(judge(RESPONSE_A, false, &known), Response::Confirms);
        let again = Known {
            accepted_on_this_connection: true,
            ..known
        };
        let (_, sentence) = unchanged(judge(RESPONSE_A, false, &again));
        assert!(
            sentence.contains("already accepted on this connection"),
            "{sentence}"
        );
    }

    #[test]
    fn device_secret_and_firmware_identities_never_change() {
        for known in [
            Known {
                x509: false,
                ..first_run()
            },
            Known {
                configured_by_firmware: true,
                ..first_run()
            },
        ] {
            assert!(matches!(
                judge(RESPONSE_A, false, &known),
                Response::Unchanged { .. }
            ));
        }
    }

    fn config(pk: &str, dn: &str, source: IdentitySource) -> DeviceConfig {
        DeviceConfig {
            product_key: pk.to_owned(),
            device_name: dn.to_owned(),
            identity_source: source,
            ..DeviceConfig::default()
        }
    }

    const FP: [u8; 32] = [7; 32];

    fn never_loaded(_: &[u8; 32]) -> Result<Option<Pair>, String> {
        panic!("the persisted identity must not be read here")
    }

    #[test]
    fn device_secret_mode_starts_with_the_configured_identity() {
        let config = config("a1PK", "dev", IdentitySource::default());
        let start = start_identity(&config, None, true, never_loaded);
        assert_eq!(start, Start::known(("a1PK".to_owned(), "dev".to_owned())));
    }

    #[test]
    fn an_identity_learned_here_for_this_certificate_is_reused() {
        let config = config("a1PK", "dev", IdentitySource::Learned(FP));
        let start = start_identity(&config, Some(&FP), true, never_loaded);
        assert_eq!(start, Start::known(("a1PK".to_owned(), "dev".to_owned())));
    }

    #[test]
    fn an_identity_learned_for_another_certificate_is_not() {
        let config = config("a1PK", "dev", IdentitySource::Learned([9; 32]));
        let start = start_identity(&config, Some(&FP), false, never_loaded);
        assert_eq!(start, Start::unknown());
        let loaded = start_identity(&config, Some(&FP), true, |fingerprint| {
            assert_eq!(fingerprint, &FP);
            Ok(Some(("a1P2".to_owned(), "dev-2".to_owned())))
        });
        assert_eq!(
            loaded,
            Start::known(("a1P2".to_owned(), "dev-2".to_owned()))
        );
    }

    #[test]
    fn a_damaged_persisted_identity_counts_as_none() {
        let config = config("", "", IdentitySource::default());
        let start = start_identity(&config, Some(&FP), true, |_| {
            Err("the persisted identity is damaged".to_owned())
        });
        assert_eq!(start, Start::unknown());
        assert_eq!(
            start_identity(&config, Some(&FP), true, |_| Ok(None)),
            Start::unknown()
        );
    }
}

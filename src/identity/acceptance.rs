//! When an identity response on `/ext/auth/identity/response` may set the
//! device's ProductKey/DeviceName: a pure decision over plain facts (no
//! I/O, no allocation, no std, no C types), so it can move into a no_std core.

/// ProductKey and DeviceName.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity<'a> {
    pub product_key: &'a str,
    pub device_name: &'a str,
}

/// What is known when a response arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts<'a> {
    /// The client authenticates with an X.509 certificate (not a DeviceSecret).
    pub x509: bool,
    /// The firmware set ProductKey and DeviceName itself (IOT_Ioctl).
    pub configured_by_firmware: bool,
    /// The PUBLISH carried the retain flag (stored by a broker, possibly from anyone).
    pub retained: bool,
    /// A response was already accepted on this connection.
    pub accepted_on_this_connection: bool,
    /// The identity already known for this certificate (learned or persisted).
    pub known: Option<Identity<'a>>,
}

/// Why a response changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Device-secret mode: the identity is the firmware's.
    NotX509,
    /// The firmware configured the identity.
    ConfiguredByFirmware,
    /// A retained message is not the platform's answer to this connection.
    Retained,
    /// Only the first response of a connection counts.
    SecondOnThisConnection,
    /// The payload is not a valid identity.
    Malformed,
    /// It names another device than the one known for this certificate.
    DiffersFromKnown,
}

impl Refusal {
    /// A sentence for a person (completed by the caller with the details).
    pub fn sentence(self) -> &'static str {
        match self {
            Refusal::NotX509 => {
                "ignored: the device authenticates with a DeviceSecret, so its identity is the one set with IOT_Ioctl"
            }
            Refusal::ConfiguredByFirmware => {
                "ignored: ProductKey and DeviceName were set by the firmware (IOT_Ioctl) and stay as set"
            }
            Refusal::Retained => {
                "ignored: it was a retained message, not the platform's answer to this connection"
            }
            Refusal::SecondOnThisConnection => {
                "ignored: an identity response was already accepted on this connection"
            }
            Refusal::Malformed => "ignored: it is not a valid identity",
            Refusal::DiffersFromKnown => {
                "refused: it names another device than the identity already known for this certificate; identity unchanged"
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Store (and persist) the response's identity.
    Accept,
    /// The response repeats the known identity: nothing to change.
    Matches,
    Refuse(Refusal),
}

/// Decides on one response; `response` is `None` when it could not be parsed.
pub fn decide(facts: &Facts<'_>, response: Option<Identity<'_>>) -> Decision {
    if !facts.x509 {
        return Decision::Refuse(Refusal::NotX509);
    }
    if facts.retained {
        return Decision::Refuse(Refusal::Retained);
    }
    if facts.configured_by_firmware {
        return Decision::Refuse(Refusal::ConfiguredByFirmware);
    }
    if facts.accepted_on_this_connection {
        return Decision::Refuse(Refusal::SecondOnThisConnection);
    }
    let Some(response) = response else {
        return Decision::Refuse(Refusal::Malformed);
    };
    match facts.known {
        Some(known) if known == response => Decision::Matches,
        Some(_) => Decision::Refuse(Refusal::DiffersFromKnown),
        None => Decision::Accept,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Identity<'static> = Identity {
        product_key: "a1PK",
        device_name: "dev-a",
    };
    const B: Identity<'static> = Identity {
        product_key: "a1PK",
        device_name: "dev-b",
    };

    fn first_run() -> Facts<'static> {
        Facts {
            x509: true,
            configured_by_firmware: false,
            retained: false,
            accepted_on_this_connection: false,
            known: None,
        }
    }

    #[test]
    fn the_first_live_response_of_an_unknown_x509_device_is_accepted() {
        assert_eq!(decide(&first_run(), Some(A)), Decision::Accept);
    }

    #[test]
    fn device_secret_mode_never_accepts() {
        let facts = Facts {
            x509: false,
            ..first_run()
        };
        assert_eq!(decide(&facts, Some(A)), Decision::Refuse(Refusal::NotX509));
    }

    #[test]
    fn a_firmware_identity_is_never_replaced() {
        let facts = Facts {
            configured_by_firmware: true,
            known: Some(A),
            ..first_run()
        };
        assert_eq!(
            decide(&facts, Some(B)),
            Decision::Refuse(Refusal::ConfiguredByFirmware)
        );
        assert_eq!(
            decide(&facts, Some(A)),
            Decision::Refuse(Refusal::ConfiguredByFirmware)
        );
    }

    #[test]
    fn retained_responses_are_refused() {
        let facts = Facts {
            retained: true,
            ..first_run()
        };
        assert_eq!(decide(&facts, Some(A)), Decision::Refuse(Refusal::Retained));
    }

    #[test]
    fn only_one_response_per_connection() {
        let facts = Facts {
            accepted_on_this_connection: true,
            known: Some(A),
            ..first_run()
        };
        assert_eq!(
            decide(&facts, Some(B)),
            Decision::Refuse(Refusal::SecondOnThisConnection)
        );
    }

    #[test]
    fn a_known_identity_is_confirmed_or_defended() {
        let facts = Facts {
            known: Some(A),
            ..first_run()
        };
        assert_eq!(decide(&facts, Some(A)), Decision::Matches);
        assert_eq!(
            decide(&facts, Some(B)),
            Decision::Refuse(Refusal::DiffersFromKnown)
        );
    }

    #[test]
    fn malformed_responses_change_nothing() {
        assert_eq!(
            decide(&first_run(), None),
            Decision::Refuse(Refusal::Malformed)
        );
    }

    #[test]
    fn every_refusal_has_a_sentence() {
        for refusal in [
            Refusal::NotX509,
            Refusal::ConfiguredByFirmware,
            Refusal::Retained,
            Refusal::SecondOnThisConnection,
            Refusal::Malformed,
            Refusal::DiffersFromKnown,
        ] {
            assert!(refusal.sentence().len() > 20);
        }
    }
}

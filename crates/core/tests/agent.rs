//! The agent's policies: backoff, option fallbacks, the endpoint rule.

use iotkit_core::agent::backoff::{Backoff, BackoffConfig};
use iotkit_core::agent::endpoint::{
    plan, CaSource, CertificateSource, Mode, Origin, PlanError, Region, Sources, X509_HOST,
};
use iotkit_core::agent::options::{self, OptionInput, OptionName};
use iotkit_core::mqtt::session::{Config, DisconnectReason, TransportError};

const KICKED: DisconnectReason = DisconnectReason::Transport(TransportError::Closed);

#[test]
fn backoff_starts_between_half_a_second_and_one_and_doubles_to_the_cap() {
    let mut lowest = Backoff::new(BackoffConfig::default());
    let mut highest = Backoff::new(BackoffConfig::default());
    let low: Vec<u64> = (0..10).map(|_| lowest.next_delay(0)).collect();
    let high: Vec<u64> = (0..10).map(|_| highest.next_delay(u32::MAX)).collect();
    assert_eq!(
        low,
        [500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000, 30_000]
    );
    assert_eq!(
        high,
        [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000, 60_000]
    );
    // Jitter: a middle value lands in between.
    let mut mid = Backoff::new(BackoffConfig::default());
    let first = mid.next_delay(u32::MAX / 2);
    assert!((740..=760).contains(&first), "{first}");
    // Never above the cap, however long it goes on.
    let mut long = Backoff::new(BackoffConfig::default());
    for i in 0..500u32 {
        let d = long.next_delay(i.wrapping_mul(2_654_435_761));
        assert!(d <= 60_000, "{d}");
    }
}

#[test]
fn backoff_resets_only_after_the_link_stayed_up_a_keep_alive_period() {
    let config = BackoffConfig {
        stable_ms: 60_000,
        ..BackoffConfig::default()
    };
    let mut b = Backoff::new(config);
    let mut now = 0;
    // A server that accepts and kicks the device at once: the delays keep
    // growing although every attempt "connects".
    let mut delays = Vec::new();
    for _ in 0..6 {
        b.link_up(now);
        now += 200;
        b.link_down(now, &KICKED);
        let d = b.next_delay(0);
        delays.push(d);
        now += d;
    }
    assert_eq!(delays, [500, 1_000, 2_000, 4_000, 8_000, 16_000]);
    // Up for 59.999 s: still no reset.
    b.link_up(now);
    b.link_down(now + 59_999, &KICKED);
    assert_eq!(b.next_delay(0), 30_000);
    // Up for a full period: the next delay starts over.
    b.link_up(now);
    b.link_down(now + 60_000, &KICKED);
    assert_eq!(b.failures(), 0);
    assert_eq!(b.next_delay(0), 500);
    // A failed attempt (no link_up) never resets.
    b.link_down(now, &DisconnectReason::ConnAckTimeout);
    assert_eq!(b.next_delay(0), 1_000);
}

#[test]
fn not_authorised_backs_off_straight_to_the_cap() {
    let mut b = Backoff::new(BackoffConfig::default());
    b.link_down(0, &DisconnectReason::Refused(5));
    let d = b.next_delay(0);
    assert_eq!(d, 30_000);
    assert_eq!(b.next_delay(u32::MAX), 60_000);
    // Other refusals double as usual.
    let mut other = Backoff::new(BackoffConfig::default());
    other.link_down(0, &DisconnectReason::Refused(3));
    assert_eq!(other.next_delay(0), 500);
    assert_eq!(other.config(), BackoffConfig::default());
}

#[test]
fn backoff_with_odd_configurations_stays_sane() {
    let mut tiny = Backoff::new(BackoffConfig {
        first_ms: 0,
        cap_ms: 0,
        stable_ms: 0,
    });
    assert!(tiny.next_delay(u32::MAX) <= 2);
    let mut huge = Backoff::new(BackoffConfig {
        first_ms: u64::MAX,
        cap_ms: u64::MAX,
        stable_ms: 1,
    });
    for _ in 0..100 {
        huge.next_delay(u32::MAX);
    }
    huge.link_down(0, &DisconnectReason::Refused(5));
}

#[test]
fn option_ranges_and_fallbacks_are_the_vendors() {
    let defaults = options::resolve(OptionInput::default()).unwrap();
    assert_eq!(defaults.fallbacks, [None, None]);
    let o = defaults.options;
    assert_eq!(
        (o.ping_interval_ms, o.keep_alive_s, o.request_timeout_ms),
        (60_000, 120, 5_000)
    );
    assert_eq!(
        (o.read_buf_size, o.write_buf_size, o.clean_session),
        (3072, 3072, false)
    );

    for (given, ping, advertised) in [
        (30_000, 30_000, 60),
        (600_000, 600_000, 1200),
        (1_200_000, 600_000, 1200),
    ] {
        let r = options::resolve(OptionInput {
            keepalive_interval_ms: given,
            ..OptionInput::default()
        })
        .unwrap();
        assert_eq!(r.fallbacks, [None, None]);
        assert_eq!(
            (r.options.ping_interval_ms, r.options.keep_alive_s),
            (ping, advertised)
        );
    }
    let r = options::resolve(OptionInput {
        keepalive_interval_ms: 29_999,
        request_timeout_ms: 10_001,
        read_buf_size: 128,
        write_buf_size: 16 * 1024 * 1024,
        clean_session: true,
    })
    .unwrap();
    assert_eq!(r.options.ping_interval_ms, 60_000);
    assert_eq!(r.options.request_timeout_ms, 5_000);
    let [Some(keepalive), Some(timeout)] = r.fallbacks else {
        panic!("{:?}", r.fallbacks)
    };
    assert_eq!(
        keepalive.to_string(),
        "mqtt_params.keepalive_interval_ms = 29999 is outside 30000..1200000; using the default 60000"
    );
    assert_eq!(timeout.option, OptionName::RequestTimeoutMs);
    assert_eq!(
        timeout.to_string(),
        "mqtt_params.request_timeout_ms = 10001 is outside 1000..10000; using the default 5000"
    );
    let mut config = Config::new("c");
    r.options.apply(&mut config);
    assert_eq!(
        (
            config.max_incoming_packet_size,
            config.max_packet_size,
            config.clean_session
        ),
        (128, 16 * 1024 * 1024, true)
    );

    let err = options::resolve(OptionInput {
        write_buf_size: 127,
        ..OptionInput::default()
    })
    .unwrap_err();
    assert_eq!(err.option, OptionName::WriteBufSize);
    assert_eq!(
        err.to_string(),
        "write_buf_size = 127 is outside 128..16777216 bytes"
    );
    let err = options::resolve(OptionInput {
        read_buf_size: 16 * 1024 * 1024 + 1,
        ..OptionInput::default()
    })
    .unwrap_err();
    assert_eq!(err.option.field(), "read_buf_size");
}

fn x509<'a>() -> Sources<'a> {
    Sources {
        certificate_setter: true,
        ca_global: true,
        ..Sources::default()
    }
}

#[test]
fn host_and_port_precedence() {
    let p = plan(&x509()).unwrap();
    assert_eq!(p.mode, Mode::X509(CertificateSource::Setter));
    assert_eq!(
        (p.host.as_str(), p.host_origin),
        (X509_HOST, Origin::Default)
    );
    assert_eq!((p.port, p.port_origin), (1883, Origin::Default));

    let all = Sources {
        env_host: Some("env.example"),
        env_port: Some("8883"),
        param_host: Some("param.example"),
        param_port: 1884,
        ioctl_host: Some("ioctl.example"),
        ioctl_port: 1885,
        ..x509()
    };
    let p = plan(&all).unwrap();
    assert_eq!((p.host.as_str(), p.port), ("env.example", 8883));
    assert_eq!((p.host_origin, p.port_origin), (Origin::Env, Origin::Env));
    let p = plan(&Sources {
        env_host: Some(""),
        env_port: None,
        ..all
    })
    .unwrap();
    assert_eq!((p.host.as_str(), p.port), ("param.example", 1884));
    let p = plan(&Sources {
        env_host: None,
        env_port: None,
        param_host: None,
        param_port: 0,
        ..all
    })
    .unwrap();
    assert_eq!((p.host.as_str(), p.port), ("ioctl.example", 1885));
    assert_eq!(
        (p.host_origin, p.port_origin),
        (Origin::Ioctl, Origin::Ioctl)
    );

    for bad in ["0", "65536", "port", "-1"] {
        assert_eq!(
            plan(&Sources {
                env_port: Some(bad),
                ..x509()
            }),
            Err(PlanError::BadEnvPort(bad.into()))
        );
    }
}

#[test]
fn the_domain_set_with_ioctl_wins_in_every_region_and_both_modes() {
    for region in [
        Region::Shanghai,
        Region::Singapore,
        Region::Germany,
        Region::Custom,
    ] {
        for sources in [
            x509(),
            Sources {
                certificate_setter: false,
                product_key: "pk",
                device_name: "dn",
                device_secret: "ds",
                ..x509()
            },
        ] {
            let p = plan(&Sources {
                region,
                ioctl_host: Some("staging.example"),
                ..sources
            })
            .unwrap();
            assert_eq!(p.host, "staging.example", "{region:?} {:?}", p.mode);
        }
    }
}

#[test]
fn default_hosts_by_mode_and_region() {
    assert_eq!(
        plan(&Sources {
            region: Region::Japan,
            ..x509()
        }),
        Err(PlanError::X509OutsideShanghai(Region::Japan))
    );
    let secret = Sources {
        product_key: "a1B2c3",
        device_name: "dn",
        device_secret: "ds",
        region: Region::Germany,
        ..Sources::default()
    };
    let p = plan(&secret).unwrap();
    assert_eq!(p.mode, Mode::DeviceSecret);
    assert_eq!(p.host, "a1B2c3.iot-as-mqtt.eu-central-1.aliyuncs.com");
    assert_eq!(p.port, 443);
    assert_eq!(p.ca, None);
    assert_eq!(
        plan(&Sources {
            region: Region::Custom,
            ..secret
        }),
        Err(PlanError::CustomRegionNeedsHost)
    );
    assert_eq!(
        plan(&Sources {
            device_secret: "",
            ..secret
        }),
        Err(PlanError::NoCredentials)
    );
    for value in 0..6 {
        let region = Region::from_int(value).unwrap();
        assert_eq!(region.site().is_none(), region == Region::Custom);
    }
    assert_eq!(Region::from_int(6), None);
    for error in [
        PlanError::NoCredentials,
        PlanError::X509OutsideShanghai(Region::Japan),
        PlanError::CustomRegionNeedsHost,
        PlanError::BadEnvPort("x".into()),
    ] {
        assert!(error.to_string().len() > 20);
    }
    assert!(PlanError::X509OutsideShanghai(Region::Japan)
        .to_string()
        .contains("region 2"));
}

#[test]
fn certificate_and_ca_precedence() {
    let all = Sources {
        certificate_globals: true,
        certificate_setter: true,
        certificate_env_files: true,
        ca_env_file: true,
        ca_param: true,
        ca_global: true,
        product_key: "pk",
        device_name: "dn",
        device_secret: "ds",
        ..Sources::default()
    };
    let p = plan(&all).unwrap();
    // A certificate wins over a device secret.
    assert_eq!(p.mode, Mode::X509(CertificateSource::Globals));
    assert_eq!(p.ca, Some(CaSource::EnvFile));
    let p = plan(&Sources {
        certificate_globals: false,
        ca_env_file: false,
        ..all
    })
    .unwrap();
    assert_eq!(
        (p.mode, p.ca),
        (Mode::X509(CertificateSource::Setter), Some(CaSource::Param))
    );
    let p = plan(&Sources {
        certificate_globals: false,
        certificate_setter: false,
        ca_env_file: false,
        ca_param: false,
        ..all
    })
    .unwrap();
    assert_eq!(
        (p.mode, p.ca),
        (
            Mode::X509(CertificateSource::EnvFiles),
            Some(CaSource::Global)
        )
    );
}

/// IOT_Sign_MQTT passes no mqtt_params; it must get what Construct gets
/// from the same environment and IOT_Ioctl settings.
#[test]
fn sign_and_construct_agree() {
    let shared = Sources {
        env_host: Some("127.0.0.1"),
        env_port: Some("18883"),
        ioctl_host: Some("ioctl.example"),
        ioctl_port: 1999,
        region: Region::Custom,
        ..x509()
    };
    let construct = plan(&shared).unwrap();
    let sign = plan(&Sources {
        param_host: None,
        param_port: 0,
        ..shared
    })
    .unwrap();
    assert_eq!((construct.host, construct.port), (sign.host, sign.port));
}

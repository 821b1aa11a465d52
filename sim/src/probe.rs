//! `iotkit-sim probe`: run by a user with a real account against the real
//! x509 endpoint (`x509.itls.cn-shanghai.aliyuncs.com:1883`) to record which
//! rules hold there. Each CONNECT variant goes over its own TLS connection;
//! the results are printed as rows of the rule file (status "measured"), so
//! they can replace the guesses with `serve --rules FILE`.

use crate::mqtt;
use crate::rules::{Row, Rules, Table};
use anyhow::{bail, Context, Result};
use openssl::ssl::{SslConnector, SslFiletype, SslMethod, SslStream, SslVerifyMode, SslVersion};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct ProbeArgs {
    /// Endpoint host name (also the SNI and the name the server certificate must carry)
    #[arg(long, default_value = "x509.itls.cn-shanghai.aliyuncs.com")]
    host: String,
    /// Endpoint port
    #[arg(long, default_value_t = 1883)]
    port: u16,
    /// Connect to this address instead of resolving --host (the certificate is still checked for --host)
    #[arg(long, value_name = "IP")]
    address: Option<String>,
    /// CA bundle (PEM) that verifies the server
    #[arg(long)]
    ca: PathBuf,
    /// The device certificate (PEM). Use an RSA one (the platform's default):
    /// with an EC key, TLS 1.2 ties the client certificate to the offered
    /// curves and the curve probe reports only the key's own curve
    #[arg(long)]
    cert: PathBuf,
    /// The device private key (PEM)
    #[arg(long)]
    key: PathBuf,
    /// clientId used in the CONNECT variants (before the |...| parameters)
    #[arg(long, default_value = "iotkit-probe")]
    client_id: String,
    /// Pause between connections in milliseconds (be gentle with a real endpoint)
    #[arg(long, default_value_t = 1000)]
    pause_ms: u64,
    /// Read timeout per answer in seconds
    #[arg(long, default_value_t = 10)]
    timeout_secs: u64,
}

/// TLS settings of one probe connection.
#[derive(Clone, Default)]
struct Tls {
    version: Option<SslVersion>,
    ciphers: Option<&'static str>,
    curves: Option<&'static str>,
    no_sni: bool,
}

/// A CONNECT variant.
#[derive(Clone)]
struct Connect {
    protocol: (&'static str, u8),
    client_id: String,
    username: Option<String>,
    password: Option<String>,
    keep_alive: u16,
    will: bool,
}

struct Prober<'a> {
    args: &'a ProbeArgs,
    target: std::net::SocketAddr,
}

/// What one CONNECT got: a CONNACK code, or a closed connection without one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Connack(u8),
    Closed,
}

impl Answer {
    fn accepted(self) -> bool {
        self == Answer::Connack(0)
    }
    fn describe(self) -> String {
        match self {
            Answer::Connack(code) => format!("CONNACK {code}"),
            Answer::Closed => "closed without CONNACK".into(),
        }
    }
}

impl<'a> Prober<'a> {
    fn tls(&self, tls: &Tls) -> Result<SslStream<TcpStream>> {
        let mut builder = SslConnector::builder(SslMethod::tls_client())?;
        builder.set_verify(SslVerifyMode::PEER);
        builder
            .set_ca_file(&self.args.ca)
            .with_context(|| format!("loading --ca {}", self.args.ca.display()))?;
        builder
            .set_certificate_chain_file(&self.args.cert)
            .with_context(|| format!("loading --cert {}", self.args.cert.display()))?;
        builder
            .set_private_key_file(&self.args.key, SslFiletype::PEM)
            .with_context(|| format!("loading --key {}", self.args.key.display()))?;
        if let Some(version) = tls.version {
            builder.set_min_proto_version(Some(version))?;
            builder.set_max_proto_version(Some(version))?;
        }
        if let Some(ciphers) = tls.ciphers {
            builder.set_cipher_list(ciphers)?;
        }
        if let Some(curves) = tls.curves {
            builder.set_groups_list(curves)?;
        }
        let connector = builder.build();
        let mut config = connector.configure()?;
        config.set_use_server_name_indication(!tls.no_sni);
        let tcp =
            TcpStream::connect_timeout(&self.target, Duration::from_secs(self.args.timeout_secs))?;
        tcp.set_read_timeout(Some(Duration::from_secs(self.args.timeout_secs)))?;
        tcp.set_nodelay(true)?;
        let stream = config
            .connect(&self.args.host, tcp)
            .map_err(|e| anyhow::anyhow!("TLS handshake failed: {e}"))?;
        Ok(stream)
    }

    fn pause(&self) {
        std::thread::sleep(Duration::from_millis(self.args.pause_ms));
    }

    /// Does a TLS handshake with these settings succeed? (A rejected client
    /// certificate in TLS 1.3 shows only on the first read, so a PINGREQ-less
    /// CONNECT is sent and the answer read.)
    fn handshake(&self, tls: &Tls) -> bool {
        let result = self.tls(tls).and_then(|mut stream| {
            let answer = self.exchange(&mut stream, &self.baseline())?;
            let _ = stream.write_all(&[0xe0, 0]);
            Ok(answer)
        });
        self.pause();
        matches!(result, Ok(Answer::Connack(_)))
    }

    fn baseline(&self) -> Connect {
        Connect {
            protocol: ("MQTT", 4),
            client_id: format!("{}|securemode=2,signmethod=hmacsha1|", self.args.client_id),
            username: Some(String::new()),
            password: Some(String::new()),
            keep_alive: 60,
            will: false,
        }
    }

    fn exchange(&self, stream: &mut SslStream<TcpStream>, connect: &Connect) -> Result<Answer> {
        stream.write_all(&connect_packet(connect))?;
        let mut header = [0u8; 4];
        match stream.read_exact(&mut header) {
            Ok(()) if header[0] == mqtt::CONNACK << 4 && header[1] == 2 => {
                Ok(Answer::Connack(header[3]))
            }
            Ok(()) => bail!(
                "the endpoint answered {header} instead of a CONNACK",
                header = crate::quote::hex(&header)
            ),
            Err(_) => Ok(Answer::Closed),
        }
    }

    fn connect(&self, connect: &Connect) -> Answer {
        let answer = self
            .tls(&Tls::default())
            .and_then(|mut stream| {
                let answer = self.exchange(&mut stream, connect)?;
                if answer.accepted() {
                    let _ = stream.write_all(&[0xe0, 0]);
                }
                Ok(answer)
            })
            .unwrap_or(Answer::Closed);
        self.pause();
        answer
    }
}

fn put_str(out: &mut Vec<u8>, text: &[u8]) {
    out.extend_from_slice(&(text.len() as u16).to_be_bytes());
    out.extend_from_slice(text);
}

fn connect_packet(c: &Connect) -> Vec<u8> {
    let mut body = Vec::new();
    put_str(&mut body, c.protocol.0.as_bytes());
    body.push(c.protocol.1);
    let mut flags = 0x02;
    if c.will {
        flags |= 0x04;
    }
    if c.username.is_some() {
        flags |= 0x80;
    }
    if c.password.is_some() {
        flags |= 0x40;
    }
    body.push(flags);
    body.extend_from_slice(&c.keep_alive.to_be_bytes());
    put_str(&mut body, c.client_id.as_bytes());
    if c.will {
        put_str(&mut body, b"/will/topic");
        put_str(&mut body, b"gone");
    }
    if let Some(user) = &c.username {
        put_str(&mut body, user.as_bytes());
    }
    if let Some(password) = &c.password {
        put_str(&mut body, password.as_bytes());
    }
    let mut packet = vec![mqtt::CONNECT << 4];
    mqtt::put_remaining_length(&mut packet, body.len());
    packet.extend_from_slice(&body);
    packet
}

const TLS12_SUITES: [&str; 10] = [
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-RSA-CHACHA20-POLY1305",
    "ECDHE-RSA-AES128-SHA256",
    "ECDHE-RSA-AES128-SHA",
    "AES128-GCM-SHA256",
    "AES256-GCM-SHA384",
    "AES128-SHA256",
];
const CURVES: [&str; 4] = ["X25519", "P-256", "P-384", "P-521"];

pub fn run(args: &ProbeArgs) -> Result<()> {
    let address = args.address.clone().unwrap_or_else(|| args.host.clone());
    let target = (address.as_str(), args.port)
        .to_socket_addrs()
        .with_context(|| format!("resolving {address}"))?
        .next()
        .with_context(|| format!("{address} resolves to nothing"))?;
    let prober = Prober { args, target };
    eprintln!(
        "probing {}:{} ({target}); one connection per rule",
        args.host, args.port
    );
    let base = prober.baseline();
    let first = prober.connect(&base);
    if !first.accepted() {
        bail!(
            "the baseline CONNECT (client id {}, empty user name and password) got {}; check the certificate, key and CA",
            crate::quote::q(&base.client_id),
            first.describe()
        );
    }
    let source = format!(
        "iotkit-sim probe against {}:{} on {}",
        args.host,
        args.port,
        crate::clock::rfc3339(crate::clock::real_now())
    );
    let mut rows = Table::new();
    let mut add = |name: &str, value: toml::Value, note: String| {
        rows.insert(
            name.to_string(),
            Row {
                value,
                status: "measured".into(),
                source: source.clone(),
                note: Some(note),
            },
        );
    };
    let strings =
        |list: Vec<&str>| toml::Value::Array(list.into_iter().map(toml::Value::from).collect());

    // TLS: versions, SNI, suites, curves.
    let versions: Vec<&str> = [("1.2", SslVersion::TLS1_2), ("1.3", SslVersion::TLS1_3)]
        .into_iter()
        .filter(|(_, v)| {
            prober.handshake(&Tls {
                version: Some(*v),
                ..Tls::default()
            })
        })
        .map(|(name, _)| name)
        .collect();
    let old: Vec<&str> = [("1.0", SslVersion::TLS1), ("1.1", SslVersion::TLS1_1)]
        .into_iter()
        .filter(|(_, v)| {
            prober.handshake(&Tls {
                version: Some(*v),
                ..Tls::default()
            })
        })
        .map(|(name, _)| name)
        .collect();
    add(
        "tls_versions",
        strings(versions.clone()),
        format!(
            "TLS versions completing a handshake; also accepted of 1.0/1.1: {old}",
            old = if old.is_empty() {
                "none".to_string()
            } else {
                old.join(", ")
            }
        ),
    );
    let without_sni = prober.handshake(&Tls {
        no_sni: true,
        ..Tls::default()
    });
    add(
        "tls_sni_required",
        toml::Value::Boolean(!without_sni),
        format!(
            "a ClientHello without SNI was {}",
            if without_sni { "accepted" } else { "refused" }
        ),
    );
    let suites: Vec<&str> = TLS12_SUITES
        .into_iter()
        .filter(|suite| {
            prober.handshake(&Tls {
                version: Some(SslVersion::TLS1_2),
                ciphers: Some(suite),
                ..Tls::default()
            })
        })
        .collect();
    add(
        "tls12_ciphers",
        toml::Value::from(suites.join(":")),
        format!(
            "TLS 1.2 suites accepted one at a time, of {}",
            TLS12_SUITES.join(":")
        ),
    );
    let curves: Vec<&str> = CURVES
        .into_iter()
        .filter(|curve| {
            prober.handshake(&Tls {
                version: Some(SslVersion::TLS1_2),
                ciphers: Some("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384"),
                curves: Some(curve),
                ..Tls::default()
            })
        })
        .collect();
    add(
        "tls_curves",
        strings(curves),
        format!(
            "ECDHE groups accepted one at a time in TLS 1.2, of {}",
            CURVES.join(":")
        ),
    );

    // CONNECT rules.
    let with = |change: &dyn Fn(&mut Connect)| {
        let mut variant = base.clone();
        change(&mut variant);
        variant
    };
    let id = args.client_id.clone();
    let level3 = prober.connect(&with(&|c| c.protocol = ("MQIsdp", 3)));
    let level5 = prober.connect(&with(&|c| c.protocol = ("MQTT", 5)));
    let mut levels = vec![];
    if level3.accepted() {
        levels.push(toml::Value::Integer(3));
    }
    levels.push(toml::Value::Integer(4));
    add(
        "protocol_levels",
        toml::Value::Array(levels),
        format!(
            "MQTT 3.1 (MQIsdp, 3): {}; level 5: {}",
            level3.describe(),
            level5.describe()
        ),
    );
    let at_max = prober.connect(&with(&|c| {
        c.client_id = format!("{}|securemode=2|", "c".repeat(64))
    }));
    let over_max = prober.connect(&with(&|c| {
        c.client_id = format!("{}|securemode=2|", "c".repeat(65))
    }));
    add(
        "client_id_max",
        toml::Value::Integer(if at_max.accepted() && !over_max.accepted() {
            64
        } else {
            -1
        }),
        format!(
            "a 64-character clientId: {}; 65: {} (-1: the 64-character limit did not hold)",
            at_max.describe(),
            over_max.describe()
        ),
    );
    let malformed = prober.connect(&with(&|c| c.client_id = format!("{id}|securemode=2")));
    let bad_code = match malformed {
        Answer::Connack(code) => i64::from(code),
        Answer::Closed => -1,
    };
    add(
        "bad_client_id_code",
        toml::Value::Integer(bad_code),
        format!(
            "client id without the final '|': {}; 65-character clientId: {}",
            malformed.describe(),
            over_max.describe()
        ),
    );
    let java = prober.connect(&with(&|c| c.client_id = format!("{id}|securemode=2|")));
    let bogus_sign = prober.connect(&with(&|c| {
        c.client_id = format!("{id}|securemode=2,signmethod=bogus|")
    }));
    add(
        "sign_methods",
        strings(vec!["hmacmd5", "hmacsha1", "hmacsha256"]),
        format!(
            "without signmethod/timestamp ({id}|securemode=2|): {}; signmethod=bogus: {}",
            java.describe(),
            bogus_sign.describe()
        ),
    );
    let ka29 = prober.connect(&with(&|c| c.keep_alive = 29));
    let ka30 = prober.connect(&with(&|c| c.keep_alive = 30));
    add(
        "keepalive_min",
        toml::Value::Integer(if ka30.accepted() && !ka29.accepted() {
            30
        } else {
            -1
        }),
        format!(
            "keepalive 29: {}; 30: {} (-1: 30 was not the limit)",
            ka29.describe(),
            ka30.describe()
        ),
    );
    if let Answer::Connack(code) = ka29 {
        add(
            "keepalive_min_code",
            toml::Value::Integer(i64::from(code)),
            format!("keepalive 29: {}", ka29.describe()),
        );
    }
    let ka1201 = prober.connect(&with(&|c| c.keep_alive = 1201));
    let ka_max = prober.connect(&with(&|c| c.keep_alive = 65535));
    add(
        "keepalive_max",
        toml::Value::Integer(1200),
        format!(
            "keepalive 1201: {}; 65535: {} (whether it is treated as 1200 is not visible to a client)",
            ka1201.describe(),
            ka_max.describe()
        ),
    );
    let ampersand = prober.connect(&with(&|c| {
        c.client_id = format!("{id}|timestamp=2524608000000,_v=sdk-c-3.2.0,securemode=2,signmethod=hmacsha256,lan=C,_ss=1,gw=0,ext=0|");
        c.username = Some("&".into());
        c.password = Some("0".repeat(64));
    }));
    let empty = first;
    let mut users = vec![];
    if empty.accepted() {
        users.push("");
    }
    if ampersand.accepted() {
        users.push("&");
    }
    add(
        "first_connect_usernames",
        strings(users),
        format!(
            "empty user name and password: {}; user name '&' with a 64-hex password: {}",
            empty.describe(),
            ampersand.describe()
        ),
    );
    let stranger = prober.connect(&with(&|c| c.username = Some("nobody&a1nobody0000".into())));
    if let Answer::Connack(code) = stranger {
        add(
            "not_authorized_code",
            toml::Value::Integer(i64::from(code)),
            format!(
                "a user name that is not the certificate's deviceName&productKey: {}",
                stranger.describe()
            ),
        );
    }
    let will = prober.connect(&with(&|c| c.will = true));
    add(
        "will",
        toml::Value::from(if will.accepted() { "ignore" } else { "refuse" }),
        format!(
            "a CONNECT with a will message: {} (whether a will is delivered is not probed)",
            will.describe()
        ),
    );
    if let Answer::Connack(code) = will {
        if code != 0 {
            add(
                "will_refuse_code",
                toml::Value::Integer(i64::from(code)),
                format!("will: {}", will.describe()),
            );
        }
    }
    print!(
        "# measured by iotkit-sim probe; use with `iotkit-sim serve --rules FILE`\n\n{}",
        Rules::to_toml(&rows)
    );
    Ok(())
}

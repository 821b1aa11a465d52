//! Validity dates of the server's certificate, with the clock right and
//! with a clock that was never set (1970, as a device without a real-time
//! clock boots), through `faketime` (Debian package "faketime") around a
//! child run of this test binary:
//!
//! - clock plausible (now): an expired server certificate is refused;
//! - clock unset: it is accepted with a warning (everything else is still
//!   checked), until `iotkit_tls_set_clock_trusted(1)` says the clock is
//!   right; from then on it is refused whatever the clock reads.

mod support;

use std::process::Command;
use std::time::Duration;

use iotkit::ffi::tls::iotkit_tls_set_clock_trusted;
use iotkit::tls::{self, DateCheck, TlsConfig, TlsError};
use support::peers::{self, SServer};
use support::pki;

const TIMEOUT: Duration = Duration::from_secs(10);
const PORT_ENV: &str = "IOTKIT_DATES_PORT";
const PKI_ENV: &str = "IOTKIT_DATES_PKI";
const CHILD: &str = "child_with_an_unset_clock";

fn connect(port: u16, ca: &[u8]) -> Result<tls::TlsConnection, TlsError> {
    tls::connect(
        "localhost",
        port,
        &TlsConfig::new(ca, None).unwrap(),
        TIMEOUT,
    )
}

/// Runs in the child, whose clock reads 1970-01-02.
#[test]
#[ignore = "run by an_unset_clock_skips_dates_until_it_is_trusted under faketime"]
fn child_with_an_unset_clock() {
    let port: u16 = std::env::var(PORT_ENV).unwrap().parse().unwrap();
    let dir = std::path::PathBuf::from(std::env::var(PKI_ENV).unwrap());
    let ca = std::fs::read(dir.join("ca.crt")).unwrap();
    assert!(
        std::time::SystemTime::now() < std::time::UNIX_EPOCH + Duration::from_secs(86_400 * 365)
    );
    assert_eq!(tls::date_check(), DateCheck::SkippedClockUnset);
    // The 2020 certificate is "not yet valid" in 1970: accepted.
    let conn = connect(port, &ca).unwrap_or_else(|e| panic!("unset clock: {e}"));
    drop(conn);
    eprintln!("CHILD: connected with the clock unset");
    // Everything but the dates is still checked: another CA is refused.
    let other = std::fs::read(dir.join("other_ca.crt")).unwrap();
    let err = connect(port, &other).expect_err("untrusted CA refused");
    assert!(
        matches!(err, TlsError::UntrustedServerCertificate { .. }),
        "{err}"
    );
    // Once the clock is declared right, the dates count.
    assert_eq!(iotkit_tls_set_clock_trusted(1), 0);
    assert_eq!(tls::date_check(), DateCheck::Enforced);
    let err = connect(port, &ca).expect_err("dates enforced");
    assert!(
        matches!(err, TlsError::ServerCertificateDates { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("check the device clock"), "{err}");
    eprintln!("CHILD: refused once the clock is trusted");
}

#[test]
fn an_unset_clock_skips_dates_until_it_is_trusted() {
    let pki = pki::shared();
    pki.issue_expired_server("server_2020", "ca");
    pki.new_ca("other_ca");
    let server = peers::s_server(
        pki,
        &SServer {
            cert: "server_2020",
            require_client_cert: false,
            ..SServer::default()
        },
    );
    // With the real clock, the expired certificate is refused.
    let err = connect(server.port, &pki.read("ca.crt")).expect_err("expired");
    assert!(
        matches!(err, TlsError::ServerCertificateDates { .. }),
        "{err}"
    );
    let out = Command::new("faketime")
        .args(["-f", "@1970-01-02 00:00:00"])
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            CHILD,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        // Only the wall clock is faked; timeouts keep working.
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .env(PORT_ENV, server.port.to_string())
        .env(PKI_ENV, pki.dir())
        .output()
        .expect("run faketime (Debian package \"faketime\")");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "child failed:\n{stderr}\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let (before, after) = stderr
        .split_once("CHILD: connected with the clock unset")
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        before.contains("the device clock reads 1970-01-02")
            && before.contains("are not checked")
            && before.contains("iotkit_tls_set_clock_trusted(1)"),
        "the skip is announced: {before}"
    );
    assert!(
        after.contains("CHILD: refused once the clock is trusted"),
        "{after}"
    );
}

#[test]
fn trusting_the_clock_keeps_an_expired_server_refused() {
    let pki = pki::shared();
    pki.issue_expired_server("server_2020b", "ca");
    let server = peers::s_server(
        pki,
        &SServer {
            cert: "server_2020b",
            require_client_cert: false,
            ..SServer::default()
        },
    );
    tls::set_clock_trusted(true);
    let result = connect(server.port, &pki.read("ca.crt"));
    tls::set_clock_trusted(false);
    let err = result.expect_err("expired");
    assert!(
        matches!(err, TlsError::ServerCertificateDates { .. }),
        "{err}"
    );
}

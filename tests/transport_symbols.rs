//! The two ways firmware links us, checked on the real archives with
//! `nm -g --defined-only`:
//! - wrappers only (`--no-default-features`): the HAL functions the vendor's
//!   C core needs, g_cli_crt/g_cli_key, ssl_hooks_set and iotkit_* — and no
//!   IOT_*/iotx_* symbol that would clash with the vendor core's own;
//! - whole replacement (default features): all of that plus the SDK API.
//!
//! Builds both archives with cargo into a directory of this test's own.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What the vendor's core, built without its wrappers, links against.
const VENDOR_CORE_NEEDS: &[&str] = &[
    "HAL_Free",
    "HAL_GetFirmwareVersion",
    "HAL_Malloc",
    "HAL_MutexCreate",
    "HAL_MutexDestroy",
    "HAL_MutexLock",
    "HAL_MutexUnlock",
    "HAL_SSL_Destroy",
    "HAL_SSL_Establish",
    "HAL_SSL_Read",
    "HAL_SSL_Write",
    "HAL_SleepMs",
    "HAL_Snprintf",
    "HAL_UptimeMs",
    "HAL_Vsnprintf",
];

/// The transport layer's own exports, in both builds.
const TRANSPORT_EXPORTS: &[&str] = &[
    "HAL_TCP_Establish",
    "HAL_TCP_Destroy",
    "HAL_TCP_Read",
    "HAL_TCP_Write",
    "HAL_SSL_Establish",
    "HAL_SSL_Destroy",
    "HAL_SSL_Read",
    "HAL_SSL_Write",
    "ssl_hooks_set",
    "g_cli_crt",
    "g_cli_key",
    "iotkit_x509_set_credentials",
    "iotkit_x509_clear_credentials",
];

/// Names a wrappers-only library may export: our HAL and iotkit_* API, and
/// the internals of Rust, its runtime and mbedTLS.
fn allowed_in_hal_build(symbol: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "HAL_",
        "iotkit_",
        "_ZN",
        "_R",
        "__",
        "mbedtls_",
        "forward_mbedtls_",
        "rust_",
        "DW.ref.rust_",
    ];
    matches!(symbol, "g_cli_crt" | "g_cli_key" | "ssl_hooks_set")
        || PREFIXES.iter().any(|p| symbol.starts_with(p))
}

fn build_archive(target_dir: &Path, features: &[&str]) -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--lib", "--manifest-path"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .args(features)
        .env("CARGO_TARGET_DIR", target_dir)
        .status()
        .expect("run cargo build");
    assert!(status.success(), "cargo build {features:?} failed");
    target_dir.join("debug").join("libiotkit.a")
}

fn exported(archive: &Path) -> BTreeSet<String> {
    let out = Command::new("nm")
        .args(["-g", "--defined-only"])
        .arg(archive)
        .output()
        .expect("run nm");
    assert!(
        out.status.success(),
        "nm failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.len() == 3).then(|| fields[2].to_owned())
        })
        .collect()
}

fn missing<'a>(symbols: &BTreeSet<String>, wanted: &[&'a str]) -> Vec<&'a str> {
    wanted
        .iter()
        .copied()
        .filter(|s| !symbols.contains(*s))
        .collect()
}

// Builds two extra archives (mbedTLS included) in a directory of its own;
// the ctests exported_symbols / exported_symbols_hal check the CMake-built
// archives on every run. Run this with `cargo test --test transport_symbols -- --ignored`.
#[test]
#[ignore = "slow: builds both archives; ctest exported_symbols(_hal) covers the default run"]
fn wrappers_only_and_full_builds_export_the_right_symbols() {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("symbols");
    // One target directory, built twice: only this crate is rebuilt for the
    // second feature set; each archive is copied out before the next build.
    let hal = target.join("libiotkit-hal.a");
    std::fs::copy(build_archive(&target, &["--no-default-features"]), &hal).unwrap();
    let full = target.join("libiotkit-full.a");
    std::fs::copy(build_archive(&target, &[]), &full).unwrap();

    let hal_symbols = exported(&hal);
    assert_eq!(
        missing(&hal_symbols, VENDOR_CORE_NEEDS),
        Vec::<&str>::new(),
        "HAL build lacks what the vendor core needs"
    );
    assert_eq!(
        missing(&hal_symbols, TRANSPORT_EXPORTS),
        Vec::<&str>::new(),
        "HAL build lacks transport exports"
    );
    let unexpected: Vec<&String> = hal_symbols
        .iter()
        .filter(|s| !allowed_in_hal_build(s))
        .collect();
    assert!(
        unexpected.is_empty(),
        "the wrappers-only build exports symbols beyond HAL_*/iotkit_*/g_cli_*/ssl_hooks_set: {unexpected:?}"
    );
    let clashing: Vec<&String> = hal_symbols
        .iter()
        .filter(|s| s.starts_with("IOT_") || s.starts_with("iotx_") || s.starts_with("IOTX_"))
        .collect();
    assert!(
        clashing.is_empty(),
        "would clash with the vendor core: {clashing:?}"
    );

    let full_symbols = exported(&full);
    assert_eq!(
        missing(&full_symbols, VENDOR_CORE_NEEDS),
        Vec::<&str>::new()
    );
    assert_eq!(
        missing(&full_symbols, TRANSPORT_EXPORTS),
        Vec::<&str>::new()
    );
    assert!(
        full_symbols.contains("IOT_MQTT_Construct"),
        "the full build carries the SDK API"
    );
}

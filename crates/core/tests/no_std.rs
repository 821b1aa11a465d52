//! Proves that iotkit-core needs nothing but `core` and `alloc`.
//!
//! No target without std is installed on the build machines (and the
//! nightly toolchain has no `rust-src` for `-Z build-std`), so the proof is
//! made on the host:
//!
//! 1. iotkit-core has no dependencies at all (its manifest), and the
//!    crate itself is `#![no_std]`, so nothing in its tree can name `std`.
//! 2. `tests/no_std_check` is a `#![no_std]` static library built with
//!    `panic = "abort"`, its own `#[panic_handler]` and its own global
//!    allocator, that calls into the codec, the session and the backoff.
//!    If any crate in its tree linked `std`, std's panic handler would be a
//!    second `panic_impl` and rustc stops with E0152. The same library built
//!    with `--features leak-std` (one `extern crate std;`) must fail that
//!    way, which shows the check can fail.
//! 3. When a bare-metal target is installed (`thumbv7em-none-eabihf`), the
//!    core is also built for it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn core_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `cargo` with the outer build's instrumentation (coverage, sanitizers)
/// removed: those need std-only runtime support.
fn cargo(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO"));
    command.current_dir(dir);
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "LLVM_PROFILE_FILE",
        "CARGO_LLVM_COV",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
    ] {
        command.env_remove(var);
    }
    command.env("CARGO_BUILD_JOBS", "1");
    command
}

fn run(command: &mut Command) -> Output {
    command.output().expect("cargo runs")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn core_has_no_normal_dependencies() {
    // Read from the manifest (no registry needed): an empty [dependencies]
    // table and no other table that would add a dependency to the library.
    let manifest = std::fs::read_to_string(core_dir().join("Cargo.toml")).unwrap();
    let mut table = String::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            table = line.to_owned();
            assert!(
                !(table.contains("build-dependencies")
                    || (table.starts_with("[target") && table.ends_with("dependencies]"))),
                "iotkit-core must not have {table}"
            );
            continue;
        }
        if table == "[dependencies]" && !line.is_empty() && !line.starts_with('#') {
            panic!("iotkit-core must have no dependencies, found: {line}");
        }
    }
}

#[test]
fn core_is_no_std() {
    let lib = std::fs::read_to_string(core_dir().join("src/lib.rs")).unwrap();
    assert!(lib.contains("#![cfg_attr(not(test), no_std)]"));
    assert!(lib.contains("#![forbid(unsafe_code)]"));

    let check = core_dir().join("tests/no_std_check");
    let target_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("no_std_check");
    let build = |features: &[&str]| {
        run(cargo(&check)
            .args(["build", "--offline", "--quiet", "--target-dir"])
            .arg(&target_dir)
            .args(features))
    };

    let clean = build(&[]);
    assert!(
        clean.status.success(),
        "iotkit-core does not link into a #![no_std] library: {}",
        text(&clean)
    );

    let leaky = build(&["--features", "leak-std"]);
    assert!(!leaky.status.success(), "the check did not notice std");
    assert!(
        text(&leaky).contains("E0152"),
        "expected a duplicate panic_impl (E0152), got: {}",
        text(&leaky)
    );
}

#[test]
fn core_builds_for_bare_metal_when_the_target_is_installed() {
    let target = "thumbv7em-none-eabihf";
    let sysroot = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .expect("rustc runs");
    let sysroot = String::from_utf8_lossy(&sysroot.stdout).trim().to_owned();
    let installed = Path::new(&sysroot)
        .join("lib/rustlib")
        .join(target)
        .exists();
    if !installed {
        eprintln!("{target} is not installed: the host-side check (core_is_no_std) is the proof");
        return;
    }
    let target_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bare_metal");
    let output = run(cargo(&core_dir())
        .args([
            "build",
            "--offline",
            "-p",
            "iotkit-core",
            "--target",
            target,
            "--target-dir",
        ])
        .arg(&target_dir));
    assert!(output.status.success(), "{}", text(&output));
}

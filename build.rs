//! Compiles the C shim: the few functions stable Rust cannot define (C
//! variadics). Our own C is held to -Wall -Wextra -Werror.

fn main() {
    println!("cargo:rerun-if-changed=c/shim.c");
    println!("cargo:rerun-if-changed=c/ota_weak.c");
    let mut build = cc::Build::new();
    build
        .file("c/shim.c")
        .file("c/ota_weak.c")
        .warnings(true)
        .extra_warnings(true)
        .warnings_into_errors(true)
        .flag_if_supported("-std=c99");
    if std::env::var_os("CARGO_FEATURE_SDK").is_some() {
        build.define("IOTKIT_SDK", None);
    }
    build.compile("iotkit_shim");
    require_tls_record_setting();
}

/// mbedTLS takes its outgoing record size from the C flags: `.cargo/config.toml`
/// sets `CFLAGS`, CMake passes `CFLAGS` (or `CFLAGS_<target>` when cross
/// compiling) with the define appended to the user's own flags. A CFLAGS of
/// the user's own replaces config.toml's (the cc crate, which also builds
/// mbedTLS, uses the first of these variables that is set), which would drop
/// the setting without a word: the build stops instead and says what to add.
/// Another value, given explicitly, is the user's choice (the TLS write path
/// asks mbedTLS for its record size at run time, so any value is safe).
fn require_tls_record_setting() {
    const MACRO: &str = "-DMBEDTLS_SSL_OUT_CONTENT_LEN=";
    const DEFINE: &str = "-DMBEDTLS_SSL_OUT_CONTENT_LEN=4096";
    let target = std::env::var("TARGET").unwrap_or_default();
    let kind = if std::env::var("HOST").ok().as_deref() == Some(target.as_str()) {
        "HOST"
    } else {
        "TARGET"
    };
    let candidates = [
        format!("CFLAGS_{target}"),
        format!("CFLAGS_{}", target.replace('-', "_")),
        format!("{kind}_CFLAGS"),
        "CFLAGS".to_owned(),
    ];
    for name in &candidates {
        println!("cargo:rerun-if-env-changed={name}");
    }
    let effective = candidates
        .iter()
        .find_map(|name| std::env::var(name).ok().map(|value| (name, value)));
    match effective {
        Some((_, flags)) if flags.contains(MACRO) => {}
        Some((name, _)) => {
            eprintln!(
                "error: {name} is set and lacks {DEFINE}, so mbedTLS would be built with \
                 16 KiB outgoing TLS records (12 KiB more heap per connection) without \
                 anyone choosing it. Add {DEFINE} to {name} (or another value \
                 explicitly); CMake builds add it themselves."
            );
            std::process::exit(1);
        }
        None => {
            eprintln!(
                "error: no CFLAGS set: run cargo inside this repository (its \
                 .cargo/config.toml sets CFLAGS={DEFINE}) or set CFLAGS={DEFINE}"
            );
            std::process::exit(1);
        }
    }
}

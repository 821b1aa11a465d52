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
    warn_unless_small_tls_records();
}

/// mbedTLS takes its outgoing record size from the C flags that
/// `.cargo/config.toml` sets; a CFLAGS of the user's own replaces them (the
/// cc crate uses the first of these variables that is set).
fn warn_unless_small_tls_records() {
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
    let effective = candidates.iter().find_map(|name| std::env::var(name).ok());
    if !effective.as_deref().unwrap_or("").contains(DEFINE) {
        println!(
            "cargo:warning=mbedTLS is built without {DEFINE}: each TLS connection \
             keeps 12 KiB more heap. Add it to your CFLAGS (see .cargo/config.toml)."
        );
    }
}

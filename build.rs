//! Compiles the C shim: the few functions stable Rust cannot define (C
//! variadics). Our own C is held to -Wall -Wextra -Werror.

fn main() {
    println!("cargo:rerun-if-changed=c/shim.c");
    let mut build = cc::Build::new();
    build
        .file("c/shim.c")
        .warnings(true)
        .extra_warnings(true)
        .warnings_into_errors(true)
        .flag_if_supported("-std=c99");
    if std::env::var_os("CARGO_FEATURE_SDK").is_some() {
        build.define("IOTKIT_SDK", None);
    }
    build.compile("iotkit_shim");
}

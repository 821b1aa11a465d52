//! TLS 1.2 mutual-auth handshake time on loopback (client certificate with
//! an RSA-2048 or an ECDSA P-256 key, against mosquitto with
//! `require_certificate true`), and the heap a connection costs: held while
//! established, and the peak during the handshake.
//!
//! Heap numbers come from interposing the C allocator in this binary, so
//! mbedTLS's calloc/free are counted along with Rust's allocations; the peer
//! runs in its own process and is not counted.

#[path = "../tests/support/mod.rs"]
mod support;

use std::ffi::c_void;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use iotkit::tls::{self, ClientCredentials, TlsConfig};
use support::peers;

// ---- counting C allocator ------------------------------------------------------

static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

extern "C" {
    fn __libc_malloc(size: usize) -> *mut c_void;
    fn __libc_calloc(count: usize, size: usize) -> *mut c_void;
    fn __libc_realloc(ptr: *mut c_void, size: usize) -> *mut c_void;
    fn __libc_free(ptr: *mut c_void);
    fn __libc_memalign(align: usize, size: usize) -> *mut c_void;
    fn malloc_usable_size(ptr: *mut c_void) -> usize;
}

fn added(ptr: *mut c_void) -> *mut c_void {
    if !ptr.is_null() {
        // SAFETY: ptr is a live block just returned by glibc.
        let size = unsafe { malloc_usable_size(ptr) } as isize;
        let live = LIVE.fetch_add(size, Ordering::Relaxed) + size;
        PEAK.fetch_max(live, Ordering::Relaxed);
    }
    ptr
}

fn removed(ptr: *mut c_void) {
    if !ptr.is_null() {
        // SAFETY: ptr is a live block about to be released.
        let size = unsafe { malloc_usable_size(ptr) } as isize;
        LIVE.fetch_sub(size, Ordering::Relaxed);
    }
}

#[no_mangle]
unsafe extern "C" fn malloc(size: usize) -> *mut c_void {
    // SAFETY: forwards to glibc's implementation.
    added(unsafe { __libc_malloc(size) })
}

#[no_mangle]
unsafe extern "C" fn calloc(count: usize, size: usize) -> *mut c_void {
    // SAFETY: forwards to glibc's implementation.
    added(unsafe { __libc_calloc(count, size) })
}

#[no_mangle]
unsafe extern "C" fn realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
    let old = if ptr.is_null() {
        0
    } else {
        // SAFETY: ptr is a live block owned by the caller.
        unsafe { malloc_usable_size(ptr) as isize }
    };
    // SAFETY: forwards to glibc's implementation.
    let new = unsafe { __libc_realloc(ptr, size) };
    if !new.is_null() || size == 0 {
        LIVE.fetch_sub(old, Ordering::Relaxed);
    }
    added(new)
}

#[no_mangle]
unsafe extern "C" fn free(ptr: *mut c_void) {
    removed(ptr);
    // SAFETY: forwards to glibc's implementation.
    unsafe { __libc_free(ptr) }
}

#[no_mangle]
unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> i32 {
    // SAFETY: forwards to glibc's implementation.
    let ptr = added(unsafe { __libc_memalign(align, size) });
    if ptr.is_null() {
        return libc::ENOMEM;
    }
    // SAFETY: out is a valid pointer per posix_memalign's contract.
    unsafe { *out = ptr };
    0
}

#[no_mangle]
unsafe extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    // SAFETY: forwards to glibc's implementation.
    added(unsafe { __libc_memalign(align, size) })
}

#[no_mangle]
unsafe extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    // SAFETY: forwards to glibc's implementation.
    added(unsafe { __libc_memalign(align, size) })
}

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

fn reset_peak() {
    PEAK.store(live(), Ordering::Relaxed);
}

// ---- benchmarks -------------------------------------------------------------------

const TIMEOUT: Duration = Duration::from_secs(10);
const HELD_SAMPLE: usize = 10;

fn config_for(client: &str) -> TlsConfig {
    let pki = support::pki::shared();
    let creds = ClientCredentials::from_pem_or_der(
        &pki.read(&format!("{client}.crt")),
        &pki.read(&format!("{client}.key")),
        None,
    )
    .expect("bench credentials");
    TlsConfig::new(&pki.read("ca.crt"), Some(Arc::new(creds))).expect("bench CA")
}

/// Prints the heap an established connection holds and the extra peak
/// during one handshake.
fn report_heap(label: &str, port: u16, config: &TlsConfig) {
    // One throw-away connection first: one-time initialisation is not
    // a per-connection cost.
    drop(tls::connect("localhost", port, config, TIMEOUT).expect("warm-up handshake"));
    let before = live();
    reset_peak();
    let first = tls::connect("localhost", port, config, TIMEOUT).expect("handshake");
    let peak = PEAK.load(Ordering::Relaxed) - before;
    let held_one = live() - before;
    let mut more = Vec::with_capacity(HELD_SAMPLE);
    for _ in 0..HELD_SAMPLE {
        more.push(tls::connect("localhost", port, config, TIMEOUT).expect("handshake"));
    }
    let held_avg = (live() - before - held_one) / HELD_SAMPLE as isize;
    drop(more);
    drop(first);
    let after = live() - before;
    println!(
        "heap/{label}: held per established connection {held_avg} B (first {held_one} B), \
         peak during handshake {peak} B above the pre-connect level, {after} B left after closing"
    );
}

fn handshakes(c: &mut Criterion) {
    let pki = support::pki::shared();
    // mosquitto serves many connections at once (s_server only one), which
    // the held-per-connection measurement needs.
    let server = peers::mosquitto_with(pki, true, false);
    let mut group = c.benchmark_group("tls_handshake");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(8));
    for (label, client) in [
        ("rsa2048_client", "client_rsa"),
        ("p256_client", "client_ec"),
    ] {
        let config = config_for(client);
        report_heap(label, server.port, &config);
        group.bench_function(label, |b| {
            b.iter(|| tls::connect("localhost", server.port, &config, TIMEOUT).expect("handshake"))
        });
    }
    group.finish();
}

criterion_group!(benches, handshakes);
criterion_main!(benches);

//! 200 HAL_SSL_Establish / HAL_SSL_Destroy cycles against a real mutual-TLS
//! peer leave the live heap where it was. The heap is measured with glibc's
//! mallinfo2, which sees mbedTLS's own calloc/free as well as Rust's
//! allocations. One test per binary: nothing else allocates meanwhile.

mod support;

use std::ffi::CString;

use iotkit::ffi::tls::{iotkit_x509_set_credentials, HAL_SSL_Destroy, HAL_SSL_Establish};
use support::heap;
use support::peers::{self, SServer};
use support::pki;

const CYCLES: usize = 200;
const WARM_UP: usize = 5;

/// One connection holds ~35 KiB (mbedTLS record buffers alone are 2 x 16.7
/// KiB), so leaking one connection, or 82 bytes per cycle, exceeds this.
/// Without a leak the measured growth is a few KiB of allocator noise that
/// does not scale with the cycle count (2.7-4.7 KiB after 200 cycles,
/// 4.1 KiB after 1000).
const ALLOWED_GROWTH: usize = 16 * 1024;

#[test]
fn establish_destroy_cycles_do_not_grow_the_heap() {
    let pki = pki::shared();
    // Quiet: the peer's log, collected in this process, would be counted.
    let server = peers::s_server(
        pki,
        &SServer {
            quiet: true,
            ..SServer::default()
        },
    );
    let cert = pki.read("client_ec.crt");
    let key = pki.read("client_ec.key");
    assert_eq!(
        iotkit_x509_set_credentials(
            cert.as_ptr().cast(),
            cert.len() as u32,
            key.as_ptr().cast(),
            key.len() as u32,
            std::ptr::null(),
        ),
        0
    );
    let host = CString::new("localhost").unwrap();
    let ca = CString::new(pki.read("ca.crt")).unwrap();
    let ca_len = ca.as_bytes_with_nul().len() as u32;
    let cycle = || {
        let handle = HAL_SSL_Establish(host.as_ptr(), server.port, ca.as_ptr(), ca_len);
        assert_ne!(handle, 0, "establish failed:\n{}", server.output());
        assert_eq!(HAL_SSL_Destroy(handle), 0);
    };
    // Warm-up fills one-time caches (TLS config, parsed credentials, std's
    // lazily created state) before the baseline is taken.
    for _ in 0..WARM_UP {
        cycle();
    }
    server.discard_output();
    heap::trim();
    let before = heap::live_heap_bytes();
    for _ in 0..CYCLES {
        cycle();
    }
    server.discard_output();
    heap::trim();
    let after = heap::live_heap_bytes();
    let growth = after.saturating_sub(before);
    println!("live heap before {before} B, after {CYCLES} cycles {after} B, growth {growth} B");
    assert!(
        growth <= ALLOWED_GROWTH,
        "live heap grew by {growth} bytes over {CYCLES} establish/destroy cycles"
    );
    assert_eq!(iotkit::ffi::tls::open_connections(), 0);
}

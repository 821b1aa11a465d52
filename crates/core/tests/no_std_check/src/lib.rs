//! Links iotkit-core into a `#![no_std]` static library with its own panic
//! handler and allocator, the way RTOS firmware would.

#![no_std]

#[cfg(feature = "leak-std")]
extern crate std;

use core::alloc::{GlobalAlloc, Layout};

use iotkit_core::agent::backoff::{Backoff, BackoffConfig};
use iotkit_core::agent::{endpoint, options};
use iotkit_core::mqtt::session::{Config, DisconnectReason, QoS, Session};
use iotkit_core::mqtt::{codec, topic};

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}

/// An allocator that has no memory: every request fails. Enough to link;
/// this library is only built, never run.
struct NoMemory;

// SAFETY: `alloc` never hands out memory (a null pointer is the documented
// way to report failure) and `dealloc` is only ever given pointers `alloc`
// returned, of which there are none.
unsafe impl GlobalAlloc for NoMemory {
    unsafe fn alloc(&self, _layout: Layout) -> *mut u8 {
        core::ptr::null_mut()
    }
    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {}
}

#[global_allocator]
static ALLOCATOR: NoMemory = NoMemory;

/// Uses the codec, the topic rules, the session and the agent's policies, so that
/// their code is part of the link.
#[no_mangle]
pub extern "C" fn iotkit_core_no_std_check(now_ms: u64, random: u32) -> u64 {
    let mut out = [0u8; 64];
    let ping = codec::encode(&codec::Packet::PingReq, &mut out).map_or(0, |n| n as u64);
    let matched = u64::from(topic::matches("/a/+", "/a/b"));
    let mut sent = 0;
    if let Ok(mut session) = Session::new(Config::new("device-1")) {
        let _ = session.connect(now_ms);
        let _ = session.publish("/a/b", &out[..4], QoS::AtLeastOnce, false);
        session.receive(&out[..2]);
        while session.poll_event().is_some() {}
        while let Some(bytes) = session.poll_transmit(now_ms) {
            sent += bytes.len() as u64;
        }
        session.handle_timeout(now_ms + u64::from(random));
    }
    let mut backoff = Backoff::new(BackoffConfig::default());
    backoff.link_down(now_ms, &DisconnectReason::Refused(5));
    let delay = backoff.next_delay(random);
    let port = endpoint::plan(&endpoint::Sources::default()).map_or(0, |p| u64::from(p.port));
    let ping = ping
        + options::resolve(options::OptionInput::default())
            .map_or(0, |o| o.options.ping_interval_ms);
    ping + matched + sent + delay + port
}

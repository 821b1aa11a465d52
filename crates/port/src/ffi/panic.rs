//! What a panic inside the library does.
//!
//! `void iotkit_panic_hook(const char *message, size_t len)` receives the
//! panic's message and location (not NUL-terminated, at most 160 bytes).
//! It should log, record and reset the device; it must not return into
//! the library. The port in `mcu/` gives a weak default that prints over
//! semihosting and ends the program with exit code 101; the POSIX port in
//! `tests/port_posix/` one that prints and calls `abort()`.
//!
//! * `panic = "abort"` (the MCU, and a hosted build with an abort profile
//!   such as `min-size-abort`): the crate is `no_std` and this module is its
//!   `#[panic_handler]`. Should the hook return, the MCU's core spins here
//!   until a watchdog resets it; a hosted build aborts the process.
//! * `panic = "unwind"` on a hosted target (`cargo build --release`): the
//!   crate links std, and [`install`] (called by `iotkit_mcu_new` and
//!   `iotkit_mcu_forget_identity`, the functions a program calls first)
//!   makes std's panic hook call `iotkit_panic_hook` and then abort. No
//!   panic unwinds into C either way.

use core::ffi::c_char;
use core::fmt::Write;

extern "C" {
    fn iotkit_panic_hook(message: *const c_char, len: usize);
}

/// The panic's text, cut at 160 bytes.
struct Truncating {
    buf: [u8; 160],
    len: usize,
}

impl Write for Truncating {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let room = self.buf.len() - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Formats the message and location and hands them to the firmware's hook.
fn report(message: impl core::fmt::Display, location: Option<&core::panic::Location<'_>>) {
    let mut text = Truncating {
        buf: [0; 160],
        len: 0,
    };
    let _ = write!(text, "{message}");
    if let Some(at) = location {
        let _ = write!(text, " at {}:{}", at.file(), at.line());
    }
    // SAFETY: the buffer is valid for len bytes during the call.
    unsafe { iotkit_panic_hook(text.buf.as_ptr().cast(), text.len) };
}

#[cfg(any(target_os = "none", panic = "abort"))]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    report(info.message(), info.location());
    #[cfg(target_os = "none")]
    loop {
        core::hint::spin_loop();
    }
    #[cfg(not(target_os = "none"))]
    {
        extern "C" {
            fn abort() -> !;
        }
        // SAFETY: C's abort takes nothing and does not return.
        unsafe { abort() }
    }
}

/// The unwinder's personality routine, which the precompiled `core` and
/// `alloc` of a hosted target (built with `panic = "unwind"`) name in
/// their unwind tables. With `panic = "abort"` nothing in the library ever
/// unwinds (a panic ends in `abort` above) and C code does not unwind
/// through it either, so this is never called; if it were, aborting is the
/// only safe answer.
#[cfg(all(panic = "abort", not(target_os = "none")))]
#[no_mangle]
extern "C" fn rust_eh_personality() {
    extern "C" {
        fn abort() -> !;
    }
    // SAFETY: C's abort takes nothing and does not return.
    unsafe { abort() }
}

/// Nothing to install: the `#[panic_handler]` above is the handler.
#[cfg(any(target_os = "none", panic = "abort"))]
pub(crate) fn install() {}

/// Makes std's panic hook call `iotkit_panic_hook`, then abort (once per
/// process; later calls do nothing).
#[cfg(not(any(target_os = "none", panic = "abort")))]
pub(crate) fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(std::boxed::Box::new(|info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| {
                    payload
                        .downcast_ref::<std::string::String>()
                        .map(|s| s.as_str())
                })
                .unwrap_or("panic");
            report(message, info.location());
            std::process::abort();
        }));
    });
}

//! `panic = "abort"` on the MCU: a panic calls the firmware's hook.
//!
//! `void iotkit_panic_hook(const char *message, size_t len)` receives the
//! panic's message and location (not NUL-terminated, at most 160 bytes).
//! It should log, record and reset the device; it must not return into
//! the library. The port in `mcu/` gives a weak default that prints over
//! semihosting and ends the program with exit code 101. Should a hook
//! return, the core spins here until a watchdog resets it.

use core::ffi::c_char;
use core::fmt::Write;
use core::panic::PanicInfo;

extern "C" {
    fn iotkit_panic_hook(message: *const c_char, len: usize);
}

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

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    let mut text = Truncating {
        buf: [0; 160],
        len: 0,
    };
    let _ = write!(text, "{}", info.message());
    if let Some(at) = info.location() {
        let _ = write!(text, " at {}:{}", at.file(), at.line());
    }
    // SAFETY: the buffer is valid for len bytes during the call.
    unsafe { iotkit_panic_hook(text.buf.as_ptr().cast(), text.len) };
    loop {
        core::hint::spin_loop();
    }
}

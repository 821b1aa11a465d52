//! wrappers_os.h: memory, clock, random numbers, mutexes, semaphores, threads,
//! firmware version, reboot, and the device identity getters.

use std::ffi::{c_char, c_int, c_void};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::types::*;
use super::{c_str, copy_out_c_str, guard};
use crate::device::{self, Field};
use crate::handles::HandleTable;
use crate::os::{self, HalMutex, HalSemaphore};
use crate::state::STATE_USER_INPUT_NULL_POINTER;

// ---- memory -----------------------------------------------------------------

// The C library's allocator itself: HAL_Malloc blocks are malloc blocks, so
// firmware may pass them to realloc/free and pass malloc blocks to HAL_Free.
extern "C" {
    fn malloc(size: usize) -> *mut c_void;
    fn free(ptr: *mut c_void);
}

/// Allocates `size` bytes with the C library's `malloc` (aligned for any
/// type); NULL when memory is exhausted. The block may be resized with
/// `realloc` and freed with `free` or HAL_Free; HAL_Free also accepts blocks
/// from `malloc`/`calloc`/`realloc`. HAL_Malloc(0) returns a unique pointer.
#[no_mangle]
pub extern "C" fn HAL_Malloc(size: u32) -> *mut c_void {
    guard("HAL_Malloc", std::ptr::null_mut(), || {
        // At least one byte, so that 0 still gives a unique, freeable pointer
        // on every C library.
        // SAFETY: malloc has no preconditions; NULL is handled below.
        let block = unsafe { malloc((size as usize).max(1)) };
        if !block.is_null() {
            os::record_allocation(block as usize, u64::from(size));
        }
        block
    })
}

/// Frees a block from HAL_Malloc or from the C library's malloc, calloc or
/// realloc (it is passed to `free`); NULL is ignored.
#[no_mangle]
pub extern "C" fn HAL_Free(ptr: *mut c_void) {
    guard("HAL_Free", (), || {
        if ptr.is_null() {
            return;
        }
        // Before free: once freed, another thread's HAL_Malloc may get the
        // same address and must find the book already updated.
        os::record_release(ptr as usize);
        // SAFETY: the caller hands over a live block of the C allocator
        // (HAL_Malloc returns malloc blocks), as with free() itself.
        unsafe { free(ptr) }
    })
}

/// Reads the HAL_Malloc counters into `*stats`. Returns 0, or
/// STATE_USER_INPUT_NULL_POINTER when `stats` is NULL. They count the bytes
/// requested from HAL_Malloc for blocks HAL_Free has not taken back; blocks
/// from malloc given to HAL_Free count nothing. A HAL_Malloc block that the
/// firmware resizes with realloc or frees with free() stays counted until
/// HAL_Malloc returns that address again, so mixed use may overstate the
/// live figures for a while, never understate them.
#[no_mangle]
pub extern "C" fn iotkit_heap_stats(stats: *mut iotkit_heap_stats_t) -> c_int {
    guard("iotkit_heap_stats", STATE_USER_INPUT_NULL_POINTER, || {
        if stats.is_null() {
            return STATE_USER_INPUT_NULL_POINTER;
        }
        let now = os::heap_stats();
        // SAFETY: checked non-NULL; the caller provides a writable struct.
        unsafe {
            stats.write(iotkit_heap_stats_t {
                live_bytes: now.live_bytes,
                live_allocations: now.live_allocations,
                peak_bytes: now.peak_bytes,
                total_allocations: now.total_allocations,
            });
        }
        0
    })
}

/// Starts a new measurement window: peak_bytes drops to what is live now and
/// total_allocations to zero.
#[no_mangle]
pub extern "C" fn iotkit_heap_reset_peak() {
    guard("iotkit_heap_reset_peak", (), os::reset_heap_peak)
}

// ---- clock and random ---------------------------------------------------------

/// Milliseconds since the library started; monotonic.
#[no_mangle]
pub extern "C" fn HAL_UptimeMs() -> u64 {
    guard("HAL_UptimeMs", 0, os::uptime_ms)
}

#[no_mangle]
pub extern "C" fn HAL_SleepMs(ms: u32) {
    guard("HAL_SleepMs", (), || os::sleep_ms(ms))
}

#[no_mangle]
pub extern "C" fn HAL_Srandom(seed: u32) {
    guard("HAL_Srandom", (), || os::seed_random(seed))
}

/// A random number in `0 .. region-1` (0 when `region` is 0).
#[no_mangle]
pub extern "C" fn HAL_Random(region: u32) -> u32 {
    guard("HAL_Random", 0, || os::random_below(region))
}

// ---- mutexes and semaphores ------------------------------------------------------

static MUTEXES: HandleTable<HalMutex> = HandleTable::new();
static SEMAPHORES: HandleTable<HalSemaphore> = HandleTable::new();

fn handle_to_ptr(handle: usize) -> *mut c_void {
    // A handle is a number that C stores in a `void *`; it is never dereferenced.
    handle as *mut c_void
}

/// Creates a recursive mutex; NULL on failure.
#[no_mangle]
pub extern "C" fn HAL_MutexCreate() -> *mut c_void {
    guard("HAL_MutexCreate", std::ptr::null_mut(), || {
        handle_to_ptr(MUTEXES.insert(Arc::new(HalMutex::default())))
    })
}

/// Destroys a mutex; unknown or already destroyed handles are ignored.
#[no_mangle]
pub extern "C" fn HAL_MutexDestroy(mutex: *mut c_void) {
    guard("HAL_MutexDestroy", (), || {
        MUTEXES.remove(mutex as usize);
    })
}

#[no_mangle]
pub extern "C" fn HAL_MutexLock(mutex: *mut c_void) {
    guard("HAL_MutexLock", (), || {
        if let Some(m) = MUTEXES.get(mutex as usize) {
            m.lock();
        }
    })
}

#[no_mangle]
pub extern "C" fn HAL_MutexUnlock(mutex: *mut c_void) {
    guard("HAL_MutexUnlock", (), || {
        if let Some(m) = MUTEXES.get(mutex as usize) {
            m.unlock();
        }
    })
}

/// Creates a counting semaphore starting at 0; NULL on failure.
#[no_mangle]
pub extern "C" fn HAL_SemaphoreCreate() -> *mut c_void {
    guard("HAL_SemaphoreCreate", std::ptr::null_mut(), || {
        handle_to_ptr(SEMAPHORES.insert(Arc::new(HalSemaphore::default())))
    })
}

#[no_mangle]
pub extern "C" fn HAL_SemaphoreDestroy(sem: *mut c_void) {
    guard("HAL_SemaphoreDestroy", (), || {
        SEMAPHORES.remove(sem as usize);
    })
}

#[no_mangle]
pub extern "C" fn HAL_SemaphorePost(sem: *mut c_void) {
    guard("HAL_SemaphorePost", (), || {
        if let Some(s) = SEMAPHORES.get(sem as usize) {
            s.post();
        }
    })
}

/// Waits for the semaphore: 0 when taken, -1 on timeout or an unknown handle.
/// `PLATFORM_WAIT_INFINITE` waits forever.
#[no_mangle]
pub extern "C" fn HAL_SemaphoreWait(sem: *mut c_void, timeout_ms: u32) -> c_int {
    guard("HAL_SemaphoreWait", -1, || {
        let Some(s) = SEMAPHORES.get(sem as usize) else {
            return -1;
        };
        let timeout =
            (timeout_ms != u32::MAX).then(|| Duration::from_millis(u64::from(timeout_ms)));
        if s.wait(timeout) {
            0
        } else {
            -1
        }
    })
}

// ---- threads ------------------------------------------------------------------

/// The routine and argument handed to a new thread. C owns what they point to.
struct ThreadStart {
    routine: unsafe extern "C" fn(*mut c_void) -> *mut c_void,
    arg: *mut c_void,
}

// SAFETY: HAL_ThreadCreate's contract makes the firmware responsible for `arg`
// being usable from the new thread, exactly as with pthread_create.
unsafe impl Send for ThreadStart {}

/// Threads get at least this much stack: Rust's runtime needs some of it.
const MIN_THREAD_STACK: usize = 64 * 1024;

/// Starts `work_routine(arg)` on a new, detached thread. Returns 0 and stores
/// a non-NULL handle in `*thread_handle`, or -1 (NULL handle or routine, or
/// the system refused the thread). `hal_os_thread_param` may be NULL.
#[no_mangle]
pub extern "C" fn HAL_ThreadCreate(
    thread_handle: *mut *mut c_void,
    work_routine: Option<unsafe extern "C" fn(*mut c_void) -> *mut c_void>,
    arg: *mut c_void,
    hal_os_thread_param: *mut hal_os_thread_param_t,
    stack_used: *mut c_int,
) -> c_int {
    static NEXT_THREAD: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);
    guard("HAL_ThreadCreate", -1, || {
        let Some(routine) = work_routine else {
            return -1;
        };
        if thread_handle.is_null() {
            return -1;
        }
        if !stack_used.is_null() {
            // SAFETY: non-NULL out-parameter supplied by the caller.
            unsafe { stack_used.write(0) };
        }
        let mut builder = std::thread::Builder::new().stack_size(MIN_THREAD_STACK);
        if !hal_os_thread_param.is_null() {
            // SAFETY: non-NULL; the caller provides an initialised parameter block.
            let param = unsafe { &*hal_os_thread_param };
            if let Ok(size) = usize::try_from(param.stack_size) {
                builder = builder.stack_size(size.max(MIN_THREAD_STACK));
            }
            // SAFETY: `name` is NULL or a NUL-terminated string owned by the caller.
            if let Some(name) = unsafe { c_str(param.name) } {
                builder = builder.name(name.to_owned());
            }
        }
        let start = ThreadStart { routine, arg };
        let spawned = builder.spawn(move || {
            let start = start;
            // SAFETY: the firmware's routine with the argument it asked for.
            unsafe { (start.routine)(start.arg) };
        });
        match spawned {
            Ok(_detached) => {
                let id = NEXT_THREAD.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                // SAFETY: checked non-NULL above.
                unsafe { thread_handle.write(handle_to_ptr(id)) };
                0
            }
            Err(_) => -1,
        }
    })
}

// ---- firmware version, reboot, identity getters -----------------------------------

/// Copies the firmware version (at most IOTX_FIRMWARE_VER_LEN characters and
/// a NUL) into `version`; returns its length, or a negative code for NULL.
#[no_mangle]
pub extern "C" fn HAL_GetFirmwareVersion(version: *mut c_char) -> c_int {
    guard(
        "HAL_GetFirmwareVersion",
        STATE_USER_INPUT_NULL_POINTER,
        || copy_field_out(version, IOTX_FIRMWARE_VER_LEN + 1, &os::firmware_version()),
    )
}

/// Sets what HAL_GetFirmwareVersion reports (1..IOTX_FIRMWARE_VER_LEN printable
/// characters). Returns 0, or STATE_USER_INPUT_INVALID / _NULL_POINTER.
#[no_mangle]
pub extern "C" fn iotkit_set_firmware_version(version: *const c_char) -> c_int {
    guard(
        "iotkit_set_firmware_version",
        crate::state::STATE_USER_INPUT_INVALID,
        || {
            // SAFETY: NULL or a NUL-terminated string from the caller.
            match unsafe { super::c_str_bounded(version, IOTX_FIRMWARE_VER_LEN) } {
                Ok(None) => STATE_USER_INPUT_NULL_POINTER,
                Ok(Some(bytes)) if bytes.iter().all(u8::is_ascii_graphic) => {
                    let text = std::str::from_utf8(bytes).unwrap_or_default();
                    if os::set_firmware_version(text) {
                        0
                    } else {
                        crate::state::STATE_USER_INPUT_INVALID
                    }
                }
                _ => crate::state::STATE_USER_INPUT_INVALID,
            }
        },
    )
}

static REBOOT_HANDLER: Mutex<iotkit_reboot_handler_t> = Mutex::new(None);

/// Installs what HAL_Reboot calls (NULL removes it).
#[no_mangle]
pub extern "C" fn iotkit_set_reboot_handler(handler: iotkit_reboot_handler_t) {
    guard("iotkit_set_reboot_handler", (), || {
        *REBOOT_HANDLER.lock().unwrap_or_else(|p| p.into_inner()) = handler;
    })
}

/// Calls the handler set with iotkit_set_reboot_handler; without one it only
/// logs: a library must not restart the process or the machine on its own.
#[no_mangle]
pub extern "C" fn HAL_Reboot() {
    guard("HAL_Reboot", (), || {
        let handler = *REBOOT_HANDLER.lock().unwrap_or_else(|p| p.into_inner());
        match handler {
            // SAFETY: a function the firmware registered for exactly this.
            Some(reboot) => unsafe { reboot() },
            None => crate::log_warn!(
                "HAL_Reboot: no reboot handler set (iotkit_set_reboot_handler); ignored"
            ),
        }
    })
}

fn copy_field_out(dst: *mut c_char, capacity: usize, value: &str) -> c_int {
    if dst.is_null() {
        return STATE_USER_INPUT_NULL_POINTER;
    }
    // SAFETY: the vendor API sizes these buffers as LEN + 1 = `capacity`;
    // values are validated to at most LEN characters so they always fit.
    if unsafe { copy_out_c_str(dst, capacity, value) } {
        value.len() as c_int
    } else {
        crate::state::STATE_USER_INPUT_OUT_RANGE
    }
}

/// Copies the ProductKey into a buffer of IOTX_PRODUCT_KEY_LEN + 1 bytes.
#[no_mangle]
pub extern "C" fn HAL_GetProductKey(product_key: *mut c_char) -> c_int {
    guard("HAL_GetProductKey", STATE_USER_INPUT_NULL_POINTER, || {
        copy_field_out(
            product_key,
            IOTX_PRODUCT_KEY_LEN + 1,
            &device::get(Field::ProductKey),
        )
    })
}

/// Copies the DeviceName into a buffer of IOTX_DEVICE_NAME_LEN + 1 bytes.
#[no_mangle]
pub extern "C" fn HAL_GetDeviceName(device_name: *mut c_char) -> c_int {
    guard("HAL_GetDeviceName", STATE_USER_INPUT_NULL_POINTER, || {
        copy_field_out(
            device_name,
            IOTX_DEVICE_NAME_LEN + 1,
            &device::get(Field::DeviceName),
        )
    })
}

/// Copies the DeviceSecret into a buffer of IOTX_DEVICE_SECRET_LEN + 1 bytes.
#[no_mangle]
pub extern "C" fn HAL_GetDeviceSecret(device_secret: *mut c_char) -> c_int {
    guard("HAL_GetDeviceSecret", STATE_USER_INPUT_NULL_POINTER, || {
        copy_field_out(
            device_secret,
            IOTX_DEVICE_SECRET_LEN + 1,
            &device::get(Field::DeviceSecret),
        )
    })
}

/// Copies the ProductSecret into a buffer of IOTX_PRODUCT_SECRET_LEN + 1 bytes.
#[no_mangle]
pub extern "C" fn HAL_GetProductSecret(product_secret: *mut c_char) -> c_int {
    guard(
        "HAL_GetProductSecret",
        STATE_USER_INPUT_NULL_POINTER,
        || {
            copy_field_out(
                product_secret,
                IOTX_PRODUCT_SECRET_LEN + 1,
                &device::get(Field::ProductSecret),
            )
        },
    )
}

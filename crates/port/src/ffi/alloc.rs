//! The global allocator: `HAL_Malloc`/`HAL_Free` of the firmware's port.

use core::alloc::{GlobalAlloc, Layout};

use super::hal;

/// What `HAL_Malloc` guarantees (the vendor's ports return `malloc`
/// memory, aligned for any C type: 8 bytes on Cortex-M).
const HAL_ALIGN: usize = 8;

struct HalAllocator;

#[global_allocator]
static ALLOCATOR: HalAllocator = HalAllocator;

// SAFETY: alloc returns null or a block of at least layout.size() bytes
// aligned to layout.align(); dealloc frees exactly what alloc returned.
unsafe impl GlobalAlloc for HalAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= HAL_ALIGN {
            return hal::malloc(layout.size());
        }
        // Over-aligned: allocate align extra bytes and keep the block's
        // start in the word before the aligned address.
        let Some(total) = layout.size().checked_add(layout.align()) else {
            return core::ptr::null_mut();
        };
        let raw = hal::malloc(total);
        if raw.is_null() {
            return raw;
        }
        let offset = layout.align() - (raw as usize % layout.align());
        // SAFETY: offset is in 1..=align, so raw + offset and the word
        // before it lie inside the block of size + align bytes (offset
        // >= 8 because raw is 8-aligned and align > 8).
        unsafe {
            let aligned = raw.add(offset);
            aligned.cast::<*mut u8>().sub(1).write_unaligned(raw);
            aligned
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if layout.align() <= HAL_ALIGN {
            // SAFETY: ptr came from hal::malloc in alloc.
            unsafe { hal::free(ptr) };
            return;
        }
        // SAFETY: alloc stored the block's start in the word before ptr.
        unsafe {
            let raw = ptr.cast::<*mut u8>().sub(1).read_unaligned();
            hal::free(raw);
        }
    }
}

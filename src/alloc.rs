//! The allocator the `tolmach` binary runs on: Microsoft's mimalloc (ADR 0017), called
//! directly through `libmimalloc-sys`.
//!
//! Rust hands every allocation a size and an alignment. The `mimalloc` crate's allocator
//! passes both to `mi_malloc_aligned` every time. mimalloc 3 serves that from its plain size
//! classes only when the size class is a power of two; any other size (24, 48, 100 bytes...)
//! goes through a slower over-allocating path, which also puts the block in the next larger
//! size class. The profile at saturation had the allocator at about 12% of the process.
//!
//! [`MiMalloc`] asks for alignment only when it must, as the standard library's own system
//! allocator does: an alignment of at most 16 bytes that divides the size is what
//! `mi_malloc` already guarantees (its size classes are multiples of 8, of 16 above 16
//! bytes, and a page's first block is 16-aligned). Larger or odd alignments keep the
//! `_aligned` calls. Every block, however it was allocated, is freed by `mi_free`.
//!
//! Only the binary installs it (`src/main.rs`). The library, its tests and the benchmark
//! peers keep the system allocator.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

/// mimalloc's guaranteed alignment for blocks of at least this size (`MI_MAX_ALIGN_SIZE`).
const PLAIN_ALIGN: usize = 16;

/// mimalloc as a global allocator. See the module docs.
#[derive(Debug, Clone, Copy, Default)]
pub struct MiMalloc;

/// Whether `mi_malloc(size)` already returns memory aligned to `align`.
#[inline]
fn plain(size: usize, align: usize) -> bool {
    align <= PLAIN_ALIGN && size >= align && size.is_multiple_of(align)
}

// SAFETY: every method forwards to mimalloc, which returns null on failure and otherwise a
// block of at least the requested size at the requested alignment (the `_aligned` calls
// honour any power-of-two alignment; the plain ones are used only where `plain` holds, see
// the module docs). Blocks from either family are freed and resized by the same allocator.
unsafe impl GlobalAlloc for MiMalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: plain C calls; any size and power-of-two alignment is accepted.
        unsafe {
            if plain(layout.size(), layout.align()) {
                libmimalloc_sys::mi_malloc(layout.size()).cast()
            } else {
                libmimalloc_sys::mi_malloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        unsafe {
            if plain(layout.size(), layout.align()) {
                libmimalloc_sys::mi_zalloc(layout.size()).cast()
            } else {
                libmimalloc_sys::mi_zalloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: the caller passes a block this allocator returned.
        unsafe { libmimalloc_sys::mi_free(ptr.cast::<c_void>()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller passes a block this allocator returned, with its layout; the
        // block keeps that layout's alignment at `new_size`.
        unsafe {
            if plain(new_size, layout.align()) {
                libmimalloc_sys::mi_realloc(ptr.cast::<c_void>(), new_size).cast()
            } else {
                libmimalloc_sys::mi_realloc_aligned(ptr.cast::<c_void>(), new_size, layout.align())
                    .cast()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every size up to 5 KB (and some larger) at every alignment up to 4 KB: the block is
    /// aligned, writable over its whole size, and keeps its contents when resized.
    #[test]
    fn blocks_are_aligned_and_keep_their_contents_when_resized() {
        let sizes = (1..=320).chain([500, 1000, 1024, 1500, 4096, 5000, 70_000, 1 << 21]);
        for size in sizes {
            for align in [1, 2, 4, 8, 16, 32, 64, 128, 4096] {
                let Ok(layout) = Layout::from_size_align(size, align) else {
                    continue;
                };
                // SAFETY: a non-zero size; the block is used within its layout and freed once.
                unsafe {
                    let p = MiMalloc.alloc(layout);
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "size {size} align {align}");
                    std::ptr::write_bytes(p, 0xA5, size);
                    let grown = size * 3 + 7;
                    let q = MiMalloc.realloc(p, layout, grown);
                    assert!(!q.is_null());
                    assert_eq!(q as usize % align, 0, "grown from {size}, align {align}");
                    assert!(
                        std::slice::from_raw_parts(q, size)
                            .iter()
                            .all(|&b| b == 0xA5)
                    );
                    let shrunk = (size / 2).max(1);
                    let r = MiMalloc.realloc(
                        q,
                        Layout::from_size_align_unchecked(grown, align),
                        shrunk,
                    );
                    assert_eq!(r as usize % align, 0, "shrunk from {grown}, align {align}");
                    assert!(
                        std::slice::from_raw_parts(r, shrunk)
                            .iter()
                            .all(|&b| b == 0xA5)
                    );
                    MiMalloc.dealloc(r, Layout::from_size_align_unchecked(shrunk, align));

                    let z = MiMalloc.alloc_zeroed(layout);
                    assert_eq!(z as usize % align, 0, "zeroed, size {size} align {align}");
                    assert!(std::slice::from_raw_parts(z, size).iter().all(|&b| b == 0));
                    MiMalloc.dealloc(z, layout);
                }
            }
        }
    }

    #[test]
    fn only_alignments_mimalloc_already_guarantees_take_the_plain_calls() {
        assert!(plain(24, 8));
        assert!(plain(48, 16));
        assert!(plain(3, 1));
        assert!(!plain(8, 16), "a block smaller than its alignment");
        assert!(
            !plain(24, 16),
            "a size that is not a multiple of the alignment"
        );
        assert!(!plain(128, 32), "an alignment above 16");
        assert!(!plain(4096, 4096));
    }
}

//! What the allocator's dispatch saves: a mix of allocation sizes and alignments like the
//! runtime's (small boxes and strings, request buffers), allocated and freed in a random
//! order, through `tolmach::alloc::MiMalloc` and through mimalloc's aligned calls alone (what
//! the `mimalloc` crate's allocator does for every allocation). ADR 0017.
//!
//! Run: `cargo bench --bench alloc` (figures: docs/benchmarks.md). A measurement, not a test.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;
use std::hint::black_box;
use std::time::Instant;

use tolmach::alloc::MiMalloc;

/// Every allocation through `mi_malloc_aligned`, as the `mimalloc` crate does.
struct AlwaysAligned;

// SAFETY: forwards to mimalloc's aligned calls, which honour any power-of-two alignment.
unsafe impl GlobalAlloc for AlwaysAligned {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: a plain C call.
        unsafe { libmimalloc_sys::mi_malloc_aligned(layout.size(), layout.align()).cast() }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from `alloc`.
        unsafe { libmimalloc_sys::mi_free(ptr.cast::<c_void>()) }
    }
}

/// (size, alignment) pairs drawn from.
const LAYOUTS: [(usize, usize); 13] = [
    (8, 8),
    (24, 1),
    (40, 8),
    (72, 8),
    (100, 1),
    (130, 8),
    (250, 16),
    (600, 8),
    (1100, 1),
    (1500, 8),
    (3000, 8),
    (5000, 1),
    (9000, 8),
];

/// Nanoseconds per allocation and free: `rounds` allocations, up to 200 live at once.
fn run<A: GlobalAlloc>(allocator: &A, rounds: u64) -> f64 {
    let mut live: Vec<(*mut u8, Layout)> = Vec::with_capacity(256);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let started = Instant::now();
    for _ in 0..rounds {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let (size, align) = LAYOUTS[(x % LAYOUTS.len() as u64) as usize];
        let Ok(layout) = Layout::from_size_align(size, align) else {
            continue;
        };
        // SAFETY: a non-zero size; each block is written within its size and freed once.
        unsafe {
            let p = allocator.alloc(layout);
            if p.is_null() {
                continue;
            }
            p.write(1);
            live.push((black_box(p), layout));
            if live.len() >= 200 || (x >> 20).is_multiple_of(3) {
                let (p, layout) = live.swap_remove(((x >> 32) as usize) % live.len());
                allocator.dealloc(p, layout);
            }
        }
    }
    for (p, layout) in live.drain(..) {
        // SAFETY: as above.
        unsafe { allocator.dealloc(p, layout) };
    }
    started.elapsed().as_nanos() as f64 / rounds as f64
}

fn main() {
    const ROUNDS: u64 = 10_000_000;
    for round in 1..=3 {
        let aligned = run(&AlwaysAligned, ROUNDS);
        let ours = run(&MiMalloc, ROUNDS);
        println!(
            "round {round}: mi_malloc_aligned always {aligned:.1} ns, tolmach::alloc::MiMalloc \
             {ours:.1} ns per allocation and free ({:.0}% less)",
            100.0 * (1.0 - ours / aligned)
        );
    }
}

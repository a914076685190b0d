//! Where object boxes live: small boxes in the heap's pymalloc-style allocator, large or
//! over-aligned ones in their own system allocation (CPython sends requests above 512 bytes
//! to `malloc`).
//!
//! Both kinds of memory begin with the *owner tag* (a pointer to the owning heap) at the start
//! of an aligned block that contains the box header: a pool for small boxes, the large block
//! itself otherwise. [`owner_tag`](super::header::owner_tag) finds it by masking.
//!
//! Large block layout (`A` = block alignment, a power of two greater than `offset` plus the
//! box's header offset, so that masking the header's address by `A` finds the base):
//!
//! ```text
//! base (A-aligned)                base + offset
//! | owner tag | padding ...       | box: [count of a variable-size object], header, value ...
//! ```
#![allow(unsafe_code)]

use std::alloc::Layout;
use std::ptr::NonNull;

use super::var::BoxLayout;

/// Geometry of the large block holding a box: (block layout, box offset, log2 A).
fn large_block(boxed: BoxLayout) -> Option<(Layout, usize, u32)> {
    let layout = boxed.layout;
    let offset = layout.align().max(2 * size_of::<usize>());
    // The header is at `offset + header_offset`, which must stay below `A`. (For a
    // fixed-size box, `offset` is a power of two and this is `2 * offset`.)
    let align = (offset.checked_add(boxed.header_offset)? + 1).checked_next_power_of_two()?;
    let block = Layout::from_size_align(offset.checked_add(layout.size())?, align).ok()?;
    Some((block, offset, align.trailing_zeros()))
}

/// Allocate a large block for a box of `boxed` and write `owner` at its base.
/// Returns the box pointer (the start of `boxed.layout`) and the owner shift to record in
/// its header.
pub(crate) fn alloc_large(boxed: BoxLayout, owner: *const ()) -> Option<(NonNull<u8>, u32)> {
    let (block, offset, shift) = large_block(boxed)?;
    // Through the global allocator (not `System` directly), so a program's
    // `#[global_allocator]` sees object memory, and `tests/alloc_failure.rs` can fail it.
    // SAFETY: `block` has non-zero size (offset >= 16).
    let base = NonNull::new(unsafe { std::alloc::alloc(block) })?;
    // SAFETY: `base` is aligned to at least 32 and valid for `block.size()` bytes, which
    // covers the owner tag at offset 0 and the box at `offset`.
    unsafe {
        base.as_ptr().cast::<*const ()>().write(owner);
        Some((base.add(offset), shift))
    }
}

/// Free a block made by [`alloc_large`].
///
/// # Safety
/// `boxed_ptr` was returned by `alloc_large(boxed, _)` and is not used afterwards.
pub(crate) unsafe fn free_large(boxed_ptr: NonNull<u8>, boxed: BoxLayout) {
    let (block, offset, _) = large_block(boxed).expect("layout was valid at allocation");
    // SAFETY: `boxed_ptr` is `offset` bytes into the block, with the block's provenance.
    unsafe {
        let base = boxed_ptr.sub(offset);
        std::alloc::dealloc(base.as_ptr(), block);
    }
}

//! The pymalloc-style small-object allocator (to be filled).

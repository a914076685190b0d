//! Nothing here: the benchmark crate's code is in its `[[bench]]` targets (workloads.rs,
//! alloc.rs, refcount.rs). See benches/README.md.

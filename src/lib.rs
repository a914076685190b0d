//! pygc (skeleton: the layers land module by module).
#![deny(unsafe_code)]
pub mod alloc;

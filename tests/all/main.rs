//! Integration tests.
mod cpython;
mod differential;
mod regressions;
mod smoke;

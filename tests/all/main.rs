//! Integration tests.
mod differential;
mod regressions;
mod smoke;

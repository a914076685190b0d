//! Integration tests.
mod differential;
mod smoke;

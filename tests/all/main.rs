//! Integration tests.
mod props;
mod smoke;

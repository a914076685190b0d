//! Integration tests.
mod props;
mod regressions;
mod smoke;

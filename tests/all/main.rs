//! Integration tests.
mod failure;
mod props;
mod regressions;
mod smoke;

//! The integration suite: one binary, one module per behaviour.
mod cpython;
mod differential;
mod regressions;
mod smoke;

//! The integration suite: one binary, one module per behaviour.
mod smoke;

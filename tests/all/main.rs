//! The integration suite: one binary, one module per behaviour.
mod cpython;
mod differential;
mod object_graph;
mod regressions;
mod smoke;

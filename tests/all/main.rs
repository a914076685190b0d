//! The integration suite: one binary, one module per behaviour.
mod cpython;
mod differential;
mod failure;
mod gil;
mod introspect;
mod object_graph;
mod prefetch;
mod props;
mod redteam;
mod regressions;
mod smoke;
mod soundness;
mod support;

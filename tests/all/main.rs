//! The integration suite: one binary, one module per behaviour.
mod cpython;
mod differential;
mod failure;
mod finalize_dispatch;
mod handle_api;
mod object_graph;
mod pauses;
mod pressure;
mod props;
mod redteam;
mod regressions;
mod safe_points;
mod smoke;
mod soundness;
mod support;
mod unsized_handles;
mod weak_callbacks;

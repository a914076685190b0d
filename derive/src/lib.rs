//! `#[derive(Trace)]` for pygc (to be filled).

//! Placeholder for the single integration binary declared in Cargo.toml
//! (owned by the object/gc layers; replace at merge).

//! Compile-fail tests of the GIL's thread-safety claims (trybuild): `fail_*` must not
//! compile (the `.stderr` next to each is the expected error), `pass_*` must. Regenerate
//! with `TRYBUILD=overwrite`.

#[test]
#[cfg_attr(miri, ignore = "trybuild runs rustc")]
fn gil_ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/gil/fail_*.rs");
    t.pass("tests/ui/gil/pass_*.rs");
}

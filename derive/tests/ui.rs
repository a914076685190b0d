//! trybuild driver: `fail_*` must not compile (with the `.stderr` next to
//! them), `pass_*` must compile. Regenerate with `TRYBUILD=overwrite`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail_*.rs");
    t.pass("tests/ui/pass_*.rs");
}

//! Compile-time diagnostics of `pipeline!`, `#[step]`, `#[task]` and `#[derive(Row)]`, as trybuild
//! snapshots: one folder per error family under `tests/ui/`, and `tests/ui/pass/` for pipelines
//! that must compile (and run).
//!
//! The `.stderr` snapshots are rustc's words, which change between compiler versions; they are
//! taken with the toolchain CI runs (rustc 1.95). This crate exists so trybuild compiles distil
//! with only what the cases use (no Hub client, none of the root package's dev-dependencies). Refresh them with
//! `TRYBUILD=overwrite cargo test -p distil-ui`, then read every diff.

const FAMILIES: &[&str] = &[
    "missing_column",
    "cannot_route",
    "behind_router",
    "some_branches",
    "fan_in",
    "optional_input",
    "setting_ignored",
    "wrong_type",
    "bad_mapping",
    "unknown_step",
    "duplicate_step",
    "cycle",
    "root_not_generator",
    "generator_with_predecessor",
    "unconnected",
    "cannot_join",
    "step_attr",
    "row_derive",
    "syntax",
    "task",
    "grouped",
];

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    for family in FAMILIES {
        t.compile_fail(format!("{family}/*.rs"));
    }
    t.pass("pass/*.rs");
}

/// Every folder under `tests/ui/` is run: a new family cannot be forgotten in `FAMILIES`.
#[test]
fn every_family_is_listed() {
    let mut folders: Vec<String> = std::fs::read_dir(".")
        .expect("tests/ui")
        .map(|e| e.expect("entry"))
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().into_string().expect("utf-8"))
        .filter(|name| name != "pass")
        .collect();
    folders.sort();
    let mut listed: Vec<&str> = FAMILIES.to_vec();
    listed.sort();
    assert_eq!(folders, listed);
}

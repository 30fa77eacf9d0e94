//! Reading the shared test data under `proto/testdata/` (JSON files every client checks).

// Each test binary uses a different subset.
#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::Value;

/// `proto/testdata/<name>` as JSON; a missing or malformed file fails the test.
pub(crate) fn testdata(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../proto/testdata")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The array `v[key]`.
pub(crate) fn array<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v[key]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("`{key}` is an array in {v}"))
}

/// The string `v[key]`.
pub(crate) fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("`{key}` is a string in {v}"))
}

/// The strings of the array `v[key]`.
pub(crate) fn strings<'a>(v: &'a Value, key: &str) -> Vec<&'a str> {
    array(v, key)
        .iter()
        .map(|s| {
            s.as_str()
                .unwrap_or_else(|| panic!("`{key}` holds strings"))
        })
        .collect()
}

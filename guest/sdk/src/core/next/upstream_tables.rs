//! What the upstream test tables (`guest/sdk/tests/data/*.json`) share:
//! reading their JSON and reporting a table's pass count.

use serde_json::Value;

/// A JSON array's items (none for anything else).
pub(crate) fn list(value: &Value) -> &[Value] {
    value.as_array().map(Vec::as_slice).unwrap_or_default()
}

/// A JSON string's text (empty for anything else).
pub(crate) fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

/// Prints the pass count of table `name` (`name: passed/total`), then fails
/// listing the cases that failed.
pub(crate) fn report(name: &str, results: Vec<(String, bool)>) {
    let failed: Vec<&String> = results
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(c, _)| c)
        .collect();
    eprintln!("{name}: {}/{}", results.len() - failed.len(), results.len());
    assert!(failed.is_empty(), "{name}: failed {failed:#?}");
}

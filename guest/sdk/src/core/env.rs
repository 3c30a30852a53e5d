//! Configuration from environment variables.
//!
//! Inside a component `std::env` reads `wasi:cli/environment`, which is how
//! configuration reaches it under `wasmtime serve -e NAME=value`, Spin, and
//! the edgeware host.

use std::fmt::Display;
use std::str::FromStr;

use super::error::{Error, Result};

/// The value of the environment variable `name`, or `None` if it is unset
/// (or not valid Unicode).
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The value of the environment variable `name`, or `default` if it is unset.
pub fn env_or(name: &str, default: &str) -> String {
    env(name).unwrap_or_else(|| default.to_owned())
}

/// The environment variable `name` parsed as a `T`; `Ok(None)` if it is
/// unset, an error naming the variable if it does not parse.
pub fn env_parse<T>(name: &str) -> Result<Option<T>>
where
    T: FromStr,
    T::Err: Display,
{
    parse_value(name, env(name))
}

fn parse_value<T>(name: &str, value: Option<String>) -> Result<Option<T>>
where
    T: FromStr,
    T::Err: Display,
{
    value
        .map(|raw| {
            raw.trim()
                .parse()
                .map_err(|e| Error::msg(format!("environment variable {name}={raw:?}: {e}")))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_process_environment() {
        // Cargo sets this for test binaries.
        assert_eq!(env("CARGO_PKG_NAME").as_deref(), Some("edgeware"));
        assert_eq!(env("EDGEWARE_TEST_SURELY_UNSET"), None);
        assert_eq!(env_or("EDGEWARE_TEST_SURELY_UNSET", "fallback"), "fallback");
        assert_eq!(env_or("CARGO_PKG_NAME", "fallback"), "edgeware");
        assert_eq!(
            env_parse::<u64>("EDGEWARE_TEST_SURELY_UNSET").unwrap(),
            None
        );
    }

    #[test]
    fn parses_values() {
        assert_eq!(
            parse_value::<u64>("MS", Some(" 250 ".into())).unwrap(),
            Some(250)
        );
        assert_eq!(
            parse_value::<bool>("ON", Some("true".into())).unwrap(),
            Some(true)
        );
        assert_eq!(parse_value::<u64>("MS", None).unwrap(), None);
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = parse_value::<u64>("TIMEOUT_MS", Some("soon".into())).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable TIMEOUT_MS=\"soon\": invalid digit found in string"
        );
    }
}

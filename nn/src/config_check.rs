//! Checks shared by every configuration parser: each error names the field, the value it
//! holds and what was allowed; the caller adds the file.

use std::fmt::Display;
use std::path::Path;

use happyhorse_tensor::{ensure, Error, Result, ResultExt};
use serde::de::DeserializeOwned;

/// Checks `value` lies in `lo..=hi`.
pub fn in_range<T: PartialOrd + Display>(field: &str, value: T, lo: T, hi: T) -> Result<()> {
    ensure!(
        value >= lo && value <= hi,
        "{field} is {value}, outside the allowed range {lo}..={hi}"
    );
    Ok(())
}

/// Checks `value` is a finite number.
pub fn finite(field: &str, value: f64) -> Result<()> {
    ensure!(
        value.is_finite(),
        "{field} is {value}; it must be a finite number"
    );
    Ok(())
}

/// Checks `value` is a finite number above zero.
pub fn finite_positive(field: &str, value: f64) -> Result<()> {
    ensure!(
        value.is_finite() && value > 0.0,
        "{field} is {value}; it must be a finite number above 0"
    );
    Ok(())
}

/// Parses JSON `text` as a `T`; the error calls the text an invalid `what`.
pub fn parse_json<T: DeserializeOwned>(text: &str, what: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::msg(format!("invalid {what}: {e}")))
}

/// Reads the text of the config file at `path` and parses it with `parse`; every error
/// names the file.
pub fn parse_file<T>(path: &Path, parse: impl FnOnce(&str) -> Result<T>) -> Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| path.display())?;
    parse(&text).with_context(|| path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_field_the_value_and_the_range() {
        assert!(in_range("depth", 3usize, 1, 3).is_ok());
        let cases = [
            (
                in_range("depth", 4usize, 1, 3),
                "depth is 4, outside the allowed range 1..=3",
            ),
            (
                in_range("scale", -0.5f64, 0.0, 1.0),
                "scale is -0.5, outside the allowed range 0..=1",
            ),
            (
                finite("shift", f64::NAN),
                "shift is NaN; it must be a finite number",
            ),
            (
                finite_positive("eps", 0.0),
                "eps is 0; it must be a finite number above 0",
            ),
        ];
        for (result, message) in cases {
            assert_eq!(result.unwrap_err().to_string(), message);
        }
        assert!(finite_positive("eps", 1e-6).is_ok());
    }

    #[test]
    fn invalid_json_is_named() {
        let value: Vec<u32> = parse_json("[1, 2]", "list").unwrap();
        assert_eq!(value, [1, 2]);
        let err = parse_json::<Vec<u32>>("[1,", "list")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("invalid list: "), "{err}");
    }

    #[test]
    fn parse_errors_name_the_file() {
        let dir = std::env::temp_dir().join(format!("hh-config-check-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.json");
        std::fs::write(&path, "{}").unwrap();
        let err = parse_file(&path, |text| -> Result<()> {
            happyhorse_tensor::bail!("bad text {text}")
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("config.json") && err.contains("bad text {}"),
            "{err}"
        );
        let missing = parse_file(&dir.join("absent.json"), |_| Ok(())).unwrap_err();
        assert!(missing.to_string().contains("absent.json"), "{missing}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

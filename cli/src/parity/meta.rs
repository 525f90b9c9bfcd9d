//! A case's `meta.json` as the harness reads it: the components it names, its `run`
//! parameters and its `checks` contract.
//!
//! Each entry of `checks` names an expected tensor (`key` in `expected.safetensors`), the
//! `output` the implementation produces, a `role` (`required`, `optional`, `contrast`) and
//! a tolerance (`atol`, `rtol`, or `exact`), optionally a `mask`.

use std::path::{Path, PathBuf};

use happyhorse_tensor::{bail, Error, Result, ResultExt};
use serde::Deserialize;

/// The files a codec case runs on.
#[derive(Clone, Debug)]
pub struct CaseFiles {
    /// The weight file: `run.weights`, else the component's default name.
    pub weights: PathBuf,
    /// `config.json`.
    pub config: PathBuf,
    /// `inputs.safetensors`.
    pub inputs: PathBuf,
}

impl CaseFiles {
    /// The files of the case in `case_dir` (its `meta.json` may name the weight file).
    pub fn locate(case_dir: &Path, default_weights: &str) -> Result<CaseFiles> {
        let meta = Meta::load(case_dir)?;
        Ok(CaseFiles {
            weights: meta.weights_path(case_dir, default_weights),
            config: case_dir.join("config.json"),
            inputs: case_dir.join("inputs.safetensors"),
        })
    }
}

/// One entry of a case's `checks` list.
#[derive(Clone, Debug, Deserialize)]
pub struct Check {
    /// Tensor name in `expected.safetensors`.
    pub key: String,
    /// Output name the implementation produces.
    pub output: String,
    /// `required`, `optional` or `contrast`.
    pub role: String,
    /// Absolute tolerance.
    #[serde(default)]
    pub atol: f64,
    /// Relative tolerance.
    #[serde(default)]
    pub rtol: f64,
    /// Exact equality.
    #[serde(default)]
    pub exact: bool,
    /// A tensor (of inputs or expected) selecting the compared leading positions.
    #[serde(default)]
    pub mask: Option<String>,
}

/// The parts of `meta.json` a runner needs.
#[derive(Clone, Debug, Deserialize)]
pub struct Meta {
    /// The component the case checks, when it checks one.
    #[serde(default)]
    pub component: Option<String>,
    /// The components, in order, when the case checks several.
    #[serde(default)]
    pub components: Option<Vec<String>>,
    /// Run parameters not in config.json.
    #[serde(default)]
    pub run: serde_json::Value,
    /// The checks.
    pub checks: Vec<Check>,
    /// Per output, the tolerances the reference measured for its precisions (an entry
    /// `doc` explains them); see [`Meta::half_bar`].
    #[serde(default)]
    pub suggested_tolerance: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The bar of an output computed with half-precision activations: against the f64
/// expected tensor, `max |impl − expected| ≤ max_abs` and
/// `rms(impl − expected) / rms(expected) ≤ rms_rel` (meta.json's `bf16_impl_vs_f64_*`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HalfBar {
    /// `bf16_impl_vs_f64_max_abs`.
    pub max_abs: f64,
    /// `bf16_impl_vs_f64_rms_rel`.
    pub rms_rel: f64,
}

impl Meta {
    /// Reads `<case_dir>/meta.json`.
    pub fn load(case_dir: &Path) -> Result<Meta> {
        let path = case_dir.join("meta.json");
        let text = std::fs::read_to_string(&path).with_context(|| path.display())?;
        serde_json::from_str(&text)
            .map_err(|e| Error::msg(format!("{}: invalid meta.json: {e}", path.display())))
    }

    /// Refuses a case whose `checks` cannot make it pass or fail: no check at all, none
    /// `required` (optional entries are compared only when produced, so a runner that
    /// produced nothing would pass), or a role that is not `required`, `optional` or
    /// `contrast`. The error names the case's `meta.json`.
    pub fn validate_checks(&self, case_dir: &Path) -> Result<()> {
        let path = case_dir.join("meta.json");
        for check in &self.checks {
            if !matches!(check.role.as_str(), "required" | "optional" | "contrast") {
                bail!(
                    "{}: check {:?} has unknown role {:?} (required, optional or contrast)",
                    path.display(),
                    check.key,
                    check.role
                );
            }
        }
        if self.checks.is_empty() {
            bail!(
                "{}: `checks` is empty; a case needs at least one required check",
                path.display()
            );
        }
        if !self.checks.iter().any(|c| c.role == "required") {
            bail!(
                "{}: none of its {} checks is required; a case needs at least one required check",
                path.display(),
                self.checks.len()
            );
        }
        Ok(())
    }

    /// The weight file of the case: `run.weights`, else `default`, in `case_dir`.
    pub fn weights_path(&self, case_dir: &Path, default: &str) -> PathBuf {
        let name = self.run.get("weights").and_then(|v| v.as_str());
        case_dir.join(name.unwrap_or(default))
    }

    /// A case with `run` and one check per entry of `roles`.
    #[cfg(test)]
    pub(crate) fn with_roles(run: serde_json::Value, roles: &[&str]) -> Meta {
        let checks: Vec<serde_json::Value> = roles
            .iter()
            .map(|r| serde_json::json!({"key": "k", "output": "o", "role": r}))
            .collect();
        serde_json::from_value(serde_json::json!({
            "component": "c", "run": run, "checks": checks
        }))
        .unwrap()
    }

    /// The half-precision bar of `output`, when the case gives one.
    pub fn half_bar(&self, output: &str) -> Option<HalfBar> {
        let entry = self.suggested_tolerance.as_ref()?.get(output)?;
        Some(HalfBar {
            max_abs: entry.get("bf16_impl_vs_f64_max_abs")?.as_f64()?,
            rms_rel: entry.get("bf16_impl_vs_f64_rms_rel")?.as_f64()?,
        })
    }

    /// Whether the case gives a half-precision bar for any output.
    pub fn has_half_bars(&self) -> bool {
        self.checks
            .iter()
            .any(|c| self.half_bar(&c.output).is_some())
    }

    /// The component names the case checks, in order.
    pub fn component_names(&self) -> Vec<String> {
        match (&self.components, &self.component) {
            (Some(list), _) => list.clone(),
            (None, Some(c)) => vec![c.clone()],
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_case_needs_a_required_check() {
        let dir = Path::new("case");
        for roles in [&[][..], &["optional"], &["contrast", "optional"]] {
            let err = Meta::with_roles(serde_json::Value::Null, roles)
                .validate_checks(dir)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("meta.json") && err.contains("required"),
                "{err}"
            );
        }
        let err = Meta::with_roles(serde_json::Value::Null, &["required", "bogus"])
            .validate_checks(dir)
            .unwrap_err()
            .to_string();
        assert!(err.contains("bogus"), "{err}");
        Meta::with_roles(serde_json::Value::Null, &["optional", "required"])
            .validate_checks(dir)
            .unwrap();
    }
}

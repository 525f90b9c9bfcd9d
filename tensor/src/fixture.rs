//! Checking a component's outputs against a golden fixture case.
//!
//! A case directory holds `meta.json` whose `checks` list is the contract: each entry names
//! an expected tensor (`key` in `expected.safetensors`), the `output` the implementation
//! produces, a `role` (`required`, `optional`, `contrast`) and a tolerance (`atol`, `rtol`,
//! or `exact`), optionally a `mask`. A check passes when every compared element satisfies
//! `|impl − expected| ≤ atol + rtol·|expected|` (in f64; NaN/Inf never pass); a required
//! output that was not produced fails; an optional one is compared when produced;
//! contrast entries are never compared.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use serde::Deserialize;

use crate::io::{open_weights, WeightSource};
use crate::{bail, Error, Result, ResultExt, Tensor};

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

    /// The component names the case checks, in order.
    pub fn component_names(&self) -> Vec<String> {
        match (&self.components, &self.component) {
            (Some(list), _) => list.clone(),
            (None, Some(c)) => vec![c.clone()],
            _ => Vec::new(),
        }
    }
}

/// The outcome of one compared (or missing) check.
#[derive(Clone, Debug)]
pub struct CheckResult {
    /// The check.
    pub check: Check,
    /// Shape of the expected tensor.
    pub shape: Vec<usize>,
    /// Largest |impl − expected| (NaN if a value was not finite).
    pub max_abs: f64,
    /// Largest |impl − expected| / |expected| over elements with expected ≠ 0.
    pub max_rel: f64,
    /// Whether the check passed; `None` when the output was not produced.
    pub passed: Option<bool>,
    /// Why it failed, when it did for another reason than the numbers.
    pub note: Option<String>,
}

/// Every compared check of a case.
#[derive(Clone, Debug, Default)]
pub struct CaseReport {
    /// Per-check outcomes (contrast entries and unproduced optional ones are left out).
    pub results: Vec<CheckResult>,
}

impl CaseReport {
    /// Whether every compared check passed and no required output is missing.
    pub fn passed(&self) -> bool {
        self.results.iter().all(|r| r.passed == Some(true))
    }
}

impl fmt::Display for CaseReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.results {
            let verdict = match r.passed {
                Some(true) => "PASS",
                Some(false) => "FAIL",
                None => "MISSING",
            };
            let tol = if r.check.exact {
                "exact".to_string()
            } else {
                format!("atol {:.1e} rtol {:.1e}", r.check.atol, r.check.rtol)
            };
            write!(
                f,
                "{:<40} {:<18} max abs {:.3e} max rel {:.3e}  {tol:<24} {verdict}",
                r.check.key,
                format!("{:?}", r.shape),
                r.max_abs,
                r.max_rel
            )?;
            if let Some(n) = &r.note {
                write!(f, "  ({n})")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

fn load_f64(src: &dyn WeightSource, name: &str) -> Result<(Vec<usize>, Vec<f64>)> {
    let info = src
        .info(name)
        .ok_or_else(|| Error::msg(format!("{}: no tensor {name:?}", src.describe())))?;
    let bytes = src.bytes(name)?;
    let t = Tensor::from_bytes(std::sync::Arc::new(bytes), info.dtype, &info.shape)?;
    Ok((info.shape, t.to_vec_f64()?))
}

fn squeeze_ones(s: &[usize]) -> Vec<usize> {
    s.iter().copied().filter(|&d| d != 1).collect()
}

/// Compares one produced tensor with one check; returns the result.
pub fn compare(
    check: &Check,
    expected_shape: &[usize],
    expected: &[f64],
    produced: &Tensor,
    mask: Option<&[f64]>,
) -> Result<CheckResult> {
    let mut res = CheckResult {
        check: check.clone(),
        shape: expected_shape.to_vec(),
        max_abs: 0.0,
        max_rel: 0.0,
        passed: Some(false),
        note: None,
    };
    if squeeze_ones(produced.shape()) != squeeze_ones(expected_shape) {
        res.note = Some(format!("produced shape {:?}", produced.shape()));
        return Ok(res);
    }
    let got = produced.to_vec_f64()?;
    let per_mask = match mask {
        Some(m) if !m.is_empty() => expected.len() / m.len(),
        _ => 1,
    };
    let mut ok = true;
    for (i, (&g, &e)) in got.iter().zip(expected).enumerate() {
        if let Some(m) = mask {
            if m.get(i / per_mask).copied().unwrap_or(1.0) == 0.0 {
                continue;
            }
        }
        let diff = (g - e).abs();
        if !g.is_finite() || !e.is_finite() {
            if !(g == e || (g.is_nan() && e.is_nan())) || !g.is_finite() {
                ok = false;
                res.max_abs = f64::NAN;
            }
            continue;
        }
        res.max_abs = res.max_abs.max(diff);
        if e != 0.0 {
            res.max_rel = res.max_rel.max(diff / e.abs());
        }
        let pass = if check.exact {
            g == e
        } else {
            diff <= check.atol + check.rtol * e.abs()
        };
        ok &= pass;
    }
    res.passed = Some(ok);
    Ok(res)
}

/// Checks a component's named `outputs` against the case in `case_dir`.
pub fn check_case(case_dir: &Path, outputs: &[(String, Tensor)]) -> Result<CaseReport> {
    let meta = Meta::load(case_dir)?;
    meta.validate_checks(case_dir)?;
    let expected = open_weights(&case_dir.join("expected.safetensors"))?;
    let inputs_path = case_dir.join("inputs.safetensors");
    let inputs = if inputs_path.exists() {
        Some(open_weights(&inputs_path)?)
    } else {
        None
    };
    let produced: HashMap<&str, &Tensor> = outputs.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let mut report = CaseReport::default();
    for check in &meta.checks {
        match check.role.as_str() {
            "contrast" => continue,
            "required" | "optional" => {}
            other => bail!(
                "{}: check {:?} has unknown role {other:?}",
                case_dir.display(),
                check.key
            ),
        }
        let Some(t) = produced.get(check.output.as_str()) else {
            if check.role == "required" {
                report.results.push(CheckResult {
                    check: check.clone(),
                    shape: expected
                        .info(&check.key)
                        .map(|i| i.shape)
                        .unwrap_or_default(),
                    max_abs: f64::NAN,
                    max_rel: f64::NAN,
                    passed: None,
                    note: Some(format!("output {:?} not produced", check.output)),
                });
            }
            continue;
        };
        let (shape, exp) = load_f64(expected.as_ref(), &check.key)?;
        let mask = match &check.mask {
            Some(name) => {
                let src: &dyn WeightSource = match &inputs {
                    Some(i) if i.info(name).is_some() => i.as_ref(),
                    _ => expected.as_ref(),
                };
                Some(load_f64(src, name)?.1)
            }
            None => None,
        };
        report
            .results
            .push(compare(check, &shape, &exp, t, mask.as_deref())?);
    }
    Ok(report)
}

/// Loads every tensor of a case file (`inputs.safetensors`, `expected.safetensors`) by name.
pub fn load_tensor(path: &Path, name: &str) -> Result<Tensor> {
    let src = open_weights(path)?;
    let info = src
        .info(name)
        .ok_or_else(|| Error::msg(format!("{}: no tensor {name:?}", path.display())))?;
    Tensor::from_bytes(
        std::sync::Arc::new(src.bytes(name)?),
        info.dtype,
        &info.shape,
    )
}

/// One object of a case's `meta.json → run` (the top level, or a component's entry) as a
/// runner reads it: every key it reads is marked, and [`RunParams::finish`] refuses any key
/// the runner neither used nor refused, naming it and the case. Keys named `note` or
/// ending in `_note` are documentation and always accepted.
#[derive(Debug)]
pub struct RunParams {
    map: serde_json::Map<String, serde_json::Value>,
    /// Where the object lives, for messages: `<case>/meta.json: run.<component>`.
    place: String,
    used: std::cell::RefCell<std::collections::BTreeSet<String>>,
}

impl RunParams {
    /// The component's entry `run.<component>` of the case (empty when absent).
    pub fn component(case_dir: &Path, meta: &Meta, component: &str) -> Result<RunParams> {
        let place = format!("{}: run.{component}", case_dir.join("meta.json").display());
        RunParams::new(meta.run.get(component), place)
    }

    /// The top level of `run` (empty when absent).
    pub fn top(case_dir: &Path, meta: &Meta) -> Result<RunParams> {
        let place = format!("{}: run", case_dir.join("meta.json").display());
        RunParams::new(Some(&meta.run), place)
    }

    fn new(value: Option<&serde_json::Value>, place: String) -> Result<RunParams> {
        let map = match value {
            None | Some(serde_json::Value::Null) => serde_json::Map::new(),
            Some(serde_json::Value::Object(m)) => m.clone(),
            Some(other) => bail!("{place} must be an object, got {other}"),
        };
        Ok(RunParams {
            map,
            place,
            used: Default::default(),
        })
    }

    /// `<case>/meta.json: run.<path>.<key>`, for messages.
    pub fn describe(&self, key: &str) -> String {
        format!("{}.{key}", self.place)
    }

    /// Whether the object has `key` (does not mark it).
    pub fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// The value of `key`, marking it used.
    pub fn get(&self, key: &str) -> Option<&serde_json::Value> {
        let v = self.map.get(key);
        if v.is_some() {
            self.used.borrow_mut().insert(key.to_string());
        }
        v
    }

    /// Marks `key` as known without reading it (a value that only documents the case).
    pub fn accept(&self, key: &str) {
        self.get(key);
    }

    fn typed<T>(
        &self,
        key: &str,
        what: &str,
        f: impl Fn(&serde_json::Value) -> Option<T>,
    ) -> Result<Option<T>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => f(v).map(Some).ok_or_else(|| {
                Error::msg(format!("{} must be {what}, got {v}", self.describe(key)))
            }),
        }
    }

    /// A number.
    pub fn f64(&self, key: &str) -> Result<Option<f64>> {
        self.typed(key, "a number", serde_json::Value::as_f64)
    }

    /// A non-negative integer.
    pub fn usize(&self, key: &str) -> Result<Option<usize>> {
        self.typed(key, "a non-negative integer", |v| {
            v.as_u64().map(|n| n as usize).or_else(|| {
                v.as_f64()
                    .filter(|f| *f >= 0.0 && f.fract() == 0.0)
                    .map(|f| f as usize)
            })
        })
    }

    /// A boolean.
    pub fn bool(&self, key: &str) -> Result<Option<bool>> {
        self.typed(key, "true or false", serde_json::Value::as_bool)
    }

    /// A string.
    pub fn str(&self, key: &str) -> Result<Option<String>> {
        self.typed(key, "a string", |v| v.as_str().map(str::to_string))
    }

    /// A list of non-negative integers.
    pub fn usize_list(&self, key: &str) -> Result<Option<Vec<usize>>> {
        self.typed(key, "a list of non-negative integers", |v| {
            v.as_array()?
                .iter()
                .map(|x| x.as_u64().map(|n| n as usize))
                .collect()
        })
    }

    /// A list of strings.
    pub fn str_list(&self, key: &str) -> Result<Option<Vec<String>>> {
        self.typed(key, "a list of strings", |v| {
            v.as_array()?
                .iter()
                .map(|x| x.as_str().map(str::to_string))
                .collect()
        })
    }

    /// A nested object, read the same way (its own [`RunParams::finish`] is the caller's).
    pub fn object(&self, key: &str) -> Result<Option<RunParams>> {
        match self.get(key) {
            None => Ok(None),
            Some(v @ serde_json::Value::Object(_)) => {
                Ok(Some(RunParams::new(Some(v), self.describe(key))?))
            }
            Some(v) => bail!("{} must be an object, got {v}", self.describe(key)),
        }
    }

    /// A value the runner cannot change (what its implementation does): when present it
    /// must equal `expected` (numbers compared as f64), else the case is refused.
    pub fn expect(&self, key: &str, expected: serde_json::Value, why: &str) -> Result<()> {
        let Some(v) = self.get(key) else {
            return Ok(());
        };
        let same = match (v.as_f64(), expected.as_f64()) {
            (Some(a), Some(b)) => a == b,
            _ => *v == expected,
        };
        if !same {
            bail!(
                "{} is {v}; this runner only runs {expected} ({why})",
                self.describe(key)
            );
        }
        Ok(())
    }

    /// Refuses every key that was neither used nor refused, naming them and the case.
    pub fn finish(&self) -> Result<()> {
        let used = self.used.borrow();
        let unknown: Vec<&str> = self
            .map
            .keys()
            .map(String::as_str)
            .filter(|k| !used.contains(*k) && *k != "note" && !k.ends_with("_note"))
            .collect();
        if !unknown.is_empty() {
            bail!(
                "{}: unknown key{} {}: this runner neither uses nor understands {}",
                self.place,
                if unknown.len() == 1 { "" } else { "s" },
                unknown
                    .iter()
                    .map(|k| format!("{k:?}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                if unknown.len() == 1 { "it" } else { "them" }
            );
        }
        Ok(())
    }
}

/// The raw inputs of a case as its runner names them: `run.<component>.inputs` maps each
/// input the component consumes (its logical name) to a tensor of `inputs.safetensors`.
/// A logical name the map does not list is looked up under its conventional tensor name;
/// [`CaseInputs::finish`] refuses a listed input the runner does not know.
pub struct CaseInputs {
    path: std::path::PathBuf,
    src: Box<dyn WeightSource>,
    map: RunParams,
}

impl CaseInputs {
    /// `inputs.safetensors` of the case, with the `inputs` map of `run` (marking it used).
    pub fn open(case_dir: &Path, run: &RunParams) -> Result<CaseInputs> {
        let path = case_dir.join("inputs.safetensors");
        let src = open_weights(&path)?;
        let map = match run.object("inputs")? {
            Some(m) => m,
            None => RunParams::new(None, run.describe("inputs"))?,
        };
        Ok(CaseInputs { path, src, map })
    }

    /// The tensor the map names for input `logical`, if it lists it.
    fn mapped(&self, logical: &str) -> Result<Option<String>> {
        match self.map.get(logical) {
            None => Ok(None),
            Some(v) => match v.as_str() {
                Some(s) => Ok(Some(s.to_string())),
                None => bail!("{} must name a tensor, got {v}", self.map.describe(logical)),
            },
        }
    }

    fn load(&self, name: &str) -> Result<Tensor> {
        let info = self
            .src
            .info(name)
            .ok_or_else(|| Error::msg(format!("{}: no tensor {name:?}", self.path.display())))?;
        Tensor::from_bytes(
            std::sync::Arc::new(self.src.bytes(name)?),
            info.dtype,
            &info.shape,
        )
    }

    /// Whether the map lists input `logical` (marks it).
    pub fn lists(&self, logical: &str) -> bool {
        self.map.get(logical).is_some()
    }

    /// Input `logical` (tensor `default` unless the map names another); it must exist.
    pub fn tensor(&self, logical: &str, default: &str) -> Result<Tensor> {
        let name = self.mapped(logical)?.unwrap_or_else(|| default.to_string());
        self.load(&name)
    }

    /// Input `logical` if the map lists it (it must then exist), else the first of
    /// `conventional` names the file holds, else `None`.
    pub fn optional(&self, logical: &str, conventional: &[&str]) -> Result<Option<Tensor>> {
        if let Some(name) = self.mapped(logical)? {
            return self.load(&name).map(Some);
        }
        match conventional.iter().find(|n| self.src.info(n).is_some()) {
            Some(n) => self.load(n).map(Some),
            None => Ok(None),
        }
    }

    /// Marks input `logical` as known although this run does not consume it.
    pub fn accept(&self, logical: &str) {
        self.map.accept(logical);
    }

    /// Refuses every listed input the runner neither consumed nor accepted.
    pub fn finish(&self) -> Result<()> {
        self.map.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(run: serde_json::Value, roles: &[&str]) -> Meta {
        let checks: Vec<serde_json::Value> = roles
            .iter()
            .map(|r| serde_json::json!({"key": "k", "output": "o", "role": r}))
            .collect();
        serde_json::from_value(serde_json::json!({
            "component": "c", "run": run, "checks": checks
        }))
        .unwrap()
    }

    #[test]
    fn a_case_needs_a_required_check() {
        let dir = Path::new("case");
        for roles in [&[][..], &["optional"], &["contrast", "optional"]] {
            let err = meta(serde_json::Value::Null, roles)
                .validate_checks(dir)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("meta.json") && err.contains("required"),
                "{err}"
            );
        }
        let err = meta(serde_json::Value::Null, &["required", "bogus"])
            .validate_checks(dir)
            .unwrap_err()
            .to_string();
        assert!(err.contains("bogus"), "{err}");
        meta(serde_json::Value::Null, &["optional", "required"])
            .validate_checks(dir)
            .unwrap();
    }

    #[test]
    fn run_params_refuse_what_was_not_read() {
        let m = meta(
            serde_json::json!({"c": {
                "steps": 8, "shift": 5.0, "sampler_note": "doc", "note": "doc",
                "unipc": {"order": 2, "extra": 1}, "mystery": true
            }}),
            &["required"],
        );
        let run = RunParams::component(Path::new("case"), &m, "c").unwrap();
        assert_eq!(run.usize("steps").unwrap(), Some(8));
        assert!(run.f64("missing").unwrap().is_none());
        run.expect("shift", serde_json::json!(5), "why").unwrap();
        let err = run.expect("shift", serde_json::json!(1.0), "why");
        assert!(err.unwrap_err().to_string().contains("run.c.shift"));
        let u = run.object("unipc").unwrap().unwrap();
        u.usize("order").unwrap();
        let err = u.finish().unwrap_err().to_string();
        assert!(
            err.contains("run.c.unipc") && err.contains("\"extra\""),
            "{err}"
        );
        let err = run.finish().unwrap_err().to_string();
        assert!(
            err.contains("case/meta.json") && err.contains("\"mystery\"") && !err.contains("note"),
            "{err}"
        );
        run.accept("mystery");
        run.finish().unwrap();
        assert!(run.str("steps").is_err());
    }
}

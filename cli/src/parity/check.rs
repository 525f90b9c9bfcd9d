//! Checking a component's outputs against a golden fixture case, by the fixtures' pass
//! rule: a check passes when every compared element satisfies
//! `|impl − expected| ≤ atol + rtol·|expected|` (in f64; NaN/Inf never pass); a required
//! output that was not produced fails; an optional one is compared when produced;
//! contrast entries are never compared.
//!
//! With half-precision activations an output the case gives a [`HalfBar`] for is held to
//! that bar instead, against the f64 expected tensor (the `f64.` twin of an `f32.` key when
//! the case has one); other outputs keep their check's tolerance.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use happyhorse_formats::{open_weights, WeightSource};
use happyhorse_tensor::{bail, Error, Precision, Result, Tensor};

use super::meta::{Check, HalfBar, Meta};

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
    /// rms(impl − expected) / rms(expected) over the compared elements (0 when the
    /// expected values are all 0).
    pub rms_rel: f64,
    /// The half-precision bar the check was held to instead of its tolerance.
    pub half_bar: Option<HalfBar>,
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
            let tol = if let Some(bar) = r.half_bar {
                format!("f16: max {:.1e} rms {:.1e}", bar.max_abs, bar.rms_rel)
            } else if r.check.exact {
                "exact".to_string()
            } else {
                format!("atol {:.1e} rtol {:.1e}", r.check.atol, r.check.rtol)
            };
            write!(
                f,
                "{:<40} {:<18} max abs {:.3e} max rel {:.3e} rms rel {:.1e}  {tol:<28} {verdict}",
                r.check.key,
                format!("{:?}", r.shape),
                r.max_abs,
                r.max_rel,
                r.rms_rel
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

/// Compares one produced tensor with one check, or with `half_bar` when given; returns
/// the result.
pub fn compare(
    check: &Check,
    half_bar: Option<HalfBar>,
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
        rms_rel: 0.0,
        half_bar,
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
    let (mut diff_sq, mut expected_sq) = (0.0f64, 0.0f64);
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
        diff_sq += diff * diff;
        expected_sq += e * e;
        let pass = if let Some(bar) = half_bar {
            diff <= bar.max_abs
        } else if check.exact {
            g == e
        } else {
            diff <= check.atol + check.rtol * e.abs()
        };
        ok &= pass;
    }
    if expected_sq > 0.0 {
        res.rms_rel = (diff_sq / expected_sq).sqrt();
    } else if diff_sq > 0.0 {
        res.rms_rel = f64::INFINITY;
    }
    if let Some(bar) = half_bar {
        ok &= res.rms_rel <= bar.rms_rel;
    }
    res.passed = Some(ok);
    Ok(res)
}

/// The expected tensor a check is compared with: with a half-precision bar, the `f64.`
/// twin of an `f32.` key when `expected` holds one; else the check's key.
fn expected_key(check: &Check, half: bool, expected: &dyn WeightSource) -> String {
    if let (true, Some(name)) = (half, check.key.strip_prefix("f32.")) {
        let twin = format!("f64.{name}");
        if expected.info(&twin).is_some() {
            return twin;
        }
    }
    check.key.clone()
}

/// Checks a component's named `outputs`, computed with `precision` activations, against
/// the case in `case_dir`.
pub fn check_case(
    case_dir: &Path,
    outputs: &[(String, Tensor)],
    precision: Precision,
) -> Result<CaseReport> {
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
                    rms_rel: f64::NAN,
                    half_bar: None,
                    passed: None,
                    note: Some(format!("output {:?} not produced", check.output)),
                });
            }
            continue;
        };
        let half_bar = match precision {
            Precision::F16 => meta.half_bar(&check.output),
            Precision::F32 => None,
        };
        let key = expected_key(check, half_bar.is_some(), expected.as_ref());
        let (shape, exp) = load_f64(expected.as_ref(), &key)?;
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
            .push(compare(check, half_bar, &shape, &exp, t, mask.as_deref())?);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A check of output `o` with an absolute tolerance of 1e-3.
    fn check() -> Check {
        serde_json::from_value(serde_json::json!({
            "key": "f32.o", "output": "o", "role": "required", "atol": 1e-3
        }))
        .unwrap()
    }

    #[test]
    fn a_half_bar_replaces_the_tolerance_and_bounds_max_abs_and_rms() {
        let expected = [1.0, -2.0, 3.0, 0.5];
        let produced = Tensor::from_vec(vec![1.01, -2.01, 3.02, 0.5], &[4]).unwrap();
        // max |diff| = 0.02; rms(diff) / rms(expected) = sqrt(1.5e-4 / 3.5625) ≈ 6.5e-3.
        let run = |bar: Option<HalfBar>| {
            compare(&check(), bar, &[4], &expected, &produced, None).unwrap()
        };
        let bar = |max_abs, rms_rel| Some(HalfBar { max_abs, rms_rel });
        let within = run(bar(0.03, 0.01));
        assert_eq!(within.passed, Some(true));
        assert!(
            (within.rms_rel - 6.49e-3).abs() < 1e-5,
            "{}",
            within.rms_rel
        );
        assert!((within.max_abs - 0.02).abs() < 1e-6, "{}", within.max_abs);
        assert_eq!(run(bar(0.015, 0.01)).passed, Some(false));
        assert_eq!(run(bar(0.03, 0.005)).passed, Some(false));
        assert_eq!(run(None).passed, Some(false));
    }
}

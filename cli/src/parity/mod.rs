//! `happyhorse parity`: runs the components a golden fixture case names on its inputs and
//! compares every output with the case's `checks`, by the fixtures' pass rule.
//!
//! This is the one place that knows fixture files. Its [`runners`] read a case (config,
//! weights, `meta.json → run`, `inputs.safetensors`) and run the shipping models with a
//! recording [`happyhorse_tensor::Probe`]; the models themselves only tap named
//! intermediates into whatever probe they are given.

pub mod check;
pub mod meta;
pub mod params;
pub mod runners;

pub use check::{check_case, compare, CaseReport, CheckResult};
pub use meta::{CaseFiles, Check, HalfBar, Meta};
pub use params::{CaseInputs, RunParams};

use std::collections::BTreeMap;
use std::path::Path;

use happyhorse_formats::write_safetensors;
use happyhorse_tensor::{bail, DType, Device, Precision, Result, Tensor};

/// The outcome of a parity run.
pub struct ParityRun {
    /// The component names run, in order.
    pub components: Vec<String>,
    /// Every output produced, by name.
    pub outputs: Vec<(String, Tensor)>,
    /// The comparison.
    pub report: CaseReport,
}

/// The device the case in `case_dir` runs on given `device`: `device` itself, except that
/// a case giving no half-precision bar for any output has nothing to hold f16 activations
/// to, so it runs on the f32 twin of an f16 device (under its own f32 tolerances).
pub fn case_device(case_dir: &Path, device: &Device) -> Result<Device> {
    if !case_dir.is_dir() {
        bail!("{}: not a fixture case directory", case_dir.display());
    }
    let meta = Meta::load(case_dir)?;
    if device.precision() == Precision::F16 && !meta.has_half_bars() {
        return device.with_precision(Precision::F32);
    }
    Ok(device.clone())
}

/// Runs every component of the case in `case_dir` on its [`case_device`] for `device` and
/// checks the outputs.
pub fn run(case_dir: &Path, device: &Device) -> Result<ParityRun> {
    run_within(case_dir, device, None)
}

/// [`run`] with the DiTs' layers streamed where they do not fit `budget` device bytes.
pub fn run_within(case_dir: &Path, device: &Device, budget: Option<u64>) -> Result<ParityRun> {
    let device = &case_device(case_dir, device)?;
    let meta = Meta::load(case_dir)?;
    // A case without a required check would pass whatever the runner produced.
    meta.validate_checks(case_dir)?;
    let names = meta.component_names();
    if names.is_empty() {
        bail!("{}: meta.json names no component", case_dir.display());
    }
    let mut outputs = Vec::new();
    for name in &names {
        outputs.extend(runners::run_component_within(
            name, case_dir, device, budget,
        )?);
    }
    let report = check_case(case_dir, &outputs, device.precision())?;
    Ok(ParityRun {
        components: names,
        outputs,
        report,
    })
}

/// Writes every produced output to a safetensors file as f32, under its output name.
pub fn dump(outputs: &[(String, Tensor)], path: &Path) -> Result<()> {
    let mut data: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, t) in outputs {
        if data.iter().any(|(n, _, _)| n == name) {
            continue;
        }
        let v = t.to_vec()?;
        data.push((
            name.clone(),
            t.shape().to_vec(),
            bytemuck::cast_slice(&v).to_vec(),
        ));
    }
    let tensors: Vec<(String, DType, Vec<usize>, &[u8])> = data
        .iter()
        .map(|(n, s, b)| (n.clone(), DType::F32, s.clone(), b.as_slice()))
        .collect();
    write_safetensors(path, &tensors, &BTreeMap::new())
}

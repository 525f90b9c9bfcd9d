//! Runs one benchmark case on the GPU: first the CPU-vs-GPU check on its reduced shape (a
//! case that fails it is not timed), then one warm-up and the median of several timed runs
//! at the full shape, synchronizing with the device before each clock read.

use std::time::Instant;

use crate::cases::{Case, Op};
use crate::quant::random_weight;
use crate::seeded::{values, words};
use happyhorse_tensor::gpu::matmul::linear_on;
use happyhorse_tensor::{AttentionOpts, ConvParams, DType, Device, Result, Tensor};

/// Largest GPU−CPU difference allowed, relative to the largest CPU output magnitude, where
/// both sides accumulate in f32 from the same (widened) operands; a wrong kernel is off by
/// O(1).
pub const TOLERANCE: f32 = 1e-4;

/// The same for the cooperative GEMM, which rounds both operands to f16 (a relative 2⁻¹¹
/// each).
pub const HALF_OPERAND_TOLERANCE: f32 = 1e-2;

/// The CPU-vs-GPU comparison of one reduced-shape launch.
#[derive(Clone, Copy, Debug)]
pub struct Parity {
    /// Largest |gpu − cpu| over the output (infinite when the shapes differ or any value is
    /// NaN).
    pub max_diff: f32,
    /// Largest |cpu| over the output.
    pub scale: f32,
    /// Largest difference allowed, relative to `scale`.
    pub tolerance: f32,
}

impl Parity {
    /// Compares two outputs element by element, within `tolerance` of the output's scale.
    pub fn compare(gpu: &[f32], cpu: &[f32], tolerance: f32) -> Parity {
        let scale = cpu.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let max_diff = if gpu.len() != cpu.len() {
            f32::INFINITY
        } else {
            gpu.iter().zip(cpu).fold(0.0f32, |m, (g, c)| {
                let d = (g - c).abs();
                if d.is_nan() {
                    f32::INFINITY
                } else {
                    m.max(d)
                }
            })
        };
        Parity {
            max_diff,
            scale,
            tolerance,
        }
    }

    /// Whether the difference is within the tolerance of the output's scale.
    pub fn passed(&self) -> bool {
        self.max_diff <= self.tolerance * self.scale.max(f32::MIN_POSITIVE)
    }
}

/// What one case gave: its check and, when that passed, its time.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The case.
    pub case: Case,
    /// The CPU-vs-GPU check on the reduced shape.
    pub parity: Parity,
    /// Median seconds of one full-shape launch (absent when the check failed).
    pub seconds: Option<f64>,
    /// How many timed runs the median is of.
    pub runs: usize,
}

impl Outcome {
    /// Tera floating-point operations per second of the full-shape launch.
    pub fn tflops(&self) -> Option<f64> {
        self.seconds.map(|s| self.case.op.flops() / s / 1e12)
    }

    /// The report line: `bench <name> <dtype> <shape> parity … <ms> <TFLOP/s>`.
    pub fn line(&self) -> String {
        let check = format!(
            "parity {} (max diff {:.1e} of {:.1e})",
            if self.parity.passed() { "ok" } else { "FAILED" },
            self.parity.max_diff,
            self.parity.scale
        );
        let speed = match (self.seconds, self.tflops()) {
            (Some(s), Some(t)) => format!(
                "{:>10.3} ms {t:>9.4} TFLOP/s (median of {})",
                s * 1e3,
                self.runs
            ),
            _ => "not timed".into(),
        };
        format!(
            "bench {:<28} {:<5} {:<24} {check:<38} {speed}",
            self.case.name,
            self.case.weights.to_string(),
            self.case.op.describe()
        )
    }
}

/// A seeded f32 tensor of `shape` on the CPU.
fn seeded(shape: &[usize], seed: u64) -> Result<Tensor> {
    Tensor::from_vec(values(shape.iter().product(), seed), shape)
}

/// A seeded weight `[rows, cols]` in `dtype`: seeded f32 values converted, or random blocks
/// of a block-quantized dtype (whose scales keep the values of order one).
fn weight(shape: [usize; 2], seed: u64, dtype: DType) -> Result<Tensor> {
    if dtype.is_quantized() {
        return random_weight(dtype, shape, &mut words(seed));
    }
    seeded(&shape, seed)?.to_dtype(dtype)
}

/// The operands of `op` on the CPU, the weight (if any) in `weights`.
fn operands(op: &Op, weights: DType) -> Result<Vec<Tensor>> {
    Ok(match *op {
        Op::Linear { m, k, n, .. } => {
            vec![seeded(&[m, k], 1)?, weight([n, k], 2, weights)?]
        }
        Op::Attention {
            len,
            heads,
            kv_heads,
            dim,
        } => vec![
            seeded(&[1, heads, len, dim], 3)?,
            seeded(&[1, kv_heads, len, dim], 4)?,
            seeded(&[1, kv_heads, len, dim], 5)?,
        ],
        Op::Conv3d {
            cin,
            cout,
            frames,
            h,
            w,
            ..
        } => vec![
            seeded(&[1, cin, frames, h, w], 6)?,
            seeded(&[cout, cin, 3, 3, 3], 7)?.to_dtype(weights)?,
        ],
    })
}

/// One launch of `op` on `operands` (on whichever device they live).
fn launch(op: &Op, operands: &[Tensor]) -> Result<Tensor> {
    match *op {
        Op::Linear { path, .. } => match operands[0].device() {
            Device::Gpu(_) => linear_on(path, &operands[0], &operands[1], None),
            Device::Cpu => operands[0].linear(&operands[1], None),
        },
        Op::Attention { dim, .. } => {
            let opts = AttentionOpts {
                scale: 1.0 / (dim as f32).sqrt(),
                ..Default::default()
            };
            operands[0].attention(&operands[1], &operands[2], &opts)
        }
        Op::Conv3d { causal, .. } => {
            let time = if causal { (2, 0) } else { (1, 1) };
            let params = ConvParams {
                padding: [time, (1, 1), (1, 1)],
                ..ConvParams::unit()
            };
            operands[0].conv3d(&operands[1], None, &params)
        }
    }
}

/// Copies of `tensors` on `dev`.
fn upload(tensors: &[Tensor], dev: &Device) -> Result<Vec<Tensor>> {
    tensors.iter().map(|t| t.to_device(dev)).collect()
}

/// Waits until every launch queued on `dev` has completed.
fn synchronize(dev: &Device) -> Result<()> {
    match dev {
        Device::Gpu(ctx) => ctx.synchronize(),
        Device::Cpu => Ok(()),
    }
}

/// Seconds of one launch, from a synchronized start to its completion.
fn timed(dev: &Device, op: &Op, operands: &[Tensor]) -> Result<f64> {
    synchronize(dev)?;
    let start = Instant::now();
    let out = launch(op, operands)?;
    synchronize(dev)?;
    let seconds = start.elapsed().as_secs_f64();
    drop(out);
    Ok(seconds)
}

/// Timed runs after the warm-up: fewer when one launch takes over a second.
fn runs_after(warm_up_seconds: f64) -> usize {
    if warm_up_seconds > 1.0 {
        3
    } else {
        7
    }
}

/// Checks `case` on its reduced shape against the CPU, then (when that passed) times it at
/// the full shape on `dev`.
pub fn run_case(dev: &Device, case: &Case) -> Result<Outcome> {
    let small = case.reduced();
    let cpu_operands = operands(&small, case.weights)?;
    let cpu = launch(&small, &cpu_operands)?.to_vec()?;
    let gpu = launch(&small, &upload(&cpu_operands, dev)?)?.to_vec()?;
    let tolerance = if case.rounds_operands_to_f16() {
        HALF_OPERAND_TOLERANCE
    } else {
        TOLERANCE
    };
    let parity = Parity::compare(&gpu, &cpu, tolerance);
    let mut outcome = Outcome {
        case: case.clone(),
        parity,
        seconds: None,
        runs: 0,
    };
    if !parity.passed() {
        return Ok(outcome);
    }
    let full = upload(&operands(&case.op, case.weights)?, dev)?;
    let warm_up = timed(dev, &case.op, &full)?;
    let mut samples = (0..runs_after(warm_up))
        .map(|_| timed(dev, &case.op, &full))
        .collect::<Result<Vec<f64>>>()?;
    samples.sort_by(f64::total_cmp);
    outcome.runs = samples.len();
    outcome.seconds = Some(samples[samples.len() / 2]);
    Ok(outcome)
}

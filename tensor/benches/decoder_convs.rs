//! The decoders' convolutions at their real layer shapes, each beside PyTorch's own op on
//! the same shapes and threads: `cargo bench -p happyhorse-tensor --bench decoder_convs
//! [-- quick] [sections]`, sections any of `builtin turbo wan22 audio` (all by default).
//!
//! `turbo` and `wan22` are the released video decoders' layers (channels, kernels, padding)
//! on one output frame: Turbo's at a 896×512 clip's extents, Wan2.2's on spatial tiles
//! (its full-resolution layers are hundreds of GFLOP a frame). `builtin` is the built-in
//! stack's Turbo decoder on one 16-frame window of its 448×256 output; `audio` the released Stable Audio VAE
//! decoder's convolutions for one second of sound. Time padding (replicate or causal) is
//! already in the input, as the decoders apply it before the convolution.
//!
//! PyTorch comes from `HAPPYHORSE_PYTHON` or `python3` (`pip install torch` brings a CPU
//! build); without it only our figures are printed. `quick` halves the larger extents.

use std::time::Instant;

use happyhorse_tensor::{ConvParams, Result, Tensor};

#[path = "support/seeded.rs"]
mod seeded;
#[path = "support/torch.rs"]
mod torch;
use seeded::values;
use torch::TorchConv;

/// One benchmark case: its section, a label and the convolution.
struct Case {
    section: &'static str,
    label: String,
    conv: TorchConv,
}

/// A conv3d case of `frames` output frames of `out` (H, W), time padding already applied.
fn conv3d_frames(
    section: &'static str,
    label: &str,
    [ci, co]: [usize; 2],
    k: [usize; 3],
    out: [usize; 2],
    frames: usize,
) -> Case {
    let pad = [0, k[1] / 2, k[2] / 2];
    Case {
        section,
        label: format!(
            "{label} {ci}->{co} k{}x{}x{} -> {frames}x{}x{}",
            k[0], k[1], k[2], out[1], out[0]
        ),
        conv: TorchConv {
            op: "conv3d",
            x: vec![1, ci, frames + k[0] - 1, out[0], out[1]],
            w: vec![co, ci, k[0], k[1], k[2]],
            stride: 1,
            padding: pad.to_vec(),
            dilation: 1,
        },
    }
}

/// A conv3d case of one output frame.
fn conv3d(
    section: &'static str,
    label: &str,
    c: [usize; 2],
    k: [usize; 3],
    out: [usize; 2],
) -> Case {
    conv3d_frames(section, label, c, k, out, 1)
}

fn conv1d(label: &str, c: usize, k: usize, dil: usize, len: usize) -> Case {
    Case {
        section: "audio",
        label: format!("{label} conv1d {c}->{c} k{k} d{dil} L{len}"),
        conv: TorchConv {
            op: "conv1d",
            x: vec![1, c, len],
            w: vec![c, c, k],
            stride: 1,
            padding: vec![(k - 1) / 2 * dil],
            dilation: dil,
        },
    }
}

fn conv_t(label: &str, [ci, co]: [usize; 2], stride: usize, len: usize) -> Case {
    Case {
        section: "audio",
        label: format!("{label} conv_transpose1d {ci}->{co} s{stride} L{len}"),
        conv: TorchConv {
            op: "conv_transpose1d",
            x: vec![1, ci, len],
            w: vec![ci, co, 2 * stride],
            stride,
            padding: vec![stride.div_ceil(2)],
            dilation: 1,
        },
    }
}

/// Every case; `s` divides the larger extents (2 for a quick run).
fn cases(s: usize) -> Vec<Case> {
    vec![
        conv3d_frames(
            "builtin",
            "turbo resnet",
            [16, 16],
            [3; 3],
            [128, 224],
            16 / s,
        ),
        conv3d_frames(
            "builtin",
            "turbo frame conv",
            [16, 16],
            [1, 3, 3],
            [128, 224],
            16 / s,
        ),
        conv3d_frames(
            "builtin",
            "turbo conv_out",
            [4, 3],
            [3; 3],
            [256, 448],
            16 / s,
        ),
        conv3d("turbo", "conv_in", [48, 512], [3; 3], [32, 56]),
        conv3d("turbo", "mid resnet", [512, 512], [3; 3], [32, 56 / s]),
        conv3d("turbo", "up 0 resnet", [256, 256], [3; 3], [64, 112 / s]),
        conv3d("turbo", "up 1 resnet", [128, 128], [3; 3], [128, 224 / s]),
        conv3d("turbo", "up 2 resnet", [64, 64], [3; 3], [256, 448 / s]),
        conv3d(
            "turbo",
            "upsampler frame conv",
            [64, 64],
            [1, 3, 3],
            [256, 448 / s],
        ),
        conv3d("turbo", "conv_out", [16, 3], [3; 3], [512, 896 / s]),
        conv3d("wan22", "conv1", [48, 1024], [3; 3], [32, 56]),
        conv3d("wan22", "mid resblock", [1024, 1024], [3; 3], [32, 56 / s]),
        conv3d("wan22", "up 2 resblock", [512, 512], [3; 3], [64, 112 / s]),
        conv3d("wan22", "up 3 resblock", [256, 256], [3; 3], [128, 224 / s]),
        conv3d("wan22", "head", [256, 12], [3; 3], [256, 448 / s]),
        conv_t("block 1", [2048, 1024], 8, 22),
        conv1d("block 1 res", 1024, 7, 9, 176),
        conv_t("block 2", [1024, 512], 8, 176),
        conv1d("block 2 res", 512, 7, 3, 1408),
        conv_t("block 3", [512, 256], 4, 1408),
        conv1d("block 3 res", 256, 7, 9, 5632),
        conv_t("block 4", [256, 128], 4, 5632 / s),
        conv1d("block 4 res", 128, 7, 1, 22528 / s),
        conv_t("block 5", [128, 128], 2, 22528 / s),
        conv1d("block 5 res", 128, 7, 9, 45056 / s),
    ]
}

/// Multiply-adds ×2 of a case.
fn flops(c: &TorchConv) -> f64 {
    let (x, w) = (&c.x, &c.w);
    match c.op {
        "conv_transpose1d" => 2.0 * (x[1] * x[2] * w[1] * w[2]) as f64,
        _ => {
            let taps: usize = w[2..].iter().product();
            let out: usize = (2..x.len())
                .map(|d| {
                    let span = c.dilation * (w[d] - 1) + 1;
                    (x[d] + 2 * c.padding[d - 2] - span) / c.stride + 1
                })
                .product();
            2.0 * (w[0] * w[1] * taps * out) as f64
        }
    }
}

/// Our op on the case's inputs.
fn run_ours(c: &TorchConv, x: &Tensor, w: &Tensor) -> Result<Tensor> {
    match c.op {
        "conv3d" => {
            let p = ConvParams {
                padding: std::array::from_fn(|d| (c.padding[d], c.padding[d])),
                ..ConvParams::unit()
            };
            x.conv3d(w, None, &p)
        }
        "conv1d" => x.conv1d(w, None, 1, (c.padding[0], c.padding[0]), c.dilation, 1),
        _ => x.conv_transpose1d(w, None, c.stride, c.padding[0], 0, 1),
    }
}

/// Best wall time of `runs` calls of our op after a warm-up, in seconds.
fn time_ours(c: &TorchConv, runs: usize) -> Result<f64> {
    let x = Tensor::from_vec(values(c.x.iter().product(), 1), &c.x)?;
    let w = Tensor::from_vec(values(c.w.iter().product(), 2), &c.w)?;
    run_ours(c, &x, &w)?;
    let mut best = f64::INFINITY;
    for _ in 0..runs {
        let t = Instant::now();
        run_ours(c, &x, &w)?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    Ok(best)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "quick");
    let picked: Vec<&String> = args
        .iter()
        .filter(|a| !a.starts_with('-') && *a != "quick")
        .collect();
    let cases: Vec<Case> = cases(if quick { 2 } else { 1 })
        .into_iter()
        .filter(|c| picked.is_empty() || picked.iter().any(|p| *p == c.section))
        .collect();
    let threads = rayon::current_num_threads();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "threads {threads}, PyTorch {}, load average {}",
        torch::torch_version().unwrap_or_else(|| "not available".into()),
        load.trim()
    );
    let runs = 3;
    // Ours, PyTorch, ours again: both see the same machine; the best of each counts.
    let first: Vec<f64> = cases
        .iter()
        .map(|c| time_ours(&c.conv, runs))
        .collect::<Result<_>>()?;
    let specs: Vec<TorchConv> = cases.iter().map(|c| c.conv.clone()).collect();
    let theirs = torch::time_convs(&specs, threads, runs);
    println!(
        "{:<8} {:<52} {:>9} {:>8} {:>9} {:>8} {:>6}",
        "section", "case", "ours ms", "GFLOP/s", "torch ms", "GFLOP/s", "ratio"
    );
    for (i, c) in cases.iter().enumerate() {
        let ours = first[i].min(time_ours(&c.conv, runs)?);
        let f = flops(&c.conv) / 1e9;
        let anchor = theirs.as_ref().map(|t| t[i]);
        println!(
            "{:<8} {:<52} {:>9.2} {:>8.1} {:>9} {:>8} {:>6}",
            c.section,
            c.label,
            ours * 1e3,
            f / ours,
            anchor.map_or("-".into(), |t| format!("{:.2}", t * 1e3)),
            anchor.map_or("-".into(), |t| format!("{:.1}", f / t)),
            anchor.map_or("-".into(), |t| format!("{:.2}", ours / t)),
        );
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "ratio = our time / PyTorch's; load average after: {}",
        load.trim()
    );
    Ok(())
}

//! CPU kernel benchmark: `cargo bench -p happyhorse-tensor --bench ops [-- quick] [sections]`
//! where sections are any of `sgemm linear attention conv` (all by default).
//!
//! Prints GFLOP/s (best of several runs) of SGEMM for each rung and micro-kernel, a bf16
//! `linear` at a DiT shape, attention and a VAE-like conv3d, and, when `HAPPYHORSE_PYTHON`
//! (else `python3`) has numpy, numpy's matmul at 2048³ timed in the same run with the ratio
//! to ours, with a warning when the machine is too busy for that ratio to count.

use std::process::Command;
use std::time::Instant;

use happyhorse_tensor::cpu::gemm::{available_kernels, gemm_with, Kernel, Mat};
use happyhorse_tensor::cpu::matmul::{gemm_nt_tiled, linear_naive, WeightRows};
use happyhorse_tensor::{AttentionOpts, ConvParams, DType, Result, Tensor};

#[path = "support/seeded.rs"]
mod seeded;
use seeded::values;

/// Best wall time of `runs` calls (after one warm-up), in seconds.
fn best(runs: usize, mut f: impl FnMut()) -> f64 {
    f();
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// Best wall time of `runs` products of the `s`×`s` matrices `a · b` into `c` on `kern`.
fn time_packed(
    kern: &Kernel,
    s: usize,
    runs: usize,
    (a, b): (&[f32], &[f32]),
    c: &mut [f32],
) -> f64 {
    best(runs, || {
        gemm_with(
            kern,
            Mat::row_major(a, s, s),
            Mat::row_major(b, s, s),
            c,
            s,
            false,
        )
    })
}

fn report(what: &str, flops: f64, secs: f64) -> f64 {
    let g = flops / secs / 1e9;
    println!("{what:<52} {:>9.2} ms {g:>8.1} GFLOP/s", secs * 1e3);
    g
}

fn sgemm(quick: bool) -> Option<f64> {
    let sizes: &[usize] = if quick {
        &[512, 1024]
    } else {
        &[512, 1024, 2048]
    };
    let mut ours_2048 = None;
    for &s in sizes {
        let flops = 2.0 * (s * s * s) as f64;
        let (a, b) = (values(s * s, 1), values(s * s, 2));
        let mut c = vec![0.0f32; s * s];
        if s <= 512 {
            let t = best(1, || drop(linear_naive(&a, s, s, &b, s)));
            report(&format!("sgemm {s}^3 naive (f64 accumulation)"), flops, t);
        }
        if s <= 1024 {
            let t = best(2, || {
                gemm_nt_tiled(&a, s, s, &WeightRows::F32(&b), s, &mut c)
            });
            report(&format!("sgemm {s}^3 tiled dot"), flops, t);
        }
        for kern in available_kernels() {
            if kern.name == "portable" && s > 1024 {
                continue;
            }
            let runs = if s >= 2048 { 3 } else { 5 };
            let t = time_packed(kern, s, runs, (&a, &b), &mut c);
            let g = report(&format!("sgemm {s}^3 packed {}", kern.name), flops, t);
            if s == 2048 && std::ptr::eq(kern, available_kernels()[0]) {
                ours_2048 = Some(g);
            }
        }
    }
    ours_2048
}

/// GFLOP/s of the best kernel at 2048³ (best of three).
fn sgemm_2048_best() -> f64 {
    let s = 2048;
    let (a, b) = (values(s * s, 1), values(s * s, 2));
    let mut c = vec![0.0f32; s * s];
    let t = time_packed(available_kernels()[0], s, 3, (&a, &b), &mut c);
    2.0 * (s * s * s) as f64 / t / 1e9
}

fn linear_bf16(quick: bool) -> Result<()> {
    let (m, k, n) = if quick {
        (512, 1024, 4096)
    } else {
        (2048, 1024, 4096)
    };
    let x = Tensor::from_vec(values(m * k, 3), &[m, k])?;
    let w = Tensor::from_vec(values(n * k, 4), &[n, k])?;
    for dt in [DType::F32, DType::BF16] {
        let wd = w.to_dtype(dt)?;
        let t = best(3, || drop(x.linear(&wd, None).unwrap()));
        report(
            &format!("linear {m}x{k} @ [{n},{k}]^T weights {dt}"),
            2.0 * (m * n * k) as f64,
            t,
        );
    }
    Ok(())
}

fn attention(quick: bool) -> Result<()> {
    let (h, l, d) = (8, if quick { 1024 } else { 2048 }, 128);
    let q = Tensor::from_vec(values(h * l * d, 5), &[1, h, l, d])?;
    let k = Tensor::from_vec(values(h * l * d, 6), &[1, h, l, d])?;
    let v = Tensor::from_vec(values(h * l * d, 7), &[1, h, l, d])?;
    let opts = AttentionOpts {
        scale: 1.0 / (d as f32).sqrt(),
        ..Default::default()
    };
    let t = best(3, || drop(q.attention(&k, &v, &opts).unwrap()));
    report(
        &format!("attention 8 heads L={l} D={d}"),
        4.0 * (h * l * l * d) as f64,
        t,
    );
    let win = AttentionOpts {
        window: Some(256),
        ..opts
    };
    let t = best(3, || drop(q.attention(&k, &v, &win).unwrap()));
    let visible: usize = (0..l)
        .map(|i| (i + 256).min(l) - (i + 1).saturating_sub(256))
        .sum();
    report(
        &format!("attention 8 heads L={l} D={d} window 256 (visible flops)"),
        4.0 * (h * visible * d) as f64,
        t,
    );
    Ok(())
}

fn conv3d(quick: bool) -> Result<()> {
    let (c, t, hw) = (128, if quick { 3 } else { 5 }, if quick { 32 } else { 64 });
    let x = Tensor::from_vec(values(c * t * hw * hw, 8), &[1, c, t, hw, hw])?;
    let w = Tensor::from_vec(values(c * c * 27, 9), &[c, c, 3, 3, 3])?;
    let p = ConvParams {
        padding: [(1, 1); 3],
        ..ConvParams::unit()
    };
    let secs = best(3, || drop(x.conv3d(&w, None, &p).unwrap()));
    report(
        &format!("conv3d {c}->{c} k3 pad1 on {t}x{hw}x{hw}"),
        2.0 * (c * c * 27 * t * hw * hw) as f64,
        secs,
    );
    Ok(())
}

/// numpy's 2048³ float32 matmul GFLOP/s, if `HAPPYHORSE_PYTHON` (else `python3`) has numpy;
/// OpenBLAS picks its own kernel (the variables that would pin an older one are removed).
fn numpy_2048() -> Option<f64> {
    let script = "import numpy as np, time\n\
        a=np.random.rand(2048,2048).astype(np.float32); b=np.random.rand(2048,2048).astype(np.float32)\n\
        a@b\n\
        t=min((lambda s: (a@b, time.perf_counter()-s)[1])(time.perf_counter()) for _ in range(5))\n\
        print(2*2048**3/t/1e9)";
    let python = std::env::var("HAPPYHORSE_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(python)
        .args(["-c", script])
        .env_remove("OPENBLAS_CORETYPE")
        .env_remove("OPENBLAS_L2_SIZE")
        .output()
        .ok()?;
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

/// The highest one-minute load average at the start that still counts as idle.
const IDLE_LOAD: f64 = 0.5;

/// The one-minute load average (0 where the system does not say).
fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

fn main() -> Result<()> {
    let quick = std::env::args().any(|a| a == "quick");
    let load_before = load_average();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "threads {}, kernels {:?}, load average {}",
        rayon::current_num_threads(),
        available_kernels()
            .iter()
            .map(|k| k.name)
            .collect::<Vec<_>>(),
        load.trim()
    );
    let picked: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-') && a != "quick")
        .collect();
    let run = |name: &str| picked.is_empty() || picked.iter().any(|p| p == name);
    let ours = if run("sgemm") { sgemm(quick) } else { None };
    if !quick && run("sgemm") {
        // Alternate numpy and ours so both see the same machine load; keep the best of each.
        let np = [numpy_2048(), numpy_2048()]
            .into_iter()
            .flatten()
            .reduce(f64::max);
        let ours = ours.map(|g| g.max(sgemm_2048_best()));
        match (np, ours) {
            (Some(np), Some(ours)) => {
                println!(
                    "{:<52} {:>12} {ours:>8.1} GFLOP/s",
                    "ours 2048^3 (best, interleaved with numpy)", ""
                );
                println!(
                    "{:<52} {:>12} {np:>8.1} GFLOP/s",
                    "numpy float32 matmul 2048^3", ""
                );
                println!("ratio ours / numpy at 2048^3: {:.2}", ours / np);
                // A loaded machine starves OpenBLAS's threads more than ours: the ratio
                // only means something on an idle one (the load average at the start, before
                // this benchmark's own threads raise it).
                if load_before > IDLE_LOAD {
                    println!(
                        "warning: load average {load_before:.2} at the start (above \
                         {IDLE_LOAD}): too busy for the numpy ratio to count; rerun on an idle \
                         machine"
                    );
                }
            }
            _ => println!("numpy not available: no reference ratio"),
        }
    }
    if run("linear") {
        linear_bf16(quick)?;
    }
    if run("attention") {
        attention(quick)?;
    }
    if run("conv") {
        conv3d(quick)?;
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average after: {}", load.trim());
    Ok(())
}

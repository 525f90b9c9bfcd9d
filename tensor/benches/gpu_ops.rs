//! GFLOP/s of the main kernels, CPU and GPU side by side:
//! `cargo bench -p happyhorse-tensor --features gpu --bench gpu_ops [-- quick]`.
//! GPU times come from timestamp queries when the adapter has them, else wall clock.

use std::time::Instant;

use happyhorse_tensor::gpu::GpuContext;
use happyhorse_tensor::{AttentionOpts, DType, Device, Result, Tensor};

#[path = "support/quant.rs"]
mod quant;
#[path = "support/seeded.rs"]
mod seeded;

/// A seeded f32 tensor of values in [-1, 1).
fn rand(shape: &[usize], seed: u64) -> Tensor {
    Tensor::from_vec(seeded::values(shape.iter().product(), seed), shape).unwrap()
}

/// Seconds per run of `f` on the CPU (best of `reps`).
fn time_cpu(reps: usize, f: impl Fn() -> Result<Tensor>) -> f64 {
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f().unwrap();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// Seconds per run of `f` on the GPU: the time of every kernel it launches (timestamps; a
/// linear's GEMM kernel depends on the adapter's path) or wall time to completion.
fn time_gpu(ctx: &GpuContext, reps: usize, f: impl Fn() -> Result<Tensor>) -> f64 {
    f().unwrap();
    ctx.synchronize().unwrap();
    if ctx.has_timestamps() {
        ctx.take_kernel_times();
        ctx.set_profiling(true);
        for _ in 0..reps {
            f().unwrap();
        }
        ctx.set_profiling(false);
        let kernels = ctx.take_kernel_times();
        return kernels.values().map(|k| k.seconds).sum::<f64>() / reps as f64;
    }
    let t = Instant::now();
    for _ in 0..reps {
        f().unwrap();
    }
    ctx.synchronize().unwrap();
    t.elapsed().as_secs_f64() / reps as f64
}

fn main() -> Result<()> {
    let quick = std::env::args().any(|a| a == "quick");
    let dev = Device::gpu()?;
    let Device::Gpu(ctx) = &dev else {
        unreachable!()
    };
    println!("{}\n", ctx.info());
    println!(
        "{:<34} {:>12} {:>12} {:>8}",
        "kernel", "CPU GFLOP/s", "GPU GFLOP/s", "ratio"
    );
    let row = |name: String, flops: f64, cpu: f64, gpu: f64| {
        let (c, g) = (flops / cpu / 1e9, flops / gpu / 1e9);
        println!("{name:<34} {c:>12.1} {g:>12.1} {:>8.2}", g / c);
    };
    let sizes: &[usize] = if quick {
        &[256, 512]
    } else {
        &[256, 512, 1024, 2048]
    };
    for &n in sizes {
        let reps = if n >= 1024 { 2 } else { 4 };
        let x = rand(&[n, n], 1);
        for dt in [DType::F32, DType::BF16, DType::Q8_0, DType::Q4K] {
            let w = match dt {
                DType::F32 | DType::BF16 => rand(&[n, n], 2).to_dtype(dt)?,
                _ => quant::random_weight(dt, [n, n], &mut seeded::words(2))?,
            };
            let (xg, wg) = (x.to_device(&dev)?, w.to_device(&dev)?);
            let cpu = time_cpu(reps, || x.linear(&w, None));
            let gpu = time_gpu(ctx, reps, || xg.linear(&wg, None));
            row(
                format!("linear {n}³ {dt}"),
                2.0 * (n as f64).powi(3),
                cpu,
                gpu,
            );
        }
    }
    let lens: &[usize] = if quick { &[512] } else { &[1024, 4096] };
    for &l in lens {
        let (b, h, d) = (1, 8, 128);
        let q = rand(&[b, h, l, d], 3);
        let k = rand(&[b, h / 4, l, d], 4);
        let v = rand(&[b, h / 4, l, d], 5);
        let opts = AttentionOpts {
            scale: 1.0 / (d as f32).sqrt(),
            ..Default::default()
        };
        let (qg, kg, vg) = (q.to_device(&dev)?, k.to_device(&dev)?, v.to_device(&dev)?);
        let cpu = time_cpu(2, || q.attention(&k, &v, &opts));
        let gpu = time_gpu(ctx, 2, || qg.attention(&kg, &vg, &opts));
        row(
            format!("attention L={l} H={h} D={d} gqa"),
            4.0 * (b * h * l * l * d) as f64,
            cpu,
            gpu,
        );
    }
    let x = rand(&[1, 64, 4, 32, 32], 6);
    let w = rand(&[64, 64, 3, 3, 3], 7);
    let p = happyhorse_tensor::ConvParams {
        padding: [(1, 1); 3],
        ..happyhorse_tensor::ConvParams::unit()
    };
    let (xg, wg) = (x.to_device(&dev)?, w.to_device(&dev)?);
    let cpu = time_cpu(2, || x.conv3d(&w, None, &p));
    let gpu = time_gpu(ctx, 2, || xg.conv3d(&wg, None, &p));
    row(
        "conv3d 64→64 k3 4×32×32".into(),
        2.0 * (64 * 64 * 27 * 4 * 32 * 32) as f64,
        cpu,
        gpu,
    );
    Ok(())
}

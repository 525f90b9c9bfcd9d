//! MagiHuman DiT forward time on a small configuration (hidden 256, two layers: one with
//! per-modality experts and gelu7, one shared with swiglu7) with random weights over about
//! 550 tokens; the output is read back after each forward. With `profile` on the GPU, one
//! more forward is timed kernel by kernel.
//!
//! `cargo run --release -p happyhorse-model --example bench_dit -- [device] [reps] [profile]`
//! (device `cpu` (default), `gpu` or `auto`).

use std::time::Instant;

use happyhorse_model::magihuman::ModelConfig;
use happyhorse_model::magihuman::{DataProxyConfig, DitInputs, DitWeights, MagiHumanDit};
use happyhorse_nn::Weights;
use happyhorse_tensor::{Device, Result, Tensor};

/// Two layers of the released layout at a fraction of its width.
fn small_config() -> ModelConfig {
    ModelConfig {
        num_layers: 2,
        hidden_size: 256,
        head_dim: 64,
        num_query_groups: 2,
        video_in_channels: 64,
        audio_in_channels: 8,
        text_in_channels: 64,
        mm_layers: vec![0],
        gelu7_layers: vec![0],
        ..ModelConfig::default()
    }
}

/// Seeded values in [-1, 1) of `shape` on `device`.
fn input(shape: &[usize], seed: u64, device: &Device) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let v = (0..n as u64)
        .map(|i| ((i * 2_654_435_761 + seed) % 2000) as f32 / 1000.0 - 1.0)
        .collect();
    Tensor::from_vec(v, shape)?.to_device(device)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let device = Device::parse(args.first().map_or("cpu", String::as_str))?;
    let reps: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(2);
    let config = small_config();
    let weights = DitWeights::from_weights(&Weights::random(1, &device), &config)?;
    let dit = MagiHumanDit::new(config, DataProxyConfig::default(), weights, &device)?;
    // Latent 16×2×32×32 with 2×2 patches: 512 video tokens, then 5 audio and 32 text rows.
    let inputs = DitInputs {
        video: input(&[16, 2, 32, 32], 1, &device)?,
        audio: input(&[5, 8], 2, &device)?,
        text: input(&[32, 64], 3, &device)?,
        clean_first_frame: None,
    };
    for rep in 0..reps {
        let start = Instant::now();
        let out = dit.forward(&inputs)?;
        let checksum: f64 = out.video.to_vec()?.iter().map(|&v| v as f64).sum();
        println!(
            "forward {rep}: {:.1} ms (video checksum {checksum:.6})",
            start.elapsed().as_secs_f64() * 1e3
        );
    }
    if args.get(2).is_some_and(|a| a == "profile") {
        profile(&dit, &inputs)?;
    }
    Ok(())
}

/// One more forward with per-kernel GPU timing, its kernels printed slowest first.
#[cfg(feature = "gpu")]
fn profile(dit: &MagiHumanDit, inputs: &DitInputs) -> Result<()> {
    let Device::Gpu(ctx) = &dit.device else {
        return Ok(());
    };
    ctx.set_profiling(true);
    dit.forward(inputs)?.video.to_vec()?;
    ctx.set_profiling(false);
    let mut times: Vec<_> = ctx.take_kernel_times().into_iter().collect();
    times.sort_by(|a, b| b.1.seconds.total_cmp(&a.1.seconds));
    for (name, t) in times {
        println!(
            "  {name:<16} {:>5} dispatches {:>9.1} ms",
            t.count,
            t.seconds * 1e3
        );
    }
    Ok(())
}

/// Per-kernel timing needs the GPU backend.
#[cfg(not(feature = "gpu"))]
fn profile(_: &MagiHumanDit, _: &DitInputs) -> Result<()> {
    Ok(())
}

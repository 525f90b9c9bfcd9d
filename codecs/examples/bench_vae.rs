//! Decode speed and peak memory of the Turbo VAE decoder and the full Wan2.2 decoder on a
//! mid-size configuration with random weights, and the tile plan that keeps a 1080p decode
//! of the released models within a memory budget.
//!
//! `cargo run --release -p happyhorse-codecs --example bench_vae -- [turbo|wan|audio|plan]
//! [budget_gib]` (each model in its own process gives its own peak; no argument runs all
//! four). `audio` decodes one second of sound with the Stable Audio VAE decoder at its
//! released size.

use std::time::Instant;

use happyhorse_codecs::sa_audio::{SaAudioConfig, SaAudioVae, WEIGHT_PREFIX};
use happyhorse_codecs::turbo::{TurboConfig, TurboVaeDecoder};
use happyhorse_codecs::video::Tiling;
use happyhorse_codecs::wan22::{Wan22Config, Wan22Vae};
use happyhorse_nn::{Synthetic, Weights};
use happyhorse_tensor::{Device, Result, Tensor};

/// Peak resident memory of this process (`VmHWM`), in MiB.
fn peak_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn random_latent(shape: &[usize]) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let data = (0..n)
        .map(|i| ((i as f32 * 0.618_034).fract() - 0.5) * 2.0)
        .collect();
    Tensor::from_vec(data, shape)
}

/// The mid-size Turbo configuration (released layout, narrower blocks).
fn turbo_mid() -> TurboConfig {
    TurboConfig {
        decoder_block_out_channels: vec![16, 32, 64, 128],
        ..TurboConfig::released()
    }
}

/// Decodes a random latent of `shape` once and prints the time per frame and the peak
/// resident memory under `label`.
fn time_decode(
    label: &str,
    shape: &[usize],
    decode: impl Fn(&Tensor) -> Result<Tensor>,
) -> Result<()> {
    let z = random_latent(shape)?;
    let t0 = Instant::now();
    let video = decode(&z)?;
    let dt = t0.elapsed().as_secs_f64();
    let frames = video.shape()[2];
    println!(
        "{label} latent {shape:?} -> {:?}: {:.2} s, {:.1} ms/frame, VmHWM {:.0} MiB",
        video.shape(),
        dt,
        dt * 1e3 / frames as f64,
        peak_mib()
    );
    Ok(())
}

fn bench_turbo() -> Result<()> {
    let vae = TurboVaeDecoder::synthetic(&turbo_mid(), Synthetic::Random(1), &Device::Cpu)?;
    time_decode(
        "turbo  mid-size (blocks [16,32,64,128])",
        &[1, 48, 8, 8, 8],
        |z| vae.decode(z),
    )
}

fn bench_wan() -> Result<()> {
    let cfg = Wan22Config {
        dim: 16,
        dec_dim: 16,
        ..Wan22Config::default()
    };
    let vae = Wan22Vae::synthetic(&cfg, Synthetic::Random(1), &Device::Cpu)?;
    time_decode("wan2.2 mid-size (dec_dim 16)", &[1, 48, 3, 8, 8], |z| {
        vae.decode(z)
    })
}

/// The released Stable Audio VAE's geometry (128 channels, 44.1 kHz stereo, 2048× down).
const AUDIO_RELEASED: &str = r#"{"sample_rate": 44100, "audio_channels": 2, "model": {"pretransform": {
  "type": "autoencoder", "config": {
    "encoder": {"type": "oobleck", "config": {"channels": 128, "c_mults": [1, 2, 4, 8, 16],
      "strides": [2, 4, 4, 8, 8], "use_snake": true, "in_channels": 2, "latent_dim": 128}},
    "decoder": {"type": "oobleck", "config": {"channels": 128, "c_mults": [1, 2, 4, 8, 16],
      "strides": [2, 4, 4, 8, 8], "use_snake": true, "out_channels": 2, "latent_dim": 64,
      "final_tanh": false}},
    "bottleneck": {"type": "vae"}, "latent_dim": 64, "downsampling_ratio": 2048,
    "io_channels": 2}}}}"#;

fn bench_audio() -> Result<()> {
    let cfg = SaAudioConfig::from_json_str(AUDIO_RELEASED)?;
    let weights = Weights::random(1, &Device::Cpu);
    let vae = SaAudioVae::from_weights(&cfg, &weights.sub(WEIGHT_PREFIX))?;
    // 22 latent frames: 45 056 samples, a little over one second at 44.1 kHz.
    let z = random_latent(&[1, 64, 22])?;
    let t0 = Instant::now();
    let audio = vae.decode(&z)?;
    let dt = t0.elapsed().as_secs_f64();
    let seconds = audio.shape()[2] as f64 / 44_100.0;
    println!(
        "audio  released (128 channels) latent [1, 64, 22] -> {:?}: {dt:.2} s, {:.2} s per second of sound, VmHWM {:.0} MiB",
        audio.shape(),
        dt / seconds,
        peak_mib()
    );
    Ok(())
}

fn plan_1080p(budget_gib: f64) -> Result<()> {
    let budget = (budget_gib * (1u64 << 30) as f64) as usize;
    let tiling = Tiling {
        memory_budget: Some(budget),
        overlap: 2,
        ..Tiling::default()
    };
    let (h, w) = (68, 120); // 1088 × 1920 pixels
    let gib = |b: usize| b as f64 / (1u64 << 30) as f64;
    let wan = Wan22Vae::synthetic(
        &Wan22Config::default(),
        Synthetic::Placeholder,
        &Device::Cpu,
    )?;
    let whole = wan.tile_plan(h, w, &Tiling::default())?;
    let plan = wan.tile_plan(h, w, &tiling)?;
    println!(
        "wan2.2 released, 1080p latent {h}x{w}: untiled ~{:.1} GiB; budget {budget_gib} GiB -> {} tiles of {:?} (halo {}), ~{:.1} GiB",
        gib(wan.estimate_decode_bytes(h, w, &whole)),
        plan.tiles.len(),
        plan.tiles[0].keep,
        wan.decode_halo(),
        gib(wan.estimate_decode_bytes(h, w, &plan))
    );
    let turbo = TurboVaeDecoder::synthetic(
        &TurboConfig::released(),
        Synthetic::Placeholder,
        &Device::Cpu,
    )?;
    let whole = turbo.tile_plan(h, w, &Tiling::default())?;
    let plan = match turbo.tile_plan(h, w, &tiling) {
        Ok(p) => p,
        Err(e) => {
            println!(
                "turbo  released, 1080p: untiled ~{:.1} GiB; {e}",
                gib(turbo.estimate_decode_bytes(&whole))
            );
            return Ok(());
        }
    };
    println!(
        "turbo  released, 1080p latent {h}x{w}: untiled ~{:.1} GiB; budget {budget_gib} GiB -> {} tiles of {:?} (halo {}), ~{:.1} GiB",
        gib(turbo.estimate_decode_bytes(&whole)),
        plan.tiles.len(),
        plan.tiles[0].keep,
        turbo.decode_halo(),
        gib(turbo.estimate_decode_bytes(&plan))
    );
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let which = args.first().map(String::as_str).unwrap_or("all");
    let budget = args.get(1).and_then(|b| b.parse().ok()).unwrap_or(8.0);
    if matches!(which, "turbo" | "all") {
        bench_turbo()?;
    }
    if matches!(which, "wan" | "all") {
        bench_wan()?;
    }
    if matches!(which, "audio" | "all") {
        bench_audio()?;
    }
    if matches!(which, "plan" | "all") {
        plan_1080p(budget)?;
    }
    if let Some(table) = happyhorse_tensor::cpu::profile::report() {
        println!("{table}");
    }
    Ok(())
}

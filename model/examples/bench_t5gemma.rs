//! T5Gemma encoder forward time for one 640-token prompt on a mid-size configuration
//! (hidden 512, 4 layers, Gemma-2 layout) with random weights, plus the projected cost of
//! the released 9B encoder from the measured throughput.
//!
//! `cargo run --release -p happyhorse-model --example bench_t5gemma -- [device] [tokens] [reps]`
//! (device `cpu` (default), `gpu` or `auto`).

use std::time::Instant;

use happyhorse_model::t5gemma::config::default_layer_types;
use happyhorse_model::t5gemma::{EncoderConfig, T5GemmaEncoder, DEFAULT_TARGET_LENGTH};
use happyhorse_nn::Weights;
use happyhorse_tensor::{Device, Result};

/// The mid-size configuration: the released layout at a fraction of its width.
fn mid_config() -> EncoderConfig {
    let layers = 4;
    EncoderConfig {
        hidden_size: 512,
        num_hidden_layers: layers,
        head_dim: 64,
        intermediate_size: 2048,
        query_pre_attn_scalar: 64.0,
        vocab_size: 32000,
        layer_types: default_layer_types(layers),
        ..EncoderConfig::default()
    }
}

/// Multiply-adds of one forward over `s` tokens: projections, MLP, attention.
fn macs(c: &EncoderConfig, s: usize) -> f64 {
    let (h, d) = (c.hidden_size as f64, c.head_dim as f64);
    let (hq, hkv) = (c.num_attention_heads as f64, c.num_key_value_heads as f64);
    let s = s as f64;
    let proj = s * h * d * (2.0 * hq + 2.0 * hkv);
    let mlp = 3.0 * s * h * c.intermediate_size as f64;
    let attn = 2.0 * s * s * hq * d;
    c.num_hidden_layers as f64 * (proj + mlp + attn)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let device = Device::parse(args.first().map_or("cpu", String::as_str))?;
    let tokens: usize = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(DEFAULT_TARGET_LENGTH);
    let reps: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(3);
    let config = mid_config();
    let start = Instant::now();
    let encoder = T5GemmaEncoder::new(config.clone(), &Weights::random(1, &device))?;
    println!(
        "mid-size encoder (hidden {}, {} layers, {}q/{}kv heads × {}, ff {}) built in {:.2} s on {device:?}",
        config.hidden_size,
        config.num_hidden_layers,
        config.num_attention_heads,
        config.num_key_value_heads,
        config.head_dim,
        config.intermediate_size,
        start.elapsed().as_secs_f64()
    );
    let ids: Vec<u32> = (0..tokens).map(|i| 2 + (i as u32 * 7919) % 31000).collect();
    encoder.forward_single(&ids)?.to_vec()?; // warm-up
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let start = Instant::now();
        encoder.forward_single(&ids)?.to_vec()?;
        best = best.min(start.elapsed().as_secs_f64());
    }
    let gmacs = macs(&config, tokens) / 1e9;
    println!(
        "forward of {tokens} tokens: {:.1} ms (best of {reps}), {:.1} GMAC, {:.1} GFLOP/s",
        best * 1e3,
        gmacs,
        2.0 * gmacs / best
    );
    let released = EncoderConfig {
        hidden_size: 3584,
        num_hidden_layers: 42,
        num_attention_heads: 16,
        num_key_value_heads: 8,
        head_dim: 256,
        intermediate_size: 14336,
        layer_types: default_layer_types(42),
        ..EncoderConfig::default()
    };
    let big = macs(&released, tokens) / 1e9;
    println!(
        "released 9B encoder, {tokens} tokens: {:.0} GMAC, about {:.1} s at the same rate",
        big,
        big / gmacs * best
    );
    Ok(())
}

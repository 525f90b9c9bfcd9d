//! The `turbo-vaed` golden-fixture runner.

use std::path::Path;

use happyhorse_tensor::fixture::{load_tensor, Meta};
use happyhorse_tensor::{Device, Result, Tensor};

use super::{TurboConfig, TurboVaeDecoder};
use crate::io::png_frames::frame_levels;
use crate::wan22::{Taps, Tiling};

/// Runs a `turbo-vaed` case: decodes `latent` (with per-chunk intermediates) and
/// `latent_single`, and returns every output its `meta.json` checks.
pub fn run_fixture(case_dir: &Path, device: &Device) -> Result<Vec<(String, Tensor)>> {
    let meta = Meta::load(case_dir)?;
    let weights = meta
        .run
        .get("weights")
        .and_then(|v| v.as_str())
        .unwrap_or("checkpoint-340000.ckpt");
    let cfg = TurboConfig::from_json_file(&case_dir.join("config.json"))?;
    let vae = TurboVaeDecoder::load_with_config(&cfg, &case_dir.join(weights), device)?;
    let inputs = case_dir.join("inputs.safetensors");
    let mut taps = Taps {
        prefix: String::new(),
        items: Vec::new(),
    };
    let latent = load_tensor(&inputs, "latent")?;
    let decoded = vae.decode_inner(&latent, &Tiling::default(), Some(&mut taps))?;
    let single = vae.decode(&load_tensor(&inputs, "latent_single")?)?;
    let mut out = vec![
        ("frames_uint8".to_string(), frame_levels(&decoded)?),
        ("decoded".to_string(), decoded),
        ("decoded_single".to_string(), single),
    ];
    out.append(&mut taps.items);
    Ok(out)
}

//! The `turbo-vaed` golden-fixture runner.

use std::path::Path;

use happyhorse_codecs::turbo::{TurboConfig, TurboVaeDecoder};
use happyhorse_codecs::video::Tiling;
use happyhorse_media::png_frames::frame_levels;
use happyhorse_tensor::io::read_tensor;
use happyhorse_tensor::probe::Recorder;
use happyhorse_tensor::{Device, Result, Tensor};

use crate::parity::Meta;

/// Runs a `turbo-vaed` case: decodes `latent` (with per-chunk intermediates) and
/// `latent_single`, and returns every output its `meta.json` checks.
pub fn run(case_dir: &Path, device: &Device) -> Result<Vec<(String, Tensor)>> {
    let meta = Meta::load(case_dir)?;
    let weights = meta
        .run
        .get("weights")
        .and_then(|v| v.as_str())
        .unwrap_or("checkpoint-340000.ckpt");
    let cfg = TurboConfig::from_json_file(&case_dir.join("config.json"))?;
    let vae = TurboVaeDecoder::load_with_config(&cfg, &case_dir.join(weights), device)?;
    let inputs = case_dir.join("inputs.safetensors");
    let mut probe = Recorder::new();
    let latent = read_tensor(&inputs, "latent")?;
    let decoded = vae.decode_probed(&latent, &Tiling::default(), &mut probe)?;
    let single = vae.decode(&read_tensor(&inputs, "latent_single")?)?;
    let mut out = vec![
        ("frames_uint8".to_string(), frame_levels(&decoded)?),
        ("decoded".to_string(), decoded),
        ("decoded_single".to_string(), single),
    ];
    out.append(&mut probe.taps);
    Ok(out)
}

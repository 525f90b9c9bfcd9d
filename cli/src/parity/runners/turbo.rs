//! The `turbo-vaed` golden-fixture runner.

use std::path::Path;

use happyhorse_codecs::turbo::{TurboConfig, TurboVaeDecoder};
use happyhorse_codecs::video::Tiling;
use happyhorse_media::png_frames::frame_levels;
use happyhorse_tensor::probe::Recorder;
use happyhorse_tensor::read_tensor;
use happyhorse_tensor::{Device, Result, Tensor};

use crate::parity::CaseFiles;

/// Runs a `turbo-vaed` case: decodes `latent` (with per-chunk intermediates) and
/// `latent_single`, and returns every output its `meta.json` checks.
pub fn run(case_dir: &Path, device: &Device) -> Result<Vec<(String, Tensor)>> {
    let files = CaseFiles::locate(case_dir, "checkpoint-340000.ckpt")?;
    let cfg = TurboConfig::from_json_file(&files.config)?;
    let vae = TurboVaeDecoder::load_with_config(&cfg, &files.weights, device)?;
    let mut probe = Recorder::new();
    let latent = read_tensor(&files.inputs, "latent")?;
    let decoded = vae.decode_probed(&latent, &Tiling::default(), &mut probe)?;
    let single = vae.decode(&read_tensor(&files.inputs, "latent_single")?)?;
    let mut out = vec![
        ("frames_uint8".to_string(), frame_levels(&decoded)?),
        ("decoded".to_string(), decoded),
        ("decoded_single".to_string(), single),
    ];
    out.append(&mut probe.taps);
    Ok(out)
}

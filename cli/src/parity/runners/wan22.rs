//! The `wan22-vae` golden-fixture runner.

use std::path::Path;

use happyhorse_codecs::video::Tiling;
use happyhorse_codecs::wan22::{Wan22Config, Wan22Vae};
use happyhorse_media::png_frames::frame_levels;
use happyhorse_tensor::probe::Recorder;
use happyhorse_tensor::read_tensor;
use happyhorse_tensor::{Device, Result, Tensor};

use crate::parity::CaseFiles;

/// Runs a `wan22-vae` case: decodes `latent` (chunked, untiled), encodes `image` and
/// `video`, and returns every output its `meta.json` checks, intermediates included.
pub fn run(case_dir: &Path, device: &Device) -> Result<Vec<(String, Tensor)>> {
    let files = CaseFiles::locate(case_dir, "Wan2.2_VAE.pth")?;
    let cfg = Wan22Config::from_json_file(&files.config)?;
    let vae = Wan22Vae::load(&files.weights, &cfg, device)?;
    let inputs = &files.inputs;

    let latent = read_tensor(inputs, "latent")?.to_device(device)?;
    let mut probe = Recorder::new();
    let pre = vae.decode_preclamp(&latent, &Tiling::default(), &mut probe)?;
    let decoded = pre.clamp(-1.0, 1.0)?;
    let mut out = vec![
        ("decoded_preclamp".to_string(), pre),
        ("frames_uint8".to_string(), frame_levels(&decoded)?),
        ("decoded".to_string(), decoded),
    ];
    out.append(&mut probe.taps);

    for (input, name) in [("image", "encoded_image"), ("video", "encoded_video")] {
        let x = read_tensor(inputs, input)?.to_device(device)?;
        let mut probe = Recorder::new();
        let z = vae.encode_probed(&x, &mut probe)?;
        out.push((name.to_string(), z));
        for (n, t) in probe.taps {
            let n = if input == "image" {
                n.strip_prefix("chunk0.").unwrap_or(&n).to_string()
            } else {
                n
            };
            out.push((format!("encode_{input}.{n}"), t));
        }
    }
    Ok(out)
}

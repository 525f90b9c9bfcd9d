//! The memory estimate checked before any work: weights plus the largest working set,
//! against what the machine (or the GPU) has.

use happyhorse_model::magihuman::PipelineConfig;
use happyhorse_tensor::{bail, Device, Result};

use crate::request::{audio_frames, latent_frames, latent_side, pixel_size, GenerateRequest};
use crate::stack::Stack;

/// Bytes of host memory available now (`MemAvailable`), when the system says.
pub fn available_host_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// A rough upper bound of what a generation needs: the weights (memory-mapped, so they
/// count once), the DiT's activations at the output resolution (about 24 f32 values per
/// token and hidden unit, attention included) and the decoder's frame buffers.
pub fn estimate_bytes(stack: &Stack, req: &GenerateRequest, hidden: usize, fps: usize) -> u64 {
    let (h, w) = pixel_size(req.resolution, req.aspect);
    let a = audio_frames(req.seconds, fps);
    let t = latent_frames(a);
    let tokens = (t * latent_side(h) / 2 * latent_side(w) / 2 + a + 640) as u64;
    let dit = tokens * hidden as u64 * 4 * 24;
    let frames = (4 * (t - 1) + 1) as u64 * (h * w) as u64 * 3 * 4 * 3;
    stack.weight_bytes() + dit + frames
}

/// Refuses a generation that cannot fit in host memory (CPU) before any work starts.
pub fn check_memory(stack: &Stack, req: &GenerateRequest, device: &Device) -> Result<()> {
    let config = PipelineConfig::from_file(&stack.pipeline_config)?;
    let need = estimate_bytes(
        stack,
        req,
        config.arch_config.hidden_size,
        config.evaluation_config.fps,
    );
    if device.is_cpu() {
        if let Some(avail) = available_host_bytes() {
            if need > avail {
                bail!(
                    "this generation needs about {:.1} GiB of memory and {:.1} GiB is available; use a lower --resolution, fewer --seconds, or a GPU",
                    need as f64 / (1u64 << 30) as f64,
                    avail as f64 / (1u64 << 30) as f64
                );
            }
        }
    }
    Ok(())
}

//! The DiT's token chunks at the largest request (1080p, 15 s, 9:16) on a card whose
//! bindings stop at 2 GiB − 1: every activation of a chunk, the keys and values of the
//! whole sequence and the tensors outside the layers fit one binding. Pure arithmetic.

use happyhorse::request::{audio_frames, latent_frames, latent_side, pixel_size};
use happyhorse::request::{Aspect, Resolution};
use happyhorse_model::magihuman::chunks::{chunk_ranges, chunk_rows, kv_bytes, row_bytes};
use happyhorse_model::magihuman::{EvaluationConfig, ModelConfig};

const CAP: u64 = (2 << 30) - 1;

#[test]
fn released_dit_at_1080p_15s_portrait_fits_2gib_bindings() {
    let ev = EvaluationConfig::default();
    let a = audio_frames(15.0, ev.fps);
    let t = latent_frames(a);
    let (h, w) = pixel_size(Resolution::P1080, Aspect::Tall);
    let video = t * (latent_side(h) / 2) * (latent_side(w) / 2);
    let tokens = video + a + ev.t5_gemma_target_length;
    assert_eq!((a, t, h, w), (376, 94, 1920, 1088));
    assert_eq!(tokens, 94 * 60 * 34 + 376 + 640);

    let cfg = ModelConfig::default();
    // The whole residual stream alone would not fit one binding.
    assert!(tokens as u64 * cfg.hidden_size as u64 * 4 > CAP);
    let rows = chunk_rows(&cfg, tokens, Some(CAP)).unwrap();
    // swiglu7's up projection (2·13652 f32 values) is the widest row.
    assert_eq!(row_bytes(&cfg), 2 * 13652 * 4);
    assert_eq!(rows, (CAP / (2 * 13652 * 4)) as usize);
    let chunks = chunk_ranges(tokens, rows);
    assert_eq!(chunks.len(), tokens.div_ceil(rows));
    assert!(chunks
        .iter()
        .all(|c| c.len() as u64 * row_bytes(&cfg) <= CAP));
    assert!(kv_bytes(&cfg, tokens) <= CAP);
    // Outside the layers: the patchified latent and the video head's output
    // ([video, 192]) and the rope table ([L, 6·16]).
    assert!((video * cfg.video_in_channels * 4) as u64 <= CAP);
    assert!((tokens * 6 * cfg.rope_bands() * 4) as u64 <= CAP);
}

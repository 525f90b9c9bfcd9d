//! One transformer layer (attention and MLP branches with residual adds) and the
//! per-forward context the layers share. The residual stream comes in token chunks
//! ([`super::chunks`]); every branch but attention's core runs chunk by chunk.

use std::sync::Arc;

use happyhorse_tensor::{Device, KeyRanges, Result, Tensor};

use super::attention::attention;
use super::chunks::{chunk_ranges, TokenChunk};
use super::config::ModelConfig;
use super::mlp::mlp;
use super::modality::Segments;
use super::weights::LayerWeights;

/// What every layer of one forward reads besides the residual stream.
#[derive(Clone, Debug)]
pub struct ForwardContext {
    /// Rows of each modality.
    pub segments: Segments,
    /// The chunks of rows the residual stream is held in, in order.
    pub chunks: Vec<TokenChunk>,
}

impl ForwardContext {
    /// The context of a sequence with `segments` held in chunks of `chunk_rows` rows on
    /// `device`: `rotary` is the rope table `[L, 6B]` (per token the sines of its `3B`
    /// angles, then their cosines), `local_ranges` the key ranges of the local-attention
    /// layers, when the model has any.
    pub fn new(
        segments: Segments,
        rotary: &Tensor,
        local_ranges: Option<Arc<KeyRanges>>,
        chunk_rows: usize,
        device: &Device,
    ) -> Result<ForwardContext> {
        let chunks = chunk_ranges(segments.len(), chunk_rows)
            .into_iter()
            .map(|rows| TokenChunk::new(rows, &segments, rotary, local_ranges.as_ref(), device))
            .collect::<Result<Vec<_>>>()?;
        Ok(ForwardContext { segments, chunks })
    }
}

/// Layer `index` on the residual stream `x` (`[rows, hidden]` per chunk of `ctx`).
pub fn transformer_layer(
    w: &LayerWeights,
    cfg: &ModelConfig,
    index: usize,
    x: &[Tensor],
    ctx: &ForwardContext,
) -> Result<Vec<Tensor>> {
    let attn_out = attention(w, cfg, cfg.is_local_attn(index), x, ctx)?;
    let gelu = cfg.is_gelu7(index);
    let chunks = x.iter().zip(attn_out).zip(&ctx.chunks);
    chunks
        .map(|((x, mut attn_out), chunk)| {
            let seg = &chunk.segments;
            if let Some(n) = &w.attn_post_norm {
                attn_out = n.forward(&attn_out, seg)?;
            }
            let x = x.add(&attn_out)?;
            let mut mlp_out = mlp(w, gelu, &x, seg)?;
            if let Some(n) = &w.mlp_post_norm {
                mlp_out = n.forward(&mlp_out, seg)?;
            }
            x.add(&mlp_out)
        })
        .collect()
}

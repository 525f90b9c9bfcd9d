//! Self-attention of one layer: per-modality norm and qkv projection, QK-norm and partial
//! rope (one fused pass that also lays the heads out for attention), grouped-query
//! attention over the whole packed sequence (or local key ranges), per-head sigmoid gates
//! (fused with the transpose back to rows), per-modality output projection.
//!
//! The projections run per token chunk; each chunk's queries then attend to the keys and
//! values of every chunk.

use happyhorse_tensor::params::fused::{QkNormRope, QkvHeads};
use happyhorse_tensor::{AttentionOpts, Result, Tensor};

use super::block::ForwardContext;
use super::chunks::{join, TokenChunk};
use super::config::ModelConfig;
use super::weights::{LayerWeights, RMS_EPS};

/// One chunk's projection: the qkv rows `[n, qkv]` (the gates are read from them) and the
/// heads `[Hq + 2·Hkv, n, D]`, q, k and v heads first.
struct Projected {
    qkv: Tensor,
    heads: Tensor,
}

/// The attention branch of layer `w` on the residual stream `x` (`[rows, hidden]` per
/// chunk of `ctx`); returns the projected output of each chunk (before the residual add).
pub fn attention(
    w: &LayerWeights,
    cfg: &ModelConfig,
    local: bool,
    x: &[Tensor],
    ctx: &ForwardContext,
) -> Result<Vec<Tensor>> {
    let heads = QkvHeads {
        q: cfg.heads_q(),
        kv: cfg.heads_kv(),
        dim: cfg.head_dim,
    };
    let projected = x
        .iter()
        .zip(&ctx.chunks)
        .map(|(x, chunk)| project(w, heads, x, chunk))
        .collect::<Result<Vec<_>>>()?;
    let all_chunks = |h0: usize, n: usize| -> Result<Tensor> {
        let parts = projected
            .iter()
            .map(|p| p.heads.narrow(0, h0, n))
            .collect::<Result<Vec<_>>>()?;
        join(&parts, 1)?.unsqueeze(0)
    };
    let keys = all_chunks(heads.q, heads.kv)?;
    let values = all_chunks(heads.q + heads.kv, heads.kv)?;
    projected
        .iter()
        .zip(&ctx.chunks)
        .map(|(p, chunk)| {
            let opts = AttentionOpts {
                scale: 1.0 / (heads.dim as f32).sqrt(),
                key_ranges: if local {
                    chunk.local_ranges.clone()
                } else {
                    None
                },
                ..Default::default()
            };
            let o = p
                .heads
                .narrow(0, 0, heads.q)?
                .unsqueeze(0)?
                .attention(&keys, &values, &opts)?;
            let gate = if cfg.enable_attn_gating {
                Some(p.qkv.narrow(1, heads.total() * heads.dim, heads.q)?)
            } else {
                None
            };
            let o = o.gated_heads_to_rows(gate.as_ref())?;
            w.linear_proj.forward(&o, &chunk.segments)
        })
        .collect()
}

/// The norm, qkv projection, QK-norm and rope of one chunk's rows `x [n, hidden]`.
fn project(w: &LayerWeights, heads: QkvHeads, x: &Tensor, chunk: &TokenChunk) -> Result<Projected> {
    let seg = &chunk.segments;
    let h = w.attn_pre_norm.forward(x, seg)?;
    let qkv = w.linear_qkv.forward(&h, seg)?;
    let ends = seg.ends(w.qk_norm_gains.shape()[1]);
    let heads = qkv.qk_norm_rope(&QkNormRope {
        heads,
        gains: &w.qk_norm_gains,
        ends: &ends,
        eps: RMS_EPS,
        rotary: Some(&chunk.rotary),
    })?;
    Ok(Projected { qkv, heads })
}

//! Self-attention of one layer: per-modality norm and qkv projection, QK-norm and partial
//! rope (one fused pass that also lays the heads out for attention), grouped-query
//! attention over the whole packed sequence (or local key ranges), per-head sigmoid gates
//! (fused with the transpose back to rows), per-modality output projection.

use happyhorse_tensor::params::fused::{QkNormRope, QkvHeads};
use happyhorse_tensor::{AttentionOpts, Result, Tensor};

use super::block::ForwardContext;
use super::config::ModelConfig;
use super::weights::{LayerWeights, RMS_EPS};

/// The attention branch of layer `w` on the residual stream `x [L, hidden]`; returns the
/// projected output `[L, hidden]` (before the residual add).
pub fn attention(
    w: &LayerWeights,
    cfg: &ModelConfig,
    local: bool,
    x: &Tensor,
    ctx: &ForwardContext,
) -> Result<Tensor> {
    let seg = &ctx.segments;
    let heads = QkvHeads {
        q: cfg.heads_q(),
        kv: cfg.heads_kv(),
        dim: cfg.head_dim,
    };
    let h = w.attn_pre_norm.forward(x, seg)?;
    let qkv = w.linear_qkv.forward(&h, seg)?;
    let ends = seg.ends(w.qk_norm_gains.shape()[1]);
    // [Hq + 2·Hkv, L, D]: q, k and v heads first.
    let qkv_heads = qkv.qk_norm_rope(&QkNormRope {
        heads,
        gains: &w.qk_norm_gains,
        ends: &ends,
        eps: RMS_EPS,
        rotary: Some(&ctx.rotary),
    })?;
    let block = |h0: usize, n: usize| qkv_heads.narrow(0, h0, n)?.unsqueeze(0);
    let opts = AttentionOpts {
        scale: 1.0 / (heads.dim as f32).sqrt(),
        key_ranges: if local {
            ctx.local_ranges.clone()
        } else {
            None
        },
        ..Default::default()
    };
    let o = block(0, heads.q)?.attention(
        &block(heads.q, heads.kv)?,
        &block(heads.q + heads.kv, heads.kv)?,
        &opts,
    )?;
    let gate = if cfg.enable_attn_gating {
        Some(qkv.narrow(1, heads.total() * heads.dim, heads.q)?)
    } else {
        None
    };
    let o = o.gated_heads_to_rows(gate.as_ref())?;
    w.linear_proj.forward(&o, seg)
}

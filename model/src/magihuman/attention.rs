//! Self-attention of one layer: per-modality norm and qkv projection, QK-norm, partial
//! rope, grouped-query attention over the whole packed sequence (or local key ranges),
//! per-head sigmoid gates, per-modality output projection.

use happyhorse_tensor::{AttentionOpts, Result, Tensor};

use super::block::ForwardContext;
use super::config::ModelConfig;
use super::weights::LayerWeights;

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
    let l = seg.len();
    let (hq, hkv, d) = (cfg.heads_q(), cfg.heads_kv(), cfg.head_dim);
    let h = w.attn_pre_norm.forward(x, seg)?;
    let qkv = w.linear_qkv.forward(&h, seg)?;
    let q = qkv.narrow(1, 0, hq * d)?.reshape(&[l, hq, d])?;
    let k = qkv.narrow(1, hq * d, hkv * d)?.reshape(&[l, hkv, d])?;
    let v = qkv
        .narrow(1, (hq + hkv) * d, hkv * d)?
        .reshape(&[l, hkv, d])?;
    let q = w.q_norm.forward(&q, seg)?;
    let k = w.k_norm.forward(&k, seg)?;
    let q = q.unsqueeze(0)?.rope(&ctx.rope_cos, &ctx.rope_sin)?;
    let k = k.unsqueeze(0)?.rope(&ctx.rope_cos, &ctx.rope_sin)?;
    let heads_first = |t: &Tensor| t.permute(&[0, 2, 1, 3])?.contiguous();
    let opts = AttentionOpts {
        scale: 1.0 / (d as f32).sqrt(),
        key_ranges: if local {
            ctx.local_ranges.clone()
        } else {
            None
        },
        ..Default::default()
    };
    let v = v.unsqueeze(0)?;
    let o = heads_first(&q)?.attention(&heads_first(&k)?, &heads_first(&v)?, &opts)?;
    // [1, Hq, L, D] → [L, Hq, D]
    let mut o = o.squeeze(0)?.permute(&[1, 0, 2])?.contiguous()?;
    if cfg.enable_attn_gating {
        let g = qkv
            .narrow(1, (hq + 2 * hkv) * d, hq)?
            .contiguous()?
            .sigmoid()?;
        o = o.mul(&g.unsqueeze(2)?)?;
    }
    let o = o.reshape(&[l, hq * d])?;
    w.linear_proj.forward(&o, seg)
}

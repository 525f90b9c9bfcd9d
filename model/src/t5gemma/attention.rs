//! Bidirectional grouped-query self-attention with rotary positions, the
//! `query_pre_attn_scalar` scale, a key-padding mask, and a symmetric window on sliding
//! layers. Logit soft-capping is off unless the config asks for it (the reference's SDPA
//! path ignores it).

use happyhorse_tensor::{AttentionOpts, Result, Tensor};

use super::config::{EncoderConfig, LayerType};
use super::weights::LayerWeights;

/// What every layer of one forward pass shares.
#[derive(Clone, Debug)]
pub struct ForwardContext {
    /// `[seq, head_dim / 2]` rotary cos.
    pub rope_cos: Tensor,
    /// `[seq, head_dim / 2]` rotary sin.
    pub rope_sin: Tensor,
    /// `[batch, seq]`, 1.0 for real tokens and 0.0 for padding; `None` when nothing is
    /// padded.
    pub key_valid: Option<Tensor>,
}

/// The self-attention of layer `w` on `x [B, S, hidden]` (already normed); returns
/// `[B, S, hidden]` after `o_proj`.
pub fn self_attention(
    w: &LayerWeights,
    cfg: &EncoderConfig,
    layer_type: LayerType,
    x: &Tensor,
    ctx: &ForwardContext,
) -> Result<Tensor> {
    let (b, s) = (x.shape()[0], x.shape()[1]);
    let (hq, hkv, d) = (
        cfg.num_attention_heads,
        cfg.num_key_value_heads,
        cfg.head_dim,
    );
    let q = w.q_proj.forward(x)?.reshape(&[b, s, hq, d])?;
    let k = w.k_proj.forward(x)?.reshape(&[b, s, hkv, d])?;
    let v = w.v_proj.forward(x)?.reshape(&[b, s, hkv, d])?;
    let q = q.rope(&ctx.rope_cos, &ctx.rope_sin)?;
    let k = k.rope(&ctx.rope_cos, &ctx.rope_sin)?;
    let heads_first = |t: &Tensor| t.permute(&[0, 2, 1, 3])?.contiguous();
    let opts = AttentionOpts {
        scale: cfg.attn_scale(),
        softcap: cfg.effective_softcap(),
        window: match layer_type {
            LayerType::Sliding => Some(cfg.sliding_window),
            LayerType::Full => None,
        },
        key_valid: ctx.key_valid.clone(),
        key_ranges: None,
    };
    let o = heads_first(&q)?.attention(&heads_first(&k)?, &heads_first(&v)?, &opts)?;
    let o = o
        .permute(&[0, 2, 1, 3])?
        .contiguous()?
        .reshape(&[b, s, hq * d])?;
    w.o_proj.forward(&o)
}

//! One encoder layer: sandwich-normed self-attention and MLP, each added to the residual.

use happyhorse_tensor::{Result, Tensor};

use super::attention::{self_attention, ForwardContext};
use super::config::{EncoderConfig, LayerType};
use super::mlp::mlp;
use super::weights::LayerWeights;

/// `h += post_attn_norm(attn(pre_attn_norm(h)))`, then
/// `h += post_ff_norm(mlp(pre_ff_norm(h)))`, on `h [B, S, hidden]`.
pub fn encoder_layer(
    w: &LayerWeights,
    cfg: &EncoderConfig,
    layer_type: LayerType,
    h: &Tensor,
    ctx: &ForwardContext,
) -> Result<Tensor> {
    let x = w.pre_self_attn_layernorm.forward(h)?;
    let a = self_attention(w, cfg, layer_type, &x, ctx)?;
    let h = h.add(&w.post_self_attn_layernorm.forward(&a)?)?;
    let x = w.pre_feedforward_layernorm.forward(&h)?;
    let f = mlp(w, cfg.hidden_activation, &x)?;
    h.add(&w.post_feedforward_layernorm.forward(&f)?)
}

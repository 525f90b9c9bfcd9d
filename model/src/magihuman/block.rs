//! One transformer layer (attention and MLP branches with residual adds) and the
//! per-forward context the layers share.

use std::sync::Arc;

use happyhorse_tensor::{KeyRanges, Result, Tensor};

use super::attention::attention;
use super::config::ModelConfig;
use super::mlp::mlp;
use super::modality::Segments;
use super::weights::LayerWeights;

/// What every layer of one forward reads besides the residual stream.
#[derive(Clone, Debug)]
pub struct ForwardContext {
    /// Rows of each modality.
    pub segments: Segments,
    /// The rope table `[L, 6B]`: per token the sines of its `3B` angles, then their
    /// cosines.
    pub rotary: Tensor,
    /// Key ranges of the local-attention layers, when the model has any.
    pub local_ranges: Option<Arc<KeyRanges>>,
}

/// Layer `index` on the residual stream `x [L, hidden]`.
pub fn transformer_layer(
    w: &LayerWeights,
    cfg: &ModelConfig,
    index: usize,
    x: &Tensor,
    ctx: &ForwardContext,
) -> Result<Tensor> {
    let seg = &ctx.segments;
    let mut attn_out = attention(w, cfg, cfg.is_local_attn(index), x, ctx)?;
    if let Some(n) = &w.attn_post_norm {
        attn_out = n.forward(&attn_out, seg)?;
    }
    let x = x.add(&attn_out)?;
    let mut mlp_out = mlp(w, cfg.is_gelu7(index), &x, ctx)?;
    if let Some(n) = &w.mlp_post_norm {
        mlp_out = n.forward(&mlp_out, seg)?;
    }
    x.add(&mlp_out)
}

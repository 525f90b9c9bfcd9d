//! The encoder's parameters, loaded by name with shapes computed from the config. Keys are
//! those of the released checkpoint (`encoder.*`), also accepted under `model.encoder.*`
//! or already scoped to the encoder.

use happyhorse_nn::{Linear, RmsNorm, Weights};
use happyhorse_tensor::{bail, Result, ResultExt, Tensor};

use super::config::EncoderConfig;

/// The key prefixes an encoder may live under, tried in order.
const PREFIXES: [&str; 3] = ["encoder.", "model.encoder.", ""];

/// The parts of a released T5Gemma checkpoint the encoder deliberately leaves unread, by
/// key prefix: the decoder (at the top level or under `model.`) and the language-model
/// head. Any other tensor the encoder does not read is an error of a strict load.
pub const UNUSED_PARTS: [&str; 3] = ["decoder.", "model.decoder.", "lm_head."];

/// Parameters of one encoder layer.
#[derive(Clone, Debug)]
pub struct LayerWeights {
    /// Norm before self-attention.
    pub pre_self_attn_layernorm: RmsNorm,
    /// Norm of the self-attention output.
    pub post_self_attn_layernorm: RmsNorm,
    /// Norm before the MLP.
    pub pre_feedforward_layernorm: RmsNorm,
    /// Norm of the MLP output.
    pub post_feedforward_layernorm: RmsNorm,
    /// `[heads · head_dim, hidden]`.
    pub q_proj: Linear,
    /// `[kv_heads · head_dim, hidden]`.
    pub k_proj: Linear,
    /// `[kv_heads · head_dim, hidden]`.
    pub v_proj: Linear,
    /// `[hidden, heads · head_dim]`.
    pub o_proj: Linear,
    /// `[intermediate, hidden]`.
    pub gate_proj: Linear,
    /// `[intermediate, hidden]`.
    pub up_proj: Linear,
    /// `[hidden, intermediate]`.
    pub down_proj: Linear,
}

/// All encoder parameters.
#[derive(Clone, Debug)]
pub struct EncoderWeights {
    /// `[vocab, hidden]`, in its stored dtype.
    pub embed_tokens: Tensor,
    /// One entry per layer.
    pub layers: Vec<LayerWeights>,
    /// The final norm.
    pub norm: RmsNorm,
}

/// The view of `weights` scoped to the encoder: the first prefix of [`PREFIXES`] under
/// which `embed_tokens.weight` exists.
pub fn encoder_scope(weights: &Weights) -> Result<Weights> {
    for prefix in PREFIXES {
        let scoped = weights.sub(prefix);
        if scoped.contains("embed_tokens.weight") {
            return Ok(scoped);
        }
    }
    bail!(
        "{}: no T5Gemma encoder weights (expected {:?} or {:?})",
        weights.describe(),
        weights.key("encoder.embed_tokens.weight"),
        weights.key("model.encoder.embed_tokens.weight")
    )
}

/// A Gemma RMSNorm: stored weight `w`, gain `1 + w` (in f32).
fn gemma_norm(w: &Weights, name: &str, cfg: &EncoderConfig) -> Result<RmsNorm> {
    let weight = w.get_f32(&format!("{name}.weight"), &[cfg.hidden_size])?;
    RmsNorm::with_unit_offset(&weight, cfg.rms_norm_eps as f32)
}

fn linear(w: &Weights, name: &str, out: usize, inp: usize, bias: bool) -> Result<Linear> {
    let weight = w.get(&format!("{name}.weight"), &[out, inp])?;
    let bias = if bias {
        Some(w.get_f32(&format!("{name}.bias"), &[out])?)
    } else {
        None
    };
    Ok(Linear::new(weight, bias))
}

impl LayerWeights {
    /// Loads layer parameters from `w` (scoped to `layers.{i}.`).
    pub fn load(w: &Weights, cfg: &EncoderConfig) -> Result<LayerWeights> {
        let (h, d) = (cfg.hidden_size, cfg.head_dim);
        let (hq, hkv) = (cfg.num_attention_heads, cfg.num_key_value_heads);
        let ff = cfg.intermediate_size;
        let ab = cfg.attention_bias;
        let attn = w.sub("self_attn.");
        let mlp = w.sub("mlp.");
        Ok(LayerWeights {
            pre_self_attn_layernorm: gemma_norm(w, "pre_self_attn_layernorm", cfg)?,
            post_self_attn_layernorm: gemma_norm(w, "post_self_attn_layernorm", cfg)?,
            pre_feedforward_layernorm: gemma_norm(w, "pre_feedforward_layernorm", cfg)?,
            post_feedforward_layernorm: gemma_norm(w, "post_feedforward_layernorm", cfg)?,
            q_proj: linear(&attn, "q_proj", hq * d, h, ab)?,
            k_proj: linear(&attn, "k_proj", hkv * d, h, ab)?,
            v_proj: linear(&attn, "v_proj", hkv * d, h, ab)?,
            o_proj: linear(&attn, "o_proj", h, hq * d, ab)?,
            gate_proj: linear(&mlp, "gate_proj", ff, h, false)?,
            up_proj: linear(&mlp, "up_proj", ff, h, false)?,
            down_proj: linear(&mlp, "down_proj", h, ff, false)?,
        })
    }
}

impl EncoderWeights {
    /// Loads every encoder parameter from `weights` (the whole checkpoint; the encoder
    /// prefix is found by [`encoder_scope`]).
    pub fn load(weights: &Weights, cfg: &EncoderConfig) -> Result<EncoderWeights> {
        let w = encoder_scope(weights)?;
        let embed_tokens = w.get("embed_tokens.weight", &[cfg.vocab_size, cfg.hidden_size])?;
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| {
                LayerWeights::load(&w.sub(&format!("layers.{i}.")), cfg)
                    .with_context(|| format!("T5Gemma encoder layer {i}"))
            })
            .collect::<Result<Vec<_>>>()?;
        let norm = gemma_norm(&w, "norm", cfg)?;
        Ok(EncoderWeights {
            embed_tokens,
            layers,
            norm,
        })
    }
}

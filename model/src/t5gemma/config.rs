//! The T5Gemma encoder configuration, read from a Hugging Face `config.json`: either the
//! full `T5GemmaConfig` (its `encoder` sub-config is used) or a bare `t5_gemma_module`
//! config. Field names and defaults are those of transformers' `T5GemmaModuleConfig`.

use std::path::Path;

use happyhorse_nn::config_check::{finite_positive, in_range, parse_file, parse_json};
use happyhorse_tensor::{bail, ensure, Error, Result, ResultExt};
use serde::Deserialize;
use serde_json::Value;

/// The most encoder layers a config may declare (the released encoder has 42).
pub const MAX_LAYERS: usize = 1024;

/// The widest residual stream a config may declare (the released encoder has 3584).
pub const MAX_HIDDEN_SIZE: usize = 1 << 16;

/// The most attention heads (query or key/value) a config may declare (released: 16).
pub const MAX_HEADS: usize = 1024;

/// The widest attention head a config may declare (released: 256).
pub const MAX_HEAD_DIM: usize = 1024;

/// The widest MLP a config may declare (released: 14336).
pub const MAX_INTERMEDIATE_SIZE: usize = 1 << 20;

/// The largest vocabulary a config may declare (released: 256000).
pub const MAX_VOCAB_SIZE: usize = 1 << 24;

/// The widest sliding window a config may declare (released: 4096).
pub const MAX_SLIDING_WINDOW: usize = 1 << 24;

/// The attention kind of one layer (`layer_types` entries).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerType {
    /// Every real key is visible.
    Full,
    /// Only real keys with |i − j| < `sliding_window` are visible.
    Sliding,
}

impl LayerType {
    /// The name used in `layer_types` and in the fixture's mask names.
    pub fn name(self) -> &'static str {
        match self {
            LayerType::Full => "full_attention",
            LayerType::Sliding => "sliding_attention",
        }
    }

    fn parse(s: &str) -> Option<LayerType> {
        match s {
            "full_attention" => Some(LayerType::Full),
            "sliding_attention" => Some(LayerType::Sliding),
            _ => None,
        }
    }
}

/// The MLP activation (`hidden_activation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// `gelu_pytorch_tanh` (Gemma's): the tanh approximation.
    GeluTanh,
    /// `gelu`: the exact erf form.
    GeluErf,
}

impl Activation {
    fn parse(s: &str) -> Option<Activation> {
        match s {
            "gelu_pytorch_tanh" | "gelu_new" | "gelu_fast" => Some(Activation::GeluTanh),
            "gelu" => Some(Activation::GeluErf),
            _ => None,
        }
    }
}

/// The encoder geometry and numerics (the `encoder` sub-config).
#[derive(Clone, Debug, PartialEq)]
pub struct EncoderConfig {
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Number of encoder layers.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads (grouped-query attention).
    pub num_key_value_heads: usize,
    /// Dimension of one head.
    pub head_dim: usize,
    /// Width of the gated MLP.
    pub intermediate_size: usize,
    /// Attention logits are scaled by `query_pre_attn_scalar^-0.5` (not `head_dim^-0.5`).
    pub query_pre_attn_scalar: f64,
    /// Half-width of the symmetric window of sliding layers.
    pub sliding_window: usize,
    /// The attention kind of each layer.
    pub layer_types: Vec<LayerType>,
    /// Epsilon of every RMSNorm.
    pub rms_norm_eps: f64,
    /// MLP activation.
    pub hidden_activation: Activation,
    /// The config's logit soft-cap. The reference runs SDPA attention, which ignores it;
    /// it is applied only when [`EncoderConfig::apply_attn_softcapping`] is set.
    pub attn_logit_softcapping: Option<f64>,
    /// Whether attention applies `attn_logit_softcapping` (transformers' eager path).
    /// `false` by default, as in the reference pipeline.
    pub apply_attn_softcapping: bool,
    /// Rotary base.
    pub rope_theta: f64,
    /// Rows of the embedding table.
    pub vocab_size: usize,
    /// Whether the q/k/v/o projections have biases.
    pub attention_bias: bool,
    /// The padding token id (top-level `pad_token_id`).
    pub pad_token_id: u32,
}

impl Default for EncoderConfig {
    /// transformers' `T5GemmaModuleConfig` defaults (the Gemma-2 2B geometry).
    fn default() -> Self {
        let num_hidden_layers = 26;
        EncoderConfig {
            hidden_size: 2304,
            num_hidden_layers,
            num_attention_heads: 8,
            num_key_value_heads: 4,
            head_dim: 256,
            intermediate_size: 9216,
            query_pre_attn_scalar: 256.0,
            sliding_window: 4096,
            layer_types: default_layer_types(num_hidden_layers),
            rms_norm_eps: 1e-6,
            hidden_activation: Activation::GeluTanh,
            attn_logit_softcapping: Some(50.0),
            apply_attn_softcapping: false,
            rope_theta: 10000.0,
            vocab_size: 256000,
            attention_bias: false,
            pad_token_id: 0,
        }
    }
}

/// The sub-config as stored; geometry fields are required.
#[derive(Deserialize)]
struct RawModule {
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_key_value_heads: usize,
    head_dim: usize,
    intermediate_size: usize,
    vocab_size: usize,
    #[serde(default)]
    query_pre_attn_scalar: Option<f64>,
    #[serde(default)]
    sliding_window: Option<usize>,
    #[serde(default)]
    layer_types: Option<Vec<String>>,
    #[serde(default)]
    rms_norm_eps: Option<f64>,
    #[serde(default)]
    hidden_activation: Option<String>,
    #[serde(default = "default_softcap")]
    attn_logit_softcapping: Option<f64>,
    #[serde(default)]
    rope_theta: Option<f64>,
    #[serde(default)]
    attention_bias: bool,
    #[serde(default)]
    pad_token_id: Option<u32>,
}

fn default_softcap() -> Option<f64> {
    Some(50.0)
}

/// Gemma-2's alternation, the default `layer_types`: sliding, full, sliding, full, …
pub fn default_layer_types(n: usize) -> Vec<LayerType> {
    (0..n)
        .map(|i| {
            if (i + 1) % 2 == 1 {
                LayerType::Sliding
            } else {
                LayerType::Full
            }
        })
        .collect()
}

impl EncoderConfig {
    /// Reads `config.json` (a full `T5GemmaConfig` or a bare module config).
    pub fn from_file(path: &Path) -> Result<EncoderConfig> {
        parse_file(path, Self::from_json_str).context("T5Gemma config")
    }

    /// Parses the text of a `config.json`.
    pub fn from_json_str(text: &str) -> Result<EncoderConfig> {
        let root: Value = parse_json(text, "JSON")?;
        ensure!(root.is_object(), "the config is not a JSON object");
        let (module, where_) = match root.get("encoder") {
            Some(enc @ Value::Object(_)) => (enc.clone(), "encoder"),
            Some(other) => bail!("field \"encoder\" is {other}, not an object"),
            None => (root.clone(), "top level"),
        };
        let raw: RawModule = serde_json::from_value(module)
            .map_err(|e| Error::msg(format!("{where_} config: {e}")))?;
        let top_pad = match root.get("pad_token_id") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_u64()
                    .and_then(|p| u32::try_from(p).ok())
                    .ok_or_else(|| Error::msg(format!("pad_token_id is {v}, not a token id")))?,
            ),
        };
        // Bounded before anything is sized from it.
        in_range("num_hidden_layers", raw.num_hidden_layers, 1, MAX_LAYERS)
            .with_context(|| format!("{where_} config"))?;
        let d = EncoderConfig::default();
        let layer_types = match &raw.layer_types {
            None => default_layer_types(raw.num_hidden_layers),
            Some(list) => list
                .iter()
                .map(|s| {
                    LayerType::parse(s).ok_or_else(|| {
                        Error::msg(format!(
                            "{where_} config: unknown layer type {s:?} \
                             (expected \"full_attention\" or \"sliding_attention\")"
                        ))
                    })
                })
                .collect::<Result<Vec<_>>>()?,
        };
        let hidden_activation = match raw.hidden_activation.as_deref() {
            None => d.hidden_activation,
            Some(s) => Activation::parse(s).ok_or_else(|| {
                Error::msg(format!(
                    "{where_} config: unsupported hidden_activation {s:?}"
                ))
            })?,
        };
        let cfg = EncoderConfig {
            hidden_size: raw.hidden_size,
            num_hidden_layers: raw.num_hidden_layers,
            num_attention_heads: raw.num_attention_heads,
            num_key_value_heads: raw.num_key_value_heads,
            head_dim: raw.head_dim,
            intermediate_size: raw.intermediate_size,
            query_pre_attn_scalar: raw.query_pre_attn_scalar.unwrap_or(d.query_pre_attn_scalar),
            sliding_window: raw.sliding_window.unwrap_or(d.sliding_window),
            layer_types,
            rms_norm_eps: raw.rms_norm_eps.unwrap_or(d.rms_norm_eps),
            hidden_activation,
            attn_logit_softcapping: raw.attn_logit_softcapping,
            apply_attn_softcapping: false,
            rope_theta: raw.rope_theta.unwrap_or(d.rope_theta),
            vocab_size: raw.vocab_size,
            attention_bias: raw.attention_bias,
            pad_token_id: top_pad.or(raw.pad_token_id).unwrap_or(d.pad_token_id),
        };
        cfg.validate().with_context(|| format!("{where_} config"))?;
        Ok(cfg)
    }

    /// Checks that the numbers describe a buildable encoder: each in its range
    /// ([`MAX_LAYERS`], [`MAX_HIDDEN_SIZE`], [`MAX_HEADS`], [`MAX_HEAD_DIM`],
    /// [`MAX_INTERMEDIATE_SIZE`], [`MAX_VOCAB_SIZE`], [`MAX_SLIDING_WINDOW`]) and
    /// consistent with the others. Errors name the field and the allowed range.
    pub fn validate(&self) -> Result<()> {
        in_range("num_hidden_layers", self.num_hidden_layers, 1, MAX_LAYERS)?;
        in_range("hidden_size", self.hidden_size, 1, MAX_HIDDEN_SIZE)?;
        in_range("head_dim", self.head_dim, 2, MAX_HEAD_DIM)?;
        ensure!(
            self.head_dim.is_multiple_of(2),
            "head_dim {} must be even (rotary pairs)",
            self.head_dim
        );
        in_range(
            "num_attention_heads",
            self.num_attention_heads,
            1,
            MAX_HEADS,
        )?;
        in_range(
            "num_key_value_heads",
            self.num_key_value_heads,
            1,
            self.num_attention_heads,
        )?;
        ensure!(
            self.num_attention_heads
                .is_multiple_of(self.num_key_value_heads),
            "num_attention_heads {} is not a multiple of num_key_value_heads {}",
            self.num_attention_heads,
            self.num_key_value_heads
        );
        in_range(
            "intermediate_size",
            self.intermediate_size,
            1,
            MAX_INTERMEDIATE_SIZE,
        )?;
        in_range("vocab_size", self.vocab_size, 1, MAX_VOCAB_SIZE)?;
        in_range("sliding_window", self.sliding_window, 0, MAX_SLIDING_WINDOW)?;
        ensure!(
            self.layer_types.len() == self.num_hidden_layers,
            "layer_types lists {} layers but num_hidden_layers is {}",
            self.layer_types.len(),
            self.num_hidden_layers
        );
        for (field, value) in [
            ("query_pre_attn_scalar", self.query_pre_attn_scalar),
            ("rope_theta", self.rope_theta),
            ("rms_norm_eps", self.rms_norm_eps),
        ] {
            finite_positive(field, value)?;
        }
        let has_sliding = self.layer_types.contains(&LayerType::Sliding);
        ensure!(
            !has_sliding || self.sliding_window > 0,
            "sliding layers need a positive sliding_window"
        );
        if let Some(cap) = self.attn_logit_softcapping {
            finite_positive("attn_logit_softcapping", cap)?;
        }
        ensure!(
            (self.pad_token_id as usize) < self.vocab_size,
            "pad_token_id {} is outside the vocabulary of {}",
            self.pad_token_id,
            self.vocab_size
        );
        Ok(())
    }

    /// The attention logit multiplier, `query_pre_attn_scalar^-0.5`.
    pub fn attn_scale(&self) -> f32 {
        self.query_pre_attn_scalar.powf(-0.5) as f32
    }

    /// The soft-cap attention applies: `None` unless softcapping was asked for.
    pub fn effective_softcap(&self) -> Option<f32> {
        if self.apply_attn_softcapping {
            self.attn_logit_softcapping.map(|c| c as f32)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_layer_types_alternate_from_sliding() {
        assert_eq!(
            default_layer_types(3),
            vec![LayerType::Sliding, LayerType::Full, LayerType::Sliding]
        );
    }
}

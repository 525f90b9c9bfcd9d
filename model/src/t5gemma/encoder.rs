//! The T5Gemma encoder (transformers' `T5GemmaEncoderModel`): scaled token embedding,
//! bidirectional Gemma-2 layers, final norm.

use std::path::Path;

use happyhorse_formats::open_weights;
use happyhorse_nn::{RmsNorm, Weights};
use happyhorse_tensor::{ensure, Device, NoProbe, Probe, Result, ResultExt, Tensor};

use super::attention::ForwardContext;
use super::config::{EncoderConfig, LayerType};
use super::layer::encoder_layer;
use super::rope::{full_table, rotary_tables};
use super::weights::{EncoderWeights, UNUSED_PARTS};

/// A padded batch of token ids: `ids` and `mask` are `[batch, seq]` row-major; `mask` is
/// true for real tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenBatch {
    /// Token ids, `batch · seq`.
    pub ids: Vec<u32>,
    /// Attention mask, `batch · seq`.
    pub mask: Vec<bool>,
    /// Rows.
    pub batch: usize,
    /// Columns.
    pub seq: usize,
}

impl TokenBatch {
    /// A batch from ids and mask laid out `[batch, seq]`.
    pub fn new(ids: Vec<u32>, mask: Vec<bool>, batch: usize, seq: usize) -> Result<TokenBatch> {
        ensure!(
            ids.len() == batch * seq && mask.len() == batch * seq,
            "token batch of {batch}×{seq} needs {} ids and mask entries, got {} and {}",
            batch * seq,
            ids.len(),
            mask.len()
        );
        Ok(TokenBatch {
            ids,
            mask,
            batch,
            seq,
        })
    }

    /// Rows of different lengths padded on the left with `pad_id`, as the reference
    /// tokenizer pads.
    pub fn left_padded(rows: &[Vec<u32>], pad_id: u32) -> TokenBatch {
        let seq = rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(rows.len() * seq);
        let mut mask = Vec::with_capacity(rows.len() * seq);
        for row in rows {
            let pad = seq - row.len();
            ids.extend(std::iter::repeat_n(pad_id, pad));
            ids.extend_from_slice(row);
            mask.extend(std::iter::repeat_n(false, pad));
            mask.extend(std::iter::repeat_n(true, row.len()));
        }
        TokenBatch {
            ids,
            mask,
            batch: rows.len(),
            seq,
        }
    }

    /// Whether some position is padding.
    pub fn has_padding(&self) -> bool {
        self.mask.iter().any(|&m| !m)
    }

    /// The `[batch, seq, seq]` boolean mask (query row, key column) a layer of `layer_type`
    /// attends with: real keys only, and on sliding layers |i − j| < `window`.
    pub fn attention_mask(&self, layer_type: LayerType, window: usize) -> Vec<bool> {
        let s = self.seq;
        let mut out = Vec::with_capacity(self.batch * s * s);
        for b in 0..self.batch {
            let valid = &self.mask[b * s..(b + 1) * s];
            for i in 0..s {
                for (j, &v) in valid.iter().enumerate() {
                    let near = layer_type == LayerType::Full || i.abs_diff(j) < window;
                    out.push(v && near);
                }
            }
        }
        out
    }
}

/// A loaded T5Gemma encoder.
#[derive(Clone, Debug)]
pub struct T5GemmaEncoder {
    config: EncoderConfig,
    weights: EncoderWeights,
    device: Device,
}

impl T5GemmaEncoder {
    /// Reads `config.json` and the weights (a `.safetensors` file, a sharded
    /// `*.index.json`, or a folder holding either) onto `device`. The load is strict: a
    /// tensor of the file that is neither read nor part of [`UNUSED_PARTS`] is an error
    /// naming it.
    pub fn load(config_path: &Path, weights_path: &Path, device: &Device) -> Result<Self> {
        let config = EncoderConfig::from_file(config_path)?;
        let source = open_weights(weights_path)
            .with_context(|| format!("T5Gemma weights {}", weights_path.display()))?;
        let weights = Weights::from_source(source, device)
            .strict()
            .with_unused_parts(&UNUSED_PARTS);
        Self::new(config, &weights)
    }

    /// Builds the encoder from `config` and every parameter of `weights` (shapes checked
    /// against the config); with strict `weights`, fails naming every tensor left unread.
    pub fn new(config: EncoderConfig, weights: &Weights) -> Result<T5GemmaEncoder> {
        config.validate()?;
        let loaded = EncoderWeights::load(weights, &config)
            .and_then(|loaded| weights.finish().map(|()| loaded))
            .with_context(|| format!("loading T5Gemma encoder from {}", weights.describe()))?;
        Ok(T5GemmaEncoder {
            config,
            weights: loaded,
            device: weights.device().clone(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &EncoderConfig {
        &self.config
    }

    /// The device the parameters live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Width of the output features.
    pub fn hidden_size(&self) -> usize {
        self.config.hidden_size
    }

    /// `last_hidden_state [B, S, hidden]` of rows of ids, left-padded to a common length
    /// with the config's pad id (the positions stay `0..S` in every row).
    pub fn forward(&self, ids: &[Vec<u32>]) -> Result<Tensor> {
        self.forward_batch(&TokenBatch::left_padded(ids, self.config.pad_token_id))
    }

    /// `last_hidden_state [1, S, hidden]` of one unpadded sequence (the pipeline's case).
    pub fn forward_single(&self, ids: &[u32]) -> Result<Tensor> {
        let batch = TokenBatch::new(ids.to_vec(), vec![true; ids.len()], 1, ids.len())?;
        self.forward_batch(&batch)
    }

    /// `last_hidden_state [B, S, hidden]` of a padded batch with its mask.
    pub fn forward_batch(&self, batch: &TokenBatch) -> Result<Tensor> {
        self.forward_probed(batch, &mut NoProbe)
    }

    /// Like [`T5GemmaEncoder::forward_batch`], tapping the intermediates into `probe`:
    /// `embed_tokens`, `embed_scaled` (`[B, S, hidden]`), `rope.cos`, `rope.sin`
    /// (`[S, head_dim]`) and `layers.{i}` (each layer's output).
    pub fn forward_probed(&self, batch: &TokenBatch, probe: &mut dyn Probe) -> Result<Tensor> {
        let cfg = &self.config;
        let (b, s, h) = (batch.batch, batch.seq, cfg.hidden_size);
        ensure!(
            batch.ids.len() == b * s && batch.mask.len() == b * s,
            "token batch of {b}×{s} holds {} ids and {} mask entries",
            batch.ids.len(),
            batch.mask.len()
        );
        if b == 0 || s == 0 {
            return Tensor::zeros(&[b, s, h])?.to_device(&self.device);
        }
        let table = &self.weights.embed_tokens;
        let embedded = table
            .embedding(&batch.ids)
            .context("T5Gemma token embedding")?
            .reshape(&[b, s, h])?;
        probe.tap("embed_tokens", &embedded)?;
        let mut x = embedded.scale(self.embed_normalizer()?)?;
        probe.tap("embed_scaled", &x)?;
        let (rope_cos, rope_sin) = rotary_tables(cfg.head_dim, cfg.rope_theta, s, &self.device)?;
        if probe.enabled() {
            probe.tap("rope.cos", &full_table(&rope_cos)?)?;
            probe.tap("rope.sin", &full_table(&rope_sin)?)?;
        }
        let key_valid = if batch.has_padding() {
            let valid: Vec<f32> = batch.mask.iter().map(|&m| f32::from(u8::from(m))).collect();
            Some(Tensor::from_vec(valid, &[b, s])?.to_device(&self.device)?)
        } else {
            None
        };
        let ctx = ForwardContext {
            rope_cos,
            rope_sin,
            key_valid,
        };
        for (i, (w, &kind)) in self.weights.layers.iter().zip(&cfg.layer_types).enumerate() {
            x = encoder_layer(w, cfg, kind, &x, &ctx)
                .with_context(|| format!("T5Gemma encoder layer {i}"))?;
            if probe.enabled() {
                probe.tap(&format!("layers.{i}"), &x)?;
            }
        }
        final_norm(&self.weights.norm, &x)
    }

    /// `sqrt(hidden_size)` rounded to the embedding table's dtype, as transformers casts
    /// the normalizer to the compute dtype (in bf16, √3584 becomes 60).
    pub fn embed_normalizer(&self) -> Result<f32> {
        let exact = (self.config.hidden_size as f64).sqrt() as f32;
        Tensor::scalar(exact)
            .to_dtype(self.weights.embed_tokens.dtype())?
            .to_vec()
            .map(|v| v[0])
    }
}

fn final_norm(norm: &RmsNorm, x: &Tensor) -> Result<Tensor> {
    norm.forward(x).context("T5Gemma final norm")
}

//! The checkpoint contract of the DiT (key names, shapes, in-memory dtypes) and loading a
//! released checkpoint (single or sharded safetensors) into per-layer weights.
//!
//! Block linears (`linear_qkv`, `linear_proj`, `up_gate_proj`, `down_proj`) keep their
//! file dtype: bf16 in the mixed release, f32 in the all-f32 releases (the reference
//! rounds those to bf16; [`DitWeights::open_bf16_cached`] does so through a cache file,
//! [`DitWeights::open`] computes with the stored f32 values). Everything else is
//! widened to f32. In mm layers each stored tensor holds three experts stacked along
//! dim 0 (video, audio, text); they are split here into separate tensors.

use std::collections::HashMap;
use std::path::Path;

use happyhorse_nn::weights::CONVERTIBLE_DTYPES;
use happyhorse_nn::{Linear, RmsNorm, Weights};
use happyhorse_tensor::{ensure, DType, Device, Error, Result, Tensor};

use super::config::ModelConfig;
use super::modality::{ModalityLinear, ModalityNorm};
use super::streaming::LayerPlan;

/// Epsilon of every RMS norm of the model.
pub const RMS_EPS: f32 = 1e-6;

/// How a checkpoint tensor is kept in memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Residence {
    /// A block linear: kept in its stored dtype (bf16 in the mixed release).
    BlockLinear,
    /// Widened to f32.
    F32,
}

/// One tensor of the checkpoint contract.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorSpec {
    /// Key in the checkpoint.
    pub name: String,
    /// Stored shape (experts stacked along dim 0).
    pub shape: Vec<usize>,
    /// In-memory dtype rule.
    pub residence: Residence,
    /// Whether a checkpoint may omit it (`adapter.rope.bands` is recomputed then).
    pub optional: bool,
}

impl TensorSpec {
    fn new(name: impl Into<String>, shape: Vec<usize>, residence: Residence) -> TensorSpec {
        TensorSpec {
            name: name.into(),
            shape,
            residence,
            optional: false,
        }
    }

    /// Number of parameters.
    pub fn numel(&self) -> u64 {
        self.shape
            .iter()
            .fold(1u64, |n, &d| n.saturating_mul(d as u64))
    }
}

/// Every tensor a checkpoint of `cfg` holds, in module order. `cfg` should be valid
/// ([`ModelConfig::validate`], as every parsed config is); an invalid one has no specs
/// (see [`try_checkpoint_specs`] for why).
pub fn checkpoint_specs(cfg: &ModelConfig) -> Vec<TensorSpec> {
    try_checkpoint_specs(cfg).unwrap_or_default()
}

/// [`checkpoint_specs`], or the reason `cfg` is invalid. Every size is computed with
/// checked arithmetic.
pub fn try_checkpoint_specs(cfg: &ModelConfig) -> Result<Vec<TensorSpec>> {
    use Residence::F32;
    cfg.validate()?;
    let h = cfg.hidden_size;
    let mut specs = Vec::new();
    for (name, inc) in [
        ("video", cfg.video_in_channels),
        ("text", cfg.text_in_channels),
        ("audio", cfg.audio_in_channels),
    ] {
        let embedder = format!("adapter.{name}_embedder");
        specs.push(TensorSpec::new(
            format!("{embedder}.weight"),
            vec![h, inc],
            F32,
        ));
        specs.push(TensorSpec::new(format!("{embedder}.bias"), vec![h], F32));
    }
    specs.push(TensorSpec {
        optional: true,
        ..TensorSpec::new("adapter.rope.bands", vec![cfg.rope_bands()], F32)
    });
    for layer in 0..cfg.num_layers {
        specs.extend(layer_specs(cfg, layer)?);
    }
    for modality in ["video", "audio"] {
        specs.push(TensorSpec::new(
            format!("final_norm_{modality}.weight"),
            vec![h],
            F32,
        ));
    }
    for (modality, channels) in [
        ("video", cfg.video_in_channels),
        ("audio", cfg.audio_in_channels),
    ] {
        let name = format!("final_linear_{modality}.weight");
        specs.push(TensorSpec::new(name, vec![channels, h], F32));
    }
    Ok(specs)
}

/// `a · b`, or an error naming both when it overflows.
fn checked_mul(a: usize, b: usize) -> Result<usize> {
    a.checked_mul(b)
        .ok_or_else(|| Error::msg(format!("arch_config: the size {a}×{b} overflows")))
}

/// The tensors of transformer layer `layer`, in module order (experts stacked along dim 0).
pub(crate) fn layer_specs(cfg: &ModelConfig, layer: usize) -> Result<Vec<TensorSpec>> {
    use Residence::{BlockLinear as Bl, F32};
    let (h, d) = (cfg.hidden_size, cfg.head_dim);
    let experts = cfg.num_experts(layer);
    let qkv = cfg
        .heads_kv()
        .checked_mul(2)
        .and_then(|kv| kv.checked_add(cfg.heads_q()))
        .and_then(|heads| heads.checked_mul(d))
        .and_then(|rows| rows.checked_add(cfg.gating_size()))
        .ok_or_else(|| Error::msg("arch_config: the linear_qkv size overflows"))?;
    let intermediate = if cfg.is_gelu7(layer) {
        checked_mul(h, 4)?
    } else {
        checked_mul(h, 8)? / 3 / 4 * 4
    };
    let up_gate = if cfg.is_gelu7(layer) {
        intermediate
    } else {
        checked_mul(intermediate, 2)?
    };
    let stacked = |rows: usize| checked_mul(experts, rows);
    let mut table = vec![
        ("attention.pre_norm", vec![stacked(h)?], F32),
        ("attention.linear_qkv", vec![stacked(qkv)?, h], Bl),
        (
            "attention.linear_proj",
            vec![stacked(h)?, checked_mul(cfg.heads_q(), d)?],
            Bl,
        ),
        ("attention.q_norm", vec![stacked(d)?], F32),
        ("attention.k_norm", vec![stacked(d)?], F32),
        ("mlp.pre_norm", vec![stacked(h)?], F32),
        ("mlp.up_gate_proj", vec![stacked(up_gate)?, h], Bl),
        ("mlp.down_proj", vec![stacked(h)?, intermediate], Bl),
    ];
    if cfg.has_post_norm(layer) {
        table.push(("attn_post_norm", vec![stacked(h)?], F32));
        table.push(("mlp_post_norm", vec![stacked(h)?], F32));
    }
    Ok(table
        .into_iter()
        .map(|(module, shape, residence)| {
            TensorSpec::new(
                format!("block.layers.{layer}.{module}.weight"),
                shape,
                residence,
            )
        })
        .collect())
}

/// Parameter count of a checkpoint of `cfg` (the rope bands buffer included), from the
/// config alone; 0 for an invalid config. Saturates rather than overflowing.
pub fn param_count(cfg: &ModelConfig) -> u64 {
    checkpoint_specs(cfg)
        .iter()
        .map(TensorSpec::numel)
        .fold(0u64, u64::saturating_add)
}

/// The gains of the query and key norms stacked, `[2, experts, head_dim]`.
fn qk_norm_gains(q: &ModalityNorm, k: &ModalityNorm) -> Result<Tensor> {
    Tensor::cat(&[&q.gains.unsqueeze(0)?, &k.gains.unsqueeze(0)?], 0)
}

/// Weights of one transformer layer.
#[derive(Clone, Debug)]
pub struct LayerWeights {
    /// Norm before attention.
    pub attn_pre_norm: ModalityNorm,
    /// q, k, v and gate projection.
    pub linear_qkv: ModalityLinear,
    /// Per-head norms of the queries and keys: the gains `[2, experts, head_dim]`, the
    /// queries' then the keys'.
    pub qk_norm_gains: Tensor,
    /// Attention output projection.
    pub linear_proj: ModalityLinear,
    /// Norm before the MLP.
    pub mlp_pre_norm: ModalityNorm,
    /// MLP input projection (interleaved gate/linear rows for swiglu7).
    pub up_gate_proj: ModalityLinear,
    /// MLP output projection.
    pub down_proj: ModalityLinear,
    /// Norm of the attention output (post-norm layers only).
    pub attn_post_norm: Option<ModalityNorm>,
    /// Norm of the MLP output (post-norm layers only).
    pub mlp_post_norm: Option<ModalityNorm>,
}

/// All weights of the DiT, on one device.
#[derive(Clone, Debug)]
pub struct DitWeights {
    /// Video token embedder (with bias).
    pub video_embedder: Linear,
    /// Audio row embedder (with bias).
    pub audio_embedder: Linear,
    /// Text row embedder (with bias).
    pub text_embedder: Linear,
    /// Rope frequency bands (head_dim / 8 of them), f32, on the host.
    pub rope_bands: Vec<f32>,
    /// The transformer layers.
    pub layers: Vec<LayerWeights>,
    /// Final norm of the video rows.
    pub final_norm_video: RmsNorm,
    /// Final norm of the audio rows.
    pub final_norm_audio: RmsNorm,
    /// Video head `[video_in, hidden]`.
    pub final_linear_video: Linear,
    /// Audio head `[audio_in, hidden]`.
    pub final_linear_audio: Linear,
    /// Which layers are on the device and which stay on the host until they run.
    pub layer_plan: LayerPlan,
}

/// The default rope bands: `1 / 10000^(k/B)`, `k = 0..B`, in f32.
pub fn default_rope_bands(num_bands: usize) -> Vec<f32> {
    (0..num_bands)
        .map(|k| 1.0 / 10000f32.powf(k as f32 / num_bands as f32))
        .collect()
}

impl DitWeights {
    /// Opens a checkpoint (a directory with `model.safetensors.index.json` or one
    /// `*.safetensors`, an index file, or a single file) and loads it onto `device`. The
    /// checkpoint must hold the DiT and nothing else.
    pub fn open(path: &Path, cfg: &ModelConfig, device: &Device) -> Result<DitWeights> {
        Self::from_weights(&Weights::open(path, device)?.strict(), cfg)
    }

    /// Loads every tensor of the checkpoint contract ([`try_checkpoint_specs`]) from
    /// `weights` onto its device, checking names, shapes and dtypes of all of them first
    /// (errors name the file, the tensor, and the expected and found shape or dtype); a
    /// strict `weights` must hold no other tensor ([`Weights::finish`]).
    pub fn from_weights(weights: &Weights, cfg: &ModelConfig) -> Result<DitWeights> {
        Self::from_weights_planned(weights, cfg, LayerPlan::all_resident(cfg.num_layers))
    }

    /// [`DitWeights::from_weights`] with the layers `plan` streams left on the host, as
    /// the file maps them (on the CPU every layer is used in place anyway).
    pub fn from_weights_planned(
        weights: &Weights,
        cfg: &ModelConfig,
        plan: LayerPlan,
    ) -> Result<DitWeights> {
        ensure!(
            plan.layers == cfg.num_layers,
            "a layer plan for {} DiT layers cannot hold the config's {}",
            plan.layers,
            cfg.num_layers
        );
        let specs = try_checkpoint_specs(cfg)?;
        for spec in &specs {
            if !spec.optional || weights.contains(&spec.name) {
                weights.check(&spec.name, &spec.shape, CONVERTIBLE_DTYPES)?;
            }
        }
        let specs: HashMap<&str, &TensorSpec> =
            specs.iter().map(|s| (s.name.as_str(), s)).collect();
        let ld = Loader { weights, specs };
        let embedder = |name: &str| -> Result<Linear> {
            Ok(Linear::new(
                ld.f32_tensor(&format!("adapter.{name}_embedder.weight"))?,
                Some(ld.f32_tensor(&format!("adapter.{name}_embedder.bias"))?),
            ))
        };
        let bands = ld.spec("adapter.rope.bands")?;
        let rope_bands = match weights
            .with_device(&Device::Cpu)
            .get_opt(&bands.name, &bands.shape)?
        {
            Some(t) => t.to_vec()?,
            None => default_rope_bands(cfg.rope_bands()),
        };
        let host = weights.with_device(&Device::Cpu);
        let host_ld = Loader {
            weights: &host,
            specs: ld.specs.clone(),
        };
        // On a GPU every layer is read on the host first; a resident one is then uploaded
        // a tensor at a time (see [`LayerWeights::to_device`]).
        let device = weights.device();
        let layers = (0..cfg.num_layers)
            .map(|i| match device.is_cpu() {
                true => ld.layer(cfg, i),
                false if plan.is_streamed(i) => host_ld.layer(cfg, i),
                false => host_ld.layer(cfg, i)?.to_device(device),
            })
            .collect::<Result<Vec<_>>>()?;
        let final_norm = |name: &str| -> Result<RmsNorm> {
            RmsNorm::with_unit_offset(&ld.f32_tensor(name)?, RMS_EPS)
        };
        let loaded = DitWeights {
            video_embedder: embedder("video")?,
            audio_embedder: embedder("audio")?,
            text_embedder: embedder("text")?,
            rope_bands,
            layers,
            final_norm_video: final_norm("final_norm_video.weight")?,
            final_norm_audio: final_norm("final_norm_audio.weight")?,
            final_linear_video: Linear::new(ld.f32_tensor("final_linear_video.weight")?, None),
            final_linear_audio: Linear::new(ld.f32_tensor("final_linear_audio.weight")?, None),
            layer_plan: plan,
        };
        weights.finish()?;
        Ok(loaded)
    }
}

/// Reads the tensors of the contract, splitting stacked experts.
struct Loader<'a> {
    weights: &'a Weights,
    specs: HashMap<&'a str, &'a TensorSpec>,
}

impl Loader<'_> {
    fn spec(&self, name: &str) -> Result<&TensorSpec> {
        self.specs
            .get(name)
            .copied()
            .ok_or_else(|| Error::msg(format!("`{name}` is not in the checkpoint contract")))
    }

    /// The `n` experts of `name`, widened to f32 or kept as stored, as its spec says.
    fn experts(&self, name: &str, n: usize) -> Result<Vec<Tensor>> {
        let spec = self.spec(name)?;
        match spec.residence {
            Residence::F32 => self.weights.experts_as(name, &spec.shape, n, DType::F32),
            Residence::BlockLinear => self.weights.experts(name, &spec.shape, n),
        }
    }

    /// Transformer layer `i`.
    fn layer(&self, cfg: &ModelConfig, i: usize) -> Result<LayerWeights> {
        let n = cfg.num_experts(i);
        let p = format!("block.layers.{i}.");
        let norm = |key: &str| self.norm(&format!("{p}{key}"), n);
        let linear = |key: &str, out: usize| self.linear(&format!("{p}{key}"), n, out);
        let post = cfg.has_post_norm(i);
        Ok(LayerWeights {
            attn_pre_norm: norm("attention.pre_norm.weight")?,
            linear_qkv: linear("attention.linear_qkv.weight", cfg.qkv_size())?,
            qk_norm_gains: qk_norm_gains(
                &norm("attention.q_norm.weight")?,
                &norm("attention.k_norm.weight")?,
            )?,
            linear_proj: linear("attention.linear_proj.weight", cfg.hidden_size)?,
            mlp_pre_norm: norm("mlp.pre_norm.weight")?,
            up_gate_proj: linear("mlp.up_gate_proj.weight", cfg.up_gate_size(i))?,
            down_proj: linear("mlp.down_proj.weight", cfg.hidden_size)?,
            attn_post_norm: post.then(|| norm("attn_post_norm.weight")).transpose()?,
            mlp_post_norm: post.then(|| norm("mlp_post_norm.weight")).transpose()?,
        })
    }

    fn f32_tensor(&self, name: &str) -> Result<Tensor> {
        let spec = self.spec(name)?;
        self.weights.get_as(name, &spec.shape, DType::F32)
    }

    fn norm(&self, name: &str, n: usize) -> Result<ModalityNorm> {
        ModalityNorm::with_unit_offset(&self.experts(name, n)?, RMS_EPS)
    }

    fn linear(&self, name: &str, n: usize, out: usize) -> Result<ModalityLinear> {
        let experts = self
            .experts(name, n)?
            .into_iter()
            .enumerate()
            .map(|(m, w)| {
                ensure!(
                    w.shape()[0] == out,
                    "`{name}` expert {m} has {} rows, expected {out}",
                    w.shape()[0]
                );
                Ok(Linear::new(w, None))
            })
            .collect::<Result<_>>()?;
        Ok(ModalityLinear { experts })
    }
}

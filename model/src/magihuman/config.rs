//! The pipeline configuration (`config.json`) with the official field names and defaults:
//! `arch_config` ([`ModelConfig`]), `evaluation_config` ([`EvaluationConfig`], holding the
//! [`DataProxyConfig`]) and `engine_config` ([`EngineConfig`]).

use std::path::Path;

use happyhorse_nn::config_check::{finite, finite_positive, in_range, parse_file, parse_json};
use happyhorse_tensor::{bail, ensure, Result};
use serde::Deserialize;

/// The most transformer layers a config may declare (the released model has 40).
pub const MAX_LAYERS: usize = 1024;

/// The widest residual stream a config may declare (the released model has 5120): with
/// every other bound, any tensor size or parameter count stays far below `u64::MAX`.
pub const MAX_HIDDEN_SIZE: usize = 1 << 16;

/// The widest attention head a config may declare (the released model has 128).
pub const MAX_HEAD_DIM: usize = 1024;

/// The most input features of one video, audio or text row (the released model: 192, 64,
/// 3584).
pub const MAX_IN_CHANNELS: usize = 1 << 16;

/// The longest text feature sequence a config may ask for (the released one uses 640).
pub const MAX_TARGET_LENGTH: usize = crate::t5gemma::MAX_TARGET_LENGTH;

/// The most sampling steps of either loop.
pub const MAX_STEPS: usize = 1000;

/// The highest video frame rate.
pub const MAX_FPS: usize = 240;

/// Checks every layer index of `list` is below `limit`.
fn layer_indices(field: &str, list: &[usize], limit: usize, what: &str) -> Result<()> {
    if let Some(&bad) = list.iter().find(|&&i| i >= limit) {
        bail!("{field} names layer {bad}, but {what}");
    }
    Ok(())
}

/// The local-attention layers the 1080p super-resolution model runs with (every layer
/// except 3, 7, …, 31), set by the `SR2_1080` switch of the reference.
pub const SR2_1080_LOCAL_ATTN_LAYERS: [usize; 32] = [
    0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, 16, 17, 18, 20, 21, 22, 24, 25, 26, 28, 29, 30, 32, 33,
    34, 35, 36, 37, 38, 39,
];

/// Token-routing settings of training; read and ignored at inference.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default)]
pub struct TreadConfig {
    /// Fraction of tokens routed around the middle layers.
    pub selection_rate: f64,
    /// First routed layer.
    pub start_layer_idx: usize,
    /// Last routed layer.
    pub end_layer_idx: usize,
}

impl Default for TreadConfig {
    fn default() -> Self {
        TreadConfig {
            selection_rate: 0.5,
            start_layer_idx: 2,
            end_layer_idx: 25,
        }
    }
}

/// The DiT architecture (`arch_config`). Defaults are the released 15B model.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default)]
pub struct ModelConfig {
    /// Number of transformer layers.
    pub num_layers: usize,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Dimension of one attention head.
    pub head_dim: usize,
    /// Number of key/value heads (grouped-query attention).
    pub num_query_groups: usize,
    /// Features of one video token: latent channels × pt × p × p.
    pub video_in_channels: usize,
    /// Features of one audio latent frame.
    pub audio_in_channels: usize,
    /// Features of one text-encoder row.
    pub text_in_channels: usize,
    /// Training-only activation checkpointing switch (unused).
    pub checkpoint_qk_layernorm_rope: bool,
    /// Parameter dtype name of the reference (unused: the in-memory dtypes are fixed).
    pub params_dtype: String,
    /// Token routing of training (unused).
    pub tread_config: TreadConfig,
    /// Layers holding one weight copy per modality (video, audio, text).
    pub mm_layers: Vec<usize>,
    /// Layers whose attention is restricted to nearby latent frames.
    pub local_attn_layers: Vec<usize>,
    /// Whether `linear_qkv` ends in one sigmoid gate row per query head.
    pub enable_attn_gating: bool,
    /// Nominal activation (unused: the activation is chosen by `gelu7_layers`).
    pub activation_type: String,
    /// Layers with the non-gated gelu7 MLP; the others use swiglu7.
    pub gelu7_layers: Vec<usize>,
    /// Query heads as stored in a config file; always re-derived as hidden / head_dim.
    pub num_heads_q: usize,
    /// Key/value heads as stored in a config file; always re-derived from num_query_groups.
    pub num_heads_kv: usize,
    /// Layers that normalise the attention and MLP outputs before the residual adds.
    pub post_norm_layers: Vec<usize>,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            num_layers: 40,
            hidden_size: 5120,
            head_dim: 128,
            num_query_groups: 8,
            video_in_channels: 48 * 4,
            audio_in_channels: 64,
            text_in_channels: 3584,
            checkpoint_qk_layernorm_rope: false,
            params_dtype: "torch.float32".into(),
            tread_config: TreadConfig::default(),
            mm_layers: vec![0, 1, 2, 3, 36, 37, 38, 39],
            local_attn_layers: Vec::new(),
            enable_attn_gating: true,
            activation_type: "swiglu7".into(),
            gelu7_layers: vec![0, 1, 2, 3],
            num_heads_q: 0,
            num_heads_kv: 0,
            post_norm_layers: Vec::new(),
        }
    }
}

impl ModelConfig {
    /// Query heads: hidden_size / head_dim.
    pub fn heads_q(&self) -> usize {
        self.hidden_size / self.head_dim.max(1)
    }

    /// Key/value heads: num_query_groups.
    pub fn heads_kv(&self) -> usize {
        self.num_query_groups
    }

    /// Gate rows at the end of `linear_qkv`: one per query head, or none.
    pub fn gating_size(&self) -> usize {
        if self.enable_attn_gating {
            self.heads_q()
        } else {
            0
        }
    }

    /// Output rows of one `linear_qkv` expert: q, k, v and the gates.
    pub fn qkv_size(&self) -> usize {
        (self
            .heads_q()
            .saturating_add(self.heads_kv().saturating_mul(2)))
        .saturating_mul(self.head_dim)
        .saturating_add(self.gating_size())
    }

    /// Weight copies of layer `i`: 3 (video, audio, text) in mm layers, else 1.
    pub fn num_experts(&self, layer: usize) -> usize {
        if self.mm_layers.contains(&layer) {
            3
        } else {
            1
        }
    }

    /// Whether layer `i` uses the gelu7 MLP (else swiglu7).
    pub fn is_gelu7(&self, layer: usize) -> bool {
        self.gelu7_layers.contains(&layer)
    }

    /// Whether layer `i` attends locally.
    pub fn is_local_attn(&self, layer: usize) -> bool {
        self.local_attn_layers.contains(&layer)
    }

    /// Whether layer `i` has the output post-norms.
    pub fn has_post_norm(&self, layer: usize) -> bool {
        self.post_norm_layers.contains(&layer)
    }

    /// MLP intermediate width of layer `i`: 4·hidden (gelu7) or
    /// floor(floor(hidden·8/3)/4)·4 (swiglu7).
    pub fn intermediate_size(&self, layer: usize) -> usize {
        if self.is_gelu7(layer) {
            self.hidden_size.saturating_mul(4)
        } else {
            self.hidden_size.saturating_mul(8) / 3 / 4 * 4
        }
    }

    /// Output rows of one `up_gate_proj` expert (twice the intermediate width for swiglu7).
    pub fn up_gate_size(&self, layer: usize) -> usize {
        let f = self.intermediate_size(layer);
        if self.is_gelu7(layer) {
            f
        } else {
            f.saturating_mul(2)
        }
    }

    /// Rope frequency bands per axis: head_dim / 8.
    pub fn rope_bands(&self) -> usize {
        self.head_dim / 8
    }

    /// Checks every number lies in its range ([`MAX_LAYERS`], [`MAX_HIDDEN_SIZE`],
    /// [`MAX_HEAD_DIM`], [`MAX_IN_CHANNELS`]) and that they fit together (head split, GQA
    /// grouping, rope width, layer lists). Errors name the field and the allowed range.
    pub fn validate(&self) -> Result<()> {
        in_range("arch_config.num_layers", self.num_layers, 1, MAX_LAYERS)?;
        in_range("arch_config.head_dim", self.head_dim, 8, MAX_HEAD_DIM)?;
        ensure!(
            self.head_dim.is_multiple_of(8),
            "arch_config.head_dim {} must be a multiple of 8 (rope bands)",
            self.head_dim
        );
        in_range(
            "arch_config.hidden_size",
            self.hidden_size,
            self.head_dim,
            MAX_HIDDEN_SIZE,
        )?;
        ensure!(
            self.hidden_size.is_multiple_of(self.head_dim),
            "arch_config.hidden_size {} is not a multiple of head_dim {}",
            self.hidden_size,
            self.head_dim
        );
        in_range(
            "arch_config.num_query_groups",
            self.num_query_groups,
            1,
            self.heads_q(),
        )?;
        ensure!(
            self.heads_q().is_multiple_of(self.num_query_groups),
            "arch_config.num_query_groups {} does not divide the {} query heads",
            self.num_query_groups,
            self.heads_q()
        );
        for (field, value) in [
            ("arch_config.video_in_channels", self.video_in_channels),
            ("arch_config.audio_in_channels", self.audio_in_channels),
            ("arch_config.text_in_channels", self.text_in_channels),
        ] {
            in_range(field, value, 1, MAX_IN_CHANNELS)?;
        }
        let n = self.num_layers;
        let what = format!("num_layers is {n} (layers 0..={})", n - 1);
        layer_indices("arch_config.mm_layers", &self.mm_layers, n, &what)?;
        layer_indices("arch_config.gelu7_layers", &self.gelu7_layers, n, &what)?;
        layer_indices(
            "arch_config.post_norm_layers",
            &self.post_norm_layers,
            n,
            &what,
        )?;
        // The reference's 1080p list names layers up to 39 whatever the depth, so layers
        // past the last one are allowed here (and unused); only absurd indices are refused.
        layer_indices(
            "arch_config.local_attn_layers",
            &self.local_attn_layers,
            MAX_LAYERS,
            &format!("layer indices must lie in 0..{MAX_LAYERS}"),
        )?;
        Ok(())
    }
}

/// Coordinate conventions of the data proxy (README §3).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Default)]
pub enum CoordsStyle {
    /// Super-resolution convention: audio referenced to the latent frames, text at j/(Lt−1).
    #[serde(rename = "v1")]
    V1,
    /// Base/distill convention: compressed audio time, unrotated text.
    #[serde(rename = "v2")]
    #[default]
    V2,
}

/// Token packing settings (`evaluation_config.data_proxy_config`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default)]
pub struct DataProxyConfig {
    /// Temporal patch size.
    pub t_patch_size: usize,
    /// Spatial patch size.
    pub patch_size: usize,
    /// Local attention window in latent frames (−1: no local ranges).
    pub frame_receptive_field: i64,
    /// Read and ignored: the reference hard-wires "extra".
    pub spatial_rope_interpolation: String,
    /// Read and ignored.
    pub ref_audio_offset: i64,
    /// Position of the first text token in v1 coordinates.
    pub text_offset: i64,
    /// Coordinate convention.
    pub coords_style: CoordsStyle,
}

impl DataProxyConfig {
    /// Checks the patch sizes and offsets lie in their ranges.
    pub fn validate(&self) -> Result<()> {
        let f = "evaluation_config.data_proxy_config";
        in_range(&format!("{f}.t_patch_size"), self.t_patch_size, 1, 64)?;
        in_range(&format!("{f}.patch_size"), self.patch_size, 1, 64)?;
        ensure!(
            (-1..=MAX_RECEPTIVE_FIELD).contains(&self.frame_receptive_field),
            "{f}.frame_receptive_field is {}, outside the allowed range -1..={MAX_RECEPTIVE_FIELD} \
             (-1: no local attention)",
            self.frame_receptive_field
        );
        ensure!(
            self.text_offset.unsigned_abs() <= MAX_OFFSET,
            "{f}.text_offset is {}, outside the allowed range -{MAX_OFFSET}..={MAX_OFFSET}",
            self.text_offset
        );
        ensure!(
            self.ref_audio_offset.unsigned_abs() <= MAX_OFFSET,
            "{f}.ref_audio_offset is {}, outside the allowed range -{MAX_OFFSET}..={MAX_OFFSET}",
            self.ref_audio_offset
        );
        Ok(())
    }
}

/// The widest local attention window, in latent frames.
const MAX_RECEPTIVE_FIELD: i64 = 1 << 16;

/// The largest coordinate offset of the data proxy.
const MAX_OFFSET: u64 = 1 << 20;

impl Default for DataProxyConfig {
    fn default() -> Self {
        DataProxyConfig {
            t_patch_size: 1,
            patch_size: 2,
            frame_receptive_field: 11,
            spatial_rope_interpolation: "extra".into(),
            ref_audio_offset: 1000,
            text_offset: 0,
            coords_style: CoordsStyle::V2,
        }
    }
}

/// Sampling settings (`evaluation_config`); the fields the DiT and its loops read.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default)]
pub struct EvaluationConfig {
    /// Token packing.
    pub data_proxy_config: DataProxyConfig,
    /// Video frame rate (audio latent frames per second too).
    pub fps: usize,
    /// Steps of the stage-1 loop.
    pub num_inference_steps: usize,
    /// Video text guidance scale of the base loop.
    pub video_txt_guidance_scale: f64,
    /// Audio text guidance scale of the base loop.
    pub audio_txt_guidance_scale: f64,
    /// Text encoder kind.
    pub txt_encoder_type: String,
    /// Rows the text features are padded to.
    pub t5_gemma_target_length: usize,
    /// Reference-audio feature switch.
    pub support_ref_audio: bool,
    /// Sigma shift of the schedule.
    pub shift: f64,
    /// VAE stride (time, height, width).
    pub vae_stride: [usize; 3],
    /// Latent channels of the video VAE.
    pub z_dim: usize,
    /// Patch size (time, height, width).
    pub patch_size: [usize; 3],
    /// 1: distilled loop without guidance; 2: guided base loop.
    pub cfg_number: usize,
    /// 1 or 2: guidance in the super-resolution loop.
    pub sr_cfg_number: usize,
    /// Whether the super-resolution stage runs.
    pub use_sr_model: bool,
    /// Steps of the super-resolution loop.
    pub sr_num_inference_steps: usize,
    /// Index into the zero-SNR table for re-noising the upsampled latent (0: none).
    pub noise_value: usize,
    /// Video guidance scale of the super-resolution loop.
    pub sr_video_txt_guidance_scale: f64,
    /// Lower guidance on the first frames of the super-resolution loop.
    pub use_cfg_trick: bool,
    /// First latent frame at full super-resolution guidance.
    pub cfg_trick_start_frame: usize,
    /// Guidance cap before `cfg_trick_start_frame`.
    pub cfg_trick_value: f64,
    /// SDE sampling switch (raises in the reference base loop).
    pub using_sde_flag: bool,
    /// Noise share of the super-resolution audio context.
    pub sr_audio_noise_scale: f64,
    /// Whether the Turbo VAE decoder is used.
    pub use_turbo_vae: bool,
}

impl Default for EvaluationConfig {
    fn default() -> Self {
        EvaluationConfig {
            data_proxy_config: DataProxyConfig::default(),
            fps: 25,
            num_inference_steps: 32,
            video_txt_guidance_scale: 5.0,
            audio_txt_guidance_scale: 5.0,
            txt_encoder_type: "t5_gemma".into(),
            t5_gemma_target_length: 640,
            support_ref_audio: true,
            shift: 5.0,
            vae_stride: [4, 16, 16],
            z_dim: 48,
            patch_size: [1, 2, 2],
            cfg_number: 2,
            sr_cfg_number: 2,
            use_sr_model: false,
            sr_num_inference_steps: 5,
            noise_value: 220,
            sr_video_txt_guidance_scale: 3.5,
            use_cfg_trick: true,
            cfg_trick_start_frame: 13,
            cfg_trick_value: 2.0,
            using_sde_flag: false,
            sr_audio_noise_scale: 0.7,
            use_turbo_vae: true,
        }
    }
}

impl EvaluationConfig {
    /// Checks every sampling setting lies in its range: fps 1..=[`MAX_FPS`], steps
    /// 1..=[`MAX_STEPS`], target length 1..=[`MAX_TARGET_LENGTH`], `cfg_number` and
    /// `sr_cfg_number` 1 or 2, `shift` finite and positive, finite guidance scales.
    pub fn validate(&self) -> Result<()> {
        let f = "evaluation_config";
        self.data_proxy_config.validate()?;
        in_range(&format!("{f}.fps"), self.fps, 1, MAX_FPS)?;
        for (name, steps) in [
            ("num_inference_steps", self.num_inference_steps),
            ("sr_num_inference_steps", self.sr_num_inference_steps),
        ] {
            in_range(&format!("{f}.{name}"), steps, 1, MAX_STEPS)?;
        }
        in_range(
            &format!("{f}.t5_gemma_target_length"),
            self.t5_gemma_target_length,
            1,
            MAX_TARGET_LENGTH,
        )?;
        for (name, n) in [
            ("cfg_number", self.cfg_number),
            ("sr_cfg_number", self.sr_cfg_number),
        ] {
            ensure!(
                n == 1 || n == 2,
                "{f}.{name} is {n}; it must be 1 (distilled, no guidance) or 2 (guided, with \
                 a negative prompt)"
            );
        }
        finite_positive(&format!("{f}.shift"), self.shift)?;
        for (name, v) in [
            ("video_txt_guidance_scale", self.video_txt_guidance_scale),
            ("audio_txt_guidance_scale", self.audio_txt_guidance_scale),
            (
                "sr_video_txt_guidance_scale",
                self.sr_video_txt_guidance_scale,
            ),
            ("cfg_trick_value", self.cfg_trick_value),
        ] {
            finite(&format!("{f}.{name}"), v)?;
        }
        in_range(
            &format!("{f}.sr_audio_noise_scale"),
            self.sr_audio_noise_scale,
            0.0,
            1.0,
        )?;
        in_range(&format!("{f}.noise_value"), self.noise_value, 0, 999)?;
        in_range(&format!("{f}.z_dim"), self.z_dim, 1, 1024)?;
        for (k, &v) in self.vae_stride.iter().enumerate() {
            in_range(&format!("{f}.vae_stride[{k}]"), v, 1, 64)?;
        }
        for (k, &v) in self.patch_size.iter().enumerate() {
            in_range(&format!("{f}.patch_size[{k}]"), v, 1, 64)?;
        }
        Ok(())
    }
}

/// Runtime settings (`engine_config`); only the seed matters here.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default)]
pub struct EngineConfig {
    /// Seed of the pipeline's random draws.
    pub seed: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig { seed: 1234 }
    }
}

/// A whole `config.json`.
#[derive(Clone, Debug, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct PipelineConfig {
    /// Runtime settings.
    pub engine_config: EngineConfig,
    /// The stage-1 DiT.
    pub arch_config: ModelConfig,
    /// Sampling settings.
    pub evaluation_config: EvaluationConfig,
    /// The super-resolution DiT as recorded in the file; the reference overwrites it with
    /// a copy of `arch_config` (see [`PipelineConfig::sr_arch_config`]).
    pub sr_arch_config: Option<ModelConfig>,
}

impl PipelineConfig {
    /// Parses a `config.json`, naming the file in errors.
    pub fn from_file(path: &Path) -> Result<PipelineConfig> {
        parse_file(path, Self::from_json)
    }

    /// Parses config JSON text and checks the architecture and the sampling settings
    /// (see [`ModelConfig::validate`], [`EvaluationConfig::validate`]).
    pub fn from_json(text: &str) -> Result<PipelineConfig> {
        let cfg: PipelineConfig = parse_json(text, "MagiHuman config")?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks `arch_config` and `evaluation_config`. A `sr_arch_config` in the file is
    /// not read (see [`PipelineConfig::sr_arch_config`]).
    pub fn validate(&self) -> Result<()> {
        self.arch_config.validate()?;
        self.evaluation_config.validate()
    }

    /// The super-resolution DiT's architecture: the reference always copies
    /// `arch_config` (any `sr_arch_config` in the file is overwritten), with the 1080p
    /// local-attention layers when `sr2_1080` is set.
    pub fn sr_arch_config(&self, sr2_1080: bool) -> ModelConfig {
        let mut cfg = self.arch_config.clone();
        if sr2_1080 {
            cfg.local_attn_layers = SR2_1080_LOCAL_ATTN_LAYERS.to_vec();
        }
        cfg
    }

    /// The super-resolution data proxy: v1 coordinates whatever the file says.
    pub fn sr_data_proxy_config(&self) -> DataProxyConfig {
        DataProxyConfig {
            coords_style: CoordsStyle::V1,
            ..self.evaluation_config.data_proxy_config.clone()
        }
    }
}

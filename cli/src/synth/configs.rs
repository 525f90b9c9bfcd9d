//! The config files of a made-up stack, in the released files' shapes, at the released
//! sizes ([`StackSizes::released`]) or any other.

use serde_json::{json, Value};

/// The sizes of every component of a made-up stack, as the config files that describe
/// them, and how many shards the sharded checkpoints are split into.
#[derive(Clone, Debug, PartialEq)]
pub struct StackSizes {
    /// The pipeline `config.json` (the DiT's `arch_config` and the sampling settings).
    pub pipeline: Value,
    /// Shards of the DiT checkpoint.
    pub dit_shards: usize,
    /// The T5Gemma `config.json`.
    pub text_encoder: Value,
    /// Shards of the text encoder checkpoint.
    pub text_encoder_shards: usize,
    /// The Wan2.2 VAE `config.json`.
    pub video_vae: Value,
    /// The Turbo decoder's JSON config.
    pub turbo_vae: Value,
    /// The Stable Audio `model_config.json`.
    pub audio_vae: Value,
}

/// The geometry of a T5Gemma encoder (and of the decoder its config describes beside it).
#[derive(Clone, Copy, Debug)]
pub struct TextEncoderGeometry {
    /// Width of the residual stream.
    pub hidden: usize,
    /// Encoder layers.
    pub layers: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads.
    pub kv_heads: usize,
    /// Dimension of one head.
    pub head_dim: usize,
    /// Width of the MLP.
    pub intermediate: usize,
    /// Rows of the embedding.
    pub vocab: usize,
}

impl StackSizes {
    /// The released stack: the 15.3B DiT (40 layers, hidden 5120) in 7 shards, the
    /// T5Gemma-9B encoder in 4, the Wan2.2 VAE (dim 160, dec_dim 256), the Turbo decoder
    /// (TinyShallow 7/7) and the Stable Audio Open VAE (128 channels).
    pub fn released() -> StackSizes {
        StackSizes {
            pipeline: pipeline_json(json!({
                "num_layers": 40, "hidden_size": 5120, "head_dim": 128, "num_query_groups": 8,
                "video_in_channels": 192, "audio_in_channels": 64, "text_in_channels": 3584,
                "mm_layers": [0, 1, 2, 3, 36, 37, 38, 39], "local_attn_layers": [],
                "enable_attn_gating": true, "activation_type": "swiglu7",
                "gelu7_layers": [0, 1, 2, 3], "num_heads_q": 40, "num_heads_kv": 8,
                "post_norm_layers": []
            })),
            dit_shards: 7,
            text_encoder: t5gemma_json(TextEncoderGeometry {
                hidden: 3584,
                layers: 42,
                heads: 16,
                kv_heads: 8,
                head_dim: 256,
                intermediate: 14336,
                vocab: 256_000,
            }),
            text_encoder_shards: 4,
            video_vae: wan22_json(160, 256),
            turbo_vae: turbo_json([64, 128, 256, 512]),
            audio_vae: audio_json(128),
        }
    }
}

/// A pipeline config for the DiT `arch`: the distilled model's sampling settings (8 steps,
/// no guidance) with the released evaluation defaults.
pub fn pipeline_json(arch: Value) -> Value {
    json!({
        "engine_config": {"seed": 1234},
        "arch_config": arch,
        "evaluation_config": {
            "data_proxy_config": {
                "t_patch_size": 1, "patch_size": 2, "frame_receptive_field": 11,
                "spatial_rope_interpolation": "extra", "ref_audio_offset": 1000,
                "text_offset": 0, "coords_style": "v2"
            },
            "fps": 25, "num_inference_steps": 8, "cfg_number": 1, "shift": 5.0,
            "video_txt_guidance_scale": 5.0, "audio_txt_guidance_scale": 5.0,
            "txt_encoder_type": "t5_gemma", "t5_gemma_target_length": 640,
            "vae_stride": [4, 16, 16], "z_dim": 48, "patch_size": [1, 2, 2],
            "use_turbo_vae": true, "sr_num_inference_steps": 5, "sr_cfg_number": 1,
            "noise_value": 220, "sr_video_txt_guidance_scale": 3.5
        }
    })
}

/// A T5Gemma `config.json` as the release writes it: encoder and decoder modules of one
/// geometry, alternating sliding and full attention.
pub fn t5gemma_json(g: TextEncoderGeometry) -> Value {
    let layer_types: Vec<&str> = (0..g.layers)
        .map(|i| {
            if i % 2 == 0 {
                "sliding_attention"
            } else {
                "full_attention"
            }
        })
        .collect();
    let module = json!({
        "attention_bias": false, "attention_dropout": 0.0, "attn_logit_softcapping": 50.0,
        "dropout_rate": 0.0, "final_logit_softcapping": 30.0, "head_dim": g.head_dim,
        "hidden_activation": "gelu_pytorch_tanh", "hidden_size": g.hidden,
        "initializer_range": 0.02, "intermediate_size": g.intermediate,
        "layer_types": layer_types, "max_position_embeddings": 8192,
        "model_type": "t5_gemma_module", "num_attention_heads": g.heads,
        "num_hidden_layers": g.layers, "num_key_value_heads": g.kv_heads,
        "query_pre_attn_scalar": g.head_dim, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
        "sliding_window": 4096, "use_cache": true, "vocab_size": g.vocab
    });
    let mut decoder = module.clone();
    decoder["is_decoder"] = json!(true);
    decoder["cross_attention_hidden_size"] = json!(g.hidden);
    json!({
        "architectures": ["T5GemmaForConditionalGeneration"],
        "bos_token_id": 2, "eos_token_id": 1, "pad_token_id": 0,
        "classifier_dropout_rate": 0.0, "dropout_rate": 0.0, "dtype": "bfloat16",
        "encoder": module, "decoder": decoder, "initializer_range": 0.02,
        "is_encoder_decoder": true, "model_type": "t5gemma",
        "transformers_version": "4.56.0", "use_cache": true, "vocab_size": g.vocab
    })
}

/// A Wan2.2 VAE config of encoder width `dim` and decoder width `dec_dim` (the released
/// stages, 48 latent channels; the latent statistics are the released ones by default).
pub fn wan22_json(dim: usize, dec_dim: usize) -> Value {
    json!({
        "dim": dim, "dec_dim": dec_dim, "z_dim": 48, "dim_mult": [1, 2, 4, 4],
        "num_res_blocks": 2, "attn_scales": [], "temperal_downsample": [false, true, true],
        "dropout": 0.0, "patch_size": 2
    })
}

/// A TinyShallow Turbo decoder config with block widths `channels` (the released layout).
pub fn turbo_json(channels: [usize; 4]) -> Value {
    json!({
        "_class_name": "TurboVAED", "in_channels": 3, "out_channels": 3,
        "latent_channels": 48, "decoder_block_out_channels": channels,
        "decoder_layers_per_block": [2, 2, 2, 3, 3],
        "decoder_spatio_temporal_scaling": [true, true, true, false],
        "decoder_spatio_only": [true, false, false, false],
        "decoder_is_dw_conv": [false, false, false, false, false],
        "decoder_dw_kernel_size": 3, "patch_size": 2, "patch_size_t": 1,
        "resnet_norm_eps": 1e-6, "scaling_factor": 1.0, "decoder_causal": false,
        "first_chunk_size": 7, "step_size": 7, "spatial_compression_ratio": 16,
        "temporal_compression_ratio": 4, "use_unpatchify": false,
        "aligned_feature_projection_mode": "conv-2layer"
    })
}

/// A Stable Audio Open `model_config.json` whose autoencoder has base width `channels`.
pub fn audio_json(channels: usize) -> Value {
    let part = |latent: usize, io: &str| {
        let mut c = json!({
            "channels": channels, "c_mults": [1, 2, 4, 8, 16], "strides": [2, 4, 4, 8, 8],
            "use_snake": true, "latent_dim": latent
        });
        c[io] = json!(2);
        c
    };
    let mut decoder = part(64, "out_channels");
    decoder["final_tanh"] = json!(false);
    json!({
        "model_type": "diffusion_cond", "sample_size": 2097152, "sample_rate": 44100,
        "audio_channels": 2,
        "model": {"pretransform": {"type": "autoencoder", "iterate_batch": true, "config": {
            "encoder": {"type": "oobleck", "requires_grad": false,
                        "config": part(128, "in_channels")},
            "decoder": {"type": "oobleck", "config": decoder},
            "bottleneck": {"type": "vae"},
            "latent_dim": 64, "downsampling_ratio": 2048, "io_channels": 2
        }}}
    })
}

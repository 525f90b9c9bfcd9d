//! The shapes the GPU kernel benchmark times: the DiT's GEMMs and attention at the released
//! size for a 5 s clip at 256p and at 540p, the Wan2.2 and Turbo decoders' conv3d layers, and
//! small stand-ins of each for `--quick`.

use happyhorse_tensor::gpu::gemm::GemmPath;
use happyhorse_tensor::DType;

/// Width of the released DiT's residual stream.
pub const HIDDEN: usize = 5120;
/// Dimension of one attention head.
pub const HEAD_DIM: usize = 128;
/// Query heads: hidden / head_dim.
pub const HEADS_Q: usize = HIDDEN / HEAD_DIM;
/// Key/value heads (`num_query_groups`).
pub const HEADS_KV: usize = 8;
/// Output rows of `linear_qkv`: q, k and v, then one sigmoid gate per query head.
pub const QKV_ROWS: usize = (HEADS_Q + 2 * HEADS_KV) * HEAD_DIM + HEADS_Q;
/// Intermediate width of the swiglu7 MLP: floor(floor(hidden·8/3)/4)·4.
pub const MLP_WIDTH: usize = HIDDEN * 8 / 3 / 4 * 4;
/// Text tokens of every DiT forward (`t5_gemma_target_length`).
pub const TEXT_TOKENS: usize = 640;
/// Video frame rate; one audio latent frame per video frame.
pub const FPS: usize = 25;

/// Tokens of one DiT forward for a `seconds`-long clip of `(height, width)` pixels, as the
/// generation plan counts them: audio frames `seconds·fps + 1`, latent frames
/// `(audio − 1)/4 + 1`, each of `(height/32)·(width/32)` 2×2 patches of the 16× latent,
/// plus the audio frames and the text tokens.
pub const fn dit_tokens((height, width): (usize, usize), seconds: usize) -> usize {
    let audio = seconds * FPS + 1;
    let latent_frames = (audio - 1) / 4 + 1;
    latent_frames * (height / 32) * (width / 32) + audio + TEXT_TOKENS
}

/// The clips whose DiT forwards are timed: name, pixels (16:9), seconds.
pub const CLIPS: [(&str, (usize, usize), usize); 2] =
    [("256p", (256, 448), 5), ("540p", (512, 896), 5)];

/// One kernel launch to time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `x [m, k] · w [n, k]ᵀ` on one GEMM path.
    Linear {
        /// Rows (tokens).
        m: usize,
        /// Input features.
        k: usize,
        /// Output features.
        n: usize,
        /// The GEMM kernel.
        path: GemmPath,
    },
    /// `q [1, heads, len, dim]` over `k, v [1, kv_heads, len, dim]`, no mask.
    Attention {
        /// Query and key length.
        len: usize,
        /// Query heads.
        heads: usize,
        /// Key/value heads (grouped-query attention).
        kv_heads: usize,
        /// Head dimension.
        dim: usize,
    },
    /// `x [1, cin, frames, h, w]` with a `[cout, cin, 3, 3, 3]` kernel, one pixel of zero
    /// padding around each spatial side; in time two frames before (`causal`, the Wan2.2
    /// decoder) or one on each side (the Turbo decoder). The output has the input's size.
    Conv3d {
        /// Input channels.
        cin: usize,
        /// Output channels.
        cout: usize,
        /// Frames.
        frames: usize,
        /// Height.
        h: usize,
        /// Width.
        w: usize,
        /// Causal padding in time.
        causal: bool,
    },
}

impl Op {
    /// Floating-point operations of one launch (a multiply-add counts two).
    pub fn flops(&self) -> f64 {
        let n = match *self {
            Op::Linear { m, k, n, .. } => 2 * m * k * n,
            Op::Attention {
                len, heads, dim, ..
            } => 4 * heads * len * len * dim,
            Op::Conv3d {
                cin,
                cout,
                frames,
                h,
                w,
                ..
            } => 2 * cin * cout * 27 * frames * h * w,
        };
        n as f64
    }

    /// The same op shrunk to a size the CPU checks in well under a second, with odd sizes
    /// that leave partial tiles, and the attention's grouping kept.
    pub fn reduced(&self) -> Op {
        match *self {
            Op::Linear { m, k, n, path } => Op::Linear {
                m: m.min(131),
                k: k.min(520),
                n: n.min(197),
                path,
            },
            Op::Attention {
                len,
                heads,
                kv_heads,
                dim,
            } => {
                let kv = kv_heads.min(2);
                Op::Attention {
                    len: len.min(203),
                    heads: kv * (heads / kv_heads),
                    kv_heads: kv,
                    dim,
                }
            }
            Op::Conv3d {
                cin,
                cout,
                frames,
                h,
                w,
                causal,
            } => Op::Conv3d {
                cin: cin.min(24),
                cout: cout.min(40),
                frames: frames.min(3),
                h: h.min(9),
                w: w.min(13),
                causal,
            },
        }
    }

    /// The shape in a few words.
    pub fn describe(&self) -> String {
        match *self {
            Op::Linear { m, k, n, .. } => format!("{m}×{k} → {n}"),
            Op::Attention {
                len,
                heads,
                kv_heads,
                dim,
            } => format!("L={len} H={heads}/{kv_heads} D={dim}"),
            Op::Conv3d {
                cin,
                cout,
                frames,
                h,
                w,
                ..
            } => format!("{cin}→{cout} k3 {frames}×{h}×{w}"),
        }
    }
}

/// One benchmark line: a named op with the dtype of its weights.
#[derive(Clone, Debug)]
pub struct Case {
    /// What the op is in the model.
    pub name: String,
    /// The launch.
    pub op: Op,
    /// Dtype of the weight operand (attention has none and stays f32).
    pub weights: DType,
}

/// The DiT's linears of one block: name, input features, output features.
const DIT_LINEARS: [(&str, usize, usize); 4] = [
    ("linear_qkv", HIDDEN, QKV_ROWS),
    ("linear_proj", HIDDEN, HIDDEN),
    ("mlp up_gate", HIDDEN, 2 * MLP_WIDTH),
    ("mlp down", MLP_WIDTH, HIDDEN),
];

/// Decoder conv3d layers at a 5 s 256p clip's sizes per decoded chunk: name, channels,
/// frames, height, width, causal. Wan2.2 decodes one latent frame at a time at widths
/// 1024, 1024, 512, 256 up its 16×28 → 128×224 stages; Turbo decodes chunks of 3 latent
/// frames at widths 512 … 128.
const DECODER_CONVS: [(&str, usize, usize, usize, usize, bool); 4] = [
    ("wan22 decoder stage 1", 1024, 2, 32, 56, true),
    ("wan22 decoder stage 3", 256, 4, 128, 224, true),
    ("turbo decoder mid", 512, 3, 16, 28, false),
    ("turbo decoder stage 2", 256, 12, 64, 112, false),
];

impl Case {
    /// The op shrunk for the CPU check ([`Op::reduced`]), a linear's K cut to whole blocks
    /// of a block-quantized weight.
    pub fn reduced(&self) -> Op {
        match self.op.reduced() {
            Op::Linear { m, k, n, path } => Op::Linear {
                m,
                k: k - k % self.weights.block_len(),
                n,
                path,
            },
            op => op,
        }
    }

    /// Whether the case runs the cooperative GEMM (f16 operands).
    pub fn rounds_operands_to_f16(&self) -> bool {
        matches!(
            self.op,
            Op::Linear {
                path: GemmPath::Cooperative(_),
                ..
            }
        )
    }
}

/// The weight dtypes of the conv3d cases.
const CONV_WEIGHTS: [DType; 2] = [DType::F32, DType::BF16];

/// The weight dtypes of the linear cases: dense, and kept block-quantized.
const LINEAR_WEIGHTS: [DType; 4] = [DType::F32, DType::BF16, DType::Q8_0, DType::Q4K];

/// `op` with each of `dtypes` for its weights, named `name`.
fn weighted(out: &mut Vec<Case>, name: &str, op: Op, dtypes: &[DType]) {
    for &weights in dtypes {
        out.push(Case {
            name: name.to_string(),
            op,
            weights,
        });
    }
}

/// The linear `m × k → n` on each of `paths`, named `name [path]`, with each weight dtype
/// whose blocks fill its rows of `k`.
fn linears(out: &mut Vec<Case>, name: &str, (m, k, n): (usize, usize, usize), paths: &[GemmPath]) {
    let dtypes: Vec<DType> = LINEAR_WEIGHTS
        .into_iter()
        .filter(|d| k.is_multiple_of(d.block_len()))
        .collect();
    for &path in paths {
        let op = Op::Linear { m, k, n, path };
        weighted(out, &format!("{name} [{path}]"), op, &dtypes);
    }
}

/// Every case, the linears on each of `paths`: the released shapes, or (`quick`) one small
/// case of each kind, which a software adapter runs in seconds.
pub fn cases(quick: bool, paths: &[GemmPath]) -> Vec<Case> {
    let mut out = Vec::new();
    if quick {
        linears(&mut out, "linear", (256, 512, 384), paths);
        out.push(Case {
            name: "attention".into(),
            op: Op::Attention {
                len: 256,
                heads: 5,
                kv_heads: 1,
                dim: HEAD_DIM,
            },
            weights: DType::F32,
        });
        let conv = Op::Conv3d {
            cin: 32,
            cout: 32,
            frames: 3,
            h: 16,
            w: 16,
            causal: false,
        };
        weighted(&mut out, "conv3d", conv, &CONV_WEIGHTS);
        return out;
    }
    for (clip, pixels, seconds) in CLIPS {
        let m = dit_tokens(pixels, seconds);
        for (layer, k, n) in DIT_LINEARS {
            linears(&mut out, &format!("dit {layer} {clip}"), (m, k, n), paths);
        }
        out.push(Case {
            name: format!("dit attention {clip}"),
            op: Op::Attention {
                len: m,
                heads: HEADS_Q,
                kv_heads: HEADS_KV,
                dim: HEAD_DIM,
            },
            weights: DType::F32,
        });
    }
    for (name, channels, frames, h, w, causal) in DECODER_CONVS {
        let op = Op::Conv3d {
            cin: channels,
            cout: channels,
            frames,
            h,
            w,
            causal,
        };
        weighted(&mut out, name, op, &CONV_WEIGHTS);
    }
    out
}

/// One line per clip: its DiT token count and how it splits.
pub fn token_counts() -> Vec<String> {
    CLIPS
        .iter()
        .map(|&(clip, (h, w), seconds)| {
            let total = dit_tokens((h, w), seconds);
            let audio = seconds * FPS + 1;
            format!(
                "{clip} {seconds} s ({w}×{h}): {total} DiT tokens = {} video + {audio} audio + {TEXT_TOKENS} text",
                total - audio - TEXT_TOKENS
            )
        })
        .collect()
}

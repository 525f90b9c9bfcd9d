//! The bytes one DiT layer's kernels read and write, counted per kernel from the shapes:
//! every input of a kernel read once and its output written once (the least a kernel
//! moves: a GEMM's or attention's re-reads of tiles through the caches are not counted),
//! activations in f32, weights at `weight_bytes` per value.
//!
//! [`LayerKernels::Unfused`] is the chain of copy, norm, rope and elementwise kernels the
//! layer ran before the fused ops ([`happyhorse_tensor::Tensor::rms_norm_segments`],
//! `qk_norm_rope`, `gated_heads_to_rows`, `clamped_gelu`), kept as the baseline their
//! saving is measured against.

use super::config::ModelConfig;

/// Bytes of an f32 activation value.
const F32: u64 = 4;

/// One kernel's traffic, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pass {
    /// What the kernel does.
    pub kernel: &'static str,
    /// Bytes read.
    pub read: u64,
    /// Bytes written.
    pub written: u64,
}

/// Which kernels a layer runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerKernels {
    /// One kernel per op of the reference's chain, with the copies between them.
    Unfused,
    /// The fused norm, query/key, gate and activation kernels.
    Fused,
}

/// The sizes a layer's passes are counted from.
struct Shape {
    tokens: u64,
    experts: u64,
    weight_bytes: u64,
    fused: bool,
}

impl Shape {
    /// A kernel reading `read` and writing `written` activation values.
    fn pass(&self, kernel: &'static str, read: u64, written: u64) -> Pass {
        Pass {
            kernel,
            read: read * F32,
            written: written * F32,
        }
    }

    /// A per-modality linear `[in] → [out]` on every token (the experts' outputs
    /// concatenated when there are several).
    fn linear(&self, passes: &mut Vec<Pass>, kernel: &'static str, inp: u64, out: u64) {
        let l = self.tokens;
        let mut gemm = self.pass(kernel, l * inp, l * out);
        gemm.read += self.experts * inp * out * self.weight_bytes;
        passes.push(gemm);
        if self.experts > 1 {
            passes.push(self.pass("concatenate the experts' rows", l * out, l * out));
        }
    }

    /// A per-modality RMS norm of rows of `width`, with gains of `gain` values per expert
    /// (the unfused norm normalises each modality's rows apart and concatenates them).
    fn norm(&self, passes: &mut Vec<Pass>, kernel: &'static str, width: u64, gain: u64) {
        let values = self.tokens * width;
        passes.push(self.pass(kernel, values + self.experts * gain, values));
        if self.experts > 1 && !self.fused {
            passes.push(self.pass("concatenate the normalised rows", values, values));
        }
    }
}

/// The kernels of layer `layer` of `cfg` over `tokens` tokens (every modality present),
/// with weights of `weight_bytes` per value, and what each moves.
pub fn layer_passes(
    cfg: &ModelConfig,
    layer: usize,
    tokens: usize,
    weight_bytes: u64,
    kernels: LayerKernels,
) -> Vec<Pass> {
    let s = Shape {
        tokens: tokens as u64,
        experts: cfg.num_experts(layer) as u64,
        weight_bytes,
        fused: kernels == LayerKernels::Fused,
    };
    let (l, d) = (s.tokens, cfg.hidden_size as u64);
    let mut passes = Vec::new();
    s.norm(&mut passes, "attention pre-norm", d, d);
    s.linear(&mut passes, "qkv projection", d, cfg.qkv_size() as u64);
    attention_passes(&s, cfg, &mut passes);
    s.linear(&mut passes, "output projection", d, d);
    let post = cfg.has_post_norm(layer);
    let residual = |passes: &mut Vec<Pass>, norm: &'static str| {
        if post {
            s.norm(passes, norm, d, d);
        }
        passes.push(s.pass("residual add", 2 * l * d, l * d));
    };
    residual(&mut passes, "attention post-norm");
    s.norm(&mut passes, "MLP pre-norm", d, d);
    let (up, f) = (
        cfg.up_gate_size(layer) as u64,
        cfg.intermediate_size(layer) as u64,
    );
    s.linear(&mut passes, "up projection", d, up);
    activation_passes(&s, up, f, !cfg.is_gelu7(layer), &mut passes);
    s.linear(&mut passes, "down projection", f, d);
    residual(&mut passes, "MLP post-norm");
    passes
}

/// From the QKV projection's rows to the attention's gated rows.
fn attention_passes(s: &Shape, cfg: &ModelConfig, passes: &mut Vec<Pass>) {
    let l = s.tokens;
    let hd = cfg.head_dim as u64;
    let (q, kv) = (cfg.heads_q() as u64 * hd, cfg.heads_kv() as u64 * hd);
    let gates = cfg.gating_size() as u64;
    let rotary = 6 * cfg.rope_bands() as u64;
    if s.fused {
        let read = l * (q + 2 * kv) + l * rotary + 2 * s.experts * hd;
        passes.push(s.pass("query/key norm + rope, heads first", read, l * (q + 2 * kv)));
    } else {
        for width in [q, kv] {
            passes.push(s.pass("pack the query or key columns", l * width, l * width));
            s.norm(passes, "query or key norm", width, hd);
        }
        for width in [q, kv] {
            passes.push(s.pass("rope", l * width + l * rotary, l * width));
        }
        for width in [q, kv, kv] {
            passes.push(s.pass("query, key or value heads first", l * width, l * width));
        }
    }
    passes.push(s.pass("attention", l * (q + 2 * kv), l * q));
    if s.fused {
        passes.push(s.pass("gated heads back to rows", l * (q + gates), l * q));
        return;
    }
    passes.push(s.pass("heads back to rows", l * q, l * q));
    if gates > 0 {
        passes.push(s.pass("pack the gate columns", l * gates, l * gates));
        passes.push(s.pass("sigmoid of the gates", l * gates, l * gates));
        passes.push(s.pass("gate the heads", l * (q + gates), l * q));
    }
}

/// swiglu7 (`gated`) or gelu7 on the up projection's `[L, up]`, giving `[L, f]`.
fn activation_passes(s: &Shape, up: u64, f: u64, gated: bool, passes: &mut Vec<Pass>) {
    let (l, lf) = (s.tokens, s.tokens * f);
    if s.fused {
        passes.push(s.pass("clamped GELU", l * up, lf));
        return;
    }
    if gated {
        passes.push(s.pass("pack the gate half", lf, lf));
        passes.push(s.pass("pack the linear half", lf, lf));
    }
    for kernel in ["clamp", "scale", "sigmoid"] {
        passes.push(s.pass(kernel, lf, lf));
    }
    passes.push(s.pass("product", 2 * lf, lf));
    if gated {
        passes.push(s.pass("clamp the linear half", lf, lf));
        passes.push(s.pass("add one", lf, lf));
        passes.push(s.pass("product with the linear half", 2 * lf, lf));
    }
}

/// Bytes read and written by `passes` together.
pub fn total_bytes(passes: &[Pass]) -> u64 {
    passes.iter().map(|p| p.read + p.written).sum()
}

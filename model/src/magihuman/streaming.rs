//! DiT layers under a memory budget: which layers stay on the device ([`plan_layers`]),
//! what one forward's activations take ([`activation_bytes`]), and the forward's walk over
//! the layers that uploads each streamed one just before it runs ([`LayerStream`]).
//!
//! A streamed layer's linears stay where the weight file maps them (host memory that is
//! file-backed, not anonymous; only its norm gains, a few kilobytes, are computed copies).
//! Its upload takes pooled device buffers, and dropping it after the layer ran puts them
//! back, so the next streamed layer's upload reuses them.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use happyhorse_nn::Weights;
use happyhorse_tensor::{bail, ensure, DType, Device, Error, Result, ResultExt, Tensor};

use super::bf16_cache::{checkpoint_weights, BlockLinearDtype};
use super::chunks::chunk_rows;
use super::config::{DataProxyConfig, ModelConfig};
use super::dit::MagiHumanDit;
use super::modality::{ModalityLinear, ModalityNorm};
use super::weights::TensorSpec;
use super::weights::{layer_specs, try_checkpoint_specs, DitWeights, LayerWeights, Residence};

/// Bytes of an f32 activation value.
const F32_BYTES: u64 = 4;

/// Which DiT layers stay on the device and how many streamed layers are in flight.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct LayerPlan {
    /// Layers `0..resident` stay on the device across forwards; the rest are streamed.
    pub resident: usize,
    /// All layers.
    pub layers: usize,
    /// Streamed layers on the device at once: 2 when the next one's upload overlaps the
    /// current one's compute, 1 when the budget leaves room for one only, 0 when nothing
    /// is streamed.
    pub in_flight: usize,
    /// Device bytes the plan needs at most: the fixed weights, the resident layers, the
    /// streamed layers in flight and the activations.
    pub device_bytes: u64,
}

impl LayerPlan {
    /// Every one of `layers` layers resident (the plan without a budget).
    pub fn all_resident(layers: usize) -> LayerPlan {
        LayerPlan {
            resident: layers,
            layers,
            in_flight: 0,
            device_bytes: 0,
        }
    }

    /// Whether layer `index` is streamed.
    pub fn is_streamed(&self, index: usize) -> bool {
        index >= self.resident
    }

    /// How many layers are streamed.
    pub fn streamed(&self) -> usize {
        self.layers - self.resident
    }
}

/// The device buffers of one layer's weights, in bytes each.
pub type LayerBuffers = Vec<u64>;

/// Device bytes of `buffers` together.
fn sum(buffers: &[u64]) -> u64 {
    buffers.iter().fold(0, |s, &b| s.saturating_add(b))
}

/// Device bytes the streamed `layers` take with `in_flight` of them on the device at once.
/// A dropped layer's buffers wait in the device's pool for the next upload of their size,
/// so the stream holds, of each buffer size, `in_flight` times the most any one of the
/// layers uses.
fn stream_bytes(layers: &[LayerBuffers], in_flight: u64) -> u64 {
    let mut most: BTreeMap<u64, u64> = BTreeMap::new();
    for layer in layers {
        let mut counts: BTreeMap<u64, u64> = BTreeMap::new();
        for &b in layer {
            *counts.entry(b).or_default() += 1;
        }
        for (b, n) in counts {
            let m = most.entry(b).or_default();
            *m = (*m).max(n);
        }
    }
    most.iter().fold(0, |s, (&b, &n)| {
        s.saturating_add(b.saturating_mul(n).saturating_mul(in_flight))
    })
}

/// The residency of `layers` (each layer's device buffers) under `budget_bytes` of
/// device memory, with `fixed_bytes` of weights outside the layers and `activation_bytes`
/// of activations at the peak of one forward. Layers `0..k` stay resident for the largest
/// `k` that fits with room for two streamed layers in flight (or one, when two do not fit
/// with none resident). A budget below the fixed weights, the activations and one
/// streamed layer (of each size) is refused with all those figures.
pub fn plan_layers(
    budget_bytes: u64,
    fixed_bytes: u64,
    layers: &[LayerBuffers],
    activation_bytes: u64,
) -> Result<LayerPlan> {
    let n = layers.len();
    let base = fixed_bytes.saturating_add(activation_bytes);
    let all = layers.iter().fold(base, |s, l| s.saturating_add(sum(l)));
    if all <= budget_bytes {
        return Ok(LayerPlan {
            device_bytes: all,
            ..LayerPlan::all_resident(n)
        });
    }
    let mut resident_bytes = 0u64;
    let mut best = None;
    for k in 0..n {
        let in_flight = (n - k).min(2);
        let need = base
            .saturating_add(resident_bytes)
            .saturating_add(stream_bytes(&layers[k..], in_flight as u64));
        if need > budget_bytes {
            break;
        }
        best = Some((k, in_flight, need));
        resident_bytes = resident_bytes.saturating_add(sum(&layers[k]));
    }
    if let Some((resident, in_flight, device_bytes)) = best {
        return Ok(LayerPlan {
            resident,
            layers: n,
            in_flight,
            device_bytes,
        });
    }
    let one_of_each = stream_bytes(layers, 1);
    let one = base.saturating_add(one_of_each);
    if n > 0 && one <= budget_bytes {
        return Ok(LayerPlan {
            resident: 0,
            layers: n,
            in_flight: 1,
            device_bytes: one,
        });
    }
    let largest = layers.iter().map(|l| sum(l)).max().unwrap_or(0);
    bail!(
        "--memory-budget of {budget_bytes} bytes is below what the DiT needs with its layers streamed: {one} bytes ({fixed_bytes} of weights outside the layers + {one_of_each} of one streamed layer's buffers of each size, the largest layer {largest} + {activation_bytes} of activations); give a larger --memory-budget"
    )
}

/// Device bytes of a DiT's weights as uploaded (block linears as stored, the rest f32).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DitBytes {
    /// The weights outside the transformer layers (embedders, final norms and heads).
    pub fixed: u64,
    /// Each transformer layer's buffers.
    pub layers: Vec<LayerBuffers>,
}

impl DitBytes {
    /// The figures of the checkpoint `weights` reads for `cfg` on its device (each buffer
    /// as the device rounds it), from the stored dtypes alone (nothing is read; made-up
    /// weights count as f32).
    pub fn of(weights: &Weights, cfg: &ModelConfig) -> Result<DitBytes> {
        let device = weights.device();
        // A block linear's experts take a buffer each, a norm's gains one buffer.
        let buffers = |specs: &[TensorSpec], experts: u64| -> Result<LayerBuffers> {
            let mut buffers = Vec::new();
            for spec in specs.iter().filter(|s| !s.optional) {
                let (dtype, count) = match spec.residence {
                    Residence::F32 => (DType::F32, 1),
                    Residence::BlockLinear => {
                        (weights.check(&spec.name, &spec.shape, &[])?.dtype, experts)
                    }
                };
                let buffer = device.buffer_bytes(dtype.bytes_of(spec.numel() / count));
                buffers.extend(std::iter::repeat_n(buffer, count as usize));
            }
            Ok(buffers)
        };
        let layers = (0..cfg.num_layers)
            .map(|i| buffers(&layer_specs(cfg, i)?, cfg.num_experts(i) as u64))
            .collect::<Result<Vec<_>>>()?;
        let mut fixed = try_checkpoint_specs(cfg)?;
        fixed.retain(|s| !s.name.starts_with("block.layers."));
        Ok(DitBytes {
            fixed: sum(&buffers(&fixed, 1)?),
            layers,
        })
    }

    /// Every weight.
    pub fn total(&self) -> u64 {
        self.layers
            .iter()
            .fold(self.fixed, |s, l| s.saturating_add(sum(l)))
    }

    /// The residency of these weights under `budget_bytes` with `activation_bytes` of
    /// activations (see [`plan_layers`]).
    pub fn plan(&self, budget_bytes: u64, activation_bytes: u64) -> Result<LayerPlan> {
        plan_layers(budget_bytes, self.fixed, &self.layers, activation_bytes)
    }
}

/// The memory budget of one DiT's forwards and the largest forward it must hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ForwardBudget {
    /// Device bytes the DiT's weights and activations may take.
    pub budget_bytes: u64,
    /// Video tokens of the largest forward.
    pub video_tokens: u64,
    /// Audio rows of the largest forward.
    pub audio_rows: u64,
    /// Text rows of the largest forward.
    pub text_rows: u64,
    /// The device's largest binding, which sets the forward's token chunks (`None`: one
    /// chunk of every row, as on the CPU).
    pub binding_cap: Option<u64>,
}

impl ForwardBudget {
    /// The activation bound of the largest forward of `cfg` ([`activation_bytes`]), or
    /// an error naming the token counts when it overflows.
    pub fn activation_bytes(&self, cfg: &ModelConfig) -> Result<u64> {
        let (v, a, t) = (self.video_tokens, self.audio_rows, self.text_rows);
        let tokens = v.saturating_add(a).saturating_add(t);
        let rows = chunk_rows(
            cfg,
            usize::try_from(tokens).unwrap_or(usize::MAX),
            self.binding_cap,
        )?;
        chunked_activation_bytes(cfg, v, a, t, rows as u64).ok_or_else(|| {
            Error::msg(format!(
                "the DiT's activations over {v} video tokens, {a} audio rows and {t} text rows overflow"
            ))
        })
    }

    /// The residency of the DiT `weights` holds for `cfg` under this budget.
    pub fn plan(&self, weights: &Weights, cfg: &ModelConfig) -> Result<LayerPlan> {
        DitBytes::of(weights, cfg)?.plan(self.budget_bytes, self.activation_bytes(cfg)?)
    }
}

impl MagiHumanDit {
    /// Loads the checkpoint at `path` for `device` like [`MagiHumanDit::open_with`], with
    /// the layers that do not fit `budget` streamed (see [`plan_layers`]).
    pub fn open_budgeted(
        path: &Path,
        config: ModelConfig,
        data_proxy: DataProxyConfig,
        device: &Device,
        dtype: BlockLinearDtype,
        budget: &ForwardBudget,
    ) -> Result<MagiHumanDit> {
        let context = || format!("loading the MagiHuman DiT from {}", path.display());
        let weights = checkpoint_weights(path, &config, device, dtype).with_context(context)?;
        let plan = budget.plan(&weights, &config).with_context(context)?;
        let weights =
            DitWeights::from_weights_planned(&weights, &config, plan).with_context(context)?;
        Self::new(config, data_proxy, weights, device)
    }

    /// [`MagiHumanDit::open_with`] with the layers `plan` streams left in the mapped file:
    /// the plan a memory check already made (and reported) for this run.
    pub fn open_planned(
        path: &Path,
        config: ModelConfig,
        data_proxy: DataProxyConfig,
        device: &Device,
        dtype: BlockLinearDtype,
        plan: LayerPlan,
    ) -> Result<MagiHumanDit> {
        let context = || format!("loading the MagiHuman DiT from {}", path.display());
        ensure!(
            plan.layers == config.num_layers,
            "{}: the layer plan covers {} layers, the config has {}",
            path.display(),
            plan.layers,
            config.num_layers
        );
        let weights = checkpoint_weights(path, &config, device, dtype).with_context(context)?;
        let weights =
            DitWeights::from_weights_planned(&weights, &config, plan).with_context(context)?;
        Self::new(config, data_proxy, weights, device)
    }
}

impl LayerWeights {
    /// The layer with every tensor copied to `device` (packed, same dtypes), the recorded
    /// work sent to the device after each, so that a tensor's upload is staged alone.
    pub fn to_device(&self, device: &Device) -> Result<LayerWeights> {
        let copy = |t: &Tensor| -> Result<Tensor> {
            let on_device = t.to_device(device)?;
            device.flush()?;
            Ok(on_device)
        };
        let norm = |n: &ModalityNorm| -> Result<ModalityNorm> {
            Ok(ModalityNorm {
                gains: copy(&n.gains)?,
                eps: n.eps,
            })
        };
        let linear = |l: &ModalityLinear| -> Result<ModalityLinear> {
            let experts = l
                .experts
                .iter()
                .map(|e| {
                    let bias = e.bias.as_ref().map(copy).transpose()?;
                    Ok(happyhorse_nn::Linear::new(copy(&e.weight)?, bias))
                })
                .collect::<Result<_>>()?;
            Ok(ModalityLinear { experts })
        };
        Ok(LayerWeights {
            attn_pre_norm: norm(&self.attn_pre_norm)?,
            linear_qkv: linear(&self.linear_qkv)?,
            qk_norm_gains: copy(&self.qk_norm_gains)?,
            linear_proj: linear(&self.linear_proj)?,
            mlp_pre_norm: norm(&self.mlp_pre_norm)?,
            up_gate_proj: linear(&self.up_gate_proj)?,
            down_proj: linear(&self.down_proj)?,
            attn_post_norm: self.attn_post_norm.as_ref().map(norm).transpose()?,
            mlp_post_norm: self.mlp_post_norm.as_ref().map(norm).transpose()?,
        })
    }
}

/// An upper bound of the activation bytes one forward of `cfg` holds at once, over
/// `video` video tokens, `audio` audio rows and `text` text rows, in f32 (f16 activations
/// take less): the forward's inputs and residual stream, the rope table, and a layer's
/// attention and MLP working sets together (a per-modality linear holds its experts'
/// outputs and their concatenation at once; the attention's buffers wait in the device's
/// pool while the MLP runs), with a quarter more for the pool's size classes. `None` on
/// overflow.
pub fn activation_bytes(cfg: &ModelConfig, video: u64, audio: u64, text: u64) -> Option<u64> {
    chunked_activation_bytes(cfg, video, audio, text, u64::MAX)
}

/// [`activation_bytes`] when the forward runs in token chunks of `rows` rows (see
/// `chunks.rs`): a layer's working set is then one chunk's, while every chunk's queries,
/// keys, values, attention output and new residual rows exist at once. With one chunk
/// (`rows` at least the sequence) it is [`activation_bytes`].
pub fn chunked_activation_bytes(
    cfg: &ModelConfig,
    video: u64,
    audio: u64,
    text: u64,
    rows: u64,
) -> Option<u64> {
    let l = video.checked_add(audio)?.checked_add(text)?;
    let h = cfg.hidden_size as u64;
    let d = cfg.head_dim as u64;
    let (hq, hkv) = (cfg.heads_q() as u64, cfg.heads_kv() as u64);
    let inputs = (2 * video)
        .checked_mul(cfg.video_in_channels as u64)?
        .checked_add(audio.checked_mul(cfg.audio_in_channels as u64)?)?
        .checked_add(text.checked_mul(cfg.text_in_channels as u64)?)?;
    let shared = l.checked_mul(2 * h + 6 * cfg.rope_bands() as u64 + 2)?;
    let attention = h + 2 * cfg.qkv_size() as u64 + (hq + 2 * hkv) * d + 2 * hq * d + 2 * h;
    let widest_mlp = (0..cfg.num_layers)
        .map(|i| 2 * cfg.up_gate_size(i) as u64 + cfg.intermediate_size(i) as u64)
        .max()
        .unwrap_or(0);
    let per_row = attention + 5 * h + widest_mlp;
    let layer = if rows >= l {
        l.checked_mul(per_row)?
    } else {
        let every_chunk = l.checked_mul((2 * hq + 2 * hkv) * d + h)?;
        rows.checked_mul(per_row)?.checked_add(every_chunk)?
    };
    let values = inputs.checked_add(shared)?.checked_add(layer)?;
    values.checked_mul(F32_BYTES)?.checked_add(values)
}

/// The forward's walk over the layers: resident layers are lent as they are, a streamed
/// layer is uploaded when it is reached (or before, by [`LayerStream::prefetch`]) and
/// dropped by the caller once its kernels are recorded.
pub struct LayerStream<'a> {
    layers: &'a [LayerWeights],
    plan: LayerPlan,
    device: &'a Device,
    next: Option<(usize, LayerWeights)>,
}

impl<'a> LayerStream<'a> {
    /// A walk over `layers` (held as `plan` says) for a forward on `device`. On the CPU
    /// every layer is used in place (the mapped file is its memory).
    pub fn new(layers: &'a [LayerWeights], plan: LayerPlan, device: &'a Device) -> Self {
        LayerStream {
            layers,
            plan,
            device,
            next: None,
        }
    }

    fn streams(&self, index: usize) -> bool {
        !self.device.is_cpu() && index < self.layers.len() && self.plan.is_streamed(index)
    }

    /// Layer `index` on the device: lent when resident, else the prefetched upload or a
    /// new one.
    pub fn layer(&mut self, index: usize) -> Result<Cow<'a, LayerWeights>> {
        if !self.streams(index) {
            return Ok(Cow::Borrowed(&self.layers[index]));
        }
        if let Some((i, w)) = self.next.take() {
            if i == index {
                return Ok(Cow::Owned(w));
            }
        }
        self.upload(index).map(Cow::Owned)
    }

    /// Uploads layer `index` ahead of its turn when it is streamed and the plan has room
    /// for two streamed layers in flight. Called after the current layer's kernels are
    /// recorded: they go to the device with the first tensor's upload, so the reads of the
    /// mapped file for the rest overlap their run.
    pub fn prefetch(&mut self, index: usize) -> Result<()> {
        if self.streams(index) && self.plan.in_flight >= 2 {
            self.next = Some((index, self.upload(index)?));
        }
        Ok(())
    }

    fn upload(&self, index: usize) -> Result<LayerWeights> {
        self.layers[index]
            .to_device(self.device)
            .with_context(|| format!("uploading streamed DiT layer {index}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;
    const MIB: u64 = 1 << 20;

    /// Figures of the size of the released DiT: 40 layers of 480 MiB in bf16, the four
    /// at each end with three experts of that size each; 1200 MiB outside the layers.
    fn released_layers() -> Vec<LayerBuffers> {
        (0..40)
            .map(|i| {
                let experts = if (4..36).contains(&i) { 1 } else { 3 };
                vec![480 * MIB; experts]
            })
            .collect()
    }

    #[test]
    fn a_budget_that_holds_everything_keeps_every_layer_resident() {
        let layers = released_layers();
        let total: u64 = layers.iter().map(|l| sum(l)).sum();
        assert_eq!(total, (8 * 3 + 32) * 480 * MIB);
        let plan = plan_layers(80 * GIB, 1200 * MIB, &layers, 3 * GIB).unwrap();
        assert_eq!(
            plan,
            LayerPlan {
                resident: 40,
                layers: 40,
                in_flight: 0,
                device_bytes: 1200 * MIB + total + 3 * GIB,
            }
        );
    }

    #[test]
    fn a_24_gib_budget_streams_the_layers_that_do_not_fit() {
        let plan = plan_layers(24 * GIB, 1200 * MIB, &released_layers(), 3 * GIB).unwrap();
        // Two layers of three 480 MiB experts in flight: 2880 MiB. 24 GiB − 1200 MiB −
        // 3 GiB − 2880 MiB = 17 424 MiB hold 4 × 1440 + 24 × 480 MiB: 28 layers.
        assert_eq!(plan.resident, 28);
        assert_eq!(plan.in_flight, 2);
        let resident = 4 * 1440 * MIB + 24 * 480 * MIB;
        assert_eq!(
            plan.device_bytes,
            1200 * MIB + 3 * GIB + resident + 2880 * MIB
        );
        assert!(plan.device_bytes <= 24 * GIB);
        assert_eq!(plan.streamed(), 12);
        assert!(!plan.is_streamed(27) && plan.is_streamed(28));
    }

    #[test]
    fn the_stream_holds_each_buffer_size_its_layers_use() {
        // Sizes 300 (at most twice in a layer) and 100 (once), two layers in flight.
        let layers = [vec![300, 300], vec![300, 100], vec![100]];
        assert_eq!(stream_bytes(&layers, 2), 2 * (2 * 300 + 100));
        assert_eq!(stream_bytes(&layers[2..], 1), 100);
    }

    #[test]
    fn room_for_one_layer_only_streams_without_overlap() {
        let layers = vec![vec![300]; 4];
        // 1000 + 50 + one layer: no room for a second in flight.
        let plan = plan_layers(1400, 1000, &layers, 50).unwrap();
        assert_eq!(
            (plan.resident, plan.in_flight, plan.device_bytes),
            (0, 1, 1350)
        );
        // Two in flight and one resident layer: 1050 + 300 + 600.
        let plan = plan_layers(2000, 1000, &layers, 50).unwrap();
        assert_eq!(
            (plan.resident, plan.in_flight, plan.device_bytes),
            (1, 2, 1950)
        );
    }

    #[test]
    fn a_budget_below_one_layer_and_the_activations_is_refused_with_the_figures() {
        let layers = [vec![100], vec![300], vec![200]];
        let err = plan_layers(1649, 1000, &layers, 50)
            .unwrap_err()
            .to_string();
        for figure in [
            "--memory-budget of 1649 bytes",
            "1650 bytes",
            "1000 of weights outside the layers",
            "600 of one streamed layer's buffers of each size, the largest layer 300",
            "50 of activations",
        ] {
            assert!(err.contains(figure), "{figure:?} missing from {err}");
        }
    }

    /// Case A's architecture.
    fn case_a_config() -> ModelConfig {
        crate::magihuman::PipelineConfig::from_file(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/magihuman-dit/A/config.json"
        )))
        .unwrap()
        .arch_config
    }

    #[test]
    fn token_chunks_bound_a_layer_by_one_chunk_and_every_chunks_keys() {
        let cfg = case_a_config();
        let whole = activation_bytes(&cfg, 4000, 100, 60).unwrap();
        let chunked = |rows| chunked_activation_bytes(&cfg, 4000, 100, 60, rows).unwrap();
        assert_eq!(chunked(4160), whole);
        assert_eq!(chunked(u64::MAX), whole);
        // Each row of a chunk costs a whole row's layer working set (5 B per value).
        let per_row = (chunked(2) - chunked(1)) / 5;
        assert_eq!(chunked(416) - chunked(1), 5 * 415 * per_row);
        // What a chunked layer holds for every chunk: q, k, v, attention output, new rows.
        let (h, d) = (cfg.hidden_size as u64, cfg.head_dim as u64);
        let (hq, hkv) = (cfg.heads_q() as u64, cfg.heads_kv() as u64);
        let every_chunk = 4160 * ((2 * hq + 2 * hkv) * d + h);
        assert_eq!(
            whole - chunked(416),
            5 * ((4160 - 416) * per_row - every_chunk)
        );
        assert!(chunked(416) < whole);
    }

    #[test]
    fn the_activation_bound_grows_with_the_tokens_and_refuses_to_wrap() {
        let cfg = case_a_config();
        let small = activation_bytes(&cfg, 16, 4, 8).unwrap();
        let large = activation_bytes(&cfg, 32, 8, 16).unwrap();
        assert_eq!(large, 2 * small);
        assert_eq!(activation_bytes(&cfg, u64::MAX, 1, 1), None);
    }
}

//! Token chunks: the packed sequence split into runs of rows so that no activation of a
//! layer exceeds one GPU storage binding.
//!
//! The residual stream is held as one tensor per chunk (a `Vec<Tensor>` in row order)
//! rather than as one tensor whose storage is split, so every op of a layer reads ordinary
//! tensors and the layer files read like the reference with a loop over the chunks.
//! Everything a layer does is row-local except attention: there each chunk's queries
//! attend to the keys and values of all chunks, joined into one `[Hkv, L, D]` tensor each.
//! Every row meets the same kernels with the same operands as in an unchunked forward (a
//! GEMM's reduction over its inner dimension and attention's over the keys do not depend
//! on how many rows a dispatch holds), so a chunked forward is bit-identical to an
//! unchunked one.
//!
//! The keys (and the values) of the whole sequence must fit one binding: `4·Hkv·D` bytes
//! a token, 4 KiB for the released model, so about 32k tokens under lavapipe's 128 MiB
//! and 524k under a 2 GiB binding (a 1080p, 15 s clip has 193k). A longer sequence is
//! refused with the figures; attention is not split over key chunks.
//!
//! On the CPU there is no binding cap and the whole sequence is one chunk.

use std::ops::Range;
use std::sync::Arc;

use happyhorse_tensor::{bail, Device, KeyRanges, Result, Tensor};

use super::config::ModelConfig;
use super::modality::Segments;

/// Bytes of the widest activation element (f32; f16 activations take half).
const ACTIVATION_BYTES: u64 = 4;

/// Bytes of the widest per-token activation of any layer of `cfg`: the embedders' inputs,
/// the residual stream, the qkv projection (with its gates), the attention heads and the
/// MLP's up projection.
pub fn row_bytes(cfg: &ModelConfig) -> u64 {
    let heads = (cfg.heads_q() + 2 * cfg.heads_kv()) * cfg.head_dim;
    let up = (0..cfg.num_layers)
        .map(|i| cfg.up_gate_size(i))
        .max()
        .unwrap_or(0);
    let widest = [
        cfg.hidden_size,
        cfg.qkv_size(),
        heads,
        up,
        cfg.video_in_channels,
        cfg.audio_in_channels,
        cfg.text_in_channels,
    ]
    .into_iter()
    .max()
    .unwrap_or(0);
    widest as u64 * ACTIVATION_BYTES
}

/// Bytes of the keys (or the values) of `tokens` tokens, `[Hkv, tokens, D]`: what each
/// chunk's attention reads in one binding.
pub fn kv_bytes(cfg: &ModelConfig, tokens: usize) -> u64 {
    (cfg.heads_kv() * cfg.head_dim) as u64 * tokens as u64 * ACTIVATION_BYTES
}

/// Rows per chunk for a sequence of `tokens` tokens when no buffer may exceed `cap` bytes
/// (`None`: no cap, one chunk of every row); an error names the figures when even one row,
/// or the keys of the whole sequence, exceed the cap.
pub fn chunk_rows(cfg: &ModelConfig, tokens: usize, cap: Option<u64>) -> Result<usize> {
    let Some(cap) = cap else {
        return Ok(tokens.max(1));
    };
    let row = row_bytes(cfg);
    if row > cap {
        bail!(
            "one token's widest activation ({row} bytes, hidden_size {}) exceeds the GPU binding cap of {cap} bytes",
            cfg.hidden_size
        );
    }
    let kv = kv_bytes(cfg, tokens);
    if kv > cap {
        bail!(
            "the keys of {tokens} tokens ({kv} bytes: {} kv heads of {}) exceed the GPU binding cap of {cap} bytes",
            cfg.heads_kv(),
            cfg.head_dim
        );
    }
    Ok(((cap / row) as usize).clamp(1, tokens.max(1)))
}

/// Rows `0..tokens` in runs of `rows` (the last may be shorter).
pub fn chunk_ranges(tokens: usize, rows: usize) -> Vec<Range<usize>> {
    (0..tokens.max(1))
        .step_by(rows.max(1))
        .map(|s| s..(s + rows.max(1)).min(tokens))
        .collect()
}

/// What the layers read about one chunk of rows besides its residual stream.
#[derive(Clone, Debug)]
pub struct TokenChunk {
    /// The chunk's rows in the packed sequence.
    pub rows: Range<usize>,
    /// Rows of each modality within the chunk, counted from its first row.
    pub segments: Segments,
    /// The chunk's rows of the rope table, `[rows, 6B]`, on the model's device.
    pub rotary: Tensor,
    /// The key ranges of the chunk's query rows (keys counted over the whole sequence), when
    /// the model has local-attention layers.
    pub local_ranges: Option<Arc<KeyRanges>>,
}

impl TokenChunk {
    /// The chunk of `rows` of a sequence with `segments`, its rope rows taken from the whole
    /// table `rotary [L, 6B]` and its key ranges from `local_ranges`, moved to `device`.
    pub fn new(
        rows: Range<usize>,
        segments: &Segments,
        rotary: &Tensor,
        local_ranges: Option<&Arc<KeyRanges>>,
        device: &Device,
    ) -> Result<TokenChunk> {
        let whole = rows.start == 0 && rows.end == segments.len();
        let (rotary, local_ranges) = if whole {
            (rotary.clone(), local_ranges.cloned())
        } else {
            (
                rotary.narrow(0, rows.start, rows.len())?,
                local_ranges.map(|r| Arc::new(key_rows(r, &rows))),
            )
        };
        Ok(TokenChunk {
            segments: segments.window(&rows),
            rotary: rotary.to_device(device)?,
            local_ranges,
            rows,
        })
    }
}

/// The key ranges of query rows `rows` of `ranges`.
fn key_rows(ranges: &KeyRanges, rows: &Range<usize>) -> KeyRanges {
    let starts = &ranges.row_start[rows.start..=rows.end];
    let first = starts[0];
    KeyRanges {
        row_start: starts.iter().map(|s| s - first).collect(),
        ranges: ranges.ranges[first as usize..starts[starts.len() - 1] as usize].to_vec(),
    }
}

/// `parts` joined along `dim`, empty ones left out (all of them empty: the first); one
/// non-empty part is returned as it is, without a copy.
pub fn join(parts: &[Tensor], dim: usize) -> Result<Tensor> {
    let filled: Vec<&Tensor> = parts.iter().filter(|t| t.shape()[dim] > 0).collect();
    match filled.as_slice() {
        [] => match parts.first() {
            Some(t) => Ok(t.clone()),
            None => bail!("joining no token chunks"),
        },
        [one] => Ok((*one).clone()),
        _ => Tensor::cat(&filled, dim as isize),
    }
}

/// The residual stream's chunks as one host tensor (for probes and tests); one chunk is
/// returned as it is.
pub fn joined_on_host(chunks: &[Tensor]) -> Result<Tensor> {
    if chunks.len() == 1 {
        return Ok(chunks[0].clone());
    }
    let host = chunks
        .iter()
        .map(|t| t.to_device(&Device::Cpu))
        .collect::<Result<Vec<_>>>()?;
    join(&host, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case_a_like() -> ModelConfig {
        ModelConfig {
            num_layers: 6,
            hidden_size: 128,
            head_dim: 32,
            num_query_groups: 2,
            video_in_channels: 64,
            audio_in_channels: 8,
            text_in_channels: 64,
            gelu7_layers: vec![0, 1],
            ..Default::default()
        }
    }

    #[test]
    fn rows_fit_the_cap_and_cover_the_sequence() {
        let cfg = case_a_like();
        // swiglu7's up projection, 2·340 values, is the widest row.
        assert_eq!(row_bytes(&cfg), 680 * 4);
        assert_eq!(kv_bytes(&cfg, 69), 2 * 32 * 69 * 4);
        assert_eq!(chunk_rows(&cfg, 69, None).unwrap(), 69);
        assert_eq!(chunk_rows(&cfg, 69, Some(32 << 10)).unwrap(), 12);
        assert_eq!(chunk_rows(&cfg, 5, Some(1 << 30)).unwrap(), 5);
        let ranges = chunk_ranges(69, 12);
        assert_eq!(ranges.len(), 6);
        assert_eq!(ranges[5], 60..69);
        assert_eq!(chunk_ranges(0, 12), vec![0..0]);
    }

    #[test]
    fn a_cap_below_one_row_or_the_keys_is_refused_with_the_figures() {
        let cfg = case_a_like();
        let err = chunk_rows(&cfg, 69, Some(2000)).unwrap_err().to_string();
        assert!(
            err.contains("2720 bytes") && err.contains("2000 bytes"),
            "{err}"
        );
        let err = chunk_rows(&cfg, 69, Some(16 << 10))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("17664 bytes") && err.contains("16384"),
            "{err}"
        );
    }

    #[test]
    fn key_ranges_of_a_chunk_keep_their_absolute_keys() {
        let all = KeyRanges::from_rows(&[
            vec![[0, 4]],
            vec![[0, 4], [8, 9]],
            vec![[2, 6]],
            vec![[4, 9]],
        ]);
        let part = key_rows(&all, &(1..3));
        assert_eq!(part.row_start, vec![0, 2, 3]);
        assert_eq!(part.row(0), &[[0, 4], [8, 9]]);
        assert_eq!(part.row(1), &[[2, 6]]);
    }
}

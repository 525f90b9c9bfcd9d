//! The pipeline's prompt processing (the reference's `prompt_process.py`): tokenize, encode
//! the whole prompt, round to fp16, then zero-pad or trim the sequence to the length the
//! DiT takes.

use happyhorse_tensor::{ensure, DType, PadMode, Result, ResultExt, Tensor};

use super::encoder::T5GemmaEncoder;
use crate::tokenizer::Tokenizer;

/// The text length the DiT is fed by default (`t5_gemma_target_length`).
pub const DEFAULT_TARGET_LENGTH: usize = 640;

/// The longest target length [`pad_or_trim`] accepts.
pub const MAX_TARGET_LENGTH: usize = 1 << 16;

/// The most elements [`pad_or_trim`] may produce (4 GiB of f32).
const MAX_PADDED_ELEMENTS: usize = 1 << 30;

/// What the DiT receives for one prompt.
#[derive(Clone, Debug)]
pub struct PromptEmbedding {
    /// `[target_len, hidden]`: the fp16-rounded encoder output, zero-padded or trimmed.
    pub features: Tensor,
    /// Rows of `features` that hold real tokens: `min(tokens, target_len)`.
    pub length: usize,
    /// Whether the prompt had more tokens than `target_len` (the excess was cut after
    /// encoding).
    pub truncated: bool,
    /// Tokens the encoder saw (specials included).
    pub token_count: usize,
}

impl PromptEmbedding {
    /// Tokens cut from the end of the encoded prompt.
    pub fn dropped_tokens(&self) -> usize {
        self.token_count - self.length
    }
}

/// Rounds to fp16 and back: the reference's `.half()` on the encoder output.
pub fn round_to_f16(x: &Tensor) -> Result<Tensor> {
    x.to_dtype(DType::F16)?.to_dtype(DType::F32)
}

/// Pads with zeros or trims dimension `dim` of `x` to `target`; returns the result and
/// the number of original rows kept (`min(size, target)`). A target above
/// [`MAX_TARGET_LENGTH`], or one whose padded tensor would be absurdly large, is an error.
pub fn pad_or_trim(x: &Tensor, target: usize, dim: usize) -> Result<(Tensor, usize)> {
    ensure!(
        dim < x.rank(),
        "pad_or_trim: dimension {dim} of a rank-{} tensor",
        x.rank()
    );
    ensure!(
        target <= MAX_TARGET_LENGTH,
        "text target length {target} is outside the allowed range 0..={MAX_TARGET_LENGTH}"
    );
    let size = x.shape()[dim];
    if size < target {
        let elements = x
            .shape()
            .iter()
            .enumerate()
            .try_fold(1usize, |n, (d, &s)| {
                n.checked_mul(if d == dim { target } else { s })
            })
            .filter(|&n| n <= MAX_PADDED_ELEMENTS);
        ensure!(
            elements.is_some(),
            "padding a {:?} tensor to {target} rows along dimension {dim} would exceed \
             {MAX_PADDED_ELEMENTS} elements",
            x.shape()
        );
        let mut pads = vec![(0, 0); x.rank()];
        pads[dim] = (0, target - size);
        Ok((x.pad(&pads, PadMode::Constant, 0.0)?, size))
    } else {
        Ok((x.narrow(dim as isize, 0, target)?.contiguous()?, target))
    }
}

impl T5GemmaEncoder {
    /// Encodes `text` as the pipeline does (`get_padded_t5_gemma_embedding`): tokens from
    /// `tokenizer` (its `<bos>`/`<eos>` flags apply), no truncation before the encoder,
    /// fp16 rounding, then zero-pad or trim to `target_len`.
    pub fn encode_prompt(
        &self,
        tokenizer: &Tokenizer,
        text: &str,
        target_len: usize,
    ) -> Result<PromptEmbedding> {
        let ids = tokenizer.encode(text).context("tokenizing the prompt")?;
        self.embed_ids(&ids, target_len)
    }

    /// The post-processed embedding of one prompt already tokenized.
    pub fn embed_ids(&self, ids: &[u32], target_len: usize) -> Result<PromptEmbedding> {
        let hidden = self.forward_single(ids)?;
        let (features, length) = pad_or_trim(&round_to_f16(&hidden)?, target_len, 1)?;
        Ok(PromptEmbedding {
            features: features.squeeze(0)?,
            length,
            truncated: ids.len() > target_len,
            token_count: ids.len(),
        })
    }
}

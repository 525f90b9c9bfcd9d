//! `happyhorse quantize`: a checkpoint's weights written as one GGUF file, the large
//! linear weights in a block-quantized type and every other tensor as stored.
//!
//! Quantized: 2-D float tensors named `*.weight` whose inner (last) dimension is whole
//! blocks of the type, except the embedders (`embed` in the name), the final layers (a
//! name part `final_*` or `lm_head`) and anything with `norm` in its name. Kept: F32, F16
//! and BF16 as such, F64 as F32. Integer tensors are refused (the GGUF files happyhorse
//! reads hold float tensors only), and so are block-quantized ones: a checkpoint is
//! quantized once, from its float weights.

use std::io::Write;
use std::path::{Path, PathBuf};

use happyhorse_formats::gguf::writer::{ALIGNMENT_KEY, DEFAULT_ALIGNMENT};
use happyhorse_formats::gguf::{write_gguf, GgmlType, GgufTensor, MetaValue};
use happyhorse_formats::quant::{dequantize_into, quantize_rows, WRITABLE_TYPES};
use happyhorse_formats::{open_weights, DType, TensorInfo, WeightSource};
use happyhorse_tensor::{bail, cancel, Error, Result, ResultExt};

/// The most values widened to f32 at a time while a tensor is quantized (64 MiB).
const CHUNK_VALUES: usize = 16 << 20;

/// Parses `--type` (any case): one of the types the quantizers write
/// ([`WRITABLE_TYPES`]), naming the flag and the accepted types when unknown.
pub fn parse_quant_type(text: &str) -> Result<GgmlType> {
    WRITABLE_TYPES
        .into_iter()
        .find(|ty| ty.name().eq_ignore_ascii_case(text))
        .ok_or_else(|| {
            let names: Vec<String> = WRITABLE_TYPES
                .iter()
                .map(|ty| ty.name().to_ascii_lowercase())
                .collect();
            Error::msg(format!(
                "--type {text:?} is not a quantized type happyhorse writes (expected one of {})",
                names.join(", ")
            ))
        })
}

/// What `happyhorse quantize` is asked to do.
pub struct QuantizeRequest {
    /// The checkpoint: anything [`open_weights`] opens.
    pub source: PathBuf,
    /// The GGUF file to write.
    pub out: PathBuf,
    /// The type of the quantized tensors.
    pub ty: GgmlType,
    /// Replace `out` when it exists.
    pub force: bool,
}

/// What a finished run wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantizeSummary {
    /// Tensors written in the quantized type.
    pub quantized: usize,
    /// Tensors written as stored (F64 as F32).
    pub kept: usize,
    /// Bytes of the source's tensors.
    pub bytes_in: u64,
    /// Bytes of the GGUF file.
    pub bytes_out: u64,
}

/// One source tensor and how it is written.
struct Planned {
    source: TensorInfo,
    target: GgufTensor,
}

/// Whether `name` is a weight that stays as stored whatever its shape: an embedder, a
/// final layer or a norm.
fn is_exempt(name: &str) -> bool {
    name.contains("embed")
        || name.contains("norm")
        || name
            .split('.')
            .any(|part| part.starts_with("final_") || part == "lm_head")
}

/// The GGUF tensor of `info`: quantized to `ty` when it is a large linear weight (see the
/// module's documentation), else in its stored type.
pub fn plan_tensor(info: &TensorInfo, ty: GgmlType) -> Result<GgufTensor> {
    let block_len = ty.block_len().unwrap_or(1);
    let quantize = info.dtype.is_float()
        && info.shape.len() == 2
        && info.shape[1] > 0
        && info.shape[1].is_multiple_of(block_len)
        && info.name.ends_with(".weight")
        && !is_exempt(&info.name);
    let target = if quantize {
        ty
    } else {
        match info.dtype {
            DType::F32 | DType::F64 => GgmlType::F32,
            DType::F16 => GgmlType::F16,
            DType::BF16 => GgmlType::BF16,
            quantized if quantized.is_quantized() => bail!(
                "tensor {:?} is already {quantized}; quantize from a checkpoint of float tensors",
                info.name
            ),
            other => bail!(
                "tensor {:?}: {other} tensors are not written (GGUF files here hold float tensors)",
                info.name
            ),
        }
    };
    Ok(GgufTensor {
        name: info.name.clone(),
        ty: target,
        shape: info.shape.clone(),
    })
}

/// `general.architecture`: `magihuman` for the DiT's names, `t5gemma` for the text
/// encoder's, else the source's stem.
fn architecture(names: &[String], source: &Path) -> String {
    if names.iter().any(|n| n.starts_with("block.layers.")) {
        "magihuman".into()
    } else if names.iter().any(|n| n.contains("encoder.layers.")) {
        "t5gemma".into()
    } else {
        let stem = source.file_stem().unwrap_or_default().to_string_lossy();
        stem.trim_end_matches(".index")
            .trim_end_matches(".safetensors")
            .to_string()
    }
}

/// The file names the source is read from: the file itself (an index and then the shards
/// it names), or a directory's weight files (`*.safetensors`, `*.index.json`), sorted.
fn source_files(source: &Path) -> Result<Vec<String>> {
    if !source.is_dir() {
        let mut files = vec![file_name(source)];
        if files[0].ends_with(".index.json") {
            files.extend(index_shards(source)?);
        }
        return Ok(files);
    }
    let entries =
        std::fs::read_dir(source).with_context(|| format!("listing {}", source.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let name = file_name(&entry?.path());
        if name.ends_with(".safetensors") || name.ends_with(".index.json") {
            files.push(name);
        }
    }
    files.sort();
    Ok(files)
}

/// The shard files a `*.index.json` names, sorted, each once.
fn index_shards(index: &Path) -> Result<Vec<String>> {
    let text = std::fs::read(index).with_context(|| format!("reading {}", index.display()))?;
    let json: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| Error::msg(format!("{}: invalid index JSON: {e}", index.display())))?;
    let mut shards: Vec<String> = json["weight_map"]
        .as_object()
        .map(|map| {
            map.values()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    shards.sort();
    shards.dedup();
    Ok(shards)
}

/// The last component of `path` (all of it when it has none).
fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// The metadata of the file written from `source`.
fn metadata(source: &Path, names: &[String]) -> Result<Vec<(String, MetaValue)>> {
    Ok(vec![
        (
            "general.architecture".into(),
            MetaValue::String(architecture(names, source)),
        ),
        ("general.name".into(), MetaValue::String(file_name(source))),
        ("general.quantization_version".into(), MetaValue::U32(2)),
        (ALIGNMENT_KEY.into(), MetaValue::U32(DEFAULT_ALIGNMENT)),
        (
            "happyhorse.source_files".into(),
            MetaValue::Array(
                source_files(source)?
                    .into_iter()
                    .map(MetaValue::String)
                    .collect(),
            ),
        ),
    ])
}

/// Refuses an `--out` that exists (unless `force`, and never a directory) or whose
/// directory does not.
fn check_out(out: &Path, force: bool) -> Result<()> {
    let shown = out.display();
    if out.is_dir() {
        bail!("--out {shown} is a directory (expected a .gguf file path)");
    }
    if out.exists() && !force {
        bail!("--out {shown} exists (pass --force to replace it)");
    }
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(dir) = parent {
        if !dir.is_dir() {
            bail!("--out {shown}: directory {} does not exist", dir.display());
        }
    }
    Ok(())
}

/// Quantizes `request.source` into `request.out`; `progress` hears one line per tensor.
/// Nothing remains at `out` on error or when a stop is requested.
pub fn quantize_checkpoint(
    request: &QuantizeRequest,
    progress: &mut dyn FnMut(&str),
) -> Result<QuantizeSummary> {
    check_out(&request.out, request.force)?;
    let source = open_weights(&request.source)
        .with_context(|| format!("SOURCE {}", request.source.display()))?;
    let names = source.names();
    let mut plan = Vec::with_capacity(names.len());
    for name in &names {
        let info = source
            .info(name)
            .ok_or_else(|| Error::msg(format!("{}: no tensor {name:?}", source.describe())))?;
        let target = plan_tensor(&info, request.ty).with_context(|| source.describe())?;
        plan.push(Planned {
            source: info,
            target,
        });
    }
    let tensors: Vec<GgufTensor> = plan.iter().map(|p| p.target.clone()).collect();
    let metadata = metadata(&request.source, &names)?;
    let total = plan.len();
    let mut written = 0u64;
    write_gguf(&request.out, &metadata, &tensors, |i, sink| {
        let p = &plan[i];
        let bytes = write_tensor(source.as_ref(), p, sink)?;
        written += bytes;
        progress(&format!(
            "[{}/{total}] {} {} → {} ({written} bytes written)",
            i + 1,
            p.source.name,
            p.source.dtype,
            p.target.ty
        ));
        Ok(())
    })?;
    let quantized = plan.iter().filter(|p| p.target.ty == request.ty).count();
    Ok(QuantizeSummary {
        quantized,
        kept: total - quantized,
        bytes_in: plan.iter().map(|p| p.source.byte_len() as u64).sum(),
        bytes_out: std::fs::metadata(&request.out)
            .with_context(|| request.out.display())?
            .len(),
    })
}

/// Writes one tensor's bytes in its planned type; returns their count.
fn write_tensor(source: &dyn WeightSource, p: &Planned, sink: &mut dyn Write) -> Result<u64> {
    let stored = source.bytes(&p.source.name)?;
    let bytes = stored.as_slice();
    let (from, to) = (p.source.dtype, p.target.ty);
    if GgmlType::from_dtype(from) == Some(to) {
        sink.write_all(bytes)?;
        return Ok(bytes.len() as u64);
    }
    let row_len = p.source.shape.last().copied().unwrap_or(1).max(1);
    let rows_per_chunk = (CHUNK_VALUES / row_len).max(1);
    let mut values = Vec::new();
    let mut count = 0u64;
    for chunk in bytes.chunks(rows_per_chunk * row_len * from.size()) {
        cancel::check()?;
        values.resize(chunk.len() / from.size(), 0.0f32);
        dequantize_into(from, chunk, &mut values)?;
        let out = if to == GgmlType::F32 {
            values.iter().flat_map(|v| v.to_le_bytes()).collect()
        } else {
            quantize_rows(to, &values, row_len)?
        };
        sink.write_all(&out)?;
        count += out.len() as u64;
    }
    Ok(count)
}

//! Writing made-up tensors as a safetensors file, and a sharded set with its index, tensor
//! by tensor in bounded chunks.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use happyhorse_formats::{safetensors_header, write_atomically, TensorLayout};
use happyhorse_tensor::{Result, ResultExt};

use super::tensor::{stream_bytes, SynthTensor};

/// The header of the safetensors file holding `tensors` (with the `{"format": "pt"}`
/// metadata the reference library writes) and the tensors in the order their data follow.
fn layout(tensors: &[SynthTensor]) -> Result<(String, Vec<&SynthTensor>)> {
    let layouts: Vec<TensorLayout> = tensors
        .iter()
        .map(|t| TensorLayout {
            name: &t.name,
            dtype: t.dtype,
            shape: &t.shape,
        })
        .collect();
    let metadata = BTreeMap::from([("format".to_string(), "pt".to_string())]);
    let (header, order) = safetensors_header(&layouts, &metadata)?;
    Ok((header, order.into_iter().map(|i| &tensors[i]).collect()))
}

/// Size in bytes of the safetensors file holding `tensors`.
pub fn file_len(tensors: &[SynthTensor]) -> Result<u64> {
    let data: u64 = tensors.iter().map(SynthTensor::byte_len).sum();
    Ok(8 + layout(tensors)?.0.len() as u64 + data)
}

/// Writes `tensors` as the safetensors file `path` (whole or not at all); `progress` hears
/// the bytes written so far.
pub fn write_file(
    path: &Path,
    tensors: &[SynthTensor],
    progress: &mut dyn FnMut(u64),
) -> Result<()> {
    let (header, order) = layout(tensors).with_context(|| path.display().to_string())?;
    write_atomically(path, |w| {
        w.write_all(&(header.len() as u64).to_le_bytes())?;
        w.write_all(header.as_bytes())?;
        let mut written = 8 + header.len() as u64;
        stream_bytes(&order, &mut |chunk| {
            w.write_all(chunk)?;
            written += chunk.len() as u64;
            progress(written);
            Ok(())
        })
    })
    .with_context(|| format!("writing {}", path.display()))
}

/// Splits `tensors` (kept in order) into `shards` files of about equal size, named as the
/// released sets name them (`{stem}-00001-of-00007.safetensors`).
pub fn shard(
    stem: &str,
    tensors: Vec<SynthTensor>,
    shards: usize,
) -> Vec<(String, Vec<SynthTensor>)> {
    let shards = shards.max(1);
    let total: u64 = tensors.iter().map(SynthTensor::byte_len).sum();
    let target = total.div_ceil(shards as u64);
    let mut files: Vec<Vec<SynthTensor>> = vec![Vec::new()];
    let mut size = 0u64;
    for t in tensors {
        if size > 0 && size + t.byte_len() > target && files.len() < shards {
            files.push(Vec::new());
            size = 0;
        }
        size += t.byte_len();
        files.last_mut().expect("one file at least").push(t);
    }
    let n = files.len();
    files
        .into_iter()
        .enumerate()
        .map(|(i, f)| (format!("{stem}-{:05}-of-{n:05}.safetensors", i + 1), f))
        .collect()
}

/// The `*.safetensors.index.json` of `shards`: total data size and where each tensor is.
pub fn index_json(shards: &[(String, Vec<SynthTensor>)]) -> String {
    let mut weight_map = BTreeMap::new();
    let mut total = 0u64;
    for (file, tensors) in shards {
        for t in tensors {
            weight_map.insert(t.name.clone(), file.clone());
            total += t.byte_len();
        }
    }
    let index = serde_json::json!({
        "metadata": {"total_size": total},
        "weight_map": weight_map,
    });
    serde_json::to_string_pretty(&index).expect("an index serializes")
}

#[cfg(test)]
mod tests {
    use happyhorse_formats::{open_weights, SafeTensors};

    use super::super::tensor::round_trip::{assert_reads_back, sample};
    use super::*;

    #[test]
    fn the_reader_reads_back_a_file_and_a_sharded_set() {
        let dir = std::env::temp_dir().join(format!("hh-st-out-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let tensors = sample();
        let path = dir.join("one.safetensors");
        write_file(&path, &tensors, &mut |_| {}).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            file_len(&tensors).unwrap()
        );
        assert_reads_back(&SafeTensors::open(&path).unwrap(), &tensors, "");

        let shards = shard("model", tensors.clone(), 2);
        let names: Vec<&str> = shards.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "model-00001-of-00002.safetensors",
                "model-00002-of-00002.safetensors"
            ]
        );
        for (name, part) in &shards {
            write_file(&dir.join(name), part, &mut |_| {}).unwrap();
        }
        std::fs::write(
            dir.join("model.safetensors.index.json"),
            index_json(&shards),
        )
        .unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_reads_back(open_weights(&dir).unwrap().as_ref(), &tensors, "");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

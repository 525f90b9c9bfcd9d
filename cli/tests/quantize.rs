//! `happyhorse quantize`: the GGUF file it writes (read back here, and by ggml's own
//! `gguf` package when Python has it), the built-in DiT quantized, and its refusals.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::{builtin_file, happyhorse, Run, Scratch};
use happyhorse::quantize::parse_quant_type;
use happyhorse_formats::quant::{dequantize, quantize_rows};
use happyhorse_formats::{write_safetensors, DType, SafeTensors, WeightSource};

/// What a GGUF file says: its metadata (numbers and strings as text, arrays as lists)
/// and each tensor's name, dimensions (innermost first, as stored) and ggml type number;
/// the file's bytes, where the data section starts, and each tensor's offset in it.
struct GgufContents {
    metadata: BTreeMap<String, String>,
    tensors: Vec<(String, Vec<u64>, u32)>,
    bytes: Vec<u8>,
    data_start: usize,
    offsets: BTreeMap<String, usize>,
}

impl GgufContents {
    /// The first `len` bytes of tensor `name`'s data.
    fn data(&self, name: &str, len: usize) -> &[u8] {
        let at = self.data_start + self.offsets[name];
        &self.bytes[at..at + len]
    }
}

/// Reads a GGUF v3 file's header, metadata and tensor infos.
fn read_gguf(path: &Path) -> GgufContents {
    let bytes = std::fs::read(path).unwrap();
    let mut at = 0usize;
    let mut take = |n: usize| {
        at += n;
        bytes[at - n..at].to_vec()
    };
    let u32_of = |b: Vec<u8>| u32::from_le_bytes(b.try_into().unwrap());
    let u64_of = |b: Vec<u8>| u64::from_le_bytes(b.try_into().unwrap());
    assert_eq!(take(4), b"GGUF");
    assert_eq!(u32_of(take(4)), 3);
    let (n_tensors, n_kv) = (u64_of(take(8)), u64_of(take(8)));
    let string = |take: &mut dyn FnMut(usize) -> Vec<u8>| {
        let n = u64::from_le_bytes(take(8).try_into().unwrap()) as usize;
        String::from_utf8(take(n)).unwrap()
    };
    fn value(ty: u32, take: &mut dyn FnMut(usize) -> Vec<u8>) -> String {
        let size = |ty: u32| match ty {
            0 | 1 | 7 => 1,
            2 | 3 => 2,
            4..=6 => 4,
            _ => 8,
        };
        match ty {
            8 => {
                let n = u64::from_le_bytes(take(8).try_into().unwrap()) as usize;
                String::from_utf8(take(n)).unwrap()
            }
            9 => {
                let elem = u32::from_le_bytes(take(4).try_into().unwrap());
                let n = u64::from_le_bytes(take(8).try_into().unwrap());
                let items: Vec<String> = (0..n).map(|_| value(elem, take)).collect();
                format!("[{}]", items.join(","))
            }
            6 => f32::from_le_bytes(take(4).try_into().unwrap()).to_string(),
            _ => {
                let mut b = take(size(ty));
                b.resize(8, 0);
                u64::from_le_bytes(b.try_into().unwrap()).to_string()
            }
        }
    }
    let mut metadata = BTreeMap::new();
    for _ in 0..n_kv {
        let key = string(&mut take);
        let ty = u32_of(take(4));
        metadata.insert(key, value(ty, &mut take));
    }
    let (mut tensors, mut offsets) = (Vec::new(), BTreeMap::new());
    for _ in 0..n_tensors {
        let name = string(&mut take);
        let n_dims = u32_of(take(4));
        let dims = (0..n_dims).map(|_| u64_of(take(8))).collect();
        let ty = u32_of(take(4));
        offsets.insert(name.clone(), u64_of(take(8)) as usize);
        tensors.push((name, dims, ty));
    }
    let data_start = at.next_multiple_of(32);
    GgufContents {
        metadata,
        tensors,
        bytes,
        data_start,
        offsets,
    }
}

/// ggml's names of the type numbers the tests expect.
fn type_name(id: u32) -> &'static str {
    match id {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        6 => "Q5_0",
        7 => "Q5_1",
        8 => "Q8_0",
        12 => "Q4_K",
        13 => "Q5_K",
        14 => "Q6_K",
        30 => "BF16",
        _ => panic!("unexpected ggml type {id}"),
    }
}

/// `name shape type` lines (shape innermost first) of a file, sorted by name.
fn describe(contents: &GgufContents) -> Vec<String> {
    let mut lines: Vec<String> = contents
        .tensors
        .iter()
        .map(|(name, dims, ty)| format!("{name} {dims:?} {}", type_name(*ty)))
        .collect();
    lines.sort();
    lines
}

/// The same lines as ggml's `gguf` package reads them, or `None` (saying why on stderr)
/// when `$HAPPYHORSE_PYTHON` (default `python3`) cannot import it.
fn describe_with_ggml(path: &Path) -> Option<Vec<String>> {
    let python = std::env::var("HAPPYHORSE_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = "import sys\nfrom gguf import GGUFReader\n\
        for t in GGUFReader(sys.argv[1]).tensors:\n    \
        print(t.name, [int(d) for d in t.shape], t.tensor_type.name)";
    let out = Command::new(&python)
        .args(["-c", script])
        .arg(path)
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let mut lines: Vec<String> = String::from_utf8(o.stdout)
                .unwrap()
                .lines()
                .map(String::from)
                .collect();
            lines.sort();
            Some(lines)
        }
        Ok(o) => {
            let stderr = String::from_utf8_lossy(&o.stderr);
            let why = stderr.trim().lines().last().unwrap_or("failed");
            eprintln!("skipped: the check by ggml's gguf package ({python}: {why})");
            None
        }
        Err(e) => {
            eprintln!("skipped: the check by ggml's gguf package ({python}: {e})");
            None
        }
    }
}

/// `n` little-endian values of `dtype`, varied (the 16-bit ones as bit patterns near 1).
fn values(dtype: DType, n: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|i| match dtype {
            DType::F32 => ((i % 97) as f32 / 97.0 - 0.5).to_le_bytes().to_vec(),
            DType::F64 => (i as f64 / 8.0).to_le_bytes().to_vec(),
            _ => (0x3c00u16 + (i % 7) as u16).to_le_bytes().to_vec(),
        })
        .collect()
}

/// A checkpoint of every kind of tensor the command meets.
fn write_source(path: &Path) {
    let layouts: [(&str, DType, &[usize]); 8] = [
        (
            "block.layers.0.attention.linear_qkv.weight",
            DType::F32,
            &[4, 256],
        ),
        (
            "block.layers.0.mlp.down_proj.weight",
            DType::BF16,
            &[2, 512],
        ),
        ("block.layers.0.mlp.narrow.weight", DType::F16, &[3, 64]),
        (
            "block.layers.0.attention.pre_norm.weight",
            DType::F16,
            &[256],
        ),
        ("block.layers.0.attention.linear_qkv.bias", DType::F64, &[4]),
        ("adapter.video_embedder.weight", DType::F32, &[2, 256]),
        ("final_linear_video.weight", DType::BF16, &[2, 256]),
        ("conv.weight", DType::F32, &[2, 1, 256]),
    ];
    let data: Vec<Vec<u8>> = layouts
        .iter()
        .map(|(_, dtype, shape)| values(*dtype, shape.iter().product()))
        .collect();
    let tensors: Vec<_> = layouts
        .iter()
        .zip(&data)
        .map(|((name, dtype, shape), bytes)| {
            (name.to_string(), *dtype, shape.to_vec(), bytes.as_slice())
        })
        .collect();
    write_safetensors(path, &tensors, &BTreeMap::new()).unwrap();
}

/// `happyhorse quantize --type ty --out out <extra…> source`.
fn quantize(ty: &str, out: &Path, source: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["quantize", "--type", ty, "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.push(source.to_str().unwrap());
    happyhorse(args)
}

#[test]
fn every_type_writes_the_linear_weights_quantized_and_the_rest_as_stored() {
    let scratch = Scratch::new("quantize-types");
    let source = scratch.join("model.safetensors");
    write_source(&source);
    for (flag, ty, ty_narrow) in [
        ("q8_0", "Q8_0", "Q8_0"),
        ("Q4_0", "Q4_0", "Q4_0"),
        ("q4_1", "Q4_1", "Q4_1"),
        ("q5_0", "Q5_0", "Q5_0"),
        ("q5_1", "Q5_1", "Q5_1"),
        ("q4_k", "Q4_K", "F16"),
        ("Q5_K", "Q5_K", "F16"),
        ("q6_k", "Q6_K", "F16"),
    ] {
        let out = scratch.join(&format!("{flag}.gguf"));
        let run = quantize(flag, &out, &source, &[]);
        assert_eq!(run.code, Some(0), "{}", run.dump());
        let quantized = if ty == ty_narrow { 3 } else { 2 };
        assert!(
            run.stdout.contains(&format!(
                "{quantized} tensors in {ty}, {} kept as stored",
                8 - quantized
            )),
            "{}",
            run.dump()
        );
        assert!(run.stderr.contains("[8/8]"), "{}", run.dump());
        let expected = vec![
            "adapter.video_embedder.weight [256, 2] F32".to_string(),
            format!("block.layers.0.attention.linear_qkv.bias [4] F32"),
            format!("block.layers.0.attention.linear_qkv.weight [256, 4] {ty}"),
            "block.layers.0.attention.pre_norm.weight [256] F16".to_string(),
            format!("block.layers.0.mlp.down_proj.weight [512, 2] {ty}"),
            format!("block.layers.0.mlp.narrow.weight [64, 3] {ty_narrow}"),
            "conv.weight [256, 1, 2] F32".to_string(),
            "final_linear_video.weight [256, 2] BF16".to_string(),
        ];
        let contents = read_gguf(&out);
        assert_eq!(describe(&contents), expected, "{flag}");
        let m = &contents.metadata;
        assert_eq!(m["general.architecture"], "magihuman");
        assert_eq!(m["general.name"], "model.safetensors");
        assert_eq!(m["general.quantization_version"], "2");
        assert_eq!(m["general.alignment"], "32");
        assert_eq!(m["happyhorse.source_files"], "[model.safetensors]");
        check_data(&contents, &source, flag);
        if let Some(ggml) = describe_with_ggml(&out) {
            assert_eq!(ggml, expected, "{flag}: as ggml's gguf package reads it");
        }
    }
}

/// Checks each tensor's data in `contents` against the checkpoint `source`: the stored
/// bytes, F64 values as f32, and the quantizer's blocks of the values for `--type flag`.
fn check_data(contents: &GgufContents, source: &Path, flag: &str) {
    let ty = parse_quant_type(flag).unwrap();
    let file = SafeTensors::open(source).unwrap();
    for (name, _, type_id) in &contents.tensors {
        let info = file.info(name).unwrap();
        let stored = file.bytes(name).unwrap();
        let values = dequantize(info.dtype, stored.as_slice()).unwrap();
        let expected = if *type_id == ty.id() {
            quantize_rows(ty, &values, info.shape[1]).unwrap()
        } else if info.dtype == DType::F64 {
            values.iter().flat_map(|v| v.to_le_bytes()).collect()
        } else {
            stored.as_slice().to_vec()
        };
        assert_eq!(
            contents.data(name, expected.len()),
            expected,
            "{flag}: {name}"
        );
    }
}

#[test]
fn the_builtin_dit_quantizes_its_block_linears() {
    let dit = builtin_file("dit");
    let scratch = Scratch::new("quantize-dit");
    let out = scratch.join("dit-q8.gguf");
    let run = quantize("q8_0", &out, &dit, &["--quiet"]);
    assert_eq!(run.code, Some(0), "{}", run.dump());
    assert!(run.stderr.is_empty(), "--quiet: {}", run.dump());
    let source = SafeTensors::open(&dit).unwrap();
    let contents = read_gguf(&out);
    assert_eq!(contents.metadata["general.architecture"], "magihuman");
    assert_eq!(contents.tensors.len(), source.names().len());
    let block_linears = ["linear_qkv", "linear_proj", "up_gate_proj", "down_proj"];
    let mut quantized = 0;
    for (name, dims, ty) in &contents.tensors {
        let info = source.info(name).unwrap();
        let shape: Vec<u64> = info.shape.iter().rev().map(|&d| d as u64).collect();
        assert_eq!(dims, &shape, "{name}");
        let linear =
            name.starts_with("block.layers.") && block_linears.iter().any(|l| name.contains(l));
        let expected = if linear && info.shape[1] % 32 == 0 {
            quantized += 1;
            "Q8_0"
        } else {
            info.dtype.safetensors_name()
        };
        assert_eq!(
            type_name(*ty),
            expected,
            "{name} ({:?} {})",
            info.shape,
            info.dtype
        );
    }
    assert!(
        quantized > 0,
        "no block linear of the built-in DiT was quantized"
    );
    assert!(
        run.stdout.contains(&format!("{quantized} tensors in Q8_0")),
        "{}",
        run.dump()
    );
}

/// Asserts that `run` exited 2 with every one of `words` in its error.
fn refused(run: Run, words: &[&str]) {
    assert_eq!(run.code, Some(2), "{}", run.dump());
    for w in words {
        assert!(run.stderr.contains(w), "no {w:?} in {}", run.dump());
    }
}

#[test]
fn bad_input_is_refused_with_exit_2_and_leaves_nothing() {
    let scratch = Scratch::new("quantize-refusals");
    let source = scratch.join("model.safetensors");
    write_source(&source);
    let out = scratch.join("out.gguf");

    let types = "q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k";
    refused(
        quantize("q3_k", &out, &source, &[]),
        &["--type", "q3_k", types],
    );
    let missing = scratch.join("absent.safetensors");
    refused(
        quantize("q8_0", &out, &missing, &[]),
        &["SOURCE", "absent.safetensors"],
    );
    let nowhere = scratch.join("no-dir/out.gguf");
    refused(
        quantize("q8_0", &nowhere, &source, &[]),
        &["--out", "no-dir"],
    );
    let ints = scratch.join("ints.safetensors");
    let ids: Vec<u8> = (0..4i64).flat_map(|i| i.to_le_bytes()).collect();
    let tensors = [("position_ids".into(), DType::I64, vec![4], &ids[..])];
    write_safetensors(&ints, &tensors, &BTreeMap::new()).unwrap();
    refused(
        quantize("q8_0", &out, &ints, &[]),
        &["\"position_ids\"", "I64"],
    );
    assert_eq!(scratch.entries(), ["ints.safetensors", "model.safetensors"]);

    std::fs::write(&out, b"earlier").unwrap();
    refused(
        quantize("q8_0", &out, &source, &[]),
        &["--out", "exists", "--force"],
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"earlier");
    let run = quantize("q8_0", &out, &source, &["--force"]);
    assert_eq!(run.code, Some(0), "{}", run.dump());
    assert_eq!(read_gguf(&out).tensors.len(), 8);
}

/// Writes a safetensors file at `path` holding one small F32 tensor `name`.
fn write_one(path: &Path, name: &str) {
    let bytes = values(DType::F32, 64);
    let tensors = [(name.to_string(), DType::F32, vec![2, 32], &bytes[..])];
    write_safetensors(path, &tensors, &BTreeMap::new()).unwrap();
}

#[test]
fn the_metadata_names_the_architecture_the_source_and_its_files() {
    let scratch = Scratch::new("quantize-metadata");
    let encoder = scratch.join("enc.safetensors");
    write_one(&encoder, "model.encoder.layers.0.self_attn.q_proj.weight");
    let dir = scratch.mkdir("ckpt");
    write_one(&dir.join("model.safetensors"), "layers.0.w.weight");
    let sharded = scratch.mkdir("sharded");
    write_one(&sharded.join("b.safetensors"), "x.weight");
    write_one(&sharded.join("a.safetensors"), "y.weight");
    let index = sharded.join("model.safetensors.index.json");
    let map = r#"{"weight_map": {"x.weight": "b.safetensors", "y.weight": "a.safetensors"}}"#;
    std::fs::write(&index, map).unwrap();
    let index_files = "[model.safetensors.index.json,a.safetensors,b.safetensors]";
    for (source, architecture, name, files) in [
        (&encoder, "t5gemma", "enc.safetensors", "[enc.safetensors]"),
        (&dir, "ckpt", "ckpt", "[model.safetensors]"),
        (&index, "model", "model.safetensors.index.json", index_files),
    ] {
        let out = scratch.join("out.gguf");
        let run = quantize("q8_0", &out, source, &["--force"]);
        assert_eq!(run.code, Some(0), "{}", run.dump());
        let m = read_gguf(&out).metadata;
        let got = [
            &m["general.architecture"],
            &m["general.name"],
            &m["happyhorse.source_files"],
        ];
        assert_eq!(got, [architecture, name, files], "{source:?}");
    }
}

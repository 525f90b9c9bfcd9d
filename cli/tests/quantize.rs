//! `happyhorse quantize`: the GGUF file it writes (read back by happyhorse's reader, and
//! by ggml's own `gguf` package when Python has it), the built-in DiT quantized, and its
//! refusals.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::{builtin_file, fixture, happyhorse, Run, Scratch};
use happyhorse::quantize::parse_quant_type;
use happyhorse_formats::gguf::MetaValue;
use happyhorse_formats::quant::{dequantize, quantize_rows};
use happyhorse_formats::{write_safetensors, DType, Gguf, SafeTensors, WeightSource};

/// The GGUF file at `path`, read by the project's reader.
fn read_gguf(path: &Path) -> Gguf {
    Gguf::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `name shape type` lines of a file, sorted by name, with each shape innermost first
/// as the file stores it and ggml's reader reports it.
fn describe(gguf: &Gguf) -> Vec<String> {
    let mut lines: Vec<String> = gguf
        .tensor_infos()
        .iter()
        .map(|t| {
            let stored: Vec<usize> = t.shape.iter().rev().copied().collect();
            format!("{} {stored:?} {}", t.name, t.ty.name())
        })
        .collect();
    lines.sort();
    lines
}

/// The metadata value of `key`, or a panic naming the missing key.
fn meta<'a>(gguf: &'a Gguf, key: &str) -> &'a MetaValue {
    gguf.get(key)
        .unwrap_or_else(|| panic!("no metadata key {key:?}"))
}

/// A metadata string.
fn text(s: &str) -> MetaValue {
    MetaValue::String(s.into())
}

/// A metadata array of strings.
fn texts(items: &[&str]) -> MetaValue {
    MetaValue::Array(items.iter().map(|s| text(s)).collect())
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
            skip_ggml_check(&python, stderr.trim().lines().last().unwrap_or("failed"))
        }
        Err(e) => skip_ggml_check(&python, &e.to_string()),
    }
}

/// Says why the check by ggml's package is skipped; fails instead when
/// `$HAPPYHORSE_PYTHON` names the interpreter that should have it (as CI does).
fn skip_ggml_check(python: &str, why: &str) -> Option<Vec<String>> {
    if std::env::var_os("HAPPYHORSE_PYTHON").is_some() {
        panic!(
            "$HAPPYHORSE_PYTHON ({python}) cannot read GGUF files with ggml's gguf package: {why}"
        );
    }
    eprintln!("skipped: the check by ggml's gguf package ({python}: {why})");
    None
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
        let gguf = read_gguf(&out);
        assert_eq!(describe(&gguf), expected, "{flag}");
        assert_eq!(meta(&gguf, "general.architecture"), &text("magihuman"));
        assert_eq!(meta(&gguf, "general.name"), &text("model.safetensors"));
        assert_eq!(
            meta(&gguf, "general.quantization_version"),
            &MetaValue::U32(2)
        );
        assert_eq!(meta(&gguf, "general.alignment"), &MetaValue::U32(32));
        assert_eq!(
            meta(&gguf, "happyhorse.source_files"),
            &texts(&["model.safetensors"])
        );
        check_data(&gguf, &source, flag);
        if let Some(ggml) = describe_with_ggml(&out) {
            assert_eq!(ggml, expected, "{flag}: as ggml's gguf package reads it");
        }
    }
}

/// Checks each tensor's data in `gguf` against the checkpoint `source`: the stored
/// bytes, F64 values as f32, and the quantizer's blocks of the values for `--type flag`.
fn check_data(gguf: &Gguf, source: &Path, flag: &str) {
    let ty = parse_quant_type(flag).unwrap();
    let file = SafeTensors::open(source).unwrap();
    for tensor in gguf.tensor_infos() {
        let name = &tensor.name;
        let info = file.info(name).unwrap();
        let stored = file.bytes(name).unwrap();
        let values = dequantize(info.dtype, stored.as_slice()).unwrap();
        let expected = if tensor.ty == ty {
            quantize_rows(ty, &values, info.shape[1]).unwrap()
        } else if info.dtype == DType::F64 {
            values.iter().flat_map(|v| v.to_le_bytes()).collect()
        } else {
            stored.as_slice().to_vec()
        };
        assert_eq!(
            gguf.raw_bytes(name).unwrap().as_slice(),
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
    let gguf = read_gguf(&out);
    assert_eq!(meta(&gguf, "general.architecture"), &text("magihuman"));
    assert_eq!(gguf.tensor_infos().len(), source.names().len());
    let block_linears = ["linear_qkv", "linear_proj", "up_gate_proj", "down_proj"];
    let mut quantized = 0;
    for tensor in gguf.tensor_infos() {
        let name = &tensor.name;
        let info = source.info(name).unwrap();
        assert_eq!(tensor.shape, info.shape, "{name}");
        let linear =
            name.starts_with("block.layers.") && block_linears.iter().any(|l| name.contains(l));
        let expected = if linear && info.shape[1] % 32 == 0 {
            quantized += 1;
            "Q8_0"
        } else {
            info.dtype.safetensors_name()
        };
        assert_eq!(
            tensor.ty.name(),
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
    let quantized = fixture("gguf/magihuman-dit-q8/weights.gguf");
    refused(
        quantize("q4_k", &out, &quantized, &[]),
        &[
            "weights.gguf",
            "\"block.layers.0.attention.linear_proj.weight\"",
            "already Q8_0",
        ],
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
    assert_eq!(read_gguf(&out).tensor_infos().len(), 8);
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
    let index_files: &[&str] = &[
        "model.safetensors.index.json",
        "a.safetensors",
        "b.safetensors",
    ];
    for (source, architecture, name, files) in [
        (
            &encoder,
            "t5gemma",
            "enc.safetensors",
            &["enc.safetensors"][..],
        ),
        (&dir, "ckpt", "ckpt", &["model.safetensors"]),
        (&index, "model", "model.safetensors.index.json", index_files),
    ] {
        let out = scratch.join("out.gguf");
        let run = quantize("q8_0", &out, source, &["--force"]);
        assert_eq!(run.code, Some(0), "{}", run.dump());
        let gguf = read_gguf(&out);
        let got = [
            meta(&gguf, "general.architecture"),
            meta(&gguf, "general.name"),
            meta(&gguf, "happyhorse.source_files"),
        ];
        let expected = [&text(architecture), &text(name), &texts(files)];
        assert_eq!(got, expected, "{source:?}");
    }
}

//! The weights abstraction: lookups, aliases, conversions, experts, overlays, strict mode,
//! random and placeholder parameters, and what its errors name.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use happyhorse_formats::{write_safetensors, TensorBytes};
use happyhorse_nn::weights::{random_tensor, Synthetic, TensorInfo, WeightSource, Weights};
use happyhorse_tensor::{DType, Device, Result, Tensor};

/// An in-memory weight source.
struct Memory {
    label: String,
    tensors: BTreeMap<String, (DType, Vec<usize>, Vec<u8>)>,
}

impl Memory {
    fn new(label: &str) -> Memory {
        Memory {
            label: label.to_string(),
            tensors: BTreeMap::new(),
        }
    }

    fn f32(mut self, name: &str, shape: &[usize], values: &[f32]) -> Memory {
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.tensors
            .insert(name.to_string(), (DType::F32, shape.to_vec(), bytes));
        self
    }

    /// bf16 values (the upper halves of the f32 bit patterns).
    fn bf16(mut self, name: &str, shape: &[usize], values: &[f32]) -> Memory {
        let bytes = values
            .iter()
            .flat_map(|v| ((v.to_bits() >> 16) as u16).to_le_bytes())
            .collect();
        self.tensors
            .insert(name.to_string(), (DType::BF16, shape.to_vec(), bytes));
        self
    }

    fn i64(mut self, name: &str, values: &[i64]) -> Memory {
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.tensors
            .insert(name.to_string(), (DType::I64, vec![values.len()], bytes));
        self
    }

    fn weights(self) -> Weights {
        Weights::from_source(Box::new(self) as Box<dyn WeightSource>, &Device::Cpu)
    }
}

impl WeightSource for Memory {
    fn names(&self) -> Vec<String> {
        self.tensors.keys().cloned().collect()
    }

    fn info(&self, name: &str) -> Option<TensorInfo> {
        self.tensors.get(name).map(|(dtype, shape, _)| TensorInfo {
            name: name.to_string(),
            dtype: *dtype,
            shape: shape.clone(),
        })
    }

    fn bytes(&self, name: &str) -> Result<TensorBytes> {
        let (_, _, b) = self
            .tensors
            .get(name)
            .ok_or_else(|| happyhorse_tensor::Error::msg(format!("no {name}")))?;
        Ok(TensorBytes::from_vec(b.clone()))
    }

    fn describe(&self) -> String {
        self.label.clone()
    }
}

fn values(t: &Tensor) -> Vec<f32> {
    t.to_vec().unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("hh-nn-weights-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Checks `result` failed with a message holding every one of `parts`; returns the message.
fn assert_fails_naming<T>(result: Result<T>, parts: &[&str]) -> String {
    let Err(e) = result else {
        panic!("expected an error naming {parts:?}");
    };
    let e = e.to_string();
    for part in parts {
        assert!(e.contains(part), "{part:?} is not in {e}");
    }
    e
}

#[test]
fn get_checks_the_shape_and_keeps_the_stored_dtype() {
    let w = Memory::new("mem")
        .f32("a.b.weight", &[2, 2], &[1.0, 2.0, 3.0, 4.0])
        .bf16("a.c", &[2], &[1.5, -2.0])
        .weights();
    let a = w.sub("a").sub("b.");
    assert_eq!(a.prefix(), "a.b.");
    assert_eq!(a.key("weight"), "a.b.weight");
    let t = a.get("weight", &[2, 2]).unwrap();
    assert_eq!((t.dtype(), t.shape()), (DType::F32, &[2usize, 2][..]));
    assert_eq!(values(&t), [1.0, 2.0, 3.0, 4.0]);
    let c = w.get("a.c", &[2]).unwrap();
    assert_eq!(c.dtype(), DType::BF16);
    assert_eq!(values(&c), [1.5, -2.0]);
    assert!(a.contains("weight") && !a.contains("bias"));
    let info = a.info("weight").unwrap();
    assert_eq!((info.name.as_str(), info.dtype), ("a.b.weight", DType::F32));

    assert_fails_naming(
        a.get("weight", &[4]),
        &["mem", "\"a.b.weight\"", "has shape [2, 2], expected [4]"],
    );
    assert_fails_naming(
        a.get("bias", &[2]),
        &["mem: missing tensor \"a.b.bias\"", "expected shape [2]"],
    );
}

#[test]
fn get_as_converts_float_dtypes_and_names_others() {
    let w = Memory::new("mem")
        .bf16("g", &[3], &[1.0, 0.5, -3.25])
        .i64("ids", &[1, 2])
        .weights();
    let g = w.get_as("g", &[3], DType::F32).unwrap();
    assert_eq!(g.dtype(), DType::F32);
    assert_eq!(values(&g), [1.0, 0.5, -3.25]);
    assert_eq!(values(&w.get_f32("g", &[3]).unwrap()), [1.0, 0.5, -3.25]);
    assert_fails_naming(
        w.get_as("ids", &[2], DType::F32),
        &["\"ids\"", "stored as I64", "F32"],
    );
    // Stored as it is, any dtype is handed out.
    assert_eq!(w.get("ids", &[2]).unwrap().dtype(), DType::I64);
    assert_fails_naming(
        w.check("g", &[3], &[DType::F32]),
        &["stored as BF16, expected F32"],
    );
    assert_eq!(w.check("g", &[3], &[]).unwrap().dtype, DType::BF16);
}

#[test]
fn no_source_converts_to_a_block_quantized_dtype() {
    let file = Memory::new("mem").f32("w", &[1, 32], &[0.5; 32]).weights();
    let sources = [
        (file, "mem"),
        (Weights::random(1, &Device::Cpu), "random"),
        (Weights::placeholder(&Device::Cpu), "placeholder"),
    ];
    for (w, describe) in sources {
        for dtype in [DType::Q8_0, DType::Q4K, DType::I64] {
            let parts = [
                describe,
                "\"w\"",
                &format!("cannot be converted to {dtype}"),
            ];
            assert_fails_naming(w.get_as("w", &[1, 32], dtype), &parts);
            assert_fails_naming(w.experts_as("w", &[1, 32], 1, dtype), &parts);
        }
    }
}

#[test]
fn get_opt_is_none_only_when_absent() {
    let w = Memory::new("mem").f32("x", &[1], &[7.0]).weights();
    assert_eq!(values(&w.get_opt("x", &[1]).unwrap().unwrap()), [7.0]);
    assert!(w.get_opt("y", &[1]).unwrap().is_none());
    assert!(w.get_opt("x", &[2]).is_err());
}

#[test]
fn aliases_are_tried_in_order_for_each_tensor() {
    let w = Memory::new("ckpt")
        .f32("module.decoder.conv.weight", &[1], &[1.0])
        .f32("decoder.conv.weight", &[1], &[2.0])
        .f32("decoder.conv.bias", &[1], &[3.0])
        .f32("norm.weight", &[1], &[4.0])
        .weights()
        .with_aliases(&["module.decoder.", "decoder.", ""]);
    assert_eq!(values(&w.get("conv.weight", &[1]).unwrap()), [1.0]);
    assert_eq!(values(&w.sub("conv").get("bias", &[1]).unwrap()), [3.0]);
    assert_eq!(values(&w.get("norm.weight", &[1]).unwrap()), [4.0]);
    assert_eq!(
        w.info("conv.bias").unwrap().name,
        "decoder.conv.bias".to_string()
    );
    assert_fails_naming(
        w.get("conv_out.weight", &[1]),
        &[
            "missing tensor \"module.decoder.conv_out.weight\"",
            "\"decoder.conv_out.weight\"",
            "\"conv_out.weight\"",
        ],
    );
}

#[test]
fn experts_split_the_first_dimension() {
    let v: Vec<f32> = (0..12).map(|i| i as f32).collect();
    let w = Memory::new("mem")
        .f32("qkv", &[6, 2], &v)
        .bf16("norm", &[6], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
        .weights();
    let e = w.experts("qkv", &[6, 2], 3).unwrap();
    assert_eq!(e.len(), 3);
    for (m, t) in e.iter().enumerate() {
        assert_eq!(t.shape(), &[2, 2]);
        assert_eq!(values(t), v[4 * m..4 * (m + 1)]);
    }
    let n = w.experts_as("norm", &[6], 2, DType::F32).unwrap();
    assert_eq!(n[1].dtype(), DType::F32);
    assert_eq!(values(&n[1]), [4.0, 5.0, 6.0]);
    assert_eq!(w.experts("norm", &[6], 1).unwrap()[0].dtype(), DType::BF16);
    let err = w.experts("qkv", &[6, 2], 4).unwrap_err().to_string();
    assert!(
        err.contains("\"qkv\"") && err.contains("4 experts"),
        "{err}"
    );
    let err = w.experts("qkv", &[3, 4], 3).unwrap_err().to_string();
    assert!(err.contains("has shape [6, 2], expected [3, 4]"), "{err}");
}

#[test]
fn strict_mode_names_every_tensor_never_asked_for() {
    let src = || {
        Memory::new("file")
            .f32("vae.a", &[1], &[1.0])
            .f32("vae.b", &[1], &[2.0])
            .f32("vae.c", &[1], &[3.0])
            .f32("dit.x", &[1], &[4.0])
    };
    // Strict over the component's prefix: tensors outside it do not count.
    let w = src().weights().sub("vae.").strict();
    w.get("a", &[1]).unwrap();
    assert_eq!(w.unused(), ["vae.b", "vae.c"]);
    let e = assert_fails_naming(w.finish(), &["file", "2 tensor(s)", "\"vae.b\", \"vae.c\""]);
    assert!(!e.contains("dit.x"), "{e}");
    // Clones and sub views share the record; a failed lookup marks nothing.
    let sub = w.clone().sub("");
    assert!(sub.get("b", &[2]).is_err());
    sub.get_f32("b", &[1]).unwrap();
    w.experts("c", &[1], 1).unwrap();
    w.finish().unwrap();

    // Strict over the whole file.
    let w = src().weights().strict();
    w.sub("vae").get("a", &[1]).unwrap();
    assert_fails_naming(w.finish(), &["3 tensor(s)", "\"dit.x\""]);

    // Not strict: finish passes, unused still tells.
    let w = src().weights();
    w.finish().unwrap();
    assert_eq!(w.unused().len(), 4);

    // Strict with aliases: every alias's keys are the component's.
    let w = Memory::new("ckpt")
        .f32("module.decoder.a", &[1], &[1.0])
        .f32("decoder.b", &[1], &[1.0])
        .weights()
        .with_aliases(&["module.decoder.", "decoder."])
        .strict();
    w.get("a", &[1]).unwrap();
    assert_fails_naming(w.finish(), &["\"decoder.b\""]);
    w.get("b", &[1]).unwrap();
    w.finish().unwrap();
}

#[test]
fn declared_unused_parts_are_not_reported_but_anything_else_is() {
    let names = [
        "encoder.a",
        "decoder.a",
        "decoder.b",
        "lm_head.w",
        "extra.w",
    ];
    let src = names
        .iter()
        .fold(Memory::new("ckpt"), |m, name| m.f32(name, &[1], &[1.0]));
    let w = src
        .weights()
        .strict()
        .with_unused_parts(&["decoder.", "lm_head."]);
    w.sub("encoder.").get("a", &[1]).unwrap();
    assert_eq!(w.unused(), ["extra.w"]);
    let e = assert_fails_naming(w.finish(), &["1 tensor(s)", "\"extra.w\""]);
    assert!(!e.contains("decoder") && !e.contains("lm_head"), "{e}");
    w.get("extra.w", &[1]).unwrap();
    w.finish().unwrap();
}

#[test]
fn an_overlay_replaces_the_tensors_it_holds() {
    let base = Memory::new("base")
        .f32("lin", &[2], &[1.0, 2.0])
        .f32("norm", &[1], &[3.0]);
    let cache = Memory::new("cache").bf16("lin", &[2], &[1.0, 2.0]);
    let w = base
        .weights()
        .with_overlay(Arc::new(cache) as Arc<dyn WeightSource>, "bf16 copies")
        .strict();
    assert_eq!(w.describe(), "base (bf16 copies from cache)");
    let lin = w.get("lin", &[2]).unwrap();
    assert_eq!(lin.dtype(), DType::BF16);
    assert_eq!(w.get("norm", &[1]).unwrap().dtype(), DType::F32);
    w.finish().unwrap();
}

#[test]
fn open_names_the_file_in_errors() {
    let path = scratch("w.safetensors");
    let bytes: Vec<u8> = [1.0f32, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    write_safetensors(
        &path,
        &[("x".to_string(), DType::F32, vec![2], &bytes)],
        &BTreeMap::new(),
    )
    .unwrap();
    let w = Weights::open(&path, &Device::Cpu).unwrap().strict();
    assert_fails_naming(w.get("x", &[3]), &[&path.display().to_string()]);
    assert_fails_naming(w.finish(), &[&path.display().to_string(), "\"x\""]);
    assert_eq!(values(&w.get("x", &[2]).unwrap()), [1.0, 2.0]);
    w.finish().unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(Weights::open(&path, &Device::Cpu).is_err());
}

#[test]
fn random_weights_depend_only_on_seed_and_key() {
    let w = Weights::random(3, &Device::Cpu);
    let a = w.sub("layer").get("proj.weight", &[4, 8]).unwrap();
    let b = Weights::synthetic(Synthetic::Random(3), &Device::Cpu)
        .get("layer.proj.weight", &[4, 8])
        .unwrap();
    assert_eq!(values(&a), values(&b));
    assert_eq!(
        values(&a),
        values(&random_tensor(3, "layer.proj.weight", &[4, 8]).unwrap())
    );
    let other = Weights::random(4, &Device::Cpu)
        .get("layer.proj.weight", &[4, 8])
        .unwrap();
    assert_ne!(values(&a), values(&other));
    // Matrices within ±1/√fan_in; gains near one, biases near zero, per-channel
    // tensors stored as [C, 1, 1, 1] included.
    assert!(values(&a).iter().all(|x| x.abs() <= 1.0 / 8f32.sqrt()));
    let g = w.get("norm.gamma", &[5, 1, 1, 1]).unwrap();
    assert!(values(&g).iter().all(|x| (x - 1.0).abs() <= 0.1));
    let bias = w.get_f32("conv.bias", &[5]).unwrap();
    assert!(values(&bias).iter().all(|x| x.abs() <= 0.02));
    // Experts are the slices of the whole tensor.
    let whole = values(&w.get("qkv.weight", &[6, 3]).unwrap());
    let experts = w.experts_as("qkv.weight", &[6, 3], 2, DType::BF16).unwrap();
    assert_eq!(experts[1].dtype(), DType::BF16);
    let e1 = values(&w.experts("qkv.weight", &[6, 3], 2).unwrap()[1]);
    assert_eq!(e1, whole[9..]);
    assert!(w.contains("anything") && w.info("anything").is_none());
    w.finish().unwrap();
    assert!(w.describe().contains("seed 3"));
}

#[test]
fn placeholders_hold_no_memory() {
    let w = Weights::placeholder(&Device::Cpu);
    let t = w.get("conv.weight", &[64, 32, 3, 3, 3]).unwrap();
    assert_eq!(t.shape(), &[64, 32, 3, 3, 3]);
    assert!(t.layout().strides().iter().all(|&s| s == 0));
    assert!(values(&t).iter().all(|&x| x == 0.0));
    let h = w.get_as("x", &[4, 4], DType::BF16).unwrap();
    assert_eq!(h.dtype(), DType::BF16);
    assert!(h.layout().strides().iter().all(|&s| s == 0));
    let e = w.experts("qkv", &[6, 4], 3).unwrap();
    assert_eq!(e.len(), 3);
    assert!(e.iter().all(|t| t.shape() == [2, 4]));
    assert_eq!(
        Weights::synthetic(Synthetic::Placeholder, &Device::Cpu).describe(),
        "placeholder weights"
    );
    // What was asked, in order, each key once, under the handle's prefix.
    w.sub("block")
        .get("conv.weight", &[64, 32, 3, 3, 3])
        .unwrap();
    let asked: Vec<(String, Vec<usize>)> = vec![
        ("conv.weight".into(), vec![64, 32, 3, 3, 3]),
        ("x".into(), vec![4, 4]),
        ("qkv".into(), vec![6, 4]),
        ("block.conv.weight".into(), vec![64, 32, 3, 3, 3]),
    ];
    assert_eq!(w.placeholder_requests(), asked);
    assert!(Weights::random(1, &Device::Cpu)
        .placeholder_requests()
        .is_empty());
}

#[test]
fn with_device_shares_the_record() {
    let w = Memory::new("m")
        .f32("a", &[1], &[1.0])
        .f32("b", &[1], &[1.0])
        .weights()
        .strict();
    let host = w.with_device(&Device::Cpu);
    assert!(host.device().same(&Device::Cpu));
    host.get("a", &[1]).unwrap();
    assert_eq!(w.unused(), ["b"]);
}

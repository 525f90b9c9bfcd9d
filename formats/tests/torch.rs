//! PyTorch zip-pickle checkpoints: the real-format fixtures and synthetic edge cases.

mod support;

use std::path::Path;

use happyhorse_formats::DType;
use happyhorse_formats::{
    open_torch_state_dict, open_weights, SafeTensors, TensorBytes, TorchStateDict, WeightSource,
};
use support::{f32_bytes, temp_dir, torch_checkpoint, torch_zip, zip_stored, Pickler, TorchTensor};

const WAN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/wan22-vae");
const TURBO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/turbo-vaed");

/// Every tensor of `a` equals the same-named tensor of `b`, and both hold the same names.
fn assert_same_tensors(a: &dyn WeightSource, b: &dyn WeightSource) {
    assert_eq!(a.names(), b.names());
    for name in a.names() {
        assert_eq!(a.info(&name), b.info(&name), "{name}");
        let (x, y) = (a.bytes(&name).unwrap(), b.bytes(&name).unwrap());
        assert_eq!(x.len(), a.info(&name).unwrap().byte_len(), "{name}");
        assert!(x.as_slice() == y.as_slice(), "{name}: bytes differ");
    }
}

#[test]
fn wan_pth_equals_its_safetensors() {
    let pth = open_weights(&Path::new(WAN).join("Wan2.2_VAE.pth")).unwrap();
    let st = SafeTensors::open(&Path::new(WAN).join("weights.safetensors")).unwrap();
    assert_eq!(pth.names().len(), 196);
    assert!(pth.names().contains(&"encoder.conv1.weight".to_string()));
    assert_eq!(
        pth.info("conv1.weight").unwrap().shape,
        vec![96, 96, 1, 1, 1]
    );
    assert_eq!(pth.info("conv1.weight").unwrap().dtype, DType::F32);
    assert_same_tensors(pth.as_ref(), &st);
}

#[test]
fn turbo_ckpt_ema_state_dict_equals_its_safetensors() {
    let ckpt_path = Path::new(TURBO).join("checkpoint-340000.ckpt");
    let ckpt = open_torch_state_dict(&ckpt_path, &["ema_state_dict"]).unwrap();
    let st = SafeTensors::open(&Path::new(TURBO).join("weights.safetensors")).unwrap();
    assert_eq!(ckpt.names().len(), 60);
    assert_same_tensors(ckpt.as_ref(), &st);

    let err = open_torch_state_dict(&ckpt_path, &["optimizer"])
        .err()
        .unwrap();
    assert!(err.message().contains("no key \"optimizer\""), "{err}");
    assert!(err.message().contains("ema_state_dict"), "{err}");
}

fn from_bytes(bytes: Vec<u8>, key_path: &[&str]) -> happyhorse_formats::Result<TorchStateDict> {
    TorchStateDict::from_bytes(TensorBytes::from_vec(bytes), "test.pth".into(), key_path)
}

#[test]
fn zip64_checkpoint_and_dtypes() {
    let f = f32_bytes(6);
    let h: Vec<u8> = (0..4u16).flat_map(|i| (0x3c00 + i).to_le_bytes()).collect();
    let l: Vec<u8> = (0..3i64).flat_map(|i| (i - 1).to_le_bytes()).collect();
    for zip64 in [false, true] {
        let bytes = torch_checkpoint(
            &[
                TorchTensor::new("w", "FloatStorage", &f, 0, &[2, 3], &[3, 1]),
                TorchTensor::new("h", "BFloat16Storage", &h, 1, &[3], &[1]),
                TorchTensor::new("l", "LongStorage", &l, 0, &[3], &[1]),
                TorchTensor::new("s", "FloatStorage", &f, 5, &[], &[]),
            ],
            None,
            zip64,
        );
        let sd = from_bytes(bytes, &[]).unwrap();
        assert_eq!(sd.names(), ["h", "l", "s", "w"]);
        assert_eq!(sd.info("w").unwrap().shape, vec![2, 3]);
        assert_eq!(sd.bytes("w").unwrap().as_slice(), &f[..]);
        assert_eq!(sd.info("h").unwrap().dtype, DType::BF16);
        assert_eq!(sd.bytes("h").unwrap().as_slice(), &h[2..]);
        assert_eq!(sd.info("l").unwrap().dtype, DType::I64);
        assert_eq!(sd.bytes("l").unwrap().as_slice(), &l[..]);
        assert_eq!(sd.info("s").unwrap().shape, Vec::<usize>::new());
        assert_eq!(sd.bytes("s").unwrap().as_slice(), &f[20..24]);
    }
}

#[test]
fn transposed_tensor_is_materialized_row_major() {
    let f = f32_bytes(6); // storage [[0.5, 1.5, 2.5], [3.5, 4.5, 5.5]]
    let bytes = torch_checkpoint(
        &[TorchTensor::new(
            "t",
            "FloatStorage",
            &f,
            0,
            &[3, 2],
            &[1, 3],
        )],
        None,
        false,
    );
    let sd = from_bytes(bytes, &[]).unwrap();
    let got: Vec<f32> = sd
        .bytes("t")
        .unwrap()
        .as_slice()
        .chunks(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(got, [0.5, 3.5, 1.5, 4.5, 2.5, 5.5]);
}

#[test]
fn bad_tensors_are_errors_naming_the_tensor() {
    let f = f32_bytes(4);
    let cases: [(&[usize], &[usize], usize, &str); 4] = [
        (&[8], &[1], 0, "reaches past its storage"),
        (&[2, 2], &[2, 1], 1, "reaches past its storage"),
        (&[4, 4], &[0, 1], 0, "expanded tensors are not supported"),
        (
            &[1 << 30, 1 << 30],
            &[1 << 30, 1],
            0,
            "reaches past its storage",
        ),
    ];
    for (size, stride, offset, want) in cases {
        let bytes = torch_checkpoint(
            &[TorchTensor::new(
                "bad",
                "FloatStorage",
                &f,
                offset,
                size,
                stride,
            )],
            None,
            false,
        );
        let sd = from_bytes(bytes, &[]).unwrap();
        // Listed with its declared shape, so a loader asks for it and reads the cause.
        assert_eq!(sd.names(), ["bad"]);
        assert_eq!(sd.info("bad").unwrap().shape, size);
        let err = sd.bytes("bad").unwrap_err();
        assert!(
            err.message().contains("\"bad\"") && err.message().contains(want),
            "{err}"
        );
    }
    let bytes = torch_checkpoint(
        &[TorchTensor::new(
            "c",
            "ComplexFloatStorage",
            &f,
            0,
            &[1],
            &[1],
        )],
        None,
        false,
    );
    let err = from_bytes(bytes, &[]).unwrap().bytes("c").unwrap_err();
    assert!(err.message().contains("ComplexFloatStorage"), "{err}");
}

/// A loader's view of a source: `info` first, then `bytes` (the way the models load).
fn load_like_a_model(src: &dyn WeightSource, name: &str) -> String {
    match src.info(name) {
        None => format!("{}: missing tensor {name:?}", src.describe()),
        Some(_) => src.bytes(name).unwrap_err().to_string(),
    }
}

/// A checkpoint `{name: tensor}` whose tensor is declared over a FloatStorage `key` of 4
/// elements, viewing `size` (row-major) from element `offset`; the archive holds `storage`
/// as its only storage, `data/0`.
fn float_view(name: &str, key: &str, offset: usize, size: &[usize], storage: &[u8]) -> Vec<u8> {
    let mut stride = vec![1; size.len()];
    for d in (1..size.len()).rev() {
        stride[d - 1] = stride[d] * size[d];
    }
    let mut p = Pickler::new();
    p.raw(b"}")
        .str(name)
        .tensor("FloatStorage", key, 4, offset, size, &stride)
        .raw(b"s");
    torch_zip(&p.stop(), &[storage], false)
}

/// Loads tensor `name` of [`float_view`]`(name, key, offset, size)` in memory and through
/// the file opener: listed with its shape, it fails naming the file and every one of
/// `wants`, never as missing.
fn assert_bad_storage_named(name: &str, key: &str, offset: usize, size: &[usize], wants: &[&str]) {
    let bytes = float_view(name, key, offset, size, &f32_bytes(4));
    let sd = from_bytes(bytes.clone(), &[]).unwrap();
    assert_eq!(sd.info(name).unwrap().shape, size);
    let path = temp_dir(&format!("bad-storage-{name}")).join("bad.pth");
    std::fs::write(&path, &bytes).unwrap();
    let from_file = open_weights(&path).unwrap();
    for (err, file) in [
        (load_like_a_model(&sd, name), "test.pth".to_string()),
        (
            load_like_a_model(from_file.as_ref(), name),
            path.display().to_string(),
        ),
    ] {
        assert!(
            err.contains(&file) && wants.iter().all(|want| err.contains(want)),
            "{err}"
        );
        assert!(!err.contains("missing"), "{err}");
    }
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[test]
fn a_bad_storage_is_reported_not_missing() {
    // The tensor names storage "7", which the archive does not hold.
    assert_bad_storage_named(
        "w",
        "7",
        0,
        &[2, 2],
        &["\"w\"", "storage \"7\"", "no entry \"archive/data/7\""],
    );
    // A view reaching past its storage: the storage and the reason are named.
    assert_bad_storage_named(
        "v",
        "0",
        3,
        &[4],
        &["\"v\"", "storage \"0\"", "reaches past its storage"],
    );
}

#[test]
fn storage_shorter_than_its_numel_is_an_error() {
    let bytes = float_view("x", "0", 0, &[4], &f32_bytes(2));
    let err = from_bytes(bytes, &[]).unwrap().bytes("x").unwrap_err();
    assert!(err.message().contains("should hold 4 elements"), "{err}");
}

#[test]
fn training_checkpoint_with_optimizer_state_loads() {
    let f = f32_bytes(4);
    let mut p = Pickler::new();
    p.raw(b"}(");
    p.str("step").int(340000);
    p.str("optimizer")
        .global("torch.optim.adamw", "AdamW")
        .raw(b")\x81")
        .raw(b"}")
        .str("lr")
        .raw(b"G?\x1a6\xe2\xeb\x1cC-sb");
    p.str("scaler")
        .global("torch.cuda.amp.grad_scaler", "GradScaler")
        .raw(b"(J\x01\x00\x00\x00tR");
    p.str("ema_state_dict")
        .global("collections", "OrderedDict")
        .raw(b")R(");
    p.str("module.decoder.w")
        .tensor("FloatStorage", "0", 4, 0, &[2, 2], &[2, 1]);
    p.str("module.decoder.p")
        .global("torch._utils", "_rebuild_parameter")
        .raw(b"(");
    p.tensor("FloatStorage", "0", 4, 2, &[2], &[1])
        .raw(b"\x89")
        .global("collections", "OrderedDict")
        .raw(b")Rt")
        .raw(b"R");
    p.raw(b"u}b"); // BUILD with an (ignored) state
    p.raw(b"u");
    let bytes = torch_zip(&p.stop(), &[&f], false);

    let sd = from_bytes(bytes.clone(), &["ema_state_dict"]).unwrap();
    assert_eq!(sd.names(), ["module.decoder.p", "module.decoder.w"]);
    assert_eq!(sd.bytes("module.decoder.w").unwrap().as_slice(), &f[..]);
    assert_eq!(sd.bytes("module.decoder.p").unwrap().as_slice(), &f[8..]);

    let err = from_bytes(bytes.clone(), &["optimizer", "state"])
        .err()
        .unwrap();
    assert!(
        err.message().contains("opaque") && err.message().contains("AdamW"),
        "{err}"
    );
    let err = from_bytes(bytes, &["step"]).err().unwrap();
    assert!(err.message().contains("int 340000"), "{err}");
}

#[test]
fn state_dict_is_found_under_its_key() {
    let f = f32_bytes(2);
    let bytes = torch_checkpoint(
        &[TorchTensor::new("a", "FloatStorage", &f, 0, &[2], &[1])],
        Some("state_dict"),
        false,
    );
    let sd = from_bytes(bytes, &[]).unwrap();
    assert_eq!(sd.names(), ["a"]);
}

#[test]
fn compressed_storage_is_refused_clearly() {
    let f = f32_bytes(2);
    let mut bytes = torch_checkpoint(
        &[TorchTensor::new("a", "FloatStorage", &f, 0, &[2], &[1])],
        None,
        false,
    );
    // Mark every central-directory entry named `.../data/0` as deflated (method 8).
    let needle = b"archive/data/0";
    let cd = (0..bytes.len() - 46)
        .find(|&i| {
            bytes[i..i + 4] == [0x50, 0x4b, 0x01, 0x02] && bytes[i + 46..].starts_with(needle)
        })
        .unwrap();
    bytes[cd + 10] = 8;
    let err = from_bytes(bytes, &[]).unwrap().bytes("a").unwrap_err();
    assert!(err.message().contains("compressed"), "{err}");
}

#[test]
fn not_a_checkpoint_is_an_error() {
    for bytes in [
        vec![],
        b"PK".to_vec(),
        vec![0x80, 2, b'}', b'.'],
        vec![0u8; 100],
    ] {
        assert!(from_bytes(bytes, &[]).is_err());
    }
    let archive = zip_stored(&[("x/other.txt", b"hi")], false);
    let err = from_bytes(archive, &[]).err().unwrap();
    assert!(err.message().contains("no data.pkl"), "{err}");
}

#[test]
fn every_truncation_of_a_checkpoint_is_an_error() {
    let f = f32_bytes(6);
    for zip64 in [false, true] {
        let bytes = torch_checkpoint(
            &[TorchTensor::new(
                "w",
                "FloatStorage",
                &f,
                0,
                &[2, 3],
                &[3, 1],
            )],
            Some("ema"),
            zip64,
        );
        assert!(from_bytes(bytes.clone(), &["ema"]).is_ok());
        for n in 0..bytes.len() {
            assert!(
                from_bytes(bytes[..n].to_vec(), &["ema"]).is_err(),
                "truncated to {n} of {}",
                bytes.len()
            );
        }
    }
}

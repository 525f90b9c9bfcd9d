//! Block-quantized weights (Q8_0, Q4_K, Q5_K, Q6_K) on the GPU: uploaded and downloaded as
//! their bytes, split over bindings by whole rows, counted by their quantized size,
//! dequantized by `to_dtype` exactly as the CPU's scalar dequantizer does, and multiplied
//! by the GEMM kept quantized, on every portable path, against the CPU's f32 linear of the
//! dequantized weight.
#![cfg(feature = "gpu")]

mod cpu_util;
mod gpu_common;

use cpu_util::{random_quant, Rng};
use gpu_common::linear::{abs_products, check, linear_gpu, portable_paths};
use gpu_common::{assert_within, dot_bound, gpu, rand};
use happyhorse_tensor::gpu::matmul::linear_on;
use happyhorse_tensor::{DType, Device, Precision, Storage, Tensor};

const QUANTIZED: [DType; 4] = [DType::Q8_0, DType::Q4K, DType::Q5K, DType::Q6K];

/// The bytes of a CPU tensor.
fn bytes_of(t: &Tensor) -> Vec<u8> {
    t.cpu_storage().unwrap().as_bytes().to_vec()
}

/// How many bindings a GPU tensor spans.
fn pieces(t: &Tensor) -> usize {
    match t.storage() {
        Storage::Gpu(g) => g.pieces().len(),
        Storage::Cpu(_) => panic!("{:?} is not on the GPU", t.shape()),
    }
}

/// `(m, n, k)`: one row, tile edges of 64 and 128 in M and N, K across several blocks, and
/// (Q8_0) K of one and of nine 32-value blocks.
fn shapes(dtype: DType) -> Vec<(usize, usize, usize)> {
    let mut s = vec![(1, 3, 256), (65, 129, 512), (130, 67, 256)];
    if dtype.block_len() == 32 {
        s.extend([(5, 7, 32), (9, 33, 288)]);
    }
    s
}

/// Activations `[m, k]` on the CPU and on `dev`: f32 and bf16 (vector fetches), and f32
/// rows starting one element into their buffer (element-wise fetches).
fn activations(dev: &Device, m: usize, k: usize, seed: u64) -> Vec<(&'static str, Tensor, Tensor)> {
    let on = |t: &Tensor| t.to_device(dev).unwrap();
    let x = rand(&[m, k], seed);
    let bf16 = x.to_dtype(DType::BF16).unwrap();
    let rows = |t: &Tensor| t.narrow(0, 1, m * k).unwrap().reshape(&[m, k]).unwrap();
    let long = rand(&[m * k + 1], seed + 1);
    vec![
        ("f32", x.clone(), on(&x)),
        ("bf16", bf16.clone(), on(&bf16)),
        ("offset f32", rows(&long), rows(&on(&long))),
    ]
}

#[test]
fn quantized_linear_matches_the_dequantized_f32_linear_on_every_portable_path() {
    let dev = gpu();
    let mut rng = Rng::new(17);
    for dtype in QUANTIZED {
        for (m, n, k) in shapes(dtype) {
            let (quant, dense) = random_quant(&mut rng, dtype, n, k);
            let wg = quant.to_device(&dev).unwrap();
            let b = rand(&[n], (m * n) as u64);
            let bg = b.to_device(&dev).unwrap();
            for (x_name, x, xg) in activations(&dev, m, k, (n * k) as u64) {
                for path in portable_paths() {
                    for bias in [None, Some((&b, &bg))] {
                        let what = format!(
                            "{path}: {dtype} {m}×{k}×{n}, x {x_name}, bias {}",
                            bias.is_some()
                        );
                        let got = linear_on(path, &xg, &wg, bias.map(|b| b.1)).unwrap();
                        assert_eq!(got.dtype(), DType::F32, "{what}");
                        check(&what, &got, &x, &dense, bias.map(|b| b.0));
                    }
                }
            }
        }
    }
}

#[test]
fn quantized_linear_on_the_adapters_path_and_with_f16_activations() {
    let mut rng = Rng::new(23);
    let (m, n, k) = (9, 20, 256);
    for dtype in QUANTIZED {
        let (quant, dense) = random_quant(&mut rng, dtype, n, k);
        let x = rand(&[m, k], 3).to_dtype(DType::F16).unwrap();
        // f32 activations on an f32 context: the adapter's own path, through the tensor op.
        let dev = gpu();
        let x32 = rand(&[m, k], 4);
        let got = linear_gpu(&dev, portable_path(&dev), &x32, &quant, None);
        check(
            &format!("{dtype} on the adapter's path"),
            &got,
            &x32,
            &dense,
            None,
        );
        let via_op = x32
            .to_device(&dev)
            .unwrap()
            .linear(&quant.to_device(&dev).unwrap(), None)
            .unwrap();
        assert_eq!(via_op.to_vec().unwrap(), got.to_vec().unwrap(), "{dtype}");
        // f16 activations on an f16 context: the result is stored in f16.
        let half = dev.with_precision(Precision::F16).unwrap();
        let (xg, wg) = (x.to_device(&half).unwrap(), quant.to_device(&half).unwrap());
        for path in portable_paths() {
            let got = linear_on(path, &xg, &wg, None).unwrap();
            assert_eq!(got.dtype(), DType::F16, "{path}: {dtype}");
            let cpu = x
                .to_dtype(DType::F32)
                .unwrap()
                .linear(&dense, None)
                .unwrap();
            // The f32 dot products, then one f16 rounding of the result (one ulp, 2⁻¹⁰).
            let mut bound = dot_bound(&abs_products(&x, &dense), k);
            for (t, c) in bound.iter_mut().zip(cpu.to_vec().unwrap()) {
                *t += c.abs() / 1024.0 + 1e-5;
            }
            assert_within(&format!("{path}: {dtype}, f16 x"), &got, &cpu, &bound);
        }
    }
}

/// The GEMM path the adapter gives linear layers with f32 activations.
fn portable_path(dev: &Device) -> happyhorse_tensor::gpu::gemm::GemmPath {
    match dev {
        Device::Gpu(ctx) => ctx.gemm_choice().portable,
        Device::Cpu => unreachable!("Device::gpu gave the CPU"),
    }
}

/// Random `[rows, cols]` weights of each block-quantized dtype from `seed`: the tensor on
/// the CPU, its values dequantized there, and its copy on `dev`.
fn uploaded(dev: &Device, seed: u64, rows: usize, cols: usize) -> Vec<[Tensor; 3]> {
    let mut rng = Rng::new(seed);
    QUANTIZED
        .map(|dtype| {
            let (quant, dense) = random_quant(&mut rng, dtype, rows, cols);
            let up = quant.to_device(dev).unwrap();
            assert_eq!(up.dtype(), dtype);
            [quant, dense, up]
        })
        .into()
}

#[test]
fn quantized_tensors_go_up_and_down_as_their_bytes() {
    for [quant, _, up] in uploaded(&gpu(), 29, 6, 512) {
        let dtype = quant.dtype();
        let down = up.to_device(&Device::Cpu).unwrap();
        assert_eq!((down.dtype(), down.shape()), (dtype, quant.shape()));
        assert_eq!(bytes_of(&down), bytes_of(&quant), "{dtype} round trip");
        // Whole rows of a narrowed tensor, either way.
        let row = dtype.row_bytes(512).unwrap();
        let rows = up.narrow(0, 2, 3).unwrap().to_device(&Device::Cpu).unwrap();
        assert_eq!(
            bytes_of(&rows),
            bytes_of(&quant)[2 * row..5 * row],
            "{dtype} rows"
        );
        let narrowed = quant
            .narrow(0, 1, 4)
            .unwrap()
            .to_device(up.device())
            .unwrap();
        let back = narrowed.to_device(&Device::Cpu).unwrap();
        assert_eq!(
            bytes_of(&back),
            bytes_of(&quant)[row..5 * row],
            "{dtype} narrowed"
        );
        // Part of a block cannot be copied either way; a view across rows is not packed.
        let vector = up.reshape(&[6 * 512]).unwrap().narrow(0, 16, 16).unwrap();
        let err = vector.to_device(&Device::Cpu).unwrap_err().to_string();
        assert!(err.contains(&format!("16 {dtype} values")), "{err}");
        let host = quant
            .reshape(&[6 * 512])
            .unwrap()
            .narrow(0, 16, 16)
            .unwrap();
        let err = host.to_device(up.device()).unwrap_err().to_string();
        assert!(
            err.contains(&format!("[16] from element 16: 16 {dtype} values")),
            "{err}"
        );
        let columns = up.narrow(1, 0, 256).unwrap().to_device(&Device::Cpu);
        let err = columns.unwrap_err().to_string();
        assert!(
            err.contains(&format!("{dtype} tensor cannot be packed")),
            "{err}"
        );
    }
}

#[test]
fn an_uploaded_quantized_weight_counts_its_quantized_bytes() {
    let dev = Device::gpu_with_binding_cap(None).unwrap();
    let Device::Gpu(ctx) = &dev else {
        unreachable!("Device::gpu gave the CPU")
    };
    // 24 rows of 1024 Q8_0 values: 24 · 32 blocks of 34 bytes, 26 112 bytes.
    let (quant, _) = random_quant(&mut Rng::new(31), DType::Q8_0, 24, 1024);
    let bytes = 24 * 32 * 34;
    let (before, sent) = (dev.memory_use(), ctx.counters());
    let up = quant.to_device(&dev).unwrap();
    ctx.synchronize().unwrap();
    let held = dev.memory_use();
    assert_eq!(
        held.live_bytes - before.live_bytes,
        ctx.buffer_bytes(bytes),
        "{held:?}"
    );
    assert_eq!(ctx.counters().since(&sent).bytes_uploaded, bytes);
    drop(up);
}

#[test]
fn quantized_weights_split_over_bindings_by_whole_rows() {
    let dev = Device::gpu_with_binding_cap(Some(4096)).unwrap();
    let mut rng = Rng::new(37);
    // (dtype, rows, K): 6800, 5760, 6336 and 6300 bytes, each two bindings of at most 4096
    // bytes, a whole number of rows and of words each (rows of 34 and 210 bytes are not).
    for (dtype, rows, k) in [
        (DType::Q8_0, 200, 32),
        (DType::Q4K, 40, 256),
        (DType::Q5K, 36, 256),
        (DType::Q6K, 30, 256),
    ] {
        let (quant, dense) = random_quant(&mut rng, dtype, rows, k);
        let wg = quant.to_device(&dev).unwrap();
        assert_eq!(pieces(&wg), 2, "{dtype}");
        let down = wg.to_device(&Device::Cpu).unwrap();
        assert_eq!(
            bytes_of(&down),
            bytes_of(&quant),
            "{dtype} split round trip"
        );
        // Embedding rows from both pieces, dequantized as the CPU does.
        let ids = [0, rows as u32 - 1, 1, rows as u32 / 2];
        let rows_of = |t: &Tensor| t.embedding(&ids).unwrap().to_vec().unwrap();
        assert_eq!(rows_of(&wg), rows_of(&dense), "{dtype} embedding");
        let x = rand(&[3, k], 38);
        let b = rand(&[rows], 39);
        let (xg, bg) = (x.to_device(&dev).unwrap(), b.to_device(&dev).unwrap());
        for path in portable_paths() {
            let got = linear_on(path, &xg, &wg, Some(&bg)).unwrap();
            check(
                &format!("{path}: split {dtype}"),
                &got,
                &x,
                &dense,
                Some(&b),
            );
            // A row range crossing the boundary between the two pieces.
            let (r0, len) = (rows / 4, rows / 2);
            let got = linear_on(path, &xg, &wg.narrow(0, r0, len).unwrap(), None).unwrap();
            let wn = dense.narrow(0, r0, len).unwrap();
            check(
                &format!("{path}: split {dtype}, narrowed"),
                &got,
                &x,
                &wn,
                None,
            );
        }
    }
}

#[test]
fn to_dtype_on_the_gpu_dequantizes_exactly_as_the_cpu() {
    for [quant, dense, up] in uploaded(&gpu(), 43, 5, 768) {
        let dtype = quant.dtype();
        let f32s = up.to_dtype(DType::F32).unwrap();
        assert_eq!(f32s.dtype(), DType::F32);
        assert_eq!(f32s.to_vec().unwrap(), dense.to_vec().unwrap(), "{dtype}");
        // Views: narrowed rows, and a transpose, gathered element by element.
        let rows = up.narrow(0, 1, 3).unwrap().to_dtype(DType::F32).unwrap();
        let want = dense.narrow(0, 1, 3).unwrap().to_vec().unwrap();
        assert_eq!(rows.to_vec().unwrap(), want, "{dtype} rows");
        let t = up.transpose(0, 1).unwrap().to_dtype(DType::F32).unwrap();
        let want = dense.transpose(0, 1).unwrap().to_vec().unwrap();
        assert_eq!(t.to_vec().unwrap(), want, "{dtype} transposed");
        let halves = up.to_dtype(DType::BF16).unwrap().to_vec().unwrap();
        let want = dense.to_dtype(DType::BF16).unwrap().to_vec().unwrap();
        assert_eq!(halves, want, "{dtype} to bf16");
        // A strided view cannot be packed in its own dtype.
        let err = up.transpose(0, 1).unwrap().contiguous().unwrap_err();
        assert!(err.to_string().contains(dtype.safetensors_name()), "{err}");
    }
}

//! The bf16 cache of f32 block linears, on case A's model turned into an all-f32
//! checkpoint: written once and reused, bit-exact round-to-nearest-even, a forward close
//! to (but not equal to) the f32 one, and a truncated cache rebuilt.

use std::fs;
use std::path::{Path, PathBuf};

use half::bf16;
use happyhorse_formats::{open_weights, write_safetensors};
use happyhorse_model::magihuman::bf16_cache::block_linear_cache_path;
use happyhorse_model::magihuman::config::CoordsStyle;
use happyhorse_model::magihuman::weights::Residence;
use happyhorse_model::magihuman::{
    checkpoint_specs, BlockLinearDtype, DitInputs, DitWeights, MagiHumanDit, PipelineConfig,
};
use happyhorse_tensor::read_tensor;
use happyhorse_tensor::{DType, Device, Tensor};

const CASE_A: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/magihuman-dit/A"
);

/// A scratch copy of case A whose block linears are f32 values that bf16 cannot hold:
/// the stored bf16 weights widened, with pseudo-random low 16 mantissa bits.
struct F32Checkpoint {
    dir: PathBuf,
}

/// Points this test binary's caches at a scratch directory of its own.
fn set_cache_root() {
    happyhorse_formats::set_cache_root(
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("happyhorse-bf16-cache"),
    );
}

impl F32Checkpoint {
    fn new(tag: &str) -> F32Checkpoint {
        set_cache_root();
        let dir = std::env::temp_dir().join(format!(
            "happyhorse-bf16-cache-{tag}-{}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let case = Path::new(CASE_A);
        fs::copy(case.join("config.json"), dir.join("config.json")).unwrap();
        let src = open_weights(&case.join("weights.safetensors")).unwrap();
        let cfg = config().arch_config;
        let block_linears: Vec<String> = checkpoint_specs(&cfg)
            .into_iter()
            .filter(|s| s.residence == Residence::BlockLinear)
            .map(|s| s.name)
            .collect();
        let mut owned = Vec::new();
        for name in src.names() {
            let info = src.info(&name).unwrap();
            let bytes = src.bytes(&name).unwrap().as_slice().to_vec();
            if block_linears.contains(&name) {
                assert_eq!(info.dtype, DType::BF16, "{name}");
                let mut state = 0x9e37_79b9_u32 ^ name.len() as u32;
                let widened: Vec<u8> = bytes
                    .chunks_exact(2)
                    .flat_map(|b| {
                        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                        let bits = (u16::from_le_bytes([b[0], b[1]]) as u32) << 16;
                        (bits | (state >> 16)).to_le_bytes()
                    })
                    .collect();
                owned.push((name, DType::F32, info.shape, widened));
            } else {
                owned.push((name, info.dtype, info.shape, bytes));
            }
        }
        let tensors: Vec<_> = owned
            .iter()
            .map(|(n, d, s, b)| (n.clone(), *d, s.clone(), b.as_slice()))
            .collect();
        write_safetensors(
            &dir.join("weights.safetensors"),
            &tensors,
            &Default::default(),
        )
        .unwrap();
        F32Checkpoint { dir }
    }

    fn weights(&self) -> PathBuf {
        self.dir.join("weights.safetensors")
    }

    /// The cache's path, under this test binary's cache directory.
    fn cache(&self) -> PathBuf {
        set_cache_root();
        block_linear_cache_path(&self.weights()).unwrap()
    }
}

impl Drop for F32Checkpoint {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Case A's configuration with its `run` overrides (v2 coordinates, global attention).
fn config() -> PipelineConfig {
    let mut cfg = PipelineConfig::from_file(&Path::new(CASE_A).join("config.json")).unwrap();
    cfg.arch_config.local_attn_layers.clear();
    let proxy = &mut cfg.evaluation_config.data_proxy_config;
    proxy.coords_style = CoordsStyle::V2;
    proxy.frame_receptive_field = 11;
    cfg
}

fn open(ckpt: &F32Checkpoint, dtype: BlockLinearDtype) -> MagiHumanDit {
    let cfg = config();
    MagiHumanDit::open_with(
        &ckpt.weights(),
        cfg.arch_config,
        cfg.evaluation_config.data_proxy_config,
        &Device::Cpu,
        dtype,
    )
    .unwrap()
}

fn block_linear_dtypes(w: &DitWeights) -> Vec<DType> {
    w.layers
        .iter()
        .flat_map(|l| [&l.linear_qkv, &l.linear_proj, &l.up_gate_proj, &l.down_proj])
        .flat_map(|m| m.experts.iter().map(|e| e.weight.dtype()))
        .collect()
}

fn forward(dit: &MagiHumanDit) -> Vec<f32> {
    let inputs = Path::new(CASE_A).join("inputs.safetensors");
    let t = |name: &str| -> Tensor { read_tensor(&inputs, name).unwrap().squeeze(0).unwrap() };
    let out = dit
        .forward(&DitInputs {
            video: t("video_latent"),
            audio: t("audio_latent"),
            text: t("text_feat"),
            clean_first_frame: None,
        })
        .unwrap();
    let mut v = out.video.to_vec().unwrap();
    v.extend(out.audio.to_vec().unwrap());
    v
}

#[test]
fn cache_is_written_once_and_reused() {
    let ckpt = F32Checkpoint::new("reuse");
    let f32_dit = open(&ckpt, BlockLinearDtype::AsStored);
    assert!(!ckpt.cache().exists(), "the f32 path writes no cache");
    assert!(block_linear_dtypes(&f32_dit.weights)
        .iter()
        .all(|&d| d == DType::F32));

    let dit = open(&ckpt, BlockLinearDtype::Bf16Cached);
    let cache = ckpt.cache();
    let mut inside: Vec<_> = fs::read_dir(&ckpt.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    inside.sort();
    assert_eq!(
        inside,
        ["config.json", "weights.safetensors"],
        "nothing is written inside the checkpoint directory"
    );
    let mtime = fs::metadata(&cache).unwrap().modified().unwrap();
    let dtypes = block_linear_dtypes(&dit.weights);
    assert!(!dtypes.is_empty() && dtypes.iter().all(|&d| d == DType::BF16));
    // Only the block linears are cached: 4 per layer.
    let cached = open_weights(&cache).unwrap();
    assert_eq!(cached.names().len(), 4 * config().arch_config.num_layers);
    // Everything else is read from the checkpoint, in f32.
    assert_eq!(dit.weights.video_embedder.weight.dtype(), DType::F32);

    std::thread::sleep(std::time::Duration::from_millis(20));
    let again = open(&ckpt, BlockLinearDtype::Bf16Cached);
    assert_eq!(fs::metadata(&cache).unwrap().modified().unwrap(), mtime);
    assert_eq!(forward(&again), forward(&dit));
}

#[test]
fn cached_block_linears_are_round_to_nearest_even_of_the_f32_values() {
    let ckpt = F32Checkpoint::new("rne");
    open(&ckpt, BlockLinearDtype::Bf16Cached);
    let original = open_weights(&ckpt.weights()).unwrap();
    let cache = open_weights(&ckpt.cache()).unwrap();
    let mut rounded_up = 0usize;
    let mut total = 0usize;
    for name in cache.names() {
        let info = cache.info(&name).unwrap();
        assert_eq!(info.dtype, DType::BF16, "{name}");
        assert_eq!(original.info(&name).unwrap().shape, info.shape, "{name}");
        let f32s = original.bytes(&name).unwrap();
        let bf16s = cache.bytes(&name).unwrap();
        for (f, b) in f32s
            .as_slice()
            .chunks_exact(4)
            .zip(bf16s.as_slice().chunks_exact(2))
        {
            let x = f32::from_le_bytes([f[0], f[1], f[2], f[3]]);
            let want = bf16::from_f32(x).to_bits();
            assert_eq!(u16::from_le_bytes([b[0], b[1]]), want, "{name}: {x}");
            rounded_up += usize::from((x.to_bits() >> 16) as u16 != want);
            total += 1;
        }
    }
    // The low bits are random, so about half the values round away from truncation.
    assert!(total > 10_000, "{total}");
    assert!(
        rounded_up > total / 4 && rounded_up < 3 * total / 4,
        "{rounded_up}/{total}"
    );
}

/// Every bf16 weight is within a relative 2^-8 of its f32 value (round to nearest: at
/// most half a unit of the 8-bit significand, 2^-9, doubled for margin). Through the few
/// layers of the case, such perturbations move the outputs by about the same relative
/// amount (measured: 2^-7.2 of the largest magnitude, RMS error 2^-7.3 of the RMS); the
/// bounds asserted are 2^-5 of the output's largest magnitude on every element and an RMS
/// error below 2^-6 of the output's RMS, and some element must differ.
#[test]
fn forward_with_cached_weights_stays_close_to_f32() {
    let ckpt = F32Checkpoint::new("forward");
    let exact = forward(&open(&ckpt, BlockLinearDtype::AsStored));
    let cached = forward(&open(&ckpt, BlockLinearDtype::Bf16Cached));
    assert_eq!(exact.len(), cached.len());
    let scale = exact.iter().fold(0f32, |m, v| m.max(v.abs()));
    let max_err = exact
        .iter()
        .zip(&cached)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    let rms = |v: &mut dyn Iterator<Item = f32>| {
        let (s, n) = v.fold((0f64, 0usize), |(s, n), x| (s + (x as f64).powi(2), n + 1));
        (s / n as f64).sqrt()
    };
    let rms_out = rms(&mut exact.iter().copied());
    let rms_err = rms(&mut exact.iter().zip(&cached).map(|(a, b)| a - b));
    println!("max |out| {scale}, max err {max_err}, rms out {rms_out}, rms err {rms_err}");
    assert!(cached.iter().all(|v| v.is_finite()));
    assert!(max_err > 0.0, "the cached forward must use bf16 weights");
    assert!(
        max_err <= scale / 32.0,
        "max err {max_err} vs max |out| {scale}"
    );
    assert!(
        rms_err <= rms_out / 64.0,
        "rms err {rms_err} vs rms out {rms_out}"
    );
}

#[test]
fn truncated_or_stale_cache_is_rebuilt() {
    let ckpt = F32Checkpoint::new("truncated");
    let cfg = config().arch_config;
    let reference = DitWeights::open_bf16_cached(&ckpt.weights(), &cfg, &Device::Cpu).unwrap();
    let cache = ckpt.cache();
    let whole = fs::read(&cache).unwrap();
    fs::write(&cache, &whole[..whole.len() - 100]).unwrap();
    let rebuilt = DitWeights::open_bf16_cached(&ckpt.weights(), &cfg, &Device::Cpu).unwrap();
    assert_eq!(fs::read(&cache).unwrap(), whole);
    let w = |d: &DitWeights| -> Vec<f32> {
        let t: &Tensor = &d.layers[0].down_proj.experts[0].weight;
        t.to_vec().unwrap()
    };
    assert_eq!(w(&rebuilt), w(&reference));

    // A checkpoint modified after the cache was written makes the cache stale: a new key,
    // so a new cache file.
    let later = fs::metadata(ckpt.weights()).unwrap().modified().unwrap()
        + std::time::Duration::from_secs(60);
    let file = fs::File::options()
        .append(true)
        .open(ckpt.weights())
        .unwrap();
    file.set_modified(later).unwrap();
    drop(file);
    DitWeights::open_bf16_cached(&ckpt.weights(), &cfg, &Device::Cpu).unwrap();
    let fresh = ckpt.cache();
    assert_ne!(fresh, cache, "the key names the file");
    let fresh_bytes = fs::read(&fresh).unwrap();
    assert_eq!(fresh_bytes.len(), whole.len());
    assert_ne!(fresh_bytes, whole, "the new key is in the header");
}

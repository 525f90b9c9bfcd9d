//! Mutation fuzzing of the weight-file readers, on stable Rust.
//!
//! ```text
//! cargo run --release -p happyhorse-formats --example fuzz_readers -- <safetensors|torch|pickle|gguf>
//!     [--seconds N] [--out DIR] [--seed N] [--time-limit-ms N]
//! cargo run --release -p happyhorse-formats --example fuzz_readers -- <target> --replay FILE
//! ```
//!
//! Seeds are the fixture weight files and small synthetic files (zip64 archives too).
//! Each mutated input runs in-process under `catch_unwind`; a panic, an input running past
//! the time limit, or one allocating more than a linear bound of its size is a finding,
//! and the input is kept in `--out` (default `target/fuzz-findings/<target>`).

#[path = "../tests/support/mod.rs"]
mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use happyhorse_formats::DType;
use happyhorse_formats::{
    parse_pickle, Gguf, SafeTensors, TensorBytes, TorchStateDict, WeightSource, ZipArchive,
};
use support::{f32_bytes, small_gguf, torch_checkpoint, Pickler, TorchTensor};

/// Counts live heap bytes and their peak while an input runs.
struct CountingAlloc;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static RUNNING: AtomicBool = AtomicBool::new(false);
/// A single allocation above this while an input runs aborts the run as a finding.
static HARD_CAP: AtomicUsize = AtomicUsize::new(usize::MAX);
static CURRENT: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static OUT_DIR: Mutex<Option<PathBuf>> = Mutex::new(None);

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if RUNNING.load(Ordering::Relaxed) && layout.size() > HARD_CAP.load(Ordering::Relaxed) {
            RUNNING.store(false, Ordering::Relaxed);
            save_current(
                "alloc-abort",
                &format!("a single allocation of {} bytes", layout.size()),
            );
            std::process::abort();
        }
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Writes the running input to the findings directory; returns its path.
fn save_current(kind: &str, why: &str) -> Option<PathBuf> {
    let input = CURRENT.lock().ok()?.clone();
    let dir = OUT_DIR.lock().ok()?.clone()?;
    let hash = input.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    let path = dir.join(format!("{kind}-{hash:016x}.bin"));
    std::fs::write(&path, &input).ok()?;
    eprintln!("FINDING {kind}: {why} -> {}", path.display());
    Some(path)
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Target {
    SafeTensors,
    Torch,
    Pickle,
    Gguf,
}

/// Runs one input through a reader, touching every tensor it reports.
fn run_target(target: Target, input: &[u8]) {
    let check = |w: &dyn WeightSource| {
        for name in w.names() {
            let info = w.info(&name).expect("a listed name has info");
            if let Ok(bytes) = w.bytes(&name) {
                assert_eq!(
                    bytes.len(),
                    info.byte_len(),
                    "bytes of {name} disagree with its shape"
                );
            }
        }
    };
    match target {
        Target::SafeTensors => {
            if let Ok(st) =
                SafeTensors::from_bytes(TensorBytes::from_vec(input.to_vec()), "fuzz".into())
            {
                check(&st);
            }
        }
        Target::Torch => {
            for key_path in [&[][..], &["ema_state_dict"][..]] {
                if let Ok(sd) = TorchStateDict::from_bytes(
                    TensorBytes::from_vec(input.to_vec()),
                    "fuzz".into(),
                    key_path,
                ) {
                    check(&sd);
                }
            }
        }
        Target::Pickle => {
            if let Ok(p) = parse_pickle(input) {
                let _ = p.describe(p.root());
                let _ = p.dict_get(p.root(), "ema_state_dict");
            }
        }
        Target::Gguf => {
            if let Ok(g) = Gguf::from_bytes(TensorBytes::from_vec(input.to_vec()), "fuzz".into()) {
                check(&g);
                let listed: usize = g.metadata().iter().map(|(_, v)| v.to_string().len()).sum();
                std::hint::black_box(listed);
                for t in g.tensor_infos() {
                    let values = g
                        .dequantize_f32(&t.name)
                        .expect("a validated tensor dequantizes");
                    assert_eq!(values.len(), t.shape.iter().product::<usize>());
                }
            }
        }
    }
}

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// A position biased towards the ends, where headers and directories live.
fn position(rng: &mut Rng, len: usize) -> usize {
    match rng.below(3) {
        0 => rng.below(len.min(4096)),
        1 => len - 1 - rng.below(len.min(4096)),
        _ => rng.below(len),
    }
}

fn mutate(rng: &mut Rng, input: &mut Vec<u8>, seeds: &[Vec<u8>]) {
    const INTERESTING: [u64; 10] = [
        0,
        1,
        0x7f,
        0x80,
        0xff,
        0xffff,
        0x7fff_ffff,
        0xffff_ffff,
        u64::MAX,
        1 << 40,
    ];
    for _ in 0..1 + rng.below(4) {
        if input.is_empty() {
            input.push(rng.next() as u8);
        }
        let len = input.len();
        let at = position(rng, len);
        match rng.below(9) {
            0 => input[at] ^= 1 << rng.below(8),
            1 => input[at] = INTERESTING[rng.below(5)] as u8,
            2 => input[at] = rng.next() as u8,
            3 => {
                let width = [2, 4, 8][rng.below(3)];
                let v = match rng.below(3) {
                    0 => INTERESTING[rng.below(INTERESTING.len())],
                    1 => len as u64 + rng.below(3) as u64,
                    _ => rng.below(1 << 16) as u64,
                };
                let end = (at + width).min(len);
                input[at..end].copy_from_slice(&v.to_le_bytes()[..end - at]);
            }
            4 => {
                let n = (1 + rng.below(64)).min(len - at);
                input.drain(at..at + n);
            }
            5 => {
                let from = rng.below(len);
                let n = (1 + rng.below(64)).min(len - from);
                let chunk = input[from..from + n].to_vec();
                input.splice(at..at, chunk);
            }
            6 => {
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len());
                input.truncate(at);
                input.extend_from_slice(&other[from..]);
            }
            7 => input.truncate(at),
            _ => {
                // Rewrite a run of ASCII digits (JSON numbers, text opcodes).
                if let Some(d) = (at..len).find(|&i| input[i].is_ascii_digit()) {
                    let digits = format!(
                        "{}",
                        INTERESTING[rng.below(INTERESTING.len())] + rng.below(3) as u64
                    );
                    let end = (d..len)
                        .find(|&i| !input[i].is_ascii_digit())
                        .unwrap_or(len);
                    input.splice(d..end, digits.bytes());
                }
            }
        }
    }
}

fn fixture(path: &str) -> Vec<u8> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/");
    std::fs::read(Path::new(root).join(path)).unwrap_or_else(|e| panic!("reading seed {path}: {e}"))
}

fn small_safetensors() -> Vec<u8> {
    let dir = std::env::temp_dir().join(format!("happyhorse-fuzz-seed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("seed.safetensors");
    let f = f32_bytes(6);
    let tensors: Vec<(String, DType, Vec<usize>, &[u8])> = vec![
        ("a".into(), DType::F32, vec![2, 3], &f),
        ("b".into(), DType::BF16, vec![2], &f[..4]),
        ("c".into(), DType::U8, vec![], &f[..1]),
    ];
    let meta = BTreeMap::from([("format".to_string(), "pt".to_string())]);
    happyhorse_formats::write_safetensors(&path, &tensors, &meta).expect("seed");
    let bytes = std::fs::read(&path).expect("seed");
    let _ = std::fs::remove_dir_all(&dir);
    bytes
}

fn small_checkpoints() -> Vec<Vec<u8>> {
    let f = f32_bytes(6);
    let tensors = [
        TorchTensor::new("w", "FloatStorage", &f, 0, &[2, 3], &[3, 1]),
        TorchTensor::new("t", "HalfStorage", &f, 1, &[3, 2], &[1, 3]),
    ];
    vec![
        torch_checkpoint(&tensors, None, false),
        torch_checkpoint(&tensors, Some("ema_state_dict"), true),
    ]
}

/// The `data.pkl` entry of a checkpoint.
fn data_pkl(checkpoint: &[u8]) -> Vec<u8> {
    let zip = ZipArchive::from_bytes(TensorBytes::from_vec(checkpoint.to_vec()), "seed".into())
        .expect("seed zip");
    let name = zip
        .entries()
        .iter()
        .find(|e| e.name.ends_with("data.pkl"))
        .expect("data.pkl")
        .name
        .clone();
    zip.read(&name).expect("data.pkl").as_slice().to_vec()
}

fn seeds(target: Target) -> Vec<Vec<u8>> {
    match target {
        Target::SafeTensors => vec![
            fixture("turbo-vaed/weights.safetensors"),
            fixture("wan22-vae/weights.safetensors"),
            small_safetensors(),
        ],
        Target::Torch => {
            let mut s = vec![
                fixture("turbo-vaed/checkpoint-340000.ckpt"),
                fixture("wan22-vae/Wan2.2_VAE.pth"),
            ];
            s.extend(small_checkpoints());
            s
        }
        Target::Pickle => {
            let mut s = vec![
                data_pkl(&fixture("turbo-vaed/checkpoint-340000.ckpt")),
                data_pkl(&fixture("wan22-vae/Wan2.2_VAE.pth")),
            ];
            s.extend(small_checkpoints().iter().map(|c| data_pkl(c)));
            let mut p = Pickler::new();
            p.raw(b"]q\x00h\x00a")
                .global("posix", "system")
                .str("true")
                .raw(b"\x85R")
                .raw(b"\x86");
            s.push(p.stop());
            s
        }
        Target::Gguf => {
            vec![
                fixture("gguf/dequant/weights.gguf"),
                fixture("gguf/magihuman-dit-q8/weights.gguf"),
                small_gguf(),
            ]
        }
    }
}

/// The most bytes an input of `len` bytes may have allocated at once.
fn alloc_limit(len: usize) -> usize {
    64 * len + (16 << 20)
}

struct Options {
    target: Target,
    seconds: u64,
    out: PathBuf,
    seed: u64,
    time_limit: Duration,
    replay: Option<PathBuf>,
}

fn options() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let target = match args.next().as_deref() {
        Some("safetensors") => Target::SafeTensors,
        Some("torch") => Target::Torch,
        Some("pickle") => Target::Pickle,
        Some("gguf") => Target::Gguf,
        other => {
            return Err(format!(
                "unknown target {other:?}: expected safetensors, torch, pickle or gguf"
            ))
        }
    };
    let mut o = Options {
        target,
        seconds: 60,
        out: PathBuf::from(format!("target/fuzz-findings/{target:?}").to_lowercase()),
        seed: 0x5eed,
        time_limit: Duration::from_millis(2000),
        replay: None,
    };
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("{flag}: not a number: {value}"))
        };
        match flag.as_str() {
            "--seconds" => o.seconds = number()?,
            "--seed" => o.seed = number()?.max(1),
            "--time-limit-ms" => o.time_limit = Duration::from_millis(number()?),
            "--out" => o.out = PathBuf::from(&value),
            "--replay" => o.replay = Some(PathBuf::from(&value)),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(o)
}

fn main() {
    let o = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    std::fs::create_dir_all(&o.out).expect("creating the findings directory");
    *OUT_DIR.lock().unwrap() = Some(o.out.clone());
    let last_panic: &'static Mutex<String> = Box::leak(Box::new(Mutex::new(String::new())));
    std::panic::set_hook(Box::new(move |info| {
        *last_panic.lock().unwrap() = info.to_string();
    }));

    if let Some(path) = &o.replay {
        let input = std::fs::read(path).expect("reading the input to replay");
        let start = Instant::now();
        let outcome = catch_unwind(|| run_target(o.target, &input));
        println!(
            "replay {}: {} in {:?}",
            path.display(),
            if outcome.is_ok() {
                "ok".to_string()
            } else {
                format!("PANIC {}", last_panic.lock().unwrap())
            },
            start.elapsed()
        );
        return;
    }

    // The watchdog keeps and reports an input that runs past the time limit, then stops.
    static STARTED_MS: AtomicU64 = AtomicU64::new(0);
    let epoch = Instant::now();
    let limit = o.time_limit;
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_millis(50));
        let started = STARTED_MS.load(Ordering::Relaxed);
        if started != 0 && epoch.elapsed().as_millis() as u64 - started > limit.as_millis() as u64 {
            save_current("hang", &format!("ran past {limit:?}"));
            std::process::exit(3);
        }
    });

    let seeds = seeds(o.target);
    let mut rng = Rng(o.seed);
    let max_len = seeds.iter().map(Vec::len).max().unwrap_or(0);
    HARD_CAP.store(alloc_limit(2 * max_len), Ordering::Relaxed);
    let mut findings: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut execs, mut last_report) = (0u64, Instant::now());
    let start = Instant::now();
    while start.elapsed().as_secs() < o.seconds {
        let mut input = seeds[rng.below(seeds.len())].clone();
        mutate(&mut rng, &mut input, &seeds);
        input.truncate(2 * max_len);
        CURRENT.lock().unwrap().clone_from(&input);

        let base = LIVE.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        STARTED_MS.store(epoch.elapsed().as_millis().max(1) as u64, Ordering::Relaxed);
        RUNNING.store(true, Ordering::Relaxed);
        let outcome = catch_unwind(AssertUnwindSafe(|| run_target(o.target, &input)));
        RUNNING.store(false, Ordering::Relaxed);
        STARTED_MS.store(0, Ordering::Relaxed);
        let peak = PEAK.load(Ordering::Relaxed) - base;
        execs += 1;

        if outcome.is_err() {
            let why = last_panic.lock().unwrap().clone();
            save_current("panic", &why);
            *findings.entry("panic").or_default() += 1;
        } else if peak > alloc_limit(input.len()) {
            save_current(
                "alloc",
                &format!("{peak} bytes for an input of {}", input.len()),
            );
            *findings.entry("alloc").or_default() += 1;
        }
        if last_report.elapsed() >= Duration::from_secs(30) {
            last_report = Instant::now();
            let secs = start.elapsed().as_secs_f64();
            eprintln!(
                "{:?}: {execs} execs in {secs:.0} s ({:.0}/s), findings {findings:?}",
                o.target,
                execs as f64 / secs
            );
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "target={:?} seconds={secs:.0} executions={execs} execs_per_s={:.0} findings={findings:?}",
        o.target,
        execs as f64 / secs
    );
}

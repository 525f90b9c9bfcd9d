//! The `happyhorse` command line.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{ArgGroup, Args, Parser, Subcommand};
use happyhorse::device::{select, select_with, Backend, PrecisionFlag};
use happyhorse::failure::Failure;
use happyhorse::generate::{open_stack, OutputOptions};
use happyhorse::memory::{parse_memory_size, resolve_budget};
use happyhorse::parity;
use happyhorse::quantize::{parse_quant_type, quantize_checkpoint, QuantizeRequest};
use happyhorse::request::{Aspect, GenerateRequest, Resolution};
use happyhorse::synth::{synth_stack, Preset};
use happyhorse::verify::verify_stack;
use happyhorse_formats::gguf::GgmlType;
use happyhorse_tensor::heap::CountingAllocator;
use happyhorse_tensor::{cancel, Error, Result};

/// Counts the heap bytes the CPU backend's phases hold.
#[global_allocator]
static HEAP: CountingAllocator = CountingAllocator;

#[derive(Parser)]
#[command(
    name = "happyhorse",
    version,
    about = "Text (and image) to video with synchronized audio"
)]
struct Cli {
    /// Where derived files go (the built-in stack, decompressed shards, bf16 copies of
    /// f32 weights). Default: $XDG_CACHE_HOME/happyhorse, else ~/.cache/happyhorse.
    #[arg(long, global = true, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// The manifest's description, shown by `generate --help`.
const MANIFEST_HELP: &str = "\
Released checkpoints: put a happyhorse-stack.json beside the downloaded files, naming them
(paths relative to it), and pass its directory (or the file) as --checkpoints:

  {
    \"pipeline_config\": \"distill/config.json\",
    \"dit\": \"distill\",
    \"sr_dit\": \"540p_sr\",
    \"text_encoder\": { \"config\": \"t5gemma-9b-9b-ul2/config.json\",
                      \"weights\": \"t5gemma-9b-9b-ul2\", \"tokenizer\": \"t5gemma-9b-9b-ul2\" },
    \"video_vae\": \"Wan2.2_VAE.pth\",
    \"turbo_vae\": { \"config\": \"turbo_vae/TurboV3-Wan22-TinyShallow_7_7.json\",
                   \"weights\": \"turbo_vae/checkpoint-340000.ckpt\" },
    \"audio_vae\": { \"config\": \"stable-audio-open-1.0/model_config.json\",
                   \"weights\": \"stable-audio-open-1.0/model.safetensors\" }
  }

Required: pipeline_config, dit, text_encoder, video_vae, audio_vae. Optional: sr_dit (for
540p/1080p), turbo_vae (else the full Wan2.2 decoder), video_vae_config, name. Unknown
fields are refused. `happyhorse info --checkpoints DIR` checks a stack before a run.

Files written: the output directory (staged as .<out>.partial-<pid> beside it and renamed
when complete), and under --cache-dir: the built-in stack, decompressed .zst shards and a
bf16 copy of f32 block linears. A run that stops removes what it had started.";

#[derive(Subcommand)]
enum Command {
    /// Generates a clip: PNG frames, a 44.1 kHz stereo WAV and generation.json.
    ///
    /// Without --checkpoints it runs the built-in stack (real architecture, small,
    /// untrained seeded random weights). --checkpoints takes a directory holding
    /// happyhorse-stack.json (or that file) naming the released files.
    #[command(after_long_help = MANIFEST_HELP)]
    Generate(GenerateArgs),
    /// Prints the build and the devices, and checks a stack: every file's header, every
    /// tensor's shape against the configs, every value finite. Exit 2 when anything is wrong.
    Info {
        /// A stack to check (default: the built-in one).
        #[arg(long)]
        checkpoints: Option<PathBuf>,
        /// Skip reading every weight value (headers and shapes are still checked).
        #[arg(long)]
        no_values: bool,
    },
    /// Checks a build against a golden fixture case of the reference implementation.
    Parity(ParityArgs),
    /// Writes a complete stack with seeded random weights: `full` at the released sizes
    /// and layouts (about 48 GB: the 15.3B DiT as 7 safetensors shards, the T5Gemma-9B
    /// encoder, the Wan2.2 and Turbo VAEs, the audio VAE), `small` the built-in stack.
    ///
    /// The full stack is written tensor by tensor; a run with the same settings into the
    /// same directory keeps the files already complete. Pass the directory to
    /// `generate --checkpoints`.
    SynthStack {
        /// Which stack.
        #[arg(long, value_enum)]
        preset: PresetFlag,
        /// The directory to write (new, empty, or an earlier stack of the same settings).
        #[arg(long)]
        out: PathBuf,
        /// Seed of the random weights (full preset; default 0).
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Writes a checkpoint as one GGUF file, its large linear weights block-quantized.
    ///
    /// Quantized: the 2-D float tensors named *.weight whose last dimension is whole blocks
    /// of the type (32 values, 256 for the K types), except embedders (`embed` in the
    /// name), final layers (`final_*`, `lm_head`) and norms, which stay as stored (F64 as
    /// F32). Integer and block-quantized tensors are refused. Tensor names are kept.
    /// Progress on stderr, a summary on stdout; nothing is left at --out on error or
    /// interruption.
    Quantize(QuantizeArgs),
    /// Prints the token ids and pieces of a text.
    #[command(group(ArgGroup::new("input").required(true).args(["text", "file"])))]
    Tokenize {
        /// tokenizer.model, tokenizer.json, or a directory holding one.
        #[arg(long)]
        tokenizer: PathBuf,
        /// Read the text from a file (`-`: standard input).
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        /// The text.
        text: Option<String>,
    },
}

/// `happyhorse parity`'s flags.
#[derive(Args)]
struct ParityArgs {
    /// The case directory (holding meta.json, inputs, expected and weights).
    case: PathBuf,
    /// Where to run.
    #[arg(long, value_enum, default_value = "cpu")]
    backend: Backend,
    /// How GPU activations are stored: f16 (default on a GPU with SHADER_F16) or f32
    /// (the default elsewhere; the only choice on the CPU).
    #[arg(long, value_enum)]
    precision: Option<PrecisionFlag>,
    /// Also write every output produced to this safetensors file.
    #[arg(long)]
    dump: Option<PathBuf>,
    /// The most memory the run may use on its device: 16GiB, 512MiB, 1.5GiB, 24GB, 800M or
    /// plain bytes (GB/MB/KB are powers of 1000; GiB/MiB/KiB and a bare G/M/K powers of
    /// 1024). Default: on a GPU the memory its adapter reports (refused when it reports
    /// none), on the CPU the available host memory.
    #[arg(long, value_name = "SIZE", value_parser = parse_memory_size, allow_hyphen_values = true)]
    memory_budget: Option<u64>,
}

/// `happyhorse quantize`'s flags.
#[derive(Args)]
struct QuantizeArgs {
    /// The quantized type: q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k or q6_k (any case).
    #[arg(long = "type", value_name = "TYPE", value_parser = parse_type_flag)]
    ty: GgmlType,
    /// The GGUF file to write.
    #[arg(long, value_name = "FILE.gguf")]
    out: PathBuf,
    /// Replace --out when it exists.
    #[arg(long)]
    force: bool,
    /// No progress output.
    #[arg(long)]
    quiet: bool,
    /// The checkpoint: a .safetensors file, a sharded set (*.index.json, or a directory
    /// holding one or a single .safetensors), or a PyTorch .pth/.pt/.ckpt/.bin.
    source: PathBuf,
}

/// `--type`'s parser for clap.
fn parse_type_flag(text: &str) -> std::result::Result<GgmlType, String> {
    parse_quant_type(text).map_err(|e| e.to_string())
}

/// `synth-stack --preset`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum PresetFlag {
    /// Every component at its released size and layout.
    Full,
    /// The built-in stack.
    Small,
}

/// `happyhorse generate`'s flags.
#[derive(Args)]
#[command(group(ArgGroup::new("text").required(true).args(["prompt", "prompt_file"])))]
struct GenerateArgs {
    /// What the clip shows and says.
    #[arg(long)]
    prompt: Option<String>,
    /// Read the prompt from a file (`-`: standard input).
    #[arg(long, value_name = "FILE")]
    prompt_file: Option<PathBuf>,
    /// What to steer away from (the guided base model only).
    #[arg(long, default_value = "")]
    negative_prompt: String,
    /// A first-frame image (PNG or JPEG): image-to-video.
    #[arg(long)]
    image: Option<PathBuf>,
    /// A WAV to condition on: audio-conditioned video.
    #[arg(long)]
    audio: Option<PathBuf>,
    /// The stack's manifest, or a directory holding happyhorse-stack.json (see below).
    #[arg(long)]
    checkpoints: Option<PathBuf>,
    /// Output resolution (540p and 1080p run the super-resolution stage).
    #[arg(long, value_enum, default_value = "256p")]
    resolution: Resolution,
    /// Aspect ratio.
    #[arg(long, value_enum, default_value = "16:9")]
    aspect: Aspect,
    /// Duration in seconds, 3 to 15.
    #[arg(long, default_value_t = 5.0, allow_negative_numbers = true)]
    seconds: f64,
    /// Seed of every random draw (0 to 2^64-1).
    #[arg(long, default_value_t = 1234, allow_negative_numbers = true)]
    seed: u64,
    /// Sampling steps, 1 to 1000 (default: the stack's own).
    #[arg(long, allow_negative_numbers = true)]
    steps: Option<usize>,
    /// Decode with the full Wan2.2 VAE instead of the Turbo decoder.
    #[arg(long)]
    full_vae: bool,
    /// Where to run.
    #[arg(long, value_enum, default_value = "auto")]
    backend: Backend,
    /// Where the video and audio VAEs run (default: as --backend); `cpu` leaves the GPU's
    /// memory to the DiT and suits adapters that are slow at large convolutions.
    #[arg(long, value_enum)]
    decode_backend: Option<Backend>,
    /// How GPU activations are stored: f16 (default on a GPU with SHADER_F16) or f32 (the
    /// default elsewhere; the only choice on the CPU).
    #[arg(long, value_enum)]
    precision: Option<PrecisionFlag>,
    /// Output directory.
    #[arg(long, default_value = "happyhorse-out")]
    out: PathBuf,
    /// Replace --out when it is an earlier output of ours or an empty directory.
    #[arg(long)]
    force: bool,
    /// Also write video.mp4 (needs ffmpeg on PATH).
    #[arg(long)]
    mp4: bool,
    /// Check the request and the memory plan, print what each phase needs, and stop:
    /// nothing is computed or written. Exit 0 when it fits, 2 when it does not.
    #[arg(long)]
    dry_run: bool,
    /// No progress output.
    #[arg(long)]
    quiet: bool,
    /// The most memory the run may use on its device: 16GiB, 512MiB, 1.5GiB, 24GB, 800M or
    /// plain bytes (GB/MB/KB are powers of 1000; GiB/MiB/KiB and a bare G/M/K powers of
    /// 1024). Default: on a GPU the memory its adapter reports (refused when it reports
    /// none), on the CPU the available host memory.
    #[arg(long, value_name = "SIZE", value_parser = parse_memory_size, allow_hyphen_values = true)]
    memory_budget: Option<u64>,
}

/// Bad input: exit 2.
fn fail(e: Error) -> ExitCode {
    if cancel::requested() {
        eprintln!("error: {e}; nothing was written");
        return ExitCode::from(130);
    }
    eprintln!("error: {e}");
    ExitCode::from(2)
}

/// The longest prompt or text file read.
const MAX_TEXT_FILE_BYTES: u64 = 1 << 20;

/// Reads a text flag's file (`-`: standard input), bounded and UTF-8.
fn read_text_file(flag: &str, path: &Path) -> Result<String> {
    let mut bytes = Vec::new();
    let what = format!("{flag} {}", path.display());
    if path.as_os_str() == "-" {
        std::io::stdin()
            .take(MAX_TEXT_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::msg(format!("{what}: {e}")))?;
    } else {
        let meta = std::fs::metadata(path).map_err(|e| Error::msg(format!("{what}: {e}")))?;
        if !meta.is_file() {
            return Err(Error::msg(format!("{what}: not a regular file")));
        }
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_TEXT_FILE_BYTES + 1).read_to_end(&mut bytes))
            .map_err(|e| Error::msg(format!("{what}: {e}")))?;
    }
    if bytes.len() as u64 > MAX_TEXT_FILE_BYTES {
        return Err(Error::msg(format!(
            "{what}: longer than {MAX_TEXT_FILE_BYTES} bytes"
        )));
    }
    String::from_utf8(bytes).map_err(|e| Error::msg(format!("{what}: not UTF-8 text ({e})")))
}

/// First signal (Ctrl-C, SIGTERM, SIGHUP): every phase stops at its next op and the run
/// removes what it started. Second: remove it now and leave.
fn install_signal_handler() {
    let _ = ctrlc::set_handler(|| {
        if cancel::request() {
            cancel::run_cleanups();
            std::process::exit(130);
        }
        eprintln!(
            "\ninterrupted: stopping and removing the partial output (again to leave at once)"
        );
    });
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    happyhorse::allocator::keep_freed_activations();
    install_signal_handler();
    if let Some(dir) = cli.cache_dir {
        happyhorse_formats::set_cache_root(dir);
    }
    let code = match cli.command {
        Command::Generate(args) => generate(args),
        Command::Info {
            checkpoints,
            no_values,
        } => match info(checkpoints, !no_values) {
            Ok(0) => ExitCode::SUCCESS,
            Ok(n) => {
                eprintln!(
                    "error: the stack has {n} problem{}",
                    if n == 1 { "" } else { "s" }
                );
                ExitCode::from(2)
            }
            Err(e) => fail(e),
        },
        Command::Parity(args) => parity_command(args),
        Command::SynthStack { preset, out, seed } => {
            let preset = match preset {
                PresetFlag::Full => Preset::Full,
                PresetFlag::Small => Preset::Small,
            };
            match synth_stack(preset, &out, seed, &mut |m| eprintln!("{m}")) {
                Ok(()) => {
                    println!("{}", out.display());
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        Command::Quantize(args) => quantize(args),
        Command::Tokenize {
            tokenizer,
            file,
            text,
        } => match tokenize(&tokenizer, file.as_deref(), text) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(e),
        },
    };
    if let Some(table) = happyhorse_tensor::cpu::profile::report() {
        eprintln!("{table}");
    }
    code
}

/// `happyhorse parity`: runs a fixture case and prints its checks; exit 0, 1 or 2.
fn parity_command(args: ParityArgs) -> ExitCode {
    let ParityArgs {
        case,
        backend,
        precision,
        dump,
        memory_budget,
    } = args;
    let device = match select_with(backend, precision).and_then(|d| parity::case_device(&case, &d))
    {
        Ok(device) => device,
        Err(e) => return fail(e),
    };
    let budget = match resolve_budget(memory_budget, &device) {
        Ok(budget) => budget,
        Err(e) => return fail(e),
    };
    let before = device.gpu_counters();
    device.reset_peak();
    let run = match parity::run_within(&case, &device, Some(budget.bytes)) {
        Ok(run) => run,
        Err(e) => return fail(e),
    };
    let memory = device.memory_use();
    println!(
        "case {} ({}) on {device}, {} activations",
        case.display(),
        run.components.join(", "),
        device.precision()
    );
    println!(
        "memory budget: {} bytes (from {})",
        budget.bytes, budget.source
    );
    print!("{}", run.report);
    if let (Some((adapter, c0)), Some((_, c1))) = (before, device.gpu_counters()) {
        let c = c1.since(&c0);
        println!(
            "gpu {adapter}: {} dispatches, {} submissions, {} allocations, {} bytes uploaded",
            c.dispatches, c.submissions, c.allocations, c.bytes_uploaded
        );
    }
    if let Some(path) = dump {
        if let Err(e) = parity::dump(&run.outputs, &path) {
            return fail(e);
        }
    }
    let passed = run
        .report
        .results
        .iter()
        .filter(|r| r.passed == Some(true))
        .count();
    if memory.counted {
        println!("peak device memory: {} bytes", memory.peak_bytes);
    }
    println!("{passed} of {} checks passed", run.report.results.len());
    if run.report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `happyhorse generate`: the request, the stack, the run; exit 0, 1, 2 or 130.
fn generate(args: GenerateArgs) -> ExitCode {
    let prompt = match (args.prompt, &args.prompt_file) {
        (Some(p), _) => p,
        (None, Some(f)) => match read_text_file("--prompt-file", f) {
            Ok(p) => p,
            Err(e) => return fail(e),
        },
        (None, None) => unreachable!("clap requires one of them"),
    };
    let req = GenerateRequest {
        prompt,
        negative_prompt: args.negative_prompt,
        image: args.image,
        audio: args.audio,
        resolution: args.resolution,
        aspect: args.aspect,
        seconds: args.seconds,
        seed: args.seed,
        steps: args.steps,
        full_vae: args.full_vae,
    };
    let opts = OutputOptions {
        out: args.out,
        force: args.force,
        mp4: args.mp4,
        quiet: args.quiet,
    };
    let run = || -> std::result::Result<Option<PathBuf>, Failure> {
        req.validate().map_err(Failure::Input)?;
        let device = select_with(args.backend, args.precision).map_err(Failure::Input)?;
        let decode_device = match args.decode_backend {
            Some(b) => select(b).map_err(|e| Failure::Input(e.context("--decode-backend")))?,
            None => device.clone(),
        };
        let mut note = |m: &str| {
            if !opts.quiet {
                eprintln!("  {m}")
            }
        };
        let budget = resolve_budget(args.memory_budget, &device).map_err(Failure::Input)?;
        let stack = open_stack(args.checkpoints.as_deref(), &mut note).map_err(Failure::Input)?;
        if args.dry_run {
            let devices = (&device, &decode_device);
            let plan = happyhorse::generate::dry_run(&req, &stack, devices, &budget)
                .map_err(Failure::Input)?;
            print!("{}", plan.memory_report());
            return Ok(None);
        }
        happyhorse::generate::run(&req, stack, &device, &decode_device, &budget, &opts).map(Some)
    };
    match run() {
        Ok(None) => ExitCode::SUCCESS,
        Ok(Some(dir)) => {
            println!("{}", dir.display());
            ExitCode::SUCCESS
        }
        Err(Failure::Input(e)) => fail(e),
        Err(Failure::Run(e)) => {
            if cancel::requested() {
                return fail(e);
            }
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// `happyhorse quantize`: the GGUF file and a summary; exit 0, 2 or 130.
fn quantize(args: QuantizeArgs) -> ExitCode {
    let request = QuantizeRequest {
        source: args.source,
        out: args.out,
        ty: args.ty,
        force: args.force,
    };
    let quiet = args.quiet;
    match quantize_checkpoint(&request, &mut |line| {
        if !quiet {
            eprintln!("  {line}")
        }
    }) {
        Ok(s) => {
            println!(
                "{}: {} tensors in {}, {} kept as stored; {} bytes in, {} bytes out",
                request.out.display(),
                s.quantized,
                request.ty,
                s.kept,
                s.bytes_in,
                s.bytes_out
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

/// `happyhorse tokenize`: one line per token, id and piece.
fn tokenize(tokenizer: &Path, file: Option<&Path>, text: Option<String>) -> Result<()> {
    let text = match (text, file) {
        (Some(t), _) => t,
        (None, Some(f)) => read_text_file("--file", f)?,
        (None, None) => unreachable!("clap requires one of them"),
    };
    let tok = if tokenizer.is_dir() {
        happyhorse_model::tokenizer::Tokenizer::from_dir(tokenizer)?
    } else {
        happyhorse_model::tokenizer::Tokenizer::from_file(tokenizer)?
    };
    for (id, piece) in tok.encode_pieces(&text)? {
        println!("{id}\t{piece:?}");
    }
    Ok(())
}

/// Prints the build, the devices and the stack, checking it; returns the problems found.
fn info(checkpoints: Option<PathBuf>, values: bool) -> Result<usize> {
    println!("happyhorse {}", env!("CARGO_PKG_VERSION"));
    println!("cpu: {} threads", rayon_threads());
    // The precision a generation gets by default on this adapter.
    match select_with(Backend::Gpu, None) {
        Ok(d) => println!("gpu: {}", gpu_info(&d)),
        Err(e) => println!("gpu: none ({e})"),
    }
    let mut note = |m: &str| println!("  {m}");
    let stack = open_stack(checkpoints.as_deref(), &mut note)?;
    println!(
        "stack: {}{}",
        stack.name,
        if stack.untrained { " [untrained]" } else { "" }
    );
    for (what, path) in stack.files() {
        println!("  {what:<24} {}", path.display());
    }
    let problems = verify_stack(&stack, values, &mut |line| println!("{line}"));
    for p in &problems {
        eprintln!("problem: {p}");
    }
    Ok(problems.len())
}

fn rayon_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

#[cfg(feature = "gpu")]
fn gpu_info(d: &happyhorse_tensor::Device) -> String {
    match d {
        happyhorse_tensor::Device::Gpu(ctx) => ctx.info(),
        other => other.to_string(),
    }
}

#[cfg(not(feature = "gpu"))]
fn gpu_info(d: &happyhorse_tensor::Device) -> String {
    d.to_string()
}

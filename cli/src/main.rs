//! The `happyhorse` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use happyhorse::device::{select, Backend};
use happyhorse::generate::{open_stack, OutputOptions};
use happyhorse::parity;
use happyhorse::progress::INTERRUPTED;
use happyhorse::request::{Aspect, GenerateRequest, Resolution};
use happyhorse_tensor::Result;

#[derive(Parser)]
#[command(
    name = "happyhorse",
    version,
    about = "Text (and image) to video with synchronized audio"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generates a clip: PNG frames, a 44.1 kHz stereo WAV and generation.json.
    ///
    /// Without --checkpoints it runs the built-in stack (real architecture, small,
    /// untrained seeded random weights). --checkpoints takes a directory holding
    /// happyhorse-stack.json (or that file) naming the released files.
    Generate {
        /// What the clip shows and says.
        #[arg(long)]
        prompt: String,
        /// What to steer away from (the guided base model only).
        #[arg(long, default_value = "")]
        negative_prompt: String,
        /// A first-frame image (PNG or JPEG): image-to-video.
        #[arg(long)]
        image: Option<PathBuf>,
        /// A WAV to condition on: audio-conditioned video.
        #[arg(long)]
        audio: Option<PathBuf>,
        /// The stack's manifest, or a directory holding happyhorse-stack.json.
        #[arg(long)]
        checkpoints: Option<PathBuf>,
        /// Output resolution (540p and 1080p run the super-resolution stage).
        #[arg(long, value_enum, default_value = "256p")]
        resolution: Resolution,
        /// Aspect ratio.
        #[arg(long, value_enum, default_value = "16:9")]
        aspect: Aspect,
        /// Duration in seconds, 3 to 15.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Seed of every random draw.
        #[arg(long, default_value_t = 1234)]
        seed: u64,
        /// Sampling steps (default: the stack's own).
        #[arg(long)]
        steps: Option<usize>,
        /// Decode with the full Wan2.2 VAE instead of the Turbo decoder.
        #[arg(long)]
        full_vae: bool,
        /// Where to run.
        #[arg(long, value_enum, default_value = "auto")]
        backend: Backend,
        /// Output directory.
        #[arg(long, default_value = "happyhorse-out")]
        out: PathBuf,
        /// Replace an existing output directory.
        #[arg(long)]
        force: bool,
        /// Also write video.mp4 (needs ffmpeg on PATH).
        #[arg(long)]
        mp4: bool,
        /// No progress output.
        #[arg(long)]
        quiet: bool,
    },
    /// Prints the build, the devices and a stack's files.
    Info {
        /// A stack to describe (default: the built-in one).
        #[arg(long)]
        checkpoints: Option<PathBuf>,
    },
    /// Checks a build against a golden fixture case of the reference implementation.
    Parity {
        /// The case directory (holding meta.json, inputs, expected and weights).
        case: PathBuf,
        /// Where to run.
        #[arg(long, value_enum, default_value = "cpu")]
        backend: Backend,
        /// Also write every output produced to this safetensors file.
        #[arg(long)]
        dump: Option<PathBuf>,
    },
    /// Prints the token ids and pieces of a text.
    Tokenize {
        /// tokenizer.model, tokenizer.json, or a directory holding one.
        #[arg(long)]
        tokenizer: PathBuf,
        /// The text.
        text: String,
    },
}

fn fail(e: happyhorse_tensor::Error) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Generate {
            prompt,
            negative_prompt,
            image,
            audio,
            checkpoints,
            resolution,
            aspect,
            seconds,
            seed,
            steps,
            full_vae,
            backend,
            out,
            force,
            mp4,
            quiet,
        } => {
            // First Ctrl-C: stop at the next step or phase and remove the partial output.
            // Second: leave at once.
            let _ = ctrlc::set_handler(|| {
                if INTERRUPTED.swap(true, std::sync::atomic::Ordering::SeqCst) {
                    std::process::exit(130);
                }
                eprintln!("\ninterrupted: stopping after the current step");
            });
            let req = GenerateRequest {
                prompt,
                negative_prompt,
                image,
                audio,
                resolution,
                aspect,
                seconds,
                seed,
                steps,
                full_vae,
            };
            let opts = OutputOptions {
                out,
                force,
                mp4,
                quiet,
            };
            let run = || -> Result<PathBuf> {
                req.validate()?;
                let device = select(backend)?;
                let stack = open_stack(checkpoints.as_deref())?;
                happyhorse::generate::run(&req, stack, &device, &opts)
            };
            match run() {
                Ok(dir) => {
                    println!("{}", dir.display());
                    ExitCode::SUCCESS
                }
                Err(e) if INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) => {
                    eprintln!("error: {e}; nothing was written");
                    ExitCode::from(130)
                }
                Err(e) => fail(e),
            }
        }
        Command::Info { checkpoints } => match info(checkpoints) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(e),
        },
        Command::Parity {
            case,
            backend,
            dump,
        } => {
            let run = match select(backend).and_then(|dev| parity::run(&case, &dev)) {
                Ok(run) => run,
                Err(e) => return fail(e),
            };
            println!("case {} ({})", case.display(), run.components.join(", "));
            print!("{}", run.report);
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
            println!("{passed} of {} checks passed", run.report.results.len());
            if run.report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Command::Tokenize { tokenizer, text } => {
            let run = || -> Result<()> {
                let tok = if tokenizer.is_dir() {
                    happyhorse_model::tokenizer::Tokenizer::from_dir(&tokenizer)?
                } else {
                    happyhorse_model::tokenizer::Tokenizer::from_file(&tokenizer)?
                };
                for (id, piece) in tok.encode_pieces(&text)? {
                    println!("{id}\t{piece:?}");
                }
                Ok(())
            };
            match run() {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(e),
            }
        }
    }
}

fn info(checkpoints: Option<PathBuf>) -> Result<()> {
    println!("happyhorse {}", env!("CARGO_PKG_VERSION"));
    println!("cpu: {} threads", rayon_threads());
    match happyhorse_tensor::Device::gpu() {
        Ok(d) => println!("gpu: {}", gpu_info(&d)),
        Err(e) => println!("gpu: none ({e})"),
    }
    let stack = open_stack(checkpoints.as_deref())?;
    println!(
        "stack: {}{}",
        stack.name,
        if stack.untrained { " [untrained]" } else { "" }
    );
    for (what, path) in stack.files() {
        println!("  {what:<24} {}", path.display());
    }
    Ok(())
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

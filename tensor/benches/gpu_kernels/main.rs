//! GPU kernel benchmark at the released model's shapes:
//! `cargo bench -p happyhorse-tensor --features gpu --bench gpu_kernels [-- --quick]`.
//!
//! For each case (the DiT's GEMMs and attention at the token counts of a 5 s clip at 256p
//! and at 540p, the video decoders' conv3d layers; weights in f32 and bf16) it checks the
//! GPU against the CPU on a reduced shape, then prints the median time and TFLOP/s of the
//! full shape. `--quick` runs small shapes (seconds on a software adapter). Exits 1 when a
//! check fails or a case cannot run.

use std::process::ExitCode;

use happyhorse_tensor::Device;

mod cases;
#[path = "../support/seeded.rs"]
mod seeded;
mod suite;

fn main() -> ExitCode {
    let quick = std::env::args().any(|a| a == "--quick" || a == "quick");
    let dev = match Device::gpu() {
        Ok(dev) => dev,
        Err(e) => {
            eprintln!("gpu_kernels: no GPU device: {e}");
            return ExitCode::from(2);
        }
    };
    if let Device::Gpu(ctx) = &dev {
        println!("{}\n", ctx.info());
    }
    if !quick {
        for line in cases::token_counts() {
            println!("{line}");
        }
    }
    println!(
        "parity: GPU vs CPU on a reduced shape, max diff within {:.0e} of the output's scale\n",
        suite::TOLERANCE
    );
    let mut failures = 0;
    for case in cases::cases(quick) {
        match suite::run_case(&dev, &case) {
            Ok(outcome) => {
                println!("{}", outcome.line());
                failures += usize::from(!outcome.parity.passed());
            }
            Err(e) => {
                println!("bench {} {}: FAILED: {e}", case.name, case.weights);
                failures += 1;
            }
        }
    }
    if failures > 0 {
        println!("\n{failures} case(s) failed");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

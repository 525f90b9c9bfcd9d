//! GPU kernel benchmark at the released model's shapes:
//! `cargo bench -p happyhorse-tensor --features gpu --bench gpu_kernels [-- --quick]`.
//!
//! For each case (the DiT's GEMMs and attention at the token counts of a 5 s clip at 256p
//! and at 540p, each GEMM on every path the adapter runs, the video decoders' conv3d
//! layers; weights in f32 and bf16, and the linears' also kept in Q8_0 and Q4_K) it checks the
//! GPU against the CPU on a reduced shape, then prints the median time and TFLOP/s of the
//! full shape. `--quick` runs small shapes (seconds on a software adapter). Exits 1 when a
//! check fails or a case cannot run.

use std::process::ExitCode;

use happyhorse_tensor::gpu::gemm::GemmPath;
use happyhorse_tensor::Device;

mod cases;
#[path = "../support/quant.rs"]
mod quant;
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
    let Device::Gpu(ctx) = &dev else {
        eprintln!("gpu_kernels: no GPU device");
        return ExitCode::from(2);
    };
    println!("{}\n", ctx.info());
    // Every GEMM path on the small shapes; on the full ones (minutes each on a slow path)
    // the reference kernel, the adapter's portable path and its cooperative one.
    let choice = ctx.gemm_choice();
    let paths: Vec<GemmPath> = choice
        .paths()
        .into_iter()
        .filter(|&p| quick || p == GemmPath::Reference || p == choice.portable || p == choice.path)
        .collect();
    if !quick {
        for line in cases::token_counts() {
            println!("{line}");
        }
    }
    println!(
        "parity: GPU vs CPU on a reduced shape, max diff within {:.0e} of the output's scale ({:.0e} on the cooperative path's f16 operands)\n",
        suite::TOLERANCE,
        suite::HALF_OPERAND_TOLERANCE
    );
    let mut failures = 0;
    for case in cases::cases(quick, &paths) {
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

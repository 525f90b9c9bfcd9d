//! The registry of fixture components: each name a `meta.json` can give, and the runner
//! that produces its outputs from the case's files. A runner reads the case (config,
//! weights, `run` parameters, inputs), calls the shipping model with a recording probe and
//! returns every output under the name the case's `checks` use.

pub mod dit;
pub mod gguf;
pub mod loops;
pub mod sa_audio;
pub mod t5gemma;
pub mod tokenizer;
pub mod turbo;
pub mod wan22;

use std::path::Path;

use happyhorse_tensor::{bail, Device, Result, Tensor};

/// Every component name `happyhorse parity` knows.
pub const COMPONENTS: &[&str] = &[
    "magihuman-dit",
    "magihuman-distilled-loop",
    "magihuman-base-loop",
    "magihuman-sr-stage",
    "t5gemma-encoder",
    "tokenizer",
    "wan22-vae",
    "turbo-vaed",
    "sa-audio-vae",
    "gguf",
];

/// Runs one component on a case and returns its named outputs.
pub fn run_component(
    name: &str,
    case_dir: &Path,
    device: &Device,
) -> Result<Vec<(String, Tensor)>> {
    run_component_within(name, case_dir, device, None)
}

/// [`run_component`] with the DiT's layers streamed under `budget` device bytes where
/// they do not fit (stage-1 and single-forward DiT cases on a GPU).
pub fn run_component_within(
    name: &str,
    case_dir: &Path,
    device: &Device,
    budget: Option<u64>,
) -> Result<Vec<(String, Tensor)>> {
    match name {
        "magihuman-dit" => dit::run(case_dir, device, budget),
        "magihuman-distilled-loop" | "magihuman-base-loop" | "magihuman-sr-stage" => {
            loops::run(name, case_dir, device, budget)
        }
        "t5gemma-encoder" => t5gemma::run(case_dir, device),
        "tokenizer" => tokenizer::run(case_dir),
        "wan22-vae" => wan22::run(case_dir, device),
        "turbo-vaed" => turbo::run(case_dir, device),
        "sa-audio-vae" => sa_audio::run(case_dir, device),
        "gguf" => gguf::run(case_dir),
        other => bail!(
            "{}: unknown component {other:?} (known: {})",
            case_dir.display(),
            COMPONENTS.join(", ")
        ),
    }
}

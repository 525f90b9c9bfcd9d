//! The registry of fixture components: each name a `meta.json` can give, and the code
//! that produces its outputs.

use std::path::Path;

use happyhorse_tensor::{bail, Device, Result, Tensor};

use crate::fixture_loops;

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
];

/// Runs one component on a case and returns its named outputs.
pub fn run_fixture(name: &str, case_dir: &Path, device: &Device) -> Result<Vec<(String, Tensor)>> {
    match name {
        "magihuman-dit" => happyhorse_model::magihuman::fixture::run_fixture(case_dir, device),
        "magihuman-distilled-loop" | "magihuman-base-loop" | "magihuman-sr-stage" => {
            fixture_loops::run_fixture(name, case_dir, device)
        }
        "t5gemma-encoder" => happyhorse_model::t5gemma::fixture::run_fixture(case_dir, device),
        "tokenizer" => happyhorse_model::tokenizer::run_fixture_case(case_dir)?
            .into_iter()
            .map(|o| {
                let v = o.values.iter().map(|&x| x as f32).collect();
                Ok((o.name, Tensor::from_vec(v, &o.shape)?))
            })
            .collect(),
        "wan22-vae" => happyhorse_codecs::wan22::run_fixture(case_dir, device),
        "turbo-vaed" => happyhorse_codecs::turbo::run_fixture(case_dir, device),
        "sa-audio-vae" => happyhorse_codecs::sa_audio::run_fixture(case_dir, device),
        other => bail!(
            "{}: unknown component {other:?} (known: {})",
            case_dir.display(),
            COMPONENTS.join(", ")
        ),
    }
}

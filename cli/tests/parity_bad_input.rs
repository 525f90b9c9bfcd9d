//! `happyhorse parity` refuses a case it cannot check honestly: no required check, or a
//! `run` key the runner would silently ignore. Each refusal is exit code 2 with an error
//! that names the case's meta.json (and the key).

mod common;
mod derived;

use common::happyhorse;
use derived::Case;
use serde_json::{json, Value};

fn parity(case: &Case) -> common::Run {
    happyhorse(["parity", case.dir.to_str().unwrap()])
}

/// The run is refused: exit 2, an error naming meta.json of the case and every `needles`.
fn assert_refused(case: &Case, needles: &[&str]) {
    let run = parity(case);
    assert_eq!(run.code, Some(2), "{}", run.dump());
    assert!(run.stderr.starts_with("error: "), "{}", run.dump());
    let meta = case.dir.join("meta.json");
    assert!(
        run.stderr.contains(meta.to_str().unwrap()),
        "the error does not name {}: {}",
        meta.display(),
        run.dump()
    );
    for n in needles {
        assert!(run.stderr.contains(n), "no {n:?} in: {}", run.dump());
    }
}

#[test]
fn parity_refuses_a_case_without_checks() {
    let case = Case::copy("magihuman-dit/A", "no-checks");
    case.edit_meta(|m| m["checks"] = json!([]));
    assert_refused(&case, &["required"]);
}

#[test]
fn parity_refuses_a_case_without_a_required_check() {
    for role in ["optional", "contrast"] {
        let case = Case::copy("magihuman-dit/A", "no-required");
        case.edit_meta(|m| {
            for c in m["checks"].as_array_mut().unwrap() {
                c["role"] = json!(role);
            }
        });
        assert_refused(&case, &["required"]);
    }
    // One required check among optional ones is a case (and this one passes).
    let case = Case::copy("magihuman-dit/A", "one-required");
    case.edit_meta(|m| {
        let checks = m["checks"].as_array_mut().unwrap();
        let first = checks.iter().position(|c| c["role"] == "required").unwrap();
        for (i, c) in checks.iter_mut().enumerate() {
            if i != first && c["role"] == "required" {
                c["role"] = json!("optional");
            }
        }
    });
    let run = parity(&case);
    assert_eq!(run.code, Some(0), "{}", run.dump());
}

/// Each loop runner refuses a `run` key it does not know, at its level, naming it.
#[test]
fn loop_runners_refuse_unknown_run_keys() {
    for (rel, component) in [
        ("magihuman-dit/A", "magihuman-dit"),
        ("magihuman-dit/D", "magihuman-distilled-loop"),
        ("magihuman-dit/E", "magihuman-base-loop"),
        ("magihuman-dit/F", "magihuman-sr-stage"),
    ] {
        let case = Case::copy(rel, "unknown-key");
        case.edit_run(component, |r| {
            r.insert("reference_trick".into(), json!(true));
        });
        assert_refused(&case, &["reference_trick", component]);

        let case = Case::copy(rel, "unknown-input");
        case.edit_run(component, |r| {
            r["inputs"]["mask_latent"] = json!("mask_latent");
        });
        assert_refused(&case, &["mask_latent"]);

        let case = Case::copy(rel, "unknown-top");
        case.edit_meta(|m| m["run"]["dtype"] = json!("bf16"));
        assert_refused(&case, &["dtype"]);
    }
}

/// A value that states what the implementation does must match it.
#[test]
fn loop_runners_refuse_values_they_do_not_implement() {
    type Edit = fn(&mut serde_json::Map<String, Value>);
    let cases: [(&str, &str, Edit, &str); 6] = [
        (
            "magihuman-dit/D",
            "magihuman-distilled-loop",
            |r| r["sampler"] = json!("flow_unipc"),
            "sampler",
        ),
        (
            "magihuman-dit/D",
            "magihuman-distilled-loop",
            |r| r["cfg_number"] = json!(2),
            "cfg_number",
        ),
        (
            "magihuman-dit/E",
            "magihuman-base-loop",
            |r| r["unipc"]["solver_order"] = json!(3),
            "solver_order",
        ),
        (
            "magihuman-dit/E",
            "magihuman-base-loop",
            |r| r["cfg_trick_applied"] = json!(true),
            "cfg_trick_applied",
        ),
        (
            "magihuman-dit/F",
            "magihuman-sr-stage",
            |r| r["sr_cfg_number"] = json!(3),
            "sr_cfg_number",
        ),
        (
            "magihuman-dit/F",
            "magihuman-sr-stage",
            |r| r["upsample"]["align_corners"] = json!(false),
            "align_corners",
        ),
    ];
    for (rel, component, edit, key) in cases {
        let case = Case::copy(rel, "bad-value");
        case.edit_run(component, edit);
        assert_refused(&case, &[key]);
    }
}

/// `i2v: true` without an image latent is refused, as is an image latent with `i2v: false`.
#[test]
fn loop_runners_refuse_an_inconsistent_i2v_case() {
    for (rel, component) in [
        ("magihuman-dit/D", "magihuman-distilled-loop"),
        ("magihuman-dit/E", "magihuman-base-loop"),
        ("magihuman-dit/F", "magihuman-sr-stage"),
    ] {
        let case = Case::copy(rel, "i2v-no-image");
        case.edit_run(component, |r| r["i2v"] = json!(true));
        assert_refused(&case, &["i2v", "image latent"]);
    }
    let case = Case::copy("magihuman-dit/D", "image-not-i2v");
    let image = derived::normal(&[1, 16, 1, 8, 8], 3);
    case.rewrite_inputs(&[], &[("image_latent", &image)]);
    case.edit_run("magihuman-distilled-loop", |r| {
        r["inputs"]["image_latent"] = json!("image_latent");
    });
    assert_refused(&case, &["i2v", "image_latent"]);
}

#[test]
fn parity_refuses_f16_activations_on_the_cpu() {
    let case = Case::copy("magihuman-dit/A", "cpu-f16");
    let dir = case.dir.to_str().unwrap();
    let run = happyhorse(["parity", dir, "--backend", "cpu", "--precision", "f16"]);
    assert_eq!(run.code, Some(2), "{}", run.dump());
    assert!(
        run.stderr.contains("--precision f16") && run.stderr.contains("CPU"),
        "{}",
        run.dump()
    );
}

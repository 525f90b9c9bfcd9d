//! `happyhorse parity --memory-budget` on the GPU (lavapipe in CI): under 60 % of the
//! unbudgeted run's peak device memory the DiT cases (the GGUF one with its block linears
//! in Q8_0 too) stream their layers, the reported peak stays within that budget and every
//! output is bit-identical to the unbudgeted run's.
#![cfg(feature = "gpu")]

mod common;

use common::{fixture, happyhorse, Scratch};

/// Runs `parity` on `case` on the GPU with `extra` flags, dumping the outputs to `dump`,
/// and asserts that all of its `checks` pass; returns the peak device memory it reports.
fn parity_peak(case: &str, checks: usize, dump: &std::path::Path, extra: &[String]) -> u64 {
    let mut args = vec![
        "parity".to_string(),
        fixture(case).display().to_string(),
        "--backend".into(),
        "gpu".into(),
        "--dump".into(),
        dump.display().to_string(),
    ];
    args.extend(extra.iter().cloned());
    let run = happyhorse(&args);
    let summary = format!("{checks} of {checks} checks passed");
    let passed = run.code == Some(0) && run.stdout.contains(&summary);
    assert!(passed, "{case} {extra:?}: {}", run.dump());
    let line = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("peak device memory: "))
        .unwrap_or_else(|| panic!("{case}: no peak line in {}", run.dump()));
    line.trim_end_matches(" bytes").parse().unwrap()
}

#[test]
fn dit_cases_under_60_percent_of_their_peak_give_bit_identical_outputs() {
    let s = Scratch::new("parity-streaming");
    for (case, checks) in [
        ("magihuman-dit/A", 14),
        ("magihuman-dit/D", 14),
        ("gguf/magihuman-dit-q8", 4),
    ] {
        let name = case.replace('/', "-");
        let resident_dump = s.join(&format!("{name}-resident.safetensors"));
        let resident_peak = parity_peak(case, checks, &resident_dump, &[]);
        let budget = resident_peak * 6 / 10;
        let streamed_dump = s.join(&format!("{name}-streamed.safetensors"));
        let flag = ["--memory-budget".to_string(), budget.to_string()];
        let streamed_peak = parity_peak(case, checks, &streamed_dump, &flag);
        assert!(
            streamed_peak <= budget,
            "{case}: peak {streamed_peak} over the budget of {budget} ({resident_peak} without)"
        );
        let bytes = |p: &std::path::Path| std::fs::read(p).unwrap();
        assert!(
            bytes(&streamed_dump) == bytes(&resident_dump),
            "{case}: the streamed outputs differ from the resident ones"
        );
    }
}

//! Tokenizer throughput on a long multilingual text.
//!
//! `cargo run --release -p happyhorse-model --example bench_tokenizer [TOKENIZER_FILE]`
//! (default: the fixture's `tokenizer.model`, then its `tokenizer.json`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use happyhorse_model::tokenizer::Tokenizer;

const SENTENCES: &[&str] = &[
    "A young woman smiles at the camera and says hello. ",
    "一位年轻的女士在海边微笑着说：“你好！” ",
    "你食咗飯未呀？我哋一齊去飲茶啦。 ",
    "東京の夜景はとてもきれいですね。 ",
    "오늘 날씨가 정말 좋네요. ",
    "Übermorgen fahren wir nach München. ",
    "Ça fait longtemps, comment vas-tu ? ",
    "Price: 1234.56 € 😀👍 ",
    "  leading spaces,   triple,\tTab\nnewline\n\n\nend   ",
];

fn bench(path: &Path, text: &str, sentences: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let tok = Tokenizer::from_file(path)?;
    tok.encode(text)?; // warm-up
    let reps = 5;
    let start = Instant::now();
    let mut tokens = 0;
    for _ in 0..reps {
        tokens += tok.encode(text)?.len();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{}: one {:.1} MiB text: {} tokens/pass, {:.2} M tokens/s, {:.1} MiB/s",
        path.display(),
        text.len() as f64 / (1 << 20) as f64,
        tokens / reps,
        tokens as f64 / secs / 1e6,
        (text.len() * reps) as f64 / secs / (1 << 20) as f64
    );
    let start = Instant::now();
    let mut tokens = 0;
    for s in sentences {
        tokens += tok.encode(s)?.len();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{}: {} prompts one by one: {:.2} M tokens/s",
        path.display(),
        sentences.len(),
        tokens as f64 / secs / 1e6
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let fixture = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/tokenizer"
    ));
    let paths: Vec<PathBuf> = match std::env::args().nth(1) {
        Some(p) => vec![PathBuf::from(p)],
        None => vec![
            fixture.join("tokenizer.model"),
            fixture.join("tokenizer.json"),
        ],
    };
    let mut text = String::new();
    let mut sentences = Vec::new();
    while text.len() < 4 << 20 {
        for s in SENTENCES {
            text.push_str(s);
            if sentences.len() < 100_000 {
                sentences.push(s.repeat(4));
            }
        }
    }
    for path in &paths {
        bench(path, &text, &sentences)?;
    }
    Ok(())
}

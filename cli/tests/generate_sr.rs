//! The super-resolution path on the built-in stack: a 540p clip goes through the base
//! loop, trilinear upsampling, re-noising, the SR DiT's UniPC steps and a decode at the
//! SR size.

mod common;

use std::fs;

use common::{happyhorse, Scratch};
use serde_json::Value;

#[test]
fn a_540p_clip_runs_the_super_resolution_stage() {
    let s = Scratch::new("generate-sr");
    let out = s.join("clip");
    let run = happyhorse([
        "generate",
        "--prompt",
        "A horse trots through a meadow.",
        "--seconds",
        "3",
        "--resolution",
        "540p",
        "--backend",
        "cpu",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(run.code, Some(0), "{}", run.dump());
    assert!(
        run.stderr.contains("[super-resolution (5 steps)]"),
        "{}",
        run.dump()
    );

    let frames = fs::read_dir(out.join("frames")).unwrap().count();
    assert_eq!(frames, 73);
    let decoder = png::Decoder::new(fs::File::open(out.join("frames/000073.png")).unwrap());
    let reader = decoder.read_info().unwrap();
    let info = reader.info();
    assert_eq!((info.width, info.height), (896, 512));

    let meta: Value =
        serde_json::from_str(&fs::read_to_string(out.join("generation.json")).unwrap()).unwrap();
    assert_eq!(meta["request"]["resolution"], "540p");
    assert_eq!(
        (meta["width"].as_u64(), meta["height"].as_u64()),
        (Some(896), Some(512))
    );
    assert_eq!(meta["frames"].as_u64(), Some(73));
}

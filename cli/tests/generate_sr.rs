//! The super-resolution path on the built-in stack: a 540p clip goes through the base
//! loop, trilinear upsampling, re-noising, the SR DiT's UniPC steps and a decode at the
//! SR size.

mod common;

use std::fs;

use common::{generate_3s, generation_json};

#[test]
fn a_540p_clip_runs_the_super_resolution_stage() {
    let (_scratch, out, run) = generate_3s(
        "generate-sr",
        "A horse trots through a meadow.",
        &["--resolution", "540p", "--backend", "cpu"],
    );
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

    let meta = generation_json(&out);
    assert_eq!(meta["request"]["resolution"], "540p");
    assert_eq!(
        (meta["width"].as_u64(), meta["height"].as_u64()),
        (Some(896), Some(512))
    );
    assert_eq!(meta["frames"].as_u64(), Some(73));
}

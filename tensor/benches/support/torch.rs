//! PyTorch's own CPU convolutions timed on the same shapes and threads, as the anchor of a
//! ratio: `HAPPYHORSE_PYTHON` (else `python3`) with `torch` importable, or no anchor.

use std::io::Write;
use std::process::{Command, Stdio};

/// One convolution to time: PyTorch's `F.conv3d`, `F.conv1d` or `F.conv_transpose1d` with
/// symmetric padding (inputs arrive already padded where a decoder pads asymmetrically).
#[derive(Clone, Debug)]
pub struct TorchConv {
    /// `"conv3d"`, `"conv1d"` or `"conv_transpose1d"`.
    pub op: &'static str,
    /// The input's shape.
    pub x: Vec<usize>,
    /// The weight's shape, in PyTorch's layout.
    pub w: Vec<usize>,
    /// Stride (one value, every dimension).
    pub stride: usize,
    /// Padding per spatial dimension.
    pub padding: Vec<usize>,
    /// Dilation (one value, every dimension).
    pub dilation: usize,
}

const SCRIPT: &str = r#"
import sys, time
import torch
import torch.nn.functional as F
threads = int(sys.argv[1])
runs = int(sys.argv[2])
torch.set_num_threads(threads)
torch.manual_seed(0)
for line in sys.stdin:
    op, xs, ws, stride, pad, dil = line.split()
    x = torch.rand([int(v) for v in xs.split(',')]) * 2 - 1
    w = torch.rand([int(v) for v in ws.split(',')]) * 2 - 1
    stride, dil = int(stride), int(dil)
    pad = [int(v) for v in pad.split(',')]
    if op == 'conv3d':
        f = lambda: F.conv3d(x, w, None, stride, pad, dil)
    elif op == 'conv1d':
        f = lambda: F.conv1d(x, w, None, stride, pad, dil)
    else:
        f = lambda: F.conv_transpose1d(x, w, None, stride, pad[0], 0, 1, dil)
    with torch.no_grad():
        f()
        best = float('inf')
        for _ in range(runs):
            t = time.perf_counter()
            f()
            best = min(best, time.perf_counter() - t)
    print(best, flush=True)
"#;

/// The interpreter to ask.
fn python() -> String {
    std::env::var("HAPPYHORSE_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// PyTorch's version, when its interpreter has it.
pub fn torch_version() -> Option<String> {
    let out = Command::new(python())
        .args(["-c", "import torch; print(torch.__version__)"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The best of `runs` wall times (seconds, after a warm-up) of each case, on `threads`
/// threads; `None` when PyTorch cannot be run.
pub fn time_convs(cases: &[TorchConv], threads: usize, runs: usize) -> Option<Vec<f64>> {
    let join = |v: &[usize]| {
        v.iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut child = Command::new(python())
        .args(["-c", SCRIPT, &threads.to_string(), &runs.to_string()])
        .env_remove("OPENBLAS_CORETYPE")
        .env_remove("OPENBLAS_L2_SIZE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    {
        let mut stdin = child.stdin.take()?;
        for c in cases {
            writeln!(
                stdin,
                "{} {} {} {} {} {}",
                c.op,
                join(&c.x),
                join(&c.w),
                c.stride,
                join(&c.padding),
                c.dilation
            )
            .ok()?;
        }
    }
    let out = child.wait_with_output().ok()?;
    if !out.status.success() {
        return None;
    }
    let times: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(|t| t.parse().ok())
        .collect::<Option<_>>()?;
    (times.len() == cases.len()).then_some(times)
}

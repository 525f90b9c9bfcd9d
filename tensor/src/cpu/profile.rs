//! Wall time per CPU op, summed over a run: set `HAPPYHORSE_CPU_PROFILE=1` and every op that
//! goes through `dispatch!` on the CPU is timed under its `module::op` name. Times are
//! inclusive (an op that calls other ops counts their time too). [`report`] returns the table.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// 0: not read yet, 1: off, 2: on.
static STATE: AtomicU8 = AtomicU8::new(0);
static TIMES: Mutex<Option<HashMap<&'static str, (u64, Duration)>>> = Mutex::new(None);

/// Whether `HAPPYHORSE_CPU_PROFILE` asks for op timing.
pub fn enabled() -> bool {
    match STATE.load(Ordering::Relaxed) {
        0 => {
            let on = std::env::var_os("HAPPYHORSE_CPU_PROFILE").is_some_and(|v| v != "0");
            STATE.store(if on { 2 } else { 1 }, Ordering::Relaxed);
            on
        }
        s => s == 2,
    }
}

/// Runs `f`, adding its wall time to `name` when profiling is on.
pub fn timed<R>(name: &'static str, f: impl FnOnce() -> R) -> R {
    if !enabled() {
        return f();
    }
    let t = Instant::now();
    let r = f();
    let dt = t.elapsed();
    let mut g = TIMES.lock().unwrap_or_else(|e| e.into_inner());
    let e = g.get_or_insert_with(HashMap::new).entry(name).or_default();
    e.0 += 1;
    e.1 += dt;
    r
}

/// The ops timed so far, slowest first, as `(name, calls, seconds)`; empties the table.
pub fn take() -> Vec<(&'static str, u64, f64)> {
    let mut g = TIMES.lock().unwrap_or_else(|e| e.into_inner());
    let mut v: Vec<_> = g
        .take()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, (n, d))| (k, n, d.as_secs_f64()))
        .collect();
    v.sort_by(|a, b| b.2.total_cmp(&a.2));
    v
}

/// [`take`] as a printable table, or `None` when nothing was timed.
pub fn report() -> Option<String> {
    let rows = take();
    if rows.is_empty() {
        return None;
    }
    let total: f64 = rows.iter().map(|r| r.2).sum();
    let mut s = format!(
        "{:<36} {:>8} {:>10} {:>7}\n",
        "CPU op", "calls", "seconds", "share"
    );
    for (name, n, secs) in rows {
        s += &format!(
            "{name:<36} {n:>8} {secs:>10.3} {:>6.1}%\n",
            100.0 * secs / total.max(1e-12)
        );
    }
    Some(s)
}

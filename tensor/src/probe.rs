//! Named intermediates of a forward pass, for whoever wants to look at them.
//!
//! A model takes a `&mut dyn Probe` and calls [`Probe::tap`] with a name and a tensor at
//! each point worth inspecting (`"layer3"`, `"decoder.conv1"`). Production passes
//! [`NoProbe`], which records nothing; a value that exists only for a probe (a packed
//! copy, a widened table) is computed only when [`Probe::enabled`] says so. The names are
//! the ones the golden fixtures use for their intermediates.

use crate::{Result, Tensor};

/// Receives the named intermediates of a forward pass.
pub trait Probe {
    /// Records `t` under `name`.
    fn tap(&mut self, name: &str, t: &Tensor) -> Result<()>;

    /// Whether taps are recorded at all; a model skips work done only for a probe when
    /// this is false.
    fn enabled(&self) -> bool;
}

/// The probe of production: records nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProbe;

impl Probe for NoProbe {
    fn tap(&mut self, _name: &str, _t: &Tensor) -> Result<()> {
        Ok(())
    }

    fn enabled(&self) -> bool {
        false
    }
}

/// Every tap, in order, under its name.
#[derive(Clone, Debug, Default)]
pub struct Recorder {
    /// What was recorded.
    pub taps: Vec<(String, Tensor)>,
}

impl Recorder {
    /// An empty recorder.
    pub fn new() -> Recorder {
        Recorder::default()
    }

    /// The recorded taps.
    pub fn into_taps(self) -> Vec<(String, Tensor)> {
        self.taps
    }
}

impl Probe for Recorder {
    fn tap(&mut self, name: &str, t: &Tensor) -> Result<()> {
        self.taps.push((name.to_string(), t.clone()));
        Ok(())
    }

    fn enabled(&self) -> bool {
        true
    }
}

/// Passes every tap on to another probe with `prefix` prepended to its name (a chunk's
/// `"decode.chunk2."`).
pub struct Prefixed<'a> {
    inner: &'a mut dyn Probe,
    prefix: String,
}

impl<'a> Prefixed<'a> {
    /// Taps of the result reach `inner` as `prefix` + name.
    pub fn new(inner: &'a mut dyn Probe, prefix: impl Into<String>) -> Prefixed<'a> {
        Prefixed {
            inner,
            prefix: prefix.into(),
        }
    }
}

impl Probe for Prefixed<'_> {
    fn tap(&mut self, name: &str, t: &Tensor) -> Result<()> {
        if !self.inner.enabled() {
            return Ok(());
        }
        self.inner.tap(&format!("{}{name}", self.prefix), t)
    }

    fn enabled(&self) -> bool {
        self.inner.enabled()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_nest_and_no_probe_sees_nothing() {
        let t = Tensor::from_vec(vec![1.0, 2.0], &[2]).unwrap();
        let mut rec = Recorder::new();
        {
            let mut outer = Prefixed::new(&mut rec, "decode.");
            outer.tap("z", &t).unwrap();
            let mut inner = Prefixed::new(&mut outer, "chunk1.");
            assert!(inner.enabled());
            inner.tap("conv1", &t).unwrap();
        }
        let names: Vec<&str> = rec.taps.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["decode.z", "decode.chunk1.conv1"]);
        let mut none = NoProbe;
        let p = Prefixed::new(&mut none, "x.");
        assert!(!p.enabled());
    }
}

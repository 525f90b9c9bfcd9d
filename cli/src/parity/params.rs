//! What a runner reads of a case besides its checks: the `meta.json → run` parameters,
//! every key of which is used or refused ([`RunParams`]), and the raw inputs by their
//! logical names ([`CaseInputs`]).

use std::path::Path;

use happyhorse_formats::{open_weights, WeightFileKind, WeightSource};
use happyhorse_tensor::{bail, Error, Result, Tensor};

use super::meta::Meta;

/// One object of a case's `meta.json → run` (the top level, or a component's entry) as a
/// runner reads it: every key it reads is marked, and [`RunParams::finish`] refuses any key
/// the runner neither used nor refused, naming it and the case. Keys named `note` or
/// ending in `_note` are documentation and always accepted.
#[derive(Debug)]
pub struct RunParams {
    map: serde_json::Map<String, serde_json::Value>,
    /// Where the object lives, for messages: `<case>/meta.json: run.<component>`.
    place: String,
    used: std::cell::RefCell<std::collections::BTreeSet<String>>,
}

impl RunParams {
    /// The component's entry `run.<component>` of the case (empty when absent).
    pub fn component(case_dir: &Path, meta: &Meta, component: &str) -> Result<RunParams> {
        let place = format!("{}: run.{component}", case_dir.join("meta.json").display());
        RunParams::new(meta.run.get(component), place)
    }

    /// The top level of `run` (empty when absent).
    pub fn top(case_dir: &Path, meta: &Meta) -> Result<RunParams> {
        let place = format!("{}: run", case_dir.join("meta.json").display());
        RunParams::new(Some(&meta.run), place)
    }

    fn new(value: Option<&serde_json::Value>, place: String) -> Result<RunParams> {
        let map = match value {
            None | Some(serde_json::Value::Null) => serde_json::Map::new(),
            Some(serde_json::Value::Object(m)) => m.clone(),
            Some(other) => bail!("{place} must be an object, got {other}"),
        };
        Ok(RunParams {
            map,
            place,
            used: Default::default(),
        })
    }

    /// `<case>/meta.json: run.<path>.<key>`, for messages.
    pub fn describe(&self, key: &str) -> String {
        format!("{}.{key}", self.place)
    }

    /// Whether the object has `key` (does not mark it).
    pub fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// The value of `key`, marking it used.
    pub fn get(&self, key: &str) -> Option<&serde_json::Value> {
        let v = self.map.get(key);
        if v.is_some() {
            self.used.borrow_mut().insert(key.to_string());
        }
        v
    }

    /// Marks `key` as known without reading it (a value that only documents the case).
    pub fn accept(&self, key: &str) {
        self.get(key);
    }

    fn typed<T>(
        &self,
        key: &str,
        what: &str,
        f: impl Fn(&serde_json::Value) -> Option<T>,
    ) -> Result<Option<T>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => f(v).map(Some).ok_or_else(|| {
                Error::msg(format!("{} must be {what}, got {v}", self.describe(key)))
            }),
        }
    }

    /// A number.
    pub fn f64(&self, key: &str) -> Result<Option<f64>> {
        self.typed(key, "a number", serde_json::Value::as_f64)
    }

    /// A non-negative integer.
    pub fn usize(&self, key: &str) -> Result<Option<usize>> {
        self.typed(key, "a non-negative integer", |v| {
            v.as_u64().map(|n| n as usize).or_else(|| {
                v.as_f64()
                    .filter(|f| *f >= 0.0 && f.fract() == 0.0)
                    .map(|f| f as usize)
            })
        })
    }

    /// A boolean.
    pub fn bool(&self, key: &str) -> Result<Option<bool>> {
        self.typed(key, "true or false", serde_json::Value::as_bool)
    }

    /// A string.
    pub fn str(&self, key: &str) -> Result<Option<String>> {
        self.typed(key, "a string", |v| v.as_str().map(str::to_string))
    }

    /// A list of non-negative integers.
    pub fn usize_list(&self, key: &str) -> Result<Option<Vec<usize>>> {
        self.typed(key, "a list of non-negative integers", |v| {
            v.as_array()?
                .iter()
                .map(|x| x.as_u64().map(|n| n as usize))
                .collect()
        })
    }

    /// A list of strings.
    pub fn str_list(&self, key: &str) -> Result<Option<Vec<String>>> {
        self.typed(key, "a list of strings", |v| {
            v.as_array()?
                .iter()
                .map(|x| x.as_str().map(str::to_string))
                .collect()
        })
    }

    /// A nested object, read the same way (its own [`RunParams::finish`] is the caller's).
    pub fn object(&self, key: &str) -> Result<Option<RunParams>> {
        match self.get(key) {
            None => Ok(None),
            Some(v @ serde_json::Value::Object(_)) => {
                Ok(Some(RunParams::new(Some(v), self.describe(key))?))
            }
            Some(v) => bail!("{} must be an object, got {v}", self.describe(key)),
        }
    }

    /// The weight file `weights` names (`default` when absent) and the `weights_format`
    /// the case gives for it, which must start with the file's kind (`gguf` for `*.gguf`,
    /// `torch` for `*.pth`/`*.pt`/`*.ckpt`/`*.bin`, else `safetensors`).
    pub fn weights_file(&self, default: &str) -> Result<(String, Option<String>)> {
        let weights = self.str("weights")?.unwrap_or_else(|| default.into());
        let format = self.str("weights_format")?;
        if let Some(format) = &format {
            let kind = weights_kind(&weights);
            if !format.to_ascii_lowercase().starts_with(kind) {
                bail!(
                    "{} is {format:?}, but the weights file {weights:?} is {kind}",
                    self.describe("weights_format")
                );
            }
        }
        Ok((weights, format))
    }

    /// A value the runner cannot change (what its implementation does): when present it
    /// must equal `expected` (numbers compared as f64), else the case is refused.
    pub fn expect(&self, key: &str, expected: serde_json::Value, why: &str) -> Result<()> {
        let Some(v) = self.get(key) else {
            return Ok(());
        };
        let same = match (v.as_f64(), expected.as_f64()) {
            (Some(a), Some(b)) => a == b,
            _ => *v == expected,
        };
        if !same {
            bail!(
                "{} is {v}; this runner only runs {expected} ({why})",
                self.describe(key)
            );
        }
        Ok(())
    }

    /// Refuses every key that was neither used nor refused, naming them and the case.
    pub fn finish(&self) -> Result<()> {
        let used = self.used.borrow();
        let unknown: Vec<&str> = self
            .map
            .keys()
            .map(String::as_str)
            .filter(|k| !used.contains(*k) && *k != "note" && !k.ends_with("_note"))
            .collect();
        if !unknown.is_empty() {
            bail!(
                "{}: unknown key{} {}: this runner neither uses nor understands {}",
                self.place,
                if unknown.len() == 1 { "" } else { "s" },
                unknown
                    .iter()
                    .map(|k| format!("{k:?}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                if unknown.len() == 1 { "it" } else { "them" }
            );
        }
        Ok(())
    }
}

/// The kind a weights file name says it is: `gguf`, `torch` or `safetensors` (a shard
/// index, or a name no reader claims).
fn weights_kind(name: &str) -> &'static str {
    match WeightFileKind::of_name(name) {
        Some(WeightFileKind::Gguf) => "gguf",
        Some(WeightFileKind::Torch) => "torch",
        _ => "safetensors",
    }
}

/// The raw inputs of a case as its runner names them: `run.<component>.inputs` maps each
/// input the component consumes (its logical name) to a tensor of `inputs.safetensors`.
/// A logical name the map does not list is looked up under its conventional tensor name;
/// [`CaseInputs::finish`] refuses a listed input the runner does not know.
pub struct CaseInputs {
    path: std::path::PathBuf,
    src: Box<dyn WeightSource>,
    map: RunParams,
}

impl CaseInputs {
    /// `inputs.safetensors` of the case, with the `inputs` map of `run` (marking it used).
    pub fn open(case_dir: &Path, run: &RunParams) -> Result<CaseInputs> {
        let path = case_dir.join("inputs.safetensors");
        let src = open_weights(&path)?;
        let map = match run.object("inputs")? {
            Some(m) => m,
            None => RunParams::new(None, run.describe("inputs"))?,
        };
        Ok(CaseInputs { path, src, map })
    }

    /// The tensor the map names for input `logical`, if it lists it.
    fn mapped(&self, logical: &str) -> Result<Option<String>> {
        match self.map.get(logical) {
            None => Ok(None),
            Some(v) => match v.as_str() {
                Some(s) => Ok(Some(s.to_string())),
                None => bail!("{} must name a tensor, got {v}", self.map.describe(logical)),
            },
        }
    }

    fn load(&self, name: &str) -> Result<Tensor> {
        let info = self
            .src
            .info(name)
            .ok_or_else(|| Error::msg(format!("{}: no tensor {name:?}", self.path.display())))?;
        Tensor::from_bytes(
            std::sync::Arc::new(self.src.bytes(name)?),
            info.dtype,
            &info.shape,
        )
    }

    /// Whether the map lists input `logical` (marks it).
    pub fn lists(&self, logical: &str) -> bool {
        self.map.get(logical).is_some()
    }

    /// Input `logical` (tensor `default` unless the map names another); it must exist.
    pub fn tensor(&self, logical: &str, default: &str) -> Result<Tensor> {
        let name = self.mapped(logical)?.unwrap_or_else(|| default.to_string());
        self.load(&name)
    }

    /// Input `logical` if the map lists it (it must then exist), else the first of
    /// `conventional` names the file holds, else `None`.
    pub fn optional(&self, logical: &str, conventional: &[&str]) -> Result<Option<Tensor>> {
        if let Some(name) = self.mapped(logical)? {
            return self.load(&name).map(Some);
        }
        match conventional.iter().find(|n| self.src.info(n).is_some()) {
            Some(n) => self.load(n).map(Some),
            None => Ok(None),
        }
    }

    /// Marks input `logical` as known although this run does not consume it.
    pub fn accept(&self, logical: &str) {
        self.map.accept(logical);
    }

    /// Refuses every listed input the runner neither consumed nor accepted.
    pub fn finish(&self) -> Result<()> {
        self.map.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_params_refuse_what_was_not_read() {
        let m = Meta::with_roles(
            serde_json::json!({"c": {
                "steps": 8, "shift": 5.0, "sampler_note": "doc", "note": "doc",
                "unipc": {"order": 2, "extra": 1}, "mystery": true
            }}),
            &["required"],
        );
        let run = RunParams::component(Path::new("case"), &m, "c").unwrap();
        assert_eq!(run.usize("steps").unwrap(), Some(8));
        assert!(run.f64("missing").unwrap().is_none());
        run.expect("shift", serde_json::json!(5), "why").unwrap();
        let err = run.expect("shift", serde_json::json!(1.0), "why");
        assert!(err.unwrap_err().to_string().contains("run.c.shift"));
        let u = run.object("unipc").unwrap().unwrap();
        u.usize("order").unwrap();
        let err = u.finish().unwrap_err().to_string();
        assert!(
            err.contains("run.c.unipc") && err.contains("\"extra\""),
            "{err}"
        );
        let err = run.finish().unwrap_err().to_string();
        assert!(
            err.contains("case/meta.json") && err.contains("\"mystery\"") && !err.contains("note"),
            "{err}"
        );
        run.accept("mystery");
        run.finish().unwrap();
        assert!(run.str("steps").is_err());
    }
}

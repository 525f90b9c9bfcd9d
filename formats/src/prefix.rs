//! A view of the tensors of a source whose names start with a prefix.

use std::sync::Arc;

use super::{TensorBytes, TensorInfo, WeightSource};
use crate::{Error, Result};

/// The tensors of `src` whose names start with `strip`, named without it (e.g.
/// `pretransform.model.decoder.x` → `decoder.x` for `strip = "pretransform.model."`).
pub fn with_prefix(src: impl Into<Arc<dyn WeightSource>>, strip: &str) -> Box<dyn WeightSource> {
    Box::new(Prefixed {
        src: src.into(),
        prefix: strip.to_string(),
    })
}

struct Prefixed {
    src: Arc<dyn WeightSource>,
    prefix: String,
}

impl WeightSource for Prefixed {
    fn names(&self) -> Vec<String> {
        self.src
            .names()
            .into_iter()
            .filter_map(|n| n.strip_prefix(&self.prefix).map(str::to_string))
            .collect()
    }

    fn info(&self, name: &str) -> Option<TensorInfo> {
        let mut info = self.src.info(&format!("{}{name}", self.prefix))?;
        info.name = name.to_string();
        Some(info)
    }

    fn bytes(&self, name: &str) -> Result<TensorBytes> {
        self.src
            .bytes(&format!("{}{name}", self.prefix))
            .map_err(|e: Error| e.context(format!("under prefix {:?}", self.prefix)))
    }

    fn describe(&self) -> String {
        format!("{} (under {:?})", self.src.describe(), self.prefix)
    }
}

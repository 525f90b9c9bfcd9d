//! A converted cache laid over the original file.

use std::sync::Arc;

use happyhorse_formats::{TensorBytes, TensorInfo, WeightSource};
use happyhorse_tensor::Result;

/// A source whose tensors come from `cache` where it holds them, else from `base`.
pub(super) struct Overlay {
    pub(super) base: Arc<dyn WeightSource>,
    pub(super) cache: Arc<dyn WeightSource>,
    pub(super) what: String,
}

impl WeightSource for Overlay {
    fn names(&self) -> Vec<String> {
        self.base.names()
    }

    fn info(&self, name: &str) -> Option<TensorInfo> {
        self.cache.info(name).or_else(|| self.base.info(name))
    }

    fn bytes(&self, name: &str) -> Result<TensorBytes> {
        match self.cache.info(name) {
            Some(_) => self.cache.bytes(name),
            None => self.base.bytes(name),
        }
    }

    fn describe(&self) -> String {
        format!(
            "{} ({} from {})",
            self.base.describe(),
            self.what,
            self.cache.describe()
        )
    }
}

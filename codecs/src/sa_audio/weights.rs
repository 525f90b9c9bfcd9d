//! The autoencoder's parameters come through [`happyhorse_nn::Weights`]; every weight norm
//! and SnakeBeta parameter is folded on the host in f64, then uploaded. These are the two
//! steps.

use happyhorse_nn::Weights;
use happyhorse_tensor::{Device, Result, ResultExt, Tensor};

/// The values of `name` (which must have `shape`) as f64, read on the host.
pub fn read_f64(w: &Weights, name: &str, shape: &[usize]) -> Result<Vec<f64>> {
    w.with_device(&Device::Cpu)
        .get(name, shape)?
        .to_vec_f64()
        .with_context(|| w.key(name))
}

/// An f32 tensor of `shape` on the model's device from host values.
pub fn upload(w: &Weights, values: Vec<f32>, shape: &[usize]) -> Result<Tensor> {
    Tensor::from_vec(values, shape)?.to_device(w.device())
}

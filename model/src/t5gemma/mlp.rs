//! The gated feed-forward block: `down(act(gate(x)) · up(x))`.

use happyhorse_tensor::{Result, Tensor};

use super::config::Activation;
use super::weights::LayerWeights;

/// The MLP of layer `w` on `x [.., hidden]`.
pub fn mlp(w: &LayerWeights, act: Activation, x: &Tensor) -> Result<Tensor> {
    let gate = w.gate_proj.forward(x)?;
    let gate = match act {
        Activation::GeluTanh => gate.gelu_tanh()?,
        Activation::GeluErf => gate.gelu_erf()?,
    };
    let up = w.up_proj.forward(x)?;
    w.down_proj.forward(&gate.mul(&up)?)
}

//! The Oobleck building blocks: `ResidualUnit`, `EncoderBlock` and `DecoderBlock`.

use happyhorse_nn::Weights;
use happyhorse_tensor::{Result, Tensor};

use super::snake::Activation;
use super::stack::Block;
use super::weight_norm::{Conv1dSpec, WnConv1d, WnConvTranspose1d};

/// The dilations of the three residual units of every block.
pub const DILATIONS: [usize; 3] = [1, 3, 9];

/// `ResidualUnit(C, d)`: act, conv k7 (dilation d, padding 3d), act, conv k1, plus the input.
/// Keys: `{prefix}.layers.{0,1,2,3}`.
pub struct ResidualUnit {
    act1: Activation,
    conv1: WnConv1d,
    act2: Activation,
    conv2: WnConv1d,
}

impl ResidualUnit {
    /// Loads the unit under `prefix`.
    pub fn load(
        r: &Weights,
        prefix: &str,
        channels: usize,
        dilation: usize,
        use_snake: bool,
    ) -> Result<ResidualUnit> {
        let conv1 = Conv1dSpec {
            dilation,
            ..Conv1dSpec::same(channels, channels, 7, 3 * dilation)
        };
        Ok(ResidualUnit {
            act1: Activation::load(r, &format!("{prefix}.layers.0"), channels, use_snake)?,
            conv1: WnConv1d::load(r, &format!("{prefix}.layers.1"), conv1)?,
            act2: Activation::load(r, &format!("{prefix}.layers.2"), channels, use_snake)?,
            conv2: WnConv1d::load(
                r,
                &format!("{prefix}.layers.3"),
                Conv1dSpec::same(channels, channels, 1, 0),
            )?,
        })
    }

    /// Applies the unit.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = self.act1.forward(x)?;
        let y = self.conv1.forward(&y)?;
        let y = self.act2.forward(&y)?;
        self.conv2.forward(&y)?.add(x)
    }
}

/// Loads the three residual units stored at `{prefix}.layers.{first..first+3}`.
fn load_units(
    r: &Weights,
    prefix: &str,
    first: usize,
    channels: usize,
    use_snake: bool,
) -> Result<Vec<ResidualUnit>> {
    DILATIONS
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            ResidualUnit::load(
                r,
                &format!("{prefix}.layers.{}", first + i),
                channels,
                d,
                use_snake,
            )
        })
        .collect()
}

/// The channels, stride and activation of one encoder or decoder block.
#[derive(Clone, Copy, Debug)]
pub struct BlockShape {
    /// Input channels.
    pub cin: usize,
    /// Output channels.
    pub cout: usize,
    /// The factor the block divides (encoder) or multiplies (decoder) the length by.
    pub stride: usize,
    /// SnakeBeta (else ELU) activations.
    pub use_snake: bool,
}

/// `EncoderBlock(in → out, s)`: three residual units on `in`, act, then a conv with kernel
/// `2s`, stride `s`, padding `⌈s/2⌉` (length `N → ⌊N/s⌋`).
pub struct EncoderBlock {
    units: Vec<ResidualUnit>,
    act: Activation,
    down: WnConv1d,
}

impl EncoderBlock {
    /// Loads the block under `prefix`.
    pub fn load(r: &Weights, prefix: &str, shape: BlockShape) -> Result<EncoderBlock> {
        let down = Conv1dSpec {
            stride: shape.stride,
            ..Conv1dSpec::same(
                shape.cin,
                shape.cout,
                2 * shape.stride,
                shape.stride.div_ceil(2),
            )
        };
        Ok(EncoderBlock {
            units: load_units(r, prefix, 0, shape.cin, shape.use_snake)?,
            act: Activation::load(r, &format!("{prefix}.layers.3"), shape.cin, shape.use_snake)?,
            down: WnConv1d::load(r, &format!("{prefix}.layers.4"), down)?,
        })
    }
}

impl Block for EncoderBlock {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut x = x.clone();
        for u in &self.units {
            x = u.forward(&x)?;
        }
        self.down.forward(&self.act.forward(&x)?)
    }
}

/// `DecoderBlock(in → out, s)`: act, a transposed conv with kernel `2s`, stride `s`,
/// padding `⌈s/2⌉` (length `×s`), then three residual units on `out`.
pub struct DecoderBlock {
    act: Activation,
    up: WnConvTranspose1d,
    units: Vec<ResidualUnit>,
}

impl DecoderBlock {
    /// Loads the block under `prefix`.
    pub fn load(r: &Weights, prefix: &str, shape: BlockShape) -> Result<DecoderBlock> {
        Ok(DecoderBlock {
            act: Activation::load(r, &format!("{prefix}.layers.0"), shape.cin, shape.use_snake)?,
            up: WnConvTranspose1d::load(
                r,
                &format!("{prefix}.layers.1"),
                shape.cin,
                shape.cout,
                2 * shape.stride,
                shape.stride,
                shape.stride.div_ceil(2),
            )?,
            units: load_units(r, prefix, 2, shape.cout, shape.use_snake)?,
        })
    }
}

impl Block for DecoderBlock {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut x = self.up.forward(&self.act.forward(x)?)?;
        for u in &self.units {
            x = u.forward(&x)?;
        }
        Ok(x)
    }
}

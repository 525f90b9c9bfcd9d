//! Tensor ops: shape checks and the dispatch to the device's kernel.
//!
//! Each file holds one op family; its CPU kernel lives in the file of the same name under
//! `cpu/` and its WGSL twin under `gpu/` (with the shader in `shaders/`); its parameter
//! types, which the backends share, under `params/`. An op reaches its kernels only through
//! [`dispatch!`]. Every op takes inputs on one device and returns a packed f32 tensor on
//! that device.

pub mod attention;
pub mod channel_norm;
pub mod clamped_gelu;
pub mod conv;
pub mod elementwise;
pub mod gated_heads;
pub mod matmul;
pub mod norm;
pub mod qk_norm_rope;
pub mod reduce;
pub mod resize;
pub mod rope;
pub mod segment_norm;
pub mod snake;
pub mod softmax;

/// Runs the CPU or the GPU twin of an op, by the device of `$t`, after checking that no
/// stop was asked for (see [`crate::cancel`]): `dispatch!(t, module::op(args))` calls
/// `cpu::module::op` or `gpu::module::op` with the same arguments.
macro_rules! dispatch {
    ($t:expr, $module:ident::$op:ident($($arg:expr),* $(,)?)) => {
        dispatch!(
            $t,
            $crate::cpu::profile::timed(
                concat!(stringify!($module), "::", stringify!($op)),
                || $crate::cpu::$module::$op($($arg),*),
            ),
            $crate::gpu::$module::$op($($arg),*)
        )
    };
    ($t:expr, $cpu:expr, $gpu:expr) => {{
        $crate::cancel::check()?;
        match $t.device() {
            $crate::Device::Cpu => $cpu,
            #[cfg(feature = "gpu")]
            $crate::Device::Gpu(_) => $gpu,
        }
    }};
}
pub(crate) use dispatch;

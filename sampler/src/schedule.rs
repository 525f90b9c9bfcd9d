//! The flow-matching sigma schedule with shift.

/// The first value of the 1000-step training grid, as the reference stores it (f32).
pub const SIGMA_MAX: f32 = 0.999;

/// Sigmas `σ_0 > … > σ_{N−1} > σ_N = 0` and integer timesteps of an N-step run.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowSchedule {
    /// N + 1 sigmas, the last one 0, rounded to f32.
    pub sigmas: Vec<f32>,
    /// N timesteps `trunc(1000·σ_k)` from the unrounded (f64) sigmas.
    pub timesteps: Vec<i64>,
}

impl FlowSchedule {
    /// `s_k` evenly spaced from `SIGMA_MAX` towards 0 (NumPy `linspace` arithmetic, f64),
    /// shifted `σ = shift·s / (1 + (shift − 1)·s)`.
    pub fn new(steps: usize, shift: f64) -> FlowSchedule {
        let start = SIGMA_MAX as f64;
        let step = (0.0 - start) / steps as f64;
        let mut sigmas = Vec::with_capacity(steps + 1);
        let mut timesteps = Vec::with_capacity(steps);
        for k in 0..steps {
            let s = k as f64 * step + start;
            let shifted = shift * s / (1.0 + (shift - 1.0) * s);
            sigmas.push(shifted as f32);
            timesteps.push((shifted * 1000.0).trunc() as i64);
        }
        sigmas.push(0.0);
        FlowSchedule { sigmas, timesteps }
    }

    /// Number of steps N.
    pub fn steps(&self) -> usize {
        self.timesteps.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::excessive_precision)]
    fn eight_step_distilled_sigmas_match_the_reference_table() {
        let s = FlowSchedule::new(8, 5.0);
        let want = [
            0.999_799_85,
            0.972_006_02,
            0.937_265_46,
            0.892_601_85,
            0.833_055_38,
            0.749_699_83,
            0.624_687_37,
            0.416_388_81,
            0.0,
        ];
        for (a, b) in s.sigmas.iter().zip(want) {
            assert!((a - b).abs() <= 1e-7, "{a} vs {b}");
        }
        assert_eq!(s.timesteps[0], 999);
        assert_eq!(s.timesteps[7], 416);
    }
}

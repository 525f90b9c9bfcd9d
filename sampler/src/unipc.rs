//! The flow UniPC multistep solver as the reference configures it: solver order 2,
//! variant bh2, data (x0) prediction from a flow velocity, lower order on the final step,
//! the corrector from the second step on, no thresholding.
//!
//! Every scalar coefficient is computed in f32 from the f32 sigmas, as the reference does.

use happyhorse_tensor::{Result, Tensor};

/// λ(σ) = ln(1 − σ) − ln σ (+∞ at σ = 0).
fn lambda(sigma: f32) -> f32 {
    (1.0 - sigma).ln() - sigma.ln()
}

/// Solver state of one latent (video and audio each have their own).
pub struct FlowUniPc {
    sigmas: Vec<f32>,
    /// Data predictions m_{k−1}, m_{k−2} (newest first).
    history: Vec<Tensor>,
    /// The point the previous predictor started from (x^c_{k−1}).
    last_corrected: Option<Tensor>,
    /// Order of the previous predictor step.
    last_order: usize,
    step_index: usize,
}

/// What one step produced.
pub struct UniPcStep {
    /// The corrected point the predictor started from (the model input at step 0).
    pub corrected: Tensor,
    /// The next sample x_{k+1}.
    pub next: Tensor,
}

impl FlowUniPc {
    /// A solver over `sigmas` (N + 1 values ending in 0).
    pub fn new(sigmas: &[f32]) -> FlowUniPc {
        FlowUniPc {
            sigmas: sigmas.to_vec(),
            history: Vec::new(),
            last_corrected: None,
            last_order: 0,
            step_index: 0,
        }
    }

    /// Takes step k with model input `x` and (guided) velocity `v`.
    pub fn step(&mut self, x: &Tensor, v: &Tensor) -> Result<UniPcStep> {
        let k = self.step_index;
        let n = self.sigmas.len() - 1;
        let s = &self.sigmas;
        let m = x.sub(&v.scale(s[k])?)?;

        let corrected = match (&self.last_corrected, k) {
            (Some(prev_x), k) if k >= 1 => {
                let m1 = &self.history[0];
                let h = lambda(s[k]) - lambda(s[k - 1]);
                let phi = (-h).exp_m1();
                let alpha = 1.0 - s[k];
                let ratio = s[k] / s[k - 1];
                let base = prev_x.scale(ratio)?.sub(&m1.scale(alpha * phi)?)?;
                let d_t = m.sub(m1)?;
                let corr = if self.last_order == 1 {
                    d_t.scale(0.5)?
                } else {
                    let m2 = &self.history[1];
                    let r = (lambda(s[k - 2]) - lambda(s[k - 1])) / h;
                    let d1 = m2.sub(m1)?.scale(1.0 / r)?;
                    let hh = -h;
                    let g1 = phi / hh - 1.0;
                    let b1 = g1 / phi;
                    let g2 = g1 / hh - 0.5;
                    let b2 = g2 * 2.0 / phi;
                    let (rho0, rho1) = solve_2x2(r, b1, b2);
                    d1.scale(rho0)?.add(&d_t.scale(rho1)?)?
                };
                base.sub(&corr.scale(alpha * phi)?)?
            }
            _ => x.clone(),
        };

        let order = 2.min(n - k).min(k + 1);
        let h = lambda(s[k + 1]) - lambda(s[k]);
        let phi = (-h).exp_m1();
        let alpha = 1.0 - s[k + 1];
        let ratio = s[k + 1] / s[k];
        let mut next = corrected.scale(ratio)?.sub(&m.scale(alpha * phi)?)?;
        if order == 2 {
            let r = (lambda(s[k - 1]) - lambda(s[k])) / h;
            let d1 = self.history[0].sub(&m)?.scale(1.0 / r)?;
            next = next.sub(&d1.scale(alpha * phi * 0.5)?)?;
        }

        self.history.insert(0, m);
        self.history.truncate(2);
        self.last_corrected = Some(corrected.clone());
        self.last_order = order;
        self.step_index += 1;
        Ok(UniPcStep { corrected, next })
    }
}

/// Solves `[[1, 1], [r, 1]]·(ρ0, ρ1) = (b1, b2)` by Gaussian elimination with partial
/// pivoting, in f32.
fn solve_2x2(r: f32, b1: f32, b2: f32) -> (f32, f32) {
    if r.abs() > 1.0 {
        // Pivot on the second row: r·ρ0 + ρ1 = b2.
        let l = 1.0 / r;
        let u11 = 1.0 - l;
        let y2 = b1 - l * b2;
        let rho1 = y2 / u11;
        ((b2 - rho1) / r, rho1)
    } else {
        let u11 = 1.0 - r;
        let y2 = b2 - r * b1;
        let rho1 = y2 / u11;
        (b1 - rho1, rho1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_by_two_solve_is_exact_on_a_known_system() {
        for r in [0.3f32, -2.5, 4.0] {
            let (a, b) = solve_2x2(r, 1.5, -0.25);
            assert!((a + b - 1.5).abs() < 1e-5);
            assert!((r * a + b + 0.25).abs() < 1e-5);
        }
    }

    #[test]
    fn last_step_returns_the_data_prediction() {
        let sig = [0.9f32, 0.5, 0.0];
        let mut u = FlowUniPc::new(&sig);
        let x = Tensor::from_vec(vec![1.0, 2.0], &[2]).unwrap();
        let v = Tensor::from_vec(vec![0.5, -1.0], &[2]).unwrap();
        let s0 = u.step(&x, &v).unwrap();
        let s1 = u.step(&s0.next, &v).unwrap();
        let want: Vec<f32> = s0
            .next
            .to_vec()
            .unwrap()
            .iter()
            .zip([0.5, -1.0])
            .map(|(x, v)| x - 0.5 * v)
            .collect();
        assert_eq!(s1.next.to_vec().unwrap(), want);
    }
}

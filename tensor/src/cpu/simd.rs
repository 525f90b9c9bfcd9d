//! Vectorised helpers shared by kernels: e^x over a slice.

/// Replaces every `v` by `e^v`: within a few ulp; inputs below −87.3 (and −∞) give 0, NaN
/// stays NaN, inputs above 88.3 saturate at e^88.3.
pub fn exp_inplace(v: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has AVX2 and FMA.
            unsafe { x86::exp_avx2(v) };
            return;
        }
    }
    v.iter_mut().for_each(|x| *x = x.exp());
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// e^x on eight lanes: x = n·ln2 + r, a degree-6 polynomial in r, 2ⁿ from the exponent bits.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn exp8(x0: __m256) -> __m256 {
        let x = _mm256_min_ps(
            _mm256_max_ps(x0, _mm256_set1_ps(-87.3)),
            _mm256_set1_ps(88.3),
        );
        let n = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
            _mm256_mul_ps(x, _mm256_set1_ps(std::f32::consts::LOG2_E)),
        );
        let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693_359_4), x);
        let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.121_944_4e-4), r);
        let mut y = _mm256_set1_ps(1.987_569_1e-4);
        for c in [
            1.398_199_9e-3,
            8.333_452e-3,
            4.166_579_6e-2,
            0.166_666_65,
            0.5,
        ] {
            y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(c));
        }
        y = _mm256_fmadd_ps(
            y,
            _mm256_mul_ps(r, r),
            _mm256_add_ps(r, _mm256_set1_ps(1.0)),
        );
        let e = _mm256_slli_epi32::<23>(_mm256_add_epi32(
            _mm256_cvtps_epi32(n),
            _mm256_set1_epi32(127),
        ));
        let y = _mm256_mul_ps(y, _mm256_castsi256_ps(e));
        let keep = _mm256_cmp_ps::<_CMP_NLT_UQ>(x0, _mm256_set1_ps(-87.3));
        let nan = _mm256_cmp_ps::<_CMP_UNORD_Q>(x0, x0);
        _mm256_or_ps(_mm256_and_ps(y, keep), nan)
    }

    /// [`super::exp_inplace`] with AVX2.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn exp_avx2(v: &mut [f32]) {
        // SAFETY: the caller upholds this function's contract (see its documentation).
        unsafe {
            let mut chunks = v.chunks_exact_mut(8);
            for c in &mut chunks {
                _mm256_storeu_ps(c.as_mut_ptr(), exp8(_mm256_loadu_ps(c.as_ptr())));
            }
            let rest = chunks.into_remainder();
            if !rest.is_empty() {
                let mut tmp = [0.0f32; 8];
                tmp[..rest.len()].copy_from_slice(rest);
                _mm256_storeu_ps(tmp.as_mut_ptr(), exp8(_mm256_loadu_ps(tmp.as_ptr())));
                rest.copy_from_slice(&tmp[..rest.len()]);
            }
        }
    }
}

//! Micro-kernels: `C[m × n] (+)= Apanel · Bpanel` for one `MR × KC` by `KC × NR` pair of
//! packed panels, `m ≤ MR`, `n ≤ NR`.

use std::sync::OnceLock;

/// A micro-kernel and its register-tile shape.
pub struct Kernel {
    /// Its name (`"avx512"`, `"avx2+fma"`, `"portable"`).
    pub name: &'static str,
    /// Rows of the register tile.
    pub mr: usize,
    /// Columns of the register tile.
    pub nr: usize,
    /// `run(kc, a, b, c, ldc, m, n, accumulate)`: `a` holds `kc·MR` packed values, `b`
    /// `kc·NR`, and `c` addresses `m` rows of `n` values with row stride `ldc`.
    ///
    /// # Safety
    /// The pointers must be valid for those extents, and the CPU must support the
    /// kernel's instructions (guaranteed for kernels from [`available_kernels`]).
    pub run: unsafe fn(usize, *const f32, *const f32, *mut f32, usize, usize, usize, bool),
}

/// Writes a full `MR × NR` register tile held in `tmp` into C (edges and accumulation).
///
/// # Safety
/// `c` must address `m` rows of `n` values with stride `ldc`.
#[inline(always)]
pub(crate) unsafe fn store_tile<const NR: usize>(
    tmp: &[f32],
    c: *mut f32,
    ldc: usize,
    m: usize,
    n: usize,
    acc: bool,
) {
    // SAFETY: the caller upholds this function's contract (see its documentation).
    unsafe {
        for i in 0..m {
            let row = c.add(i * ldc);
            for j in 0..n {
                let v = tmp[i * NR + j];
                *row.add(j) = if acc { *row.add(j) + v } else { v };
            }
        }
    }
}

/// An `MR × NR` register tile the compiler vectorises with the baseline SIMD: `kc` rows of
/// B, row `k` at `row(k)` (`NR` values), times the `kc·MR` packed values of A.
///
/// # Safety
/// `a` must hold `kc·MR` values, every `row(k)` must address `NR` values, and `c` must
/// address `m` rows of `n` values with stride `ldc`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn portable_tile<const MR: usize, const NR: usize>(
    kc: usize,
    a: *const f32,
    row: impl Fn(usize) -> *const f32,
    c: *mut f32,
    ldc: usize,
    m: usize,
    n: usize,
    acc: bool,
) {
    // SAFETY: the caller upholds this function's contract (see its documentation).
    unsafe {
        let a = std::slice::from_raw_parts(a, kc * MR);
        let mut t = [[0.0f32; NR]; MR];
        for (k, ap) in a.chunks_exact(MR).enumerate() {
            let b = &*(row(k) as *const [f32; NR]);
            for i in 0..MR {
                for j in 0..NR {
                    t[i][j] += ap[i] * b[j];
                }
            }
        }
        store_tile::<NR>(t.as_flattened(), c, ldc, m, n, acc);
    }
}

/// The portable micro-kernel: a 4 × 16 [`portable_tile`] over packed B panels.
///
/// # Safety
/// See [`Kernel::run`].
#[allow(clippy::too_many_arguments)]
unsafe fn portable_4x16(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    m: usize,
    n: usize,
    acc: bool,
) {
    // SAFETY: the caller upholds this function's contract; row k of the panel starts at
    // b + 16·k.
    unsafe { portable_tile::<4, 16>(kc, a, |k| b.add(16 * k), c, ldc, m, n, acc) }
}

/// An x86 register-tile kernel for one vector width: an `MR × 2·W` tile (`W` lanes of f32
/// per register) in `2·MR` accumulators, from the width's zero, load, store, splat, fused
/// multiply-add and add intrinsics. `b(…)` declares the function's B-operand parameters
/// and `row(k) { … }` gives the address of row `k` of B (`2·W` values): a packed panel for
/// the GEMM, an offset into the input for the direct convolution. The doc attributes carry
/// the function's safety contract.
#[cfg(target_arch = "x86_64")]
macro_rules! register_tile {
    ($(#[$doc:meta])* $name:ident, $feature:literal, mr $mr:literal, lanes $w:literal,
     [$zero:ident, $load:ident, $store:ident, $splat:ident, $fmadd:ident, $add:ident],
     b($($arg:ident: $ty:ty),*), row($k:ident) $row:block) => {
        $(#[$doc])*
        #[target_feature(enable = $feature)]
        #[allow(clippy::too_many_arguments)]
        pub unsafe fn $name(
            kc: usize,
            mut a: *const f32,
            $($arg: $ty,)*
            c: *mut f32,
            ldc: usize,
            m: usize,
            n: usize,
            acc: bool,
        ) {
            // SAFETY: the caller upholds this function's contract (see its documentation).
            unsafe {
                const MR: usize = $mr;
                const W: usize = $w;
                const NR: usize = 2 * W;
                let mut r = [[$zero(); 2]; MR];
                for $k in 0..kc {
                    let p: *const f32 = $row;
                    let b0 = $load(p);
                    let b1 = $load(p.add(W));
                    for (i, ri) in r.iter_mut().enumerate() {
                        let ai = $splat(*a.add(i));
                        ri[0] = $fmadd(ai, b0, ri[0]);
                        ri[1] = $fmadd(ai, b1, ri[1]);
                    }
                    a = a.add(MR);
                }
                if m == MR && n == NR {
                    for (i, ri) in r.iter().enumerate() {
                        let row = c.add(i * ldc);
                        let (mut v0, mut v1) = (ri[0], ri[1]);
                        if acc {
                            v0 = $add(v0, $load(row));
                            v1 = $add(v1, $load(row.add(W)));
                        }
                        $store(row, v0);
                        $store(row.add(W), v1);
                    }
                } else {
                    let mut tmp = [0.0f32; MR * NR];
                    for (i, ri) in r.iter().enumerate() {
                        $store(tmp.as_mut_ptr().add(i * NR), ri[0]);
                        $store(tmp.as_mut_ptr().add(i * NR + W), ri[1]);
                    }
                    $crate::cpu::gemm::store_tile::<NR>(&tmp, c, ldc, m, n, acc);
                }
            }
        }
    };
}
#[cfg(target_arch = "x86_64")]
pub(crate) use register_tile;

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    register_tile! {
        /// The AVX2+FMA micro-kernel: a 6 × 16 tile in twelve ymm accumulators.
        ///
        /// # Safety
        /// See [`super::Kernel::run`]; the CPU must have the kernel's target features.
        avx2_6x16, "avx2,fma", mr 6, lanes 8,
        [_mm256_setzero_ps, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_set1_ps,
         _mm256_fmadd_ps, _mm256_add_ps],
        b(b: *const f32), row(k) { b.add(16 * k) }
    }

    register_tile! {
        /// The AVX-512 micro-kernel: a 12 × 32 tile in twenty-four zmm accumulators.
        ///
        /// # Safety
        /// See [`super::Kernel::run`]; the CPU must have the kernel's target features.
        avx512_12x32, "avx512f", mr 12, lanes 16,
        [_mm512_setzero_ps, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_set1_ps,
         _mm512_fmadd_ps, _mm512_add_ps],
        b(b: *const f32), row(k) { b.add(32 * k) }
    }
}

static PORTABLE: Kernel = Kernel {
    name: "portable",
    mr: 4,
    nr: 16,
    run: portable_4x16,
};
#[cfg(target_arch = "x86_64")]
static AVX2: Kernel = Kernel {
    name: "avx2+fma",
    mr: 6,
    nr: 16,
    run: x86::avx2_6x16,
};
#[cfg(target_arch = "x86_64")]
static AVX512: Kernel = Kernel {
    name: "avx512",
    mr: 12,
    nr: 32,
    run: x86::avx512_12x32,
};

/// Every kernel this CPU can run, fastest first (the portable one is always last).
pub fn available_kernels() -> Vec<&'static Kernel> {
    let mut v: Vec<&'static Kernel> = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            v.push(&AVX512);
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            v.push(&AVX2);
        }
    }
    v.push(&PORTABLE);
    v
}

/// The fastest kernel of this CPU (detected once).
pub fn best_kernel() -> &'static Kernel {
    static BEST: OnceLock<&'static Kernel> = OnceLock::new();
    BEST.get_or_init(|| available_kernels()[0])
}

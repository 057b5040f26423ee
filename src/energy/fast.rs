//! The fast engine: E and its gradients for networks of Linear layers and element-wise
//! activations, written out by hand (the derivatives of the activations are known), on
//! buffers that are allocated once and reused. No autograd graph is built.
//!
//! - [`Workspace::energy`]: E(x) for a batch of rows.
//! - [`Workspace::energy_grad_x`]: E and ∇ₓE together (the sampler's inner loop).
//! - [`Workspace::param_grads`]: E and Σᵣ wᵣ ∂E(xᵣ)/∂θ for several row weightings at once, from
//!   one forward and one backward pass (the data term, the sample term and the
//!   regulariser's term of a training step).
//!
//! The candle engine ([`super::net`]) computes the same quantities by autograd; the tests
//! check that the two agree.

use super::spec::{Activation, Architecture, LEAKY_SLOPE, Op};
use std::ops::Range;

/// `dst[m×n] (+)= scale · lhs[m×k] · rhs[k×n]`, all given by (row stride, column stride).
#[allow(clippy::too_many_arguments, clippy::cast_possible_wrap)]
fn matmul(
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    (dst_rs, dst_cs): (usize, usize),
    accumulate: bool,
    lhs: &[f32],
    (lhs_rs, lhs_cs): (usize, usize),
    rhs: &[f32],
    (rhs_rs, rhs_cs): (usize, usize),
    scale: f32,
) {
    if m == 0 || n == 0 {
        return;
    }
    let last = |rows: usize, cols: usize, rs: usize, cs: usize| (rows - 1) * rs + (cols - 1) * cs;
    assert!(
        last(m, n, dst_rs, dst_cs) < dst.len(),
        "matmul: dst too small"
    );
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                for j in 0..n {
                    dst[i * dst_rs + j * dst_cs] = 0.0;
                }
            }
        }
        return;
    }
    assert!(
        last(m, k, lhs_rs, lhs_cs) < lhs.len(),
        "matmul: lhs too small"
    );
    assert!(
        last(k, n, rhs_rs, rhs_cs) < rhs.len(),
        "matmul: rhs too small"
    );
    #[cfg(target_arch = "x86_64")]
    #[allow(clippy::float_cmp)] // exactly 1: no scaling asked for
    if !accumulate
        && scale == 1.0
        && (dst_cs, lhs_cs, rhs_cs) == (1, 1, 1)
        && KernelLevel::current() == KernelLevel::Avx512
    {
        // SAFETY: the CPU has AVX-512F (`current` never exceeds the detected level); the
        // asserts above bound every index by the slices' lengths.
        unsafe {
            super::gemm512::gemm(
                (m, n, k),
                lhs,
                lhs_rs,
                rhs,
                rhs_rs,
                dst,
                dst_rs,
                None,
                super::gemm512::Epilogue::Store,
            );
        }
        return;
    }
    // SAFETY: the three asserts above bound every index gemm touches by the slices'
    // lengths; dst is borrowed mutably, so it does not alias lhs or rhs.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            dst_cs as isize,
            dst_rs as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            1.0,
            scale,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// e^x in f32 without a library call, so that loops over it vectorise: x = n·ln2 + r with
/// |r| ≤ ln2/2, e^r by its degree-6 Taylor polynomial (relative error below 2e-7), 2^n by
/// building the exponent bits. Inputs are clamped to [−87, 88] (no overflow, no denormals).
#[inline(always)]
fn exp_fast(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    #[allow(clippy::manual_clamp)] // max/min vectorise to two instructions; clamp adds NaN checks
    let x = x.max(-87.0).min(88.0);
    let n = (x * LOG2E + 0.5).floor();
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // n is a small integer: adding 1.5·2²³ puts it in the low mantissa bits, which
    // vectorises where an `as i32` cast (saturating, NaN-checked) does not.
    let n_bits = (n + 12_582_912.0).to_bits().wrapping_sub(0x4B40_0000);
    let bits = n_bits.wrapping_add(127) << 23;
    f32::from_bits(bits) * p
}

#[inline(always)]
fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + exp_fast(-z))
}

#[inline(always)]
fn tanh_fast(z: f32) -> f32 {
    // tanh z = 1 − 2/(e^{2z} + 1), exact at the clamps' ends.
    1.0 - 2.0 / (exp_fast(2.0 * z) + 1.0)
}

/// Applies `a` in place and writes its derivative at the input into `deriv`.
#[inline(always)]
fn act_forward_body(a: Activation, z: &mut [f32], deriv: &mut [f32]) {
    match a {
        Activation::Silu => {
            for (v, d) in z.iter_mut().zip(deriv.iter_mut()) {
                let s = sigmoid(*v);
                *d = s * (1.0 + *v * (1.0 - s));
                *v *= s;
            }
        }
        Activation::Relu => {
            for (v, d) in z.iter_mut().zip(deriv.iter_mut()) {
                *d = if *v > 0.0 { 1.0 } else { 0.0 };
                *v = v.max(0.0);
            }
        }
        Activation::LeakyRelu => {
            for (v, d) in z.iter_mut().zip(deriv.iter_mut()) {
                let pos = *v > 0.0;
                *d = if pos { 1.0 } else { LEAKY_SLOPE };
                *v = if pos { *v } else { *v * LEAKY_SLOPE };
            }
        }
        Activation::Elu => {
            for (v, d) in z.iter_mut().zip(deriv.iter_mut()) {
                let e = exp_fast(v.min(0.0));
                let pos = *v > 0.0;
                *d = if pos { 1.0 } else { e };
                *v = if pos { *v } else { e - 1.0 };
            }
        }
        Activation::Gelu => {
            const C: f32 = 0.797_884_6; // √(2/π)
            const K: f32 = 0.044_715;
            for (v, d) in z.iter_mut().zip(deriv.iter_mut()) {
                let x = *v;
                let t = tanh_fast(C * (x + K * x * x * x));
                *d = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * C * (1.0 + 3.0 * K * x * x);
                *v = 0.5 * x * (1.0 + t);
            }
        }
        Activation::Tanh => {
            for (v, d) in z.iter_mut().zip(deriv.iter_mut()) {
                let t = tanh_fast(*v);
                *d = 1.0 - t * t;
                *v = t;
            }
        }
        Activation::Softplus => {
            for (v, d) in z.iter_mut().zip(deriv.iter_mut()) {
                let x = *v;
                let e = exp_fast(-x.abs());
                // σ(x) from e = e^{−|x|}: 1/(1+e) for x ≥ 0, e/(1+e) otherwise.
                let inv = 1.0 / (1.0 + e);
                *d = if x >= 0.0 { inv } else { e * inv };
                *v = x.max(0.0) + (1.0 + e).ln();
            }
        }
    }
}

/// The activation `a` applied to `z` in place (values only).
pub fn activate(a: Activation, z: &mut [f32]) {
    act_only_body(a, z);
}

/// Only the values (evaluation of the energy alone).
#[inline(always)]
fn act_only_body(a: Activation, z: &mut [f32]) {
    match a {
        Activation::Silu => z.iter_mut().for_each(|v| *v *= sigmoid(*v)),
        Activation::Relu => z.iter_mut().for_each(|v| *v = v.max(0.0)),
        _ => {
            let mut scratch = [0.0_f32; 64];
            for chunk in z.chunks_mut(64) {
                act_forward_body(a, chunk, &mut scratch[..chunk.len()]);
            }
        }
    }
}

#[inline(always)]
fn mul_body(g: &mut [f32], d: &[f32]) {
    for (gv, dv) in g.iter_mut().zip(d) {
        *gv *= dv;
    }
}

/// The instruction sets the engine's own vector loops may use (gemm chooses its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum KernelLevel {
    /// The baseline target (SSE2 on x86-64; whatever the target has elsewhere).
    Baseline,
    /// AVX2 with FMA.
    Avx2,
    /// AVX-512F.
    Avx512,
}

impl KernelLevel {
    pub const ALL: [Self; 3] = [Self::Baseline, Self::Avx2, Self::Avx512];

    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Baseline => "baseline",
            Self::Avx2 => "avx2",
            Self::Avx512 => "avx512",
        }
    }

    /// The best level this CPU supports.
    #[must_use]
    pub fn detected() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Self::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Self::Avx2;
            }
        }
        Self::Baseline
    }

    /// The level the engine uses now: the detected one, capped by
    /// [`KernelLevel::set_cap`].
    #[must_use]
    pub fn current() -> Self {
        let cap = KERNEL_CAP.load(std::sync::atomic::Ordering::Relaxed);
        let detected = Self::detected();
        Self::ALL
            .into_iter()
            .find(|l| *l as u8 == cap)
            .map_or(detected, |c| c.min(detected))
    }

    /// Caps the level for the whole process (`None`: the best the CPU has), so that
    /// every path can be run and checked on a machine that has a better one.
    pub fn set_cap(cap: Option<Self>) {
        KERNEL_CAP.store(
            cap.map_or(u8::MAX, |c| c as u8),
            std::sync::atomic::Ordering::Relaxed,
        );
    }
}

static KERNEL_CAP: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(u8::MAX);

/// Compiles `$body` for AVX-512 and AVX2+FMA as well as the baseline, and picks the best
/// at run time (the default x86-64 target has only SSE2), within the cap.
macro_rules! dispatch {
    ($name:ident, $body:ident, ($($arg:ident: $ty:ty),*)) => {
        fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                fn avx512($($arg: $ty),*) {
                    $body($($arg),*);
                }
                #[target_feature(enable = "avx2,fma")]
                fn avx2($($arg: $ty),*) {
                    $body($($arg),*);
                }
                match KernelLevel::current() {
                    // SAFETY: the CPU has the features this copy was compiled for
                    // (`current` never exceeds the detected level).
                    KernelLevel::Avx512 => unsafe { avx512($($arg),*) },
                    // SAFETY: as above.
                    KernelLevel::Avx2 => unsafe { avx2($($arg),*) },
                    KernelLevel::Baseline => $body($($arg),*),
                }
            }
            #[cfg(not(target_arch = "x86_64"))]
            $body($($arg),*);
        }
    };
}

dispatch!(act_forward_auto, act_forward_body, (a: Activation, z: &mut [f32], deriv: &mut [f32]));
dispatch!(act_only_auto, act_only_body, (a: Activation, z: &mut [f32]));

/// `a` applied in place, its derivative into `deriv`; SiLU with AVX-512 through the
/// hand-vectorised kernel (no division), the rest as the compiler vectorises them.
fn act_forward(a: Activation, z: &mut [f32], deriv: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if a == Activation::Silu && KernelLevel::current() == KernelLevel::Avx512 {
        // SAFETY: the level implies AVX-512F.
        unsafe { super::gemm512::silu(z, Some(deriv)) };
        return;
    }
    act_forward_auto(a, z, deriv);
}

/// `a` applied in place (values only).
fn act_only(a: Activation, z: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if a == Activation::Silu && KernelLevel::current() == KernelLevel::Avx512 {
        // SAFETY: the level implies AVX-512F.
        unsafe { super::gemm512::silu(z, None) };
        return;
    }
    act_only_auto(a, z);
}
dispatch!(mul_in_place, mul_body, (g: &mut [f32], d: &[f32]));

/// How the rows of a batch are weighted in a parameter gradient Σᵣ wᵣ ∂E(xᵣ)/∂θ.
#[derive(Debug, Clone)]
pub enum RowWeights<'a> {
    /// `scale` for every row in `rows`, zero elsewhere.
    Range { rows: Range<usize>, scale: f32 },
    /// One weight per row.
    PerRow(&'a [f32]),
    /// `scale · E(xᵣ)` for every row in `rows` (the gradient of `scale/2 · Σ E²`).
    EnergyScaled { rows: Range<usize>, scale: f32 },
}

impl RowWeights<'_> {
    /// The same weighting for the rows `start..end` alone, numbered from 0 there
    /// (`None` when it gives them all weight zero).
    fn window(&self, start: usize, end: usize) -> Option<RowWeights<'_>> {
        let clip = |r: &Range<usize>| {
            let (a, b) = (r.start.max(start), r.end.min(end));
            (a < b).then(|| a - start..b - start)
        };
        match self {
            Self::Range { rows, scale } => clip(rows).map(|rows| RowWeights::Range {
                rows,
                scale: *scale,
            }),
            Self::PerRow(w) => Some(RowWeights::PerRow(&w[start..end])),
            Self::EnergyScaled { rows, scale } => clip(rows).map(|rows| RowWeights::EnergyScaled {
                rows,
                scale: *scale,
            }),
        }
    }
}

/// A parameter gradient over more rows than this runs in pieces of this many rows, each
/// piece's forward pass, backward pass and sums while its buffers are in cache (a
/// 128-wide layer's buffers for 1 024 rows are 512 KB each).
const GRAD_PIECE: usize = 256;

/// Reusable buffers for one architecture; grows to the largest batch it has seen.
#[derive(Debug, Clone)]
pub struct Workspace {
    arch: Architecture,
    rows: usize,
    /// `bufs[0]` is the input; one buffer per Linear output (activations work in place).
    bufs: Vec<Vec<f32>>,
    /// One buffer per activation: its derivative at its input.
    derivs: Vec<Vec<f32>>,
    /// Where each op reads and writes: (input buffer, output buffer or derivative index).
    plan: Vec<(usize, usize)>,
    /// Backward: the gradient w.r.t. each Linear output for unit row weights.
    upstream: Vec<Vec<f32>>,
    grad_a: Vec<f32>,
    grad_b: Vec<f32>,
    scaled: Vec<f32>,
    /// With K logits: softmax(f) per row, after a forward pass.
    probs: Vec<f32>,
    /// Each Linear layer's weights transposed ([input][output]), for the forward product
    /// through the AVX-512 kernel (`gemm512`); valid for the parameters at `packed_for`
    /// (their address and length) between [`Workspace::pack`] and [`Workspace::unpack`].
    packed: Vec<f32>,
    packed_for: Option<(usize, usize)>,
    /// Where each op's packed weights start in `packed` (Linear ops only).
    packed_at: Vec<usize>,
    /// The packing was made by [`Workspace::with_pack`] for one call (and is dropped
    /// at the start of the next one if that call did not finish).
    pack_temp: bool,
}

/// `t` (cols × rows) = `w` (rows × cols)ᵀ, both row-major, in 16 × 16 tiles: one at a
/// time in cache, where an element-by-element transpose of a layer's weights wrote each
/// value to a different cache line (about 2 ns a value, some 40 µs a pack).
fn transpose(w: &[f32], rows: usize, cols: usize, t: &mut [f32]) {
    const TILE: usize = 16;
    assert!(w.len() >= rows * cols && t.len() >= rows * cols);
    for r0 in (0..rows).step_by(TILE) {
        for c0 in (0..cols).step_by(TILE) {
            for c in c0..(c0 + TILE).min(cols) {
                let dst = &mut t[c * rows..c * rows + rows];
                for r in r0..(r0 + TILE).min(rows) {
                    dst[r] = w[r * cols + c];
                }
            }
        }
    }
}

/// Where a backward pass starts (see [`Workspace::backward_unit`]).
#[derive(Debug, Clone, Copy)]
enum Seed<'a> {
    Energy,
    CrossEntropy(&'a [u32]),
    ClassEnergy(usize),
}

impl Workspace {
    /// Buffers for an MLP (Linear layers and activations; a feature map before the first
    /// Linear is flattened, as the network's input always is here).
    ///
    /// # Panics
    /// For a network with convolutions or pooling ([`Architecture::is_mlp`] is false):
    /// those run through candle (the `Auto` and `Autograd` engines).
    #[must_use]
    pub fn new(arch: &Architecture) -> Self {
        assert!(
            arch.is_mlp(),
            "the fast engine runs MLPs only (Linear layers and activations); this network has convolutions or pooling: run it with the Auto or Autograd engine"
        );
        let mut plan = Vec::with_capacity(arch.ops.len());
        let mut cur = 0;
        let mut n_bufs = 1;
        let mut n_derivs = 0;
        for op in &arch.ops {
            match op {
                Op::Linear { .. } => {
                    plan.push((cur, n_bufs));
                    cur = n_bufs;
                    n_bufs += 1;
                }
                Op::Act(_) => {
                    plan.push((cur, n_derivs));
                    n_derivs += 1;
                }
                Op::Conv2d { .. } | Op::Pool { .. } => unreachable!("checked above"),
            }
        }
        Self {
            arch: arch.clone(),
            rows: 0,
            bufs: vec![Vec::new(); n_bufs],
            derivs: vec![Vec::new(); n_derivs],
            plan,
            upstream: vec![Vec::new(); n_bufs],
            grad_a: Vec::new(),
            grad_b: Vec::new(),
            scaled: Vec::new(),
            probs: Vec::new(),
            packed: Vec::new(),
            packed_for: None,
            packed_at: vec![0; arch.ops.len()],
            pack_temp: false,
        }
    }

    /// Runs `f` with the weights of `params` packed: those of a sampler run when they are
    /// packed already, else packed for this call alone (for batches where it pays).
    fn with_pack<R>(&mut self, params: &[f32], rows: usize, f: impl FnOnce(&mut Self) -> R) -> R {
        if self.pack_temp {
            self.unpack();
        }
        let own = rows >= 32 && !self.is_packed_for(params);
        if own {
            self.pack(params);
            self.pack_temp = true;
        }
        let r = f(self);
        if own {
            self.unpack();
        }
        r
    }

    /// Packs the weights of `params` for the forward product, for a run of calls that all
    /// pass this same `params` (a sampler run: the caller holds the borrow throughout, so
    /// the values cannot change), until [`Workspace::unpack`]. Without AVX-512 it does
    /// nothing.
    pub fn pack(&mut self, params: &[f32]) {
        self.packed_for = None;
        if KernelLevel::current() != KernelLevel::Avx512 {
            return;
        }
        self.packed.clear();
        for (n, op) in self.arch.ops.iter().enumerate() {
            if let Op::Linear {
                input,
                output,
                weight,
                ..
            } = *op
            {
                let w = &params[weight..weight + output * input];
                let at = self.packed.len();
                self.packed_at[n] = at;
                self.packed.resize(at + input * output, 0.0);
                transpose(w, output, input, &mut self.packed[at..]);
            }
        }
        self.packed_for = Some((params.as_ptr() as usize, params.len()));
    }

    /// Whether the packed weights are those of `params` (and can be used).
    fn is_packed_for(&self, params: &[f32]) -> bool {
        self.packed_for == Some((params.as_ptr() as usize, params.len()))
            && KernelLevel::current() == KernelLevel::Avx512
    }

    /// Ends what [`Workspace::pack`] began: later calls read the weights from `params`.
    pub fn unpack(&mut self) {
        self.packed_for = None;
        self.pack_temp = false;
    }

    #[must_use]
    pub fn architecture(&self) -> &Architecture {
        &self.arch
    }

    fn reserve(&mut self, rows: usize) {
        if rows <= self.rows {
            return;
        }
        self.rows = rows;
        let w = self.arch.max_width();
        self.bufs[0].resize(rows * self.arch.input_dim, 0.0);
        for (op, &(_, out)) in self.arch.ops.iter().zip(&self.plan) {
            match *op {
                Op::Linear { output, .. } => {
                    self.bufs[out].resize(rows * output, 0.0);
                    self.upstream[out].resize(rows * output, 0.0);
                }
                Op::Act(_) | Op::Conv2d { .. } | Op::Pool { .. } => {}
            }
        }
        // Derivative buffers take the width of the buffer they act on.
        let mut width = self.arch.input_dim;
        for (op, &(_, slot)) in self.arch.ops.iter().zip(&self.plan) {
            match *op {
                Op::Linear { output, .. } => width = output,
                Op::Act(_) => self.derivs[slot].resize(rows * width, 0.0),
                Op::Conv2d { .. } | Op::Pool { .. } => {}
            }
        }
        self.grad_a.resize(rows * w, 0.0);
        self.grad_b.resize(rows * w, 0.0);
        self.scaled.resize(rows * w, 0.0);
        self.probs.resize(rows * self.arch.outputs, 0.0);
    }

    /// The forward pass; with `keep_derivs` the activations' derivatives are stored too.
    fn forward(&mut self, params: &[f32], x: &[f32], rows: usize, keep_derivs: bool) {
        let d = self.arch.input_dim;
        assert_eq!(
            x.len(),
            rows * d,
            "input has {} values, expected {rows}×{d}",
            x.len()
        );
        assert_eq!(
            params.len(),
            self.arch.n_params,
            "parameter vector has the wrong length"
        );
        self.reserve(rows);
        self.bufs[0][..rows * d].copy_from_slice(x);
        let packed = self.is_packed_for(params);
        let mut width = d;
        // The activation after a product was applied in the product's epilogue.
        let mut done = false;
        for (i, op) in self.arch.ops.iter().enumerate() {
            let (src, dst) = self.plan[i];
            if std::mem::take(&mut done) {
                continue;
            }
            match *op {
                Op::Linear {
                    input,
                    output,
                    weight,
                    bias,
                    ..
                } => {
                    let (lo, hi) = self.bufs.split_at_mut(dst);
                    let a = &lo[src][..rows * input];
                    let z = &mut hi[0][..rows * output];
                    #[cfg(target_arch = "x86_64")]
                    if packed {
                        let at = self.packed_at[i];
                        let wt = &self.packed[at..at + input * output];
                        let w = &params[weight..weight + output * input];
                        let b = &params[bias..bias + output];
                        // SAFETY: `packed` implies AVX-512F; a is rows×input, wt
                        // input×output, w output×input, z rows×output and b output
                        // long, all row-major.
                        unsafe {
                            if output < super::gemm512::NARROW_BELOW {
                                super::gemm512::gemm_narrow(
                                    (rows, output, input),
                                    a,
                                    input,
                                    w,
                                    input,
                                    z,
                                    output,
                                    Some(b),
                                );
                            } else {
                                // SiLU (the common case) right after the product, while
                                // the block is in registers.
                                let epilogue = match self.arch.ops.get(i + 1) {
                                    Some(Op::Act(Activation::Silu)) => {
                                        done = true;
                                        let slot = self.plan[i + 1].1;
                                        super::gemm512::Epilogue::Silu(
                                            keep_derivs
                                                .then(|| &mut self.derivs[slot][..rows * output]),
                                        )
                                    }
                                    _ => super::gemm512::Epilogue::Store,
                                };
                                super::gemm512::gemm(
                                    (rows, output, input),
                                    a,
                                    input,
                                    wt,
                                    output,
                                    z,
                                    output,
                                    Some(b),
                                    epilogue,
                                );
                            }
                        }
                        width = output;
                        continue;
                    }
                    let w = &params[weight..weight + output * input];
                    // z = a · Wᵀ: Wᵀ[k][n] = W[n][k] → (row stride 1, column stride input)
                    matmul(
                        (rows, output, input),
                        z,
                        (output, 1),
                        false,
                        a,
                        (input, 1),
                        w,
                        (1, input),
                        1.0,
                    );
                    let b = &params[bias..bias + output];
                    for row in z.chunks_exact_mut(output) {
                        for (v, bb) in row.iter_mut().zip(b) {
                            *v += bb;
                        }
                    }
                    width = output;
                }
                Op::Conv2d { .. } | Op::Pool { .. } => {}
                Op::Act(a) => {
                    let z = &mut self.bufs[src][..rows * width];
                    if keep_derivs {
                        act_forward(a, z, &mut self.derivs[dst][..rows * width]);
                    } else {
                        act_only(a, z);
                    }
                }
            }
        }
    }

    fn output(&self, rows: usize) -> &[f32] {
        let last = self.plan.last().map_or(0, |p| p.1);
        &self.bufs[last][..rows * self.arch.outputs]
    }

    /// The energies from the last forward pass: the output itself, or with K logits
    /// E = −logsumexp f (and softmax f kept for the backward pass).
    fn write_energies(&mut self, rows: usize, energies: &mut [f32]) {
        let k = self.arch.outputs;
        if k == 1 {
            energies.copy_from_slice(self.output(rows));
            return;
        }
        let last = self.plan.last().map_or(0, |p| p.1);
        let logits = &self.bufs[last][..rows * k];
        for ((f, p), e) in logits
            .chunks_exact(k)
            .zip(self.probs.chunks_exact_mut(k))
            .zip(energies.iter_mut())
        {
            let m = f.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0.0_f32;
            for (pv, fv) in p.iter_mut().zip(f) {
                *pv = (fv - m).exp();
                sum += *pv;
            }
            for pv in p.iter_mut() {
                *pv /= sum;
            }
            *e = -(m + sum.ln());
        }
    }

    /// E(x) for `rows` rows of `x` (row-major, `rows × input_dim`), written to `energies`.
    pub fn energy(&mut self, params: &[f32], x: &[f32], energies: &mut [f32]) {
        let rows = energies.len();
        self.with_pack(params, rows, |ws| {
            ws.forward(params, x, rows, false);
            ws.write_energies(rows, energies);
        });
    }

    /// The class probabilities softmax f(x) (`rows × K`) and the energies; only for
    /// networks with K > 1 logits.
    pub fn class_probs(
        &mut self,
        params: &[f32],
        x: &[f32],
        energies: &mut [f32],
        probs: &mut [f32],
    ) {
        let rows = energies.len();
        self.with_pack(params, rows, |ws| {
            ws.forward(params, x, rows, false);
            ws.write_energies(rows, energies);
        });
        probs.copy_from_slice(&self.probs[..rows * self.arch.outputs]);
    }

    /// The backward pass for unit weight per row, after a forward pass that kept the
    /// derivatives. Leaves ∇ₓE in `grad_a`; with `keep_upstream`, stores the gradient
    /// w.r.t. every Linear output in `upstream` (and skips ∇ₓE, which is then not needed).
    ///
    /// The backward pass starts from ∂E/∂output: 1 for an energy output, −softmax f for
    /// K logits; for the cross-entropy from softmax f − onehot(label); for a class's
    /// energy E_y = −f_y from −onehot(y).
    fn backward_unit(&mut self, params: &[f32], rows: usize, keep_upstream: bool, seed: Seed<'_>) {
        let mut g = std::mem::take(&mut self.grad_a);
        let mut h = std::mem::take(&mut self.grad_b);
        let k = self.arch.outputs;
        match seed {
            Seed::Energy if k == 1 => g[..rows].fill(1.0),
            Seed::Energy => {
                for (gv, pv) in g[..rows * k].iter_mut().zip(&self.probs[..rows * k]) {
                    *gv = -pv;
                }
            }
            Seed::CrossEntropy(l) => {
                g[..rows * k].copy_from_slice(&self.probs[..rows * k]);
                for (r, y) in l.iter().enumerate().take(rows) {
                    g[r * k + (*y as usize).min(k - 1)] -= 1.0;
                }
            }
            Seed::ClassEnergy(y) => {
                g[..rows * k].fill(0.0);
                for r in 0..rows {
                    g[r * k + y.min(k - 1)] = -1.0;
                }
            }
        }
        let mut width = k;
        // The activation's derivative below a product was multiplied in its epilogue.
        let mut done = false;
        for (i, op) in self.arch.ops.iter().enumerate().rev() {
            if std::mem::take(&mut done) {
                continue;
            }
            match *op {
                Op::Linear {
                    input,
                    output,
                    weight,
                    ..
                } => {
                    if keep_upstream {
                        let out_buf = self.plan[i].1;
                        self.upstream[out_buf][..rows * output]
                            .copy_from_slice(&g[..rows * output]);
                    }
                    #[cfg(target_arch = "x86_64")]
                    if input < super::gemm512::NARROW_BELOW
                        && (i > 0 || !keep_upstream)
                        && self.is_packed_for(params)
                    {
                        // g_in = g · W, narrow: from W transposed, packed.
                        let at = self.packed_at[i];
                        // SAFETY: packed implies AVX-512F; g is rows×output, the packed
                        // Wᵀ input×output, h rows×input, all row-major.
                        unsafe {
                            super::gemm512::gemm_narrow(
                                (rows, input, output),
                                &g[..rows * output],
                                output,
                                &self.packed[at..at + input * output],
                                output,
                                &mut h[..rows * input],
                                input,
                                None,
                            );
                        }
                        std::mem::swap(&mut g, &mut h);
                        width = input;
                        continue;
                    }
                    #[cfg(target_arch = "x86_64")]
                    if i > 0
                        && input >= super::gemm512::NARROW_BELOW
                        && KernelLevel::current() == KernelLevel::Avx512
                        && let Some(Op::Act(_)) = self.arch.ops.get(i - 1)
                    {
                        // g_in = (g · W) ⊙ the activation's derivative below, the product
                        // multiplied in its epilogue.
                        let w = &params[weight..weight + output * input];
                        let dv = &self.derivs[self.plan[i - 1].1][..rows * input];
                        // SAFETY: the level implies AVX-512F; g is rows×output, W
                        // output×input, h and dv rows×input, all row-major.
                        unsafe {
                            super::gemm512::gemm(
                                (rows, input, output),
                                &g[..rows * output],
                                output,
                                w,
                                input,
                                &mut h[..rows * input],
                                input,
                                None,
                                super::gemm512::Epilogue::Mul(dv),
                            );
                        }
                        std::mem::swap(&mut g, &mut h);
                        width = input;
                        done = true;
                        continue;
                    }
                    if i > 0 || !keep_upstream {
                        // g_in = g · W
                        let w = &params[weight..weight + output * input];
                        matmul(
                            (rows, input, output),
                            &mut h[..rows * input],
                            (input, 1),
                            false,
                            &g[..rows * output],
                            (output, 1),
                            w,
                            (input, 1),
                            1.0,
                        );
                        std::mem::swap(&mut g, &mut h);
                    }
                    width = input;
                }
                Op::Act(_) => {
                    let dv = &self.derivs[self.plan[i].1][..rows * width];
                    mul_in_place(&mut g[..rows * width], dv);
                }
                Op::Conv2d { .. } | Op::Pool { .. } => {}
            }
        }
        self.grad_a = g;
        self.grad_b = h;
    }

    /// For a network with K logits: the energy of class `y`, E_y(x) = −f_y(x) (so that
    /// p(x | y) ∝ exp(−E_y)), and its gradient ∇ₓE_y, for every row.
    pub fn class_energy_grad_x(
        &mut self,
        params: &[f32],
        x: &[f32],
        y: usize,
        energies: &mut [f32],
        grad_x: &mut [f32],
    ) {
        let rows = energies.len();
        let k = self.arch.outputs;
        self.with_pack(params, rows, |ws| {
            ws.forward(params, x, rows, true);
            let last = ws.plan.last().map_or(0, |p| p.1);
            for (e, f) in energies
                .iter_mut()
                .zip(ws.bufs[last][..rows * k].chunks_exact(k))
            {
                *e = -f[y.min(k - 1)];
            }
            ws.backward_unit(params, rows, false, Seed::ClassEnergy(y));
        });
        grad_x.copy_from_slice(&self.grad_a[..rows * self.arch.input_dim]);
    }

    /// E(x) and ∇ₓE(x) for every row; `grad_x` has the shape of `x`.
    pub fn energy_grad_x(
        &mut self,
        params: &[f32],
        x: &[f32],
        energies: &mut [f32],
        grad_x: &mut [f32],
    ) {
        let rows = energies.len();
        self.with_pack(params, rows, |ws| {
            ws.forward(params, x, rows, true);
            ws.write_energies(rows, energies);
            ws.backward_unit(params, rows, false, Seed::Energy);
        });
        grad_x.copy_from_slice(&self.grad_a[..rows * self.arch.input_dim]);
    }

    /// E for every row, and for each `(weights, out)` pair adds Σᵣ wᵣ ∂E(xᵣ)/∂θ to `out`
    /// (a flat parameter-shaped vector), from one forward and one backward pass.
    pub fn param_grads(
        &mut self,
        params: &[f32],
        x: &[f32],
        energies: &mut [f32],
        sets: &mut [(RowWeights<'_>, &mut [f32])],
    ) {
        let rows = energies.len();
        let d = self.arch.input_dim;
        assert_eq!(
            x.len(),
            rows * d,
            "input has {} values, expected {rows}×{d}",
            x.len()
        );
        for (w, _) in sets.iter() {
            if let RowWeights::PerRow(w) = w {
                assert_eq!(w.len(), rows, "one weight per row");
            }
        }
        self.with_pack(params, rows, |ws| {
            let mut start = 0;
            while start < rows {
                let end = (start + GRAD_PIECE).min(rows);
                let n = end - start;
                let e = &mut energies[start..end];
                ws.forward(params, &x[start * d..end * d], n, true);
                ws.write_energies(n, e);
                ws.backward_unit(params, n, true, Seed::Energy);
                let mut piece: Vec<(RowWeights<'_>, &mut [f32])> = sets
                    .iter_mut()
                    .filter_map(|(w, out)| w.window(start, end).map(|w| (w, &mut **out)))
                    .collect();
                ws.accumulate(n, e, &mut piece);
                start = end;
            }
        });
    }

    /// For a network with K logits: the energies, and scale·Σᵣ ∂CE(f(xᵣ), yᵣ)/∂θ added to
    /// `out`, from one forward and one backward pass. Returns Σᵣ CE and the number of
    /// rows whose most probable class is the label.
    pub fn cross_entropy_grads(
        &mut self,
        params: &[f32],
        x: &[f32],
        labels: &[u32],
        energies: &mut [f32],
        scale: f32,
        out: &mut [f32],
    ) -> (f64, usize) {
        let rows = energies.len();
        let k = self.arch.outputs;
        assert_eq!(labels.len(), rows, "one label per row");
        self.with_pack(params, rows, |ws| {
            ws.forward(params, x, rows, true);
            ws.write_energies(rows, energies);
        });
        let mut ce = 0.0;
        let mut correct = 0;
        for (p, y) in self.probs[..rows * k].chunks_exact(k).zip(labels) {
            let y = (*y as usize).min(k - 1);
            ce -= f64::from(p[y].max(1e-30)).ln();
            let best = super::argmax(p).0;
            correct += usize::from(best == y);
        }
        self.backward_unit(params, rows, true, Seed::CrossEntropy(labels));
        self.accumulate(
            rows,
            energies,
            &mut [(
                RowWeights::Range {
                    rows: 0..rows,
                    scale,
                },
                out,
            )],
        );
        (ce, correct)
    }

    /// After a backward pass that kept the upstream gradients: adds the weighted
    /// parameter gradients to each set's output.
    fn accumulate(
        &mut self,
        rows: usize,
        energies: &[f32],
        sets: &mut [(RowWeights<'_>, &mut [f32])],
    ) {
        // Accumulate dW = Σᵣ wᵣ uᵣ ⊗ aᵣ and db = Σᵣ wᵣ uᵣ for each weighting.
        for (i, op) in self.arch.ops.iter().enumerate() {
            let Op::Linear {
                input,
                output,
                weight,
                bias,
                ..
            } = *op
            else {
                continue;
            };
            let (src, out_buf) = self.plan[i];
            let a = &self.bufs[src];
            let u = &self.upstream[out_buf];
            for (weights, out) in sets.iter_mut() {
                let (r0, r1, scale, source): (usize, usize, f32, &[f32]) = match weights {
                    RowWeights::Range { rows: r, scale } => (r.start, r.end, *scale, &u[..]),
                    RowWeights::PerRow(_) | RowWeights::EnergyScaled { .. } => {
                        let wr: Vec<f32> = match weights {
                            RowWeights::PerRow(wr) => wr.to_vec(),
                            RowWeights::EnergyScaled { rows: r, scale } => energies
                                .iter()
                                .enumerate()
                                .map(|(k, e)| if r.contains(&k) { *scale * e } else { 0.0 })
                                .collect(),
                            RowWeights::Range { .. } => unreachable!(),
                        };
                        assert_eq!(wr.len(), rows, "one weight per row");
                        let s = &mut self.scaled[..rows * output];
                        for ((srow, urow), w) in s
                            .chunks_exact_mut(output)
                            .zip(u.chunks_exact(output))
                            .zip(wr.iter())
                        {
                            for (sv, uv) in srow.iter_mut().zip(urow) {
                                *sv = uv * w;
                            }
                        }
                        (0, rows, 1.0, &self.scaled[..])
                    }
                };
                if r1 <= r0 {
                    continue;
                }
                let n = r1 - r0;
                // dW[o][i] += scale Σᵣ u[r][o] a[r][i]: lhs = uᵀ (out × n), rhs = a (n × in)
                matmul(
                    (output, input, n),
                    &mut out[weight..weight + output * input],
                    (input, 1),
                    true,
                    &source[r0 * output..r1 * output],
                    (1, output),
                    &a[r0 * input..r1 * input],
                    (input, 1),
                    scale,
                );
                let db = &mut out[bias..bias + output];
                for urow in source[r0 * output..r1 * output].chunks_exact(output) {
                    for (d, uv) in db.iter_mut().zip(urow) {
                        *d += scale * uv;
                    }
                }
            }
        }
    }
}

//! The fast engine for networks with convolutions and pooling: hand-written forward and
//! backward passes of Conv2d (as im2col and one matrix product for the batch), average
//! and max pooling, Linear layers and activations, on the CPU, over buffers kept between
//! calls. Each call runs on one thread (the sampler's tiles and the training step's two
//! terms run in parallel around it), so results do not depend on the number of threads.
//! The matrix products and activations are the MLP engine's own ([`super::kernels`],
//! [`super::activations`]).
//!
//! The convolutional part of the network keeps its maps channel first across the batch,
//! `C × rows × H × W`: a convolution's product `W · col` then writes its output in place,
//! its gradient `g` is the product's left factor as it stands, and im2col and its
//! transpose move whole rows of a map (copies and vector adds of shifted rows, not a
//! gather through an index table). Linear layers keep rows first, `rows × n`; the maps
//! are transposed where the two meet (the flatten: C·H·W numbers a row, once per call).

use super::activations::act_forward;
#[cfg(target_arch = "x86_64")]
use super::kernels::KernelLevel;
use super::kernels::{add_sum, dispatch, matmul, mul_in_place};
use crate::energy::engine::{Engine, EngineResult, RowWeights};
use crate::energy::spec::{Architecture, Op, Pool};
use std::ops::Range;

/// A layer's input or output: channels × rows × columns, or a flat vector (`[n, 1, 1]`).
type Dims = [usize; 3];

/// How a buffer holds the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// `rows × (C·H·W)`: each row's numbers together (Linear layers, the input, the
    /// output).
    Rows,
    /// `C × rows × (H·W)`: each channel's maps of the whole batch together
    /// (convolutions).
    Channels,
}

/// Buffers for one architecture; grow to the largest batch seen.
#[derive(Debug, Clone)]
pub struct LayerEngine {
    arch: Architecture,
    /// The input of every op (`acts[i]`, in `layouts[i].0`) and the network's output
    /// (`acts[ops.len()]`, rows first).
    acts: Vec<Vec<f32>>,
    /// Each activation's derivative at its input (empty for other ops).
    derivs: Vec<Vec<f32>>,
    /// Each op's input and output dimensions.
    dims: Vec<(Dims, Dims)>,
    /// Each op's input layout and output layout.
    layouts: Vec<(Layout, Layout)>,
    /// Each convolution's im2col matrix of the whole batch (`(cᵢₙ·k²) × (rows·hw)`),
    /// kept from the forward pass for the weights' gradient.
    cols: Vec<Vec<f32>>,
    /// The im2col matrix's gradient, a piece of rows at a time.
    dcol: Vec<f32>,
    /// A transposed buffer on its way between layouts.
    scratch: Vec<f32>,
    /// The gradient at each op's input (`grads[i]`, in its layout) and at the output
    /// (`grads[ops.len()]`, the seed): each keeps its size from call to call, so that no
    /// buffer is grown (and zeroed) again.
    grads: Vec<Vec<f32>>,
    rows: usize,
    /// Whether the forward pass keeps each convolution's whole im2col matrix (for the
    /// weights' gradient).
    keep_cols: bool,
}

/// The numbers of an im2col piece when the matrix is not kept: 64 K floats, a quarter of
/// a core's L2 cache on the CPUs measured.
const COL_PIECE: usize = 65_536;

impl LayerEngine {
    /// Buffers for `arch` (any network of Linear, activation, Conv2d and pooling layers).
    #[must_use]
    pub fn new(arch: &Architecture) -> Self {
        let mut shape: Dims = match arch.input_shape.as_slice() {
            [c, h, w] => [*c, *h, *w],
            _ => [arch.input_dim, 1, 1],
        };
        let mut dims = Vec::with_capacity(arch.ops.len());
        let mut layouts = Vec::with_capacity(arch.ops.len());
        let mut made = Layout::Rows;
        for op in &arch.ops {
            let out = match *op {
                Op::Linear { output, .. } => [output, 1, 1],
                Op::Act(_) => shape,
                Op::Conv2d { output, .. } => output,
                Op::Pool { kernel, .. } => [shape[0], shape[1] / kernel, shape[2] / kernel],
            };
            let (want, gives) = match *op {
                Op::Linear { .. } => (Layout::Rows, Layout::Rows),
                Op::Conv2d { .. } => (Layout::Channels, Layout::Channels),
                // Maps lie one after another in either layout: pooling takes either.
                Op::Act(_) | Op::Pool { .. } => (made, made),
            };
            dims.push((shape, out));
            layouts.push((want, gives));
            made = gives;
            shape = out;
        }
        Self {
            arch: arch.clone(),
            acts: vec![Vec::new(); arch.ops.len() + 1],
            derivs: vec![Vec::new(); arch.ops.len()],
            dims,
            layouts,
            cols: vec![Vec::new(); arch.ops.len()],
            dcol: Vec::new(),
            scratch: Vec::new(),
            grads: vec![Vec::new(); arch.ops.len() + 1],
            rows: 0,
            keep_cols: true,
        }
    }

    /// The layout buffer `i` of `acts` is kept in (the output's is rows first).
    fn layout_of(&self, i: usize) -> Layout {
        self.layouts.get(i).map_or(Layout::Rows, |l| l.0)
    }

    /// Runs the network on the `rows` rows of `x`; the logits (or the energy) are in
    /// `acts.last()`.
    fn forward(&mut self, params: &[f32], x: &[f32], rows: usize) {
        self.rows = rows;
        let n = self.arch.input_dim;
        self.acts[0].clear();
        self.acts[0].extend_from_slice(&x[..rows * n]);
        let [c0, h0, w0] = self.dims.first().map_or([n, 1, 1], |d| d.0);
        let first = self.layout_of(0);
        relayout(
            &mut self.acts[0],
            &mut self.scratch,
            Layout::Rows,
            first,
            [rows, c0, h0 * w0],
        );
        for (i, op) in self.arch.ops.iter().enumerate() {
            let ((ci, hi, wi), (co, ho, wo)) = {
                let (a, b) = self.dims[i];
                ((a[0], a[1], a[2]), (b[0], b[1], b[2]))
            };
            let (n_in, n_out) = (ci * hi * wi, co * ho * wo);
            if let Op::Act(a) = *op {
                // The activation's input is needed by nobody after it (its derivative is
                // kept): it moves to the output's buffer and is changed there.
                self.acts.swap(i, i + 1);
                let d = &mut self.derivs[i];
                d.resize(rows * n_out, 0.0);
                act_forward(a, &mut self.acts[i + 1], d);
            } else {
                let (before, after) = self.acts.split_at_mut(i + 1);
                let input = &before[i];
                let out = &mut after[0];
                out.resize(rows * n_out, 0.0);
                match *op {
                    Op::Linear { weight, bias, .. } => {
                        let w = &params[weight..weight + n_out * n_in];
                        // out[r, o] = Σⱼ in[r, j]·W[o, j]
                        matmul(
                            (rows, n_out, n_in),
                            out,
                            (n_out, 1),
                            false,
                            input,
                            (n_in, 1),
                            w,
                            (1, n_in),
                            1.0,
                        );
                        let b = &params[bias..bias + n_out];
                        for row in out.chunks_exact_mut(n_out) {
                            for (v, bv) in row.iter_mut().zip(b) {
                                *v += bv;
                            }
                        }
                    }
                    Op::Conv2d {
                        kernel,
                        stride,
                        padding,
                        weight,
                        bias,
                        ..
                    } => {
                        let kk = ci * kernel * kernel;
                        let ld = rows * ho * wo;
                        let w = &params[weight..weight + co * kk];
                        let b = &params[bias..bias + co];
                        let geometry =
                            Geometry::new([ci, hi, wi], [ho, wo], kernel, stride, padding);
                        // The weights' gradient needs the whole im2col matrix; without
                        // it, pieces of a few rows whose matrix stays in the core's
                        // cache between its writing and its product.
                        let piece = if self.keep_cols {
                            rows
                        } else {
                            (COL_PIECE / (kk * ho * wo)).clamp(1, rows)
                        };
                        let col = &mut self.cols[i];
                        col.resize(kk * piece * ho * wo, 0.0);
                        for r0 in (0..rows).step_by(piece) {
                            let span = r0..(r0 + piece).min(rows);
                            let n = span.len() * ho * wo;
                            im2col(&geometry, input, rows, span, col);
                            // One product for the piece, written in place: out[c, (r, p)]
                            // = Σ_q W[c, q]·col[q, (r, p)]
                            matmul(
                                (co, n, kk),
                                &mut out[r0 * ho * wo..],
                                (ld, 1),
                                false,
                                w,
                                (kk, 1),
                                col,
                                (n, 1),
                                1.0,
                            );
                        }
                        for (plane, bv) in out.chunks_exact_mut(ld).zip(b) {
                            for v in plane {
                                *v += bv;
                            }
                        }
                    }
                    Op::Pool { kind, kernel } => {
                        // Maps one after another in either layout.
                        pool_forward(kind, kernel, [rows * ci, hi, wi], [ho, wo], input, out);
                    }
                    Op::Act(_) => unreachable!("activations are applied above"),
                }
            }
            let (gives, next) = (self.layouts[i].1, self.layout_of(i + 1));
            relayout(
                &mut self.acts[i + 1],
                &mut self.scratch,
                gives,
                next,
                [rows, co, ho * wo],
            );
        }
    }

    /// The logits (or energies) of the last forward pass, `rows × outputs`.
    fn output(&self) -> &[f32] {
        &self.acts[self.arch.ops.len()]
    }

    /// E per row from the last forward pass: the output, or −logsumexp of the logits.
    fn energies(&self, e: &mut [f32]) {
        let k = self.arch.outputs;
        for (ev, f) in e.iter_mut().zip(self.output().chunks_exact(k)) {
            *ev = if k == 1 { f[0] } else { -logsumexp(f) };
        }
    }

    /// Backward from `grad` (∂/∂output per row, already weighted) to the input: adds
    /// the parameter gradient to `param_grad` when given, and leaves ∂/∂x (rows first)
    /// in `grads[0]` when `to_input`.
    fn backward(&mut self, params: &[f32], mut param_grad: Option<&mut [f32]>, to_input: bool) {
        let rows = self.rows;
        // An activation whose step back a pooling after it took.
        let mut act_done = None;
        for (i, op) in self.arch.ops.iter().enumerate().rev() {
            let ((ci, hi, wi), (co, ho, wo)) = {
                let (a, b) = self.dims[i];
                ((a[0], a[1], a[2]), (b[0], b[1], b[2]))
            };
            let (n_in, n_out) = (ci * hi * wi, co * ho * wo);
            let gives = self.layouts[i].1;
            let arrives = self.layout_of(i + 1);
            // The gradient arrives in the layout of the next op's input.
            relayout(
                &mut self.grads[i + 1],
                &mut self.scratch,
                arrives,
                gives,
                [rows, co, ho * wo],
            );
            // The first op's input gradient is wanted only for ∇ₓE.
            let need_in = i > 0 || to_input;
            if let Op::Act(_) = *op {
                if !need_in {
                    break;
                }
                if act_done != Some(i) {
                    let n = self.grads[i + 1].len().min(self.derivs[i].len());
                    mul_in_place(&mut self.grads[i + 1][..n], &self.derivs[i][..n]);
                }
                self.grads.swap(i, i + 1);
                continue;
            }
            let input = &self.acts[i];
            let (before, after) = self.grads.split_at_mut(i + 1);
            let g = &after[0];
            let gin = &mut before[i];
            gin.resize(rows * n_in, 0.0);
            match *op {
                Op::Linear { weight, bias, .. } => {
                    let w = &params[weight..weight + n_out * n_in];
                    if let Some(pg) = param_grad.as_deref_mut() {
                        // dW[o, j] += Σᵣ g[r, o]·in[r, j]
                        matmul(
                            (n_out, n_in, rows),
                            &mut pg[weight..weight + n_out * n_in],
                            (n_in, 1),
                            true,
                            g,
                            (1, n_out),
                            input,
                            (n_in, 1),
                            1.0,
                        );
                        let db = &mut pg[bias..bias + n_out];
                        for row in g.chunks_exact(n_out) {
                            for (d, v) in db.iter_mut().zip(row) {
                                *d += v;
                            }
                        }
                    }
                    if need_in {
                        // gin[r, j] = Σₒ g[r, o]·W[o, j]
                        matmul(
                            (rows, n_in, n_out),
                            gin,
                            (n_in, 1),
                            false,
                            g,
                            (n_out, 1),
                            w,
                            (n_in, 1),
                            1.0,
                        );
                    }
                }
                Op::Conv2d {
                    kernel,
                    stride,
                    padding,
                    weight,
                    bias,
                    ..
                } => {
                    let kk = ci * kernel * kernel;
                    let ld = rows * ho * wo;
                    let w = &params[weight..weight + co * kk];
                    // g is cₒᵤₜ × (rows·hw), the batch side by side.
                    if let Some(pg) = param_grad.as_deref_mut() {
                        // dW[c, q] += Σ_(r,p) g[c, (r, p)]·col[q, (r, p)]
                        matmul(
                            (co, kk, ld),
                            &mut pg[weight..weight + co * kk],
                            (kk, 1),
                            true,
                            g,
                            (ld, 1),
                            &self.cols[i],
                            (1, ld),
                            1.0,
                        );
                        for (d, plane) in pg[bias..bias + co].iter_mut().zip(g.chunks_exact(ld)) {
                            add_sum(plane, d);
                        }
                    }
                    if need_in {
                        // dcol[q, (r, p)] = Σ_c W[c, q]·g[c, (r, p)], then each entry
                        // added back where im2col read it from: over pieces of a few rows
                        // (as many as the forward pass's pieces when it does not keep the
                        // whole matrix), whose dcol stays in the core's cache between the
                        // product and its adding back.
                        let geometry =
                            Geometry::new([ci, hi, wi], [ho, wo], kernel, stride, padding);
                        let hw = ho * wo;
                        let piece = (COL_PIECE / (kk * hw)).clamp(1, rows);
                        // One buffer for every convolution, grown only: resizing it
                        // between two layers' sizes zeroed megabytes each step.
                        if self.dcol.len() < kk * piece * hw {
                            self.dcol.resize(kk * piece * hw, 0.0);
                        }
                        gin.fill(0.0);
                        for r0 in (0..rows).step_by(piece) {
                            let span = r0..(r0 + piece).min(rows);
                            let n = span.len() * hw;
                            let dcol = &mut self.dcol[..kk * n];
                            matmul(
                                (kk, n, co),
                                dcol,
                                (n, 1),
                                false,
                                w,
                                (1, kk),
                                &g[r0 * hw..],
                                (ld, 1),
                                1.0,
                            );
                            col2im(&geometry, dcol, rows, span, gin);
                        }
                    }
                }
                Op::Pool { kind, kernel } => {
                    if need_in {
                        // An activation just before takes its step back here.
                        let deriv = match i.checked_sub(1).map(|j| (j, &self.arch.ops[j])) {
                            Some((j, Op::Act(_))) => {
                                act_done = Some(j);
                                Some(self.derivs[j].as_slice())
                            }
                            _ => None,
                        };
                        pool_backward(
                            kind,
                            kernel,
                            [rows * ci, hi, wi],
                            [ho, wo],
                            input,
                            g,
                            gin,
                            deriv,
                        );
                    }
                }
                Op::Act(_) => unreachable!("activations are taken back above"),
            }
            if !need_in {
                break;
            }
        }
        if to_input {
            let [c0, h0, w0] = self
                .dims
                .first()
                .map_or([self.arch.input_dim, 1, 1], |d| d.0);
            let first = self.layout_of(0);
            relayout(
                &mut self.grads[0],
                &mut self.scratch,
                first,
                Layout::Rows,
                [rows, c0, h0 * w0],
            );
        }
    }

    /// ∂E/∂output per row into the output's gradient, each row scaled by `w(r)`: for one output 1, for K
    /// logits −softmax(f) (E = −logsumexp f), for a class energy −f_y the one-hot −e_y.
    fn seed(&mut self, class: Option<usize>, w: impl Fn(usize) -> f32) {
        let k = self.arch.outputs;
        let rows = self.rows;
        let seed = &mut self.grads[self.arch.ops.len()];
        seed.resize(rows * k, 0.0);
        let out = &self.acts[self.arch.ops.len()];
        for (r, (g, f)) in seed
            .chunks_exact_mut(k)
            .zip(out.chunks_exact(k))
            .enumerate()
        {
            let wr = w(r);
            match class {
                Some(y) => {
                    g.fill(0.0);
                    g[y.min(k - 1)] = -wr;
                }
                None if k == 1 => g[0] = wr,
                None => {
                    let l = logsumexp(f);
                    for (gv, fv) in g.iter_mut().zip(f) {
                        *gv = -wr * (fv - l).exp();
                    }
                }
            }
        }
    }
}

/// Moves `buf`, `rows × c × hw` in layout `from`, into layout `to` (through `scratch`).
/// One channel (or one number per map row) is the same in both: nothing moves.
fn relayout(
    buf: &mut Vec<f32>,
    scratch: &mut Vec<f32>,
    from: Layout,
    to: Layout,
    [rows, c, hw]: [usize; 3],
) {
    if from == to || c == 1 || rows == 1 {
        return;
    }
    let n = rows * c * hw;
    scratch.resize(n, 0.0);
    for r in 0..rows {
        for ch in 0..c {
            let (rows_at, channels_at) = ((r * c + ch) * hw, (ch * rows + r) * hw);
            let (src, dst) = match to {
                Layout::Channels => (rows_at, channels_at),
                Layout::Rows => (channels_at, rows_at),
            };
            scratch[dst..dst + hw].copy_from_slice(&buf[src..src + hw]);
        }
    }
    std::mem::swap(buf, scratch);
}

/// log Σ exp, stable.
fn logsumexp(f: &[f32]) -> f32 {
    let m = f.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    m + f.iter().map(|v| (v - m).exp()).sum::<f32>().ln()
}

/// Where a convolution reads: its input map, output size, window, stride and padding.
pub(super) struct Geometry {
    input: [usize; 3],
    output: [usize; 2],
    kernel: usize,
    stride: usize,
    padding: usize,
}

impl Geometry {
    /// A convolution's geometry; a stride of 0 is 1, as the shapes were computed.
    fn new(
        input: [usize; 3],
        output: [usize; 2],
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> Self {
        Self {
            input,
            output,
            kernel,
            stride: stride.max(1),
            padding,
        }
    }

    /// For window offset `k` along an axis of `size` inputs and `outputs` outputs: the
    /// outputs whose window element reads inside the map, `lo..hi`, and for each the
    /// input it reads, `o·stride + k − padding`.
    #[inline]
    fn valid(&self, k: usize, size: usize, outputs: usize) -> (usize, usize) {
        let s = self.stride;
        // o·s + k ≥ padding, and o·s + k < size + padding.
        let lo = self.padding.saturating_sub(k).div_ceil(s);
        let hi = (size + self.padding)
            .checked_sub(k)
            .map_or(0, |v| v.div_ceil(s))
            .min(outputs);
        (lo.min(hi), hi)
    }

    /// The im2col matrix of the rows `span` of a batch of maps in the channels' layout
    /// (`input`: `cᵢₙ × rows × h × w`): `col[(c·k² + ki·k + kj), (r − span.start, oy,
    /// ox)]` is the input under that window element, zero in the padding. Rows in
    /// PyTorch's weight order.
    #[inline(always)]
    fn im2col(&self, input: &[f32], rows: usize, span: Range<usize>, col: &mut [f32]) {
        let [c_in, h, w] = self.input;
        let [ho, wo] = self.output;
        let (k, s, p) = (self.kernel, self.stride, self.padding);
        let (hw_in, hw) = (h * w, ho * wo);
        let ld = span.len() * hw;
        for c in 0..c_in {
            for ki in 0..k {
                let (y_lo, y_hi) = self.valid(ki, h, ho);
                for kj in 0..k {
                    let (x_lo, x_hi) = self.valid(kj, w, wo);
                    let q = (c * k + ki) * k + kj;
                    let dst_q = &mut col[q * ld..(q + 1) * ld];
                    for (r, dst) in span.clone().zip(dst_q.chunks_exact_mut(hw)) {
                        let src = &input[(c * rows + r) * hw_in..][..hw_in];
                        dst[..y_lo * wo].fill(0.0);
                        dst[y_hi * wo..].fill(0.0);
                        if s == 1 && wo == w && x_lo < x_hi && y_lo < y_hi {
                            // Input and output rows are as long: the window element's
                            // rows are one shifted block. Copied whole, it wraps the
                            // neighbouring row's ends into the padding's columns, which
                            // are then zeroed.
                            let at = y_lo * wo + x_lo;
                            let len = (y_hi - 1 - y_lo) * wo + x_hi - x_lo;
                            let from = (y_lo + ki - p) * w + x_lo + kj - p;
                            dst[at..at + len].copy_from_slice(&src[from..from + len]);
                            zero_columns(&mut dst[y_lo * wo..y_hi * wo], wo, x_lo, x_hi);
                            continue;
                        }
                        for oy in y_lo..y_hi {
                            let line = &src[(oy * s + ki - p) * w..][..w];
                            let out = &mut dst[oy * wo..(oy + 1) * wo];
                            out[..x_lo].fill(0.0);
                            out[x_hi..].fill(0.0);
                            if x_lo == x_hi {
                                continue;
                            }
                            let first = x_lo * s + kj - p;
                            if s == 1 {
                                out[x_lo..x_hi]
                                    .copy_from_slice(&line[first..first + (x_hi - x_lo)]);
                            } else {
                                for (o, v) in out[x_lo..x_hi]
                                    .iter_mut()
                                    .zip(line[first..].iter().step_by(s))
                                {
                                    *o = *v;
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The transpose of [`Geometry::im2col`] for the rows `span` of the batch: adds each
    /// entry of `dcol` (those rows' columns) to the input it was read from (`gin`, the
    /// whole batch in the channels' layout, zeroed by the caller); the padding's are
    /// dropped (and may be zeroed in `dcol`).
    #[inline(always)]
    fn col2im(&self, dcol: &mut [f32], rows: usize, span: Range<usize>, gin: &mut [f32]) {
        let [c_in, h, w] = self.input;
        let [ho, wo] = self.output;
        let (k, s, p) = (self.kernel, self.stride, self.padding);
        let (hw_in, hw) = (h * w, ho * wo);
        let ld = span.len() * hw;
        for c in 0..c_in {
            for ki in 0..k {
                let (y_lo, y_hi) = self.valid(ki, h, ho);
                for kj in 0..k {
                    let (x_lo, x_hi) = self.valid(kj, w, wo);
                    if x_lo == x_hi {
                        continue;
                    }
                    let first = x_lo * s + kj - p;
                    let q = (c * k + ki) * k + kj;
                    let src_q = &mut dcol[q * ld..(q + 1) * ld];
                    for (r, src) in span.clone().zip(src_q.chunks_exact_mut(hw)) {
                        let dst = &mut gin[(c * rows + r) * hw_in..][..hw_in];
                        if s == 1 && wo == w && y_lo < y_hi {
                            // As in im2col, one shifted block: the entries that read
                            // the padding are zeroed first (they are dropped), so that
                            // adding the block whole adds nothing where it wraps.
                            zero_columns(&mut src[y_lo * wo..y_hi * wo], wo, x_lo, x_hi);
                            let at = y_lo * wo + x_lo;
                            let len = (y_hi - 1 - y_lo) * wo + x_hi - x_lo;
                            let to = (y_lo + ki - p) * w + x_lo + kj - p;
                            for (d, v) in dst[to..to + len].iter_mut().zip(&src[at..at + len]) {
                                *d += v;
                            }
                            continue;
                        }
                        for oy in y_lo..y_hi {
                            let line = &mut dst[(oy * s + ki - p) * w..][..w];
                            let from = &src[oy * wo + x_lo..oy * wo + x_hi];
                            if s == 1 {
                                for (d, v) in line[first..first + from.len()].iter_mut().zip(from) {
                                    *d += v;
                                }
                            } else {
                                for (d, v) in line[first..].iter_mut().step_by(s).zip(from) {
                                    *d += v;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Zeroes the columns before `lo` and from `hi` of the rows (`width` long) of `block`:
/// a column or two of padding, a store per row (a fill per row would be a library call
/// for one number).
fn zero_columns(block: &mut [f32], width: usize, lo: usize, hi: usize) {
    for j in (0..lo).chain(hi..width) {
        for v in block.iter_mut().skip(j).step_by(width) {
            *v = 0.0;
        }
    }
}

/// Pooling over k×k windows with stride k (the map cropped to whole windows), for `c`
/// maps of `h × w` one after another.
#[inline(always)]
fn pool_forward_body(
    kind: Pool,
    k: usize,
    [c, h, w]: [usize; 3],
    [ho, wo]: [usize; 2],
    x: &[f32],
    y: &mut [f32],
) {
    #[allow(clippy::cast_precision_loss)]
    let inv = 1.0 / (k * k) as f32;
    let mut sums = vec![0.0; 2 * wo];
    for (map, out) in x
        .chunks_exact(h * w)
        .zip(y.chunks_exact_mut(ho * wo))
        .take(c)
    {
        for (oy, line) in out.chunks_exact_mut(wo).enumerate() {
            let window_rows = &map[oy * k * w..(oy * k + k) * w];
            match kind {
                Pool::Avg if k == 2 => {
                    // The two rows' sums, then those of neighbouring pairs: two loops
                    // the compiler vectorises (one over the window's four strided
                    // reads it did not).
                    let (a, b) = window_rows.split_at(w);
                    for ((sv, av), bv) in sums.iter_mut().zip(a).zip(b) {
                        *sv = av + bv;
                    }
                    for (v, pair) in line.iter_mut().zip(sums.chunks_exact(2)) {
                        *v = (pair[0] + pair[1]) * inv;
                    }
                }
                _ => {
                    for (ox, v) in line.iter_mut().enumerate() {
                        let mut acc = match kind {
                            Pool::Avg => 0.0,
                            Pool::Max => f32::NEG_INFINITY,
                        };
                        for row in window_rows.chunks_exact(w) {
                            for &x in &row[ox * k..ox * k + k] {
                                acc = match kind {
                                    Pool::Avg => acc + x,
                                    Pool::Max => acc.max(x),
                                };
                            }
                        }
                        *v = match kind {
                            Pool::Avg => acc * inv,
                            Pool::Max => acc,
                        };
                    }
                }
            }
        }
    }
}

/// The gradient of [`pool_forward`]: spread evenly over the window (average), or all to
/// the window's first largest input (max, as candle's mask); zero where the map was
/// cropped. With `deriv` (the derivative of the activation before the pooling, at each
/// input), the activation's step back is taken in the same pass.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn pool_backward_body(
    kind: Pool,
    k: usize,
    [c, h, w]: [usize; 3],
    [ho, wo]: [usize; 2],
    x: &[f32],
    g: &[f32],
    gin: &mut [f32],
    deriv: Option<&[f32]>,
) {
    #[allow(clippy::cast_precision_loss)]
    let inv = 1.0 / (k * k) as f32;
    if kind == Pool::Avg && k == 2 && h % 2 == 0 && w % 2 == 0 {
        // The common case, by pairs of input rows: each gradient to the 2×2 below it.
        let mut spread = vec![0.0; w];
        for (oy, (gl, gi)) in g
            .chunks_exact(wo)
            .zip(gin.chunks_exact_mut(2 * w))
            .take(c * ho)
            .enumerate()
        {
            // Each gradient twice along the row, then that row into both (times the
            // activation's derivative): whole-row loops the compiler vectorises, where
            // four scalar stores per gradient were a twelfth of a conv net's step.
            for (pair, gv) in spread.chunks_exact_mut(2).zip(gl) {
                let v = gv * inv;
                pair[0] = v;
                pair[1] = v;
            }
            let (top, bottom) = gi.split_at_mut(w);
            match deriv {
                Some(d) => {
                    let (dt, db) = d[oy * 2 * w..(oy + 1) * 2 * w].split_at(w);
                    for ((t, v), dv) in top.iter_mut().zip(&spread).zip(dt) {
                        *t = v * dv;
                    }
                    for ((b, v), dv) in bottom.iter_mut().zip(&spread).zip(db) {
                        *b = v * dv;
                    }
                }
                None => {
                    top.copy_from_slice(&spread);
                    bottom.copy_from_slice(&spread);
                }
            }
        }
        return;
    }
    for ((map, gm), gi) in x
        .chunks_exact(h * w)
        .zip(g.chunks_exact(ho * wo))
        .zip(gin.chunks_exact_mut(h * w))
        .take(c)
    {
        // Rows and columns past the last whole window get nothing.
        gi[ho * k * w..].fill(0.0);
        for (oy, gl) in gm.chunks_exact(wo).enumerate() {
            let window_rows = &mut gi[oy * k * w..(oy * k + k) * w];
            for row in window_rows.chunks_exact_mut(w) {
                row[wo * k..].fill(0.0);
            }
            match kind {
                Pool::Avg => {
                    for row in window_rows.chunks_exact_mut(w) {
                        for (cell, gv) in row[..wo * k].chunks_exact_mut(k).zip(gl) {
                            cell.fill(gv * inv);
                        }
                    }
                }
                Pool::Max => {
                    for row in window_rows.chunks_exact_mut(w) {
                        row[..wo * k].fill(0.0);
                    }
                    for (ox, gv) in gl.iter().enumerate() {
                        let at = |i: usize, j: usize| (oy * k + i) * w + ox * k + j;
                        let mut best = (0, 0);
                        for i in 0..k {
                            for j in 0..k {
                                if map[at(i, j)] > map[at(best.0, best.1)] {
                                    best = (i, j);
                                }
                            }
                        }
                        window_rows[best.0 * w + ox * k + best.1] += gv;
                    }
                }
            }
        }
    }
    if let Some(d) = deriv {
        for (v, dv) in gin.iter_mut().zip(d) {
            *v *= dv;
        }
    }
}

// The loops that move a conv net's maps, compiled for AVX2 and AVX-512 too (the default
// x86-64 target has only SSE2: four lanes where the CPU has eight or sixteen).
#[inline(always)]
fn im2col_body(g: &Geometry, input: &[f32], rows: usize, span: Range<usize>, col: &mut [f32]) {
    g.im2col(input, rows, span, col);
}

#[inline(always)]
fn col2im_body(g: &Geometry, dcol: &mut [f32], rows: usize, span: Range<usize>, gin: &mut [f32]) {
    g.col2im(dcol, rows, span, gin);
}

dispatch!(im2col, im2col_body, (g: &Geometry, input: &[f32], rows: usize, span: Range<usize>, col: &mut [f32]));
dispatch!(col2im, col2im_body, (g: &Geometry, dcol: &mut [f32], rows: usize, span: Range<usize>, gin: &mut [f32]));
dispatch!(pool_forward, pool_forward_body, (kind: Pool, k: usize, shape: [usize; 3], out_hw: [usize; 2], x: &[f32], y: &mut [f32]));
dispatch!(pool_backward, pool_backward_body, (kind: Pool, k: usize, shape: [usize; 3], out_hw: [usize; 2], x: &[f32], g: &[f32], gin: &mut [f32], deriv: Option<&[f32]>));

impl Engine for LayerEngine {
    fn name(&self) -> String {
        "fast".into()
    }

    fn architecture(&self) -> &Architecture {
        &self.arch
    }

    fn energy(&mut self, params: &[f32], x: &[f32], e: &mut [f32]) -> EngineResult<()> {
        let d = self.arch.input_dim;
        for (xs, es) in x.chunks(d * PIECE).zip(e.chunks_mut(PIECE)) {
            self.keep_cols = false;
            self.forward(params, xs, es.len());
            self.energies(es);
        }
        Ok(())
    }

    fn energy_grad_x(
        &mut self,
        params: &[f32],
        x: &[f32],
        class: Option<usize>,
        e: &mut [f32],
        g: &mut [f32],
    ) -> EngineResult<()> {
        let d = self.arch.input_dim;
        for ((xs, es), gs) in x
            .chunks(d * PIECE)
            .zip(e.chunks_mut(PIECE))
            .zip(g.chunks_mut(d * PIECE))
        {
            let rows = es.len();
            self.keep_cols = false;
            self.forward(params, xs, rows);
            match class {
                None => self.energies(es),
                Some(y) => {
                    let k = self.arch.outputs;
                    for (ev, f) in es.iter_mut().zip(self.output().chunks_exact(k)) {
                        *ev = -f[y.min(k - 1)];
                    }
                }
            }
            self.seed(class, |_| 1.0);
            self.backward(params, None, true);
            gs.copy_from_slice(&self.grads[0][..rows * d]);
        }
        Ok(())
    }

    fn weighted_param_grad(
        &mut self,
        params: &[f32],
        x: &[f32],
        weights: &[f32],
        out: &mut [f32],
    ) -> EngineResult<()> {
        let d = self.arch.input_dim;
        for (xs, ws) in x.chunks(d * PIECE).zip(weights.chunks(PIECE)) {
            self.keep_cols = true;
            self.forward(params, xs, ws.len());
            self.seed(None, |r| ws[r]);
            self.backward(params, Some(out), false);
        }
        Ok(())
    }

    fn param_grads(
        &mut self,
        params: &[f32],
        x: &[f32],
        e: &mut [f32],
        sets: &mut [(RowWeights<'_>, &mut [f32])],
    ) -> EngineResult<()> {
        let d = self.arch.input_dim;
        for (p, (xs, es)) in x.chunks(d * PIECE).zip(e.chunks_mut(PIECE)).enumerate() {
            let rows = es.len();
            self.keep_cols = true;
            self.forward(params, xs, rows);
            self.energies(es);
            // One forward pass; a backward pass per weighting (each is linear in its
            // seed).
            let start = p * PIECE;
            for (w, out) in sets.iter_mut() {
                let Some(w) = w.window(start, start + rows) else {
                    continue;
                };
                let wr = w.per_row(es);
                self.seed(None, |r| wr[r]);
                self.backward(params, Some(out), false);
            }
        }
        Ok(())
    }

    fn class_probs(
        &mut self,
        params: &[f32],
        x: &[f32],
        e: &mut [f32],
        p: &mut [f32],
    ) -> EngineResult<()> {
        let d = self.arch.input_dim;
        let k = self.arch.outputs;
        for ((xs, es), ps) in x
            .chunks(d * PIECE)
            .zip(e.chunks_mut(PIECE))
            .zip(p.chunks_mut(k * PIECE))
        {
            self.keep_cols = false;
            self.forward(params, xs, es.len());
            self.energies(es);
            for (pr, f) in ps.chunks_exact_mut(k).zip(self.output().chunks_exact(k)) {
                let l = logsumexp(f);
                for (pv, fv) in pr.iter_mut().zip(f) {
                    *pv = (fv - l).exp();
                }
            }
        }
        Ok(())
    }

    fn cross_entropy_grads(
        &mut self,
        params: &[f32],
        x: &[f32],
        labels: &[u32],
        scale: f32,
        out: &mut [f32],
    ) -> EngineResult<(f64, usize)> {
        let d = self.arch.input_dim;
        let k = self.arch.outputs;
        let (mut ce, mut correct) = (0.0_f64, 0);
        for (xs, ys) in x.chunks(d * PIECE).zip(labels.chunks(PIECE)) {
            let rows = ys.len();
            self.keep_cols = true;
            self.forward(params, xs, rows);
            let seed = &mut self.grads[self.arch.ops.len()];
            seed.resize(rows * k, 0.0);
            let logits = &self.acts[self.arch.ops.len()];
            for ((g, f), y) in seed.chunks_exact_mut(k).zip(logits.chunks_exact(k)).zip(ys) {
                let y = (*y as usize).min(k - 1);
                let l = logsumexp(f);
                ce += f64::from(l - f[y]);
                if crate::energy::argmax(f).0 == y {
                    correct += 1;
                }
                // ∂CE/∂f = softmax(f) − e_y
                for (j, (gv, fv)) in g.iter_mut().zip(f).enumerate() {
                    *gv = scale * ((fv - l).exp() - if j == y { 1.0 } else { 0.0 });
                }
            }
            self.backward(params, Some(out), false);
        }
        Ok((ce, correct))
    }

    fn box_clone(&self) -> Box<dyn Engine> {
        Box::new(self.clone())
    }

    fn runs_beside_itself(&self) -> bool {
        true
    }
}

/// Rows per piece of a call (bounds the buffers: a piece's activations for a conv net on
/// 28×28 images hold some tens of MB).
const PIECE: usize = 256;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::energy::engine::CandleEngine;
    use crate::energy::{LayerSpec, ModelSpec, init_params};
    use rand::{Rng as _, SeedableRng as _};

    /// Networks of every layer the engine runs: digits_conv's, one with strides, no
    /// padding, max pooling over a map it does not divide and an energy output, one of
    /// several input channels with GELU and LeakyReLU, and one on 28×28 whose second
    /// convolution's im2col comes in pieces of two rows when it is not kept (37 rows:
    /// the last piece one row), with average pooling over a map it does not divide.
    fn networks() -> Vec<(Vec<usize>, ModelSpec)> {
        vec![
            (
                vec![1, 28, 28],
                ModelSpec {
                    layers: vec![
                        LayerSpec::conv(16, 3, 1, 1),
                        LayerSpec::Silu,
                        LayerSpec::AvgPool2d(2),
                        LayerSpec::conv(8, 3, 1, 1),
                        LayerSpec::Silu,
                        LayerSpec::AvgPool2d(2),
                        LayerSpec::conv(4, 3, 1, 1),
                        LayerSpec::Relu,
                        LayerSpec::AvgPool2d(2),
                        LayerSpec::Linear(16),
                        LayerSpec::Silu,
                    ],
                    outputs: 10,
                    gaussian: None,
                },
            ),
            (
                vec![1, 8, 8],
                ModelSpec {
                    layers: vec![
                        LayerSpec::conv(16, 3, 1, 1),
                        LayerSpec::Silu,
                        LayerSpec::AvgPool2d(2),
                        LayerSpec::conv(32, 3, 1, 1),
                        LayerSpec::Silu,
                        LayerSpec::AvgPool2d(2),
                        LayerSpec::Linear(128),
                        LayerSpec::Silu,
                    ],
                    outputs: 10,
                    gaussian: None,
                },
            ),
            (
                vec![1, 11, 11],
                ModelSpec {
                    layers: vec![
                        LayerSpec::conv(6, 3, 2, 0),
                        LayerSpec::Relu,
                        LayerSpec::MaxPool2d(2),
                        LayerSpec::Flatten,
                        LayerSpec::Linear(20),
                        LayerSpec::Elu,
                    ],
                    outputs: 1,
                    gaussian: None,
                },
            ),
            (
                vec![3, 7, 6],
                ModelSpec {
                    layers: vec![
                        LayerSpec::conv(5, 2, 1, 1),
                        LayerSpec::Gelu,
                        LayerSpec::conv(4, 3, 2, 1),
                        LayerSpec::LeakyRelu,
                        LayerSpec::MaxPool2d(3),
                        LayerSpec::Linear(9),
                        LayerSpec::Silu,
                    ],
                    outputs: 3,
                    gaussian: None,
                },
            ),
        ]
    }

    fn close(a: &[f32], b: &[f32], what: &str) {
        assert_eq!(a.len(), b.len(), "{what}: lengths");
        let scale = b.iter().map(|v| v.abs()).fold(0.0_f32, f32::max).max(1e-3);
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= 2e-4 * scale,
                "{what}[{i}]: {x} against candle's {y} (scale {scale})"
            );
        }
    }

    #[test]
    fn convolutions_and_pooling_agree_with_candle() {
        for (shape, spec) in networks() {
            let arch = Architecture::for_shape(&spec, &shape).expect("a valid network");
            let mut rng = rand::rngs::StdRng::seed_from_u64(3);
            let params = init_params(&arch, &mut rng);
            let rows = 37;
            let d = arch.input_dim;
            let x: Vec<f32> = (0..rows * d).map(|_| rng.random_range(-1.0..1.0)).collect();
            let mut ours = LayerEngine::new(&arch);
            let mut candle = CandleEngine::new(&arch, candle_core::Device::Cpu);
            let k = arch.outputs;
            let (mut e1, mut e2) = (vec![0.0; rows], vec![0.0; rows]);
            ours.energy(&params, &x, &mut e1).unwrap();
            candle.energy(&params, &x, &mut e2).unwrap();
            close(&e1, &e2, "E");
            let classes = if k > 1 {
                vec![None, Some(k - 1)]
            } else {
                vec![None]
            };
            for class in classes {
                let (mut g1, mut g2) = (vec![0.0; rows * d], vec![0.0; rows * d]);
                ours.energy_grad_x(&params, &x, class, &mut e1, &mut g1)
                    .unwrap();
                candle
                    .energy_grad_x(&params, &x, class, &mut e2, &mut g2)
                    .unwrap();
                close(&e1, &e2, "E (with ∇ₓ)");
                close(&g1, &g2, &format!("∇ₓE, class {class:?}"));
            }
            let w: Vec<f32> = (0..rows)
                .map(|r| 0.1 + (r % 5) as f32 * 0.3 - 0.4)
                .collect();
            let (mut p1, mut p2) = (vec![0.5; arch.n_params], vec![0.5; arch.n_params]);
            ours.weighted_param_grad(&params, &x, &w, &mut p1).unwrap();
            candle
                .weighted_param_grad(&params, &x, &w, &mut p2)
                .unwrap();
            close(&p1, &p2, "Σ w ∂E/∂θ");
            // Two weightings from one pass, against one weighted gradient each.
            let (mut t, mut reg) = (vec![0.0; arch.n_params], vec![0.0; arch.n_params]);
            ours.param_grads(
                &params,
                &x,
                &mut e1,
                &mut [
                    (
                        RowWeights::Range {
                            rows: 3..rows,
                            scale: 0.25,
                        },
                        &mut t,
                    ),
                    (
                        RowWeights::EnergyScaled {
                            rows: 0..rows,
                            scale: 0.1,
                        },
                        &mut reg,
                    ),
                ],
            )
            .unwrap();
            let (mut t2, mut reg2) = (vec![0.0; arch.n_params], vec![0.0; arch.n_params]);
            let wt: Vec<f32> = (0..rows).map(|r| if r >= 3 { 0.25 } else { 0.0 }).collect();
            candle.energy(&params, &x, &mut e2).unwrap();
            close(&e1, &e2, "E (from the weightings' pass)");
            let wr: Vec<f32> = e2.iter().map(|e| 0.1 * e).collect();
            candle
                .weighted_param_grad(&params, &x, &wt, &mut t2)
                .unwrap();
            candle
                .weighted_param_grad(&params, &x, &wr, &mut reg2)
                .unwrap();
            close(&t, &t2, "range-weighted");
            close(&reg, &reg2, "energy-weighted");
            if k > 1 {
                let (mut pr1, mut pr2) = (vec![0.0; rows * k], vec![0.0; rows * k]);
                ours.class_probs(&params, &x, &mut e1, &mut pr1).unwrap();
                candle.class_probs(&params, &x, &mut e2, &mut pr2).unwrap();
                close(&pr1, &pr2, "p(y | x)");
                let labels: Vec<u32> = (0..rows as u32).map(|r| r % k as u32).collect();
                let (mut c1, mut c2) = (vec![0.0; arch.n_params], vec![0.0; arch.n_params]);
                let (ce1, n1) = ours
                    .cross_entropy_grads(&params, &x, &labels, 0.3, &mut c1)
                    .unwrap();
                let (ce2, n2) = candle
                    .cross_entropy_grads(&params, &x, &labels, 0.3, &mut c2)
                    .unwrap();
                assert!(
                    (ce1 - ce2).abs() < 1e-3 * ce2.abs().max(1.0),
                    "CE {ce1} against {ce2}"
                );
                assert_eq!(n1, n2, "rows classified right");
                close(&c1, &c2, "∂CE/∂θ");
            }
        }
    }
}

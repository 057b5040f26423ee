//! Packing: each Linear layer's weights transposed once for the engine's own forward
//! product (`gemm512` with AVX-512, `gemm256` with AVX2), kept while the parameters stay
//! where they are.

use super::*;

impl Workspace {
    /// Runs `f` with the weights of `params` packed: those of a sampler run when they are
    /// packed already, else packed for this call alone (for batches where it pays).
    pub(super) fn with_pack<R>(
        &mut self,
        params: &[f32],
        rows: usize,
        f: impl FnOnce(&mut Self) -> R,
    ) -> R {
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
    /// the values cannot change), until [`Workspace::unpack`]. Without AVX2 (or off
    /// x86-64) it does nothing.
    pub fn pack(&mut self, params: &[f32]) {
        self.packed_for = None;
        if !own_products() {
            return;
        }
        #[cfg(target_arch = "x86_64")]
        self.pack_layouts(params);
        // Off x86-64 there are no products of our own to pack for.
        #[cfg(not(target_arch = "x86_64"))]
        let _ = params;
    }

    /// [`Workspace::pack`]'s work: each layout the current level's kernels read.
    #[cfg(target_arch = "x86_64")]
    fn pack_layouts(&mut self, params: &[f32]) {
        use crate::energy::gemm256::{pack_panels, panels_len};
        use kernels::NARROW_BELOW;
        let level = KernelLevel::current();
        // Where each layout goes: the same places on every call, so that the buffer
        // keeps its size (growing it zeroed it, and this runs before every sampler
        // run and for each gradient of a batch).
        let mut end = 0;
        let mut take = |len: usize| {
            end += len;
            end - len
        };
        for (n, op) in self.arch.ops.iter().enumerate() {
            if let Op::Linear { input, output, .. } = *op {
                let wide = |width| width >= NARROW_BELOW;
                self.packed_at[n] = PackedAt {
                    t: (level == KernelLevel::Avx512 || !wide(input)).then(|| take(input * output)),
                    forward: (level == KernelLevel::Avx2 && wide(output))
                        .then(|| take(panels_len((0, output, input)))),
                    backward: (level == KernelLevel::Avx2 && wide(input))
                        .then(|| take(panels_len((0, input, output)))),
                };
            }
        }
        self.packed.resize(end, 0.0);
        for (n, op) in self.arch.ops.iter().enumerate() {
            if let Op::Linear {
                input,
                output,
                weight,
                ..
            } = *op
            {
                let w = &params[weight..weight + output * input];
                let at = self.packed_at[n];
                if let Some(t) = at.t {
                    transpose(w, output, input, &mut self.packed[t..t + input * output]);
                }
                // B = Wᵀ (B[p][j] = W[j][p]) forward, B = W backward.
                if let Some(f) = at.forward {
                    let out = &mut self.packed[f..f + panels_len((0, output, input))];
                    pack_panels(w, (1, input), (input, output), out);
                }
                if let Some(b) = at.backward {
                    let out = &mut self.packed[b..b + panels_len((0, input, output))];
                    pack_panels(w, (input, 1), (output, input), out);
                }
            }
        }
        self.packed_for = Some((params.as_ptr() as usize, params.len(), level));
    }

    /// Whether the packed weights are those of `params` (and can be used).
    pub(super) fn is_packed_for(&self, params: &[f32]) -> bool {
        own_products()
            && self.packed_for
                == Some((
                    params.as_ptr() as usize,
                    params.len(),
                    KernelLevel::current(),
                ))
    }

    /// Ends what [`Workspace::pack`] began: later calls read the weights from `params`.
    pub fn unpack(&mut self) {
        self.packed_for = None;
        self.pack_temp = false;
    }
}

/// Whether the engine's own products run here (x86-64 with AVX2 or AVX-512).
fn own_products() -> bool {
    #[cfg(target_arch = "x86_64")]
    return super::kernels::has_own_gemm();
    #[cfg(not(target_arch = "x86_64"))]
    false
}

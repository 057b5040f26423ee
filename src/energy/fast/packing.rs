//! Packing: each Linear layer's weights transposed once for the AVX-512 forward kernel
//! ([`super::super::gemm512`]), kept while the parameters stay where they are.

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
    pub(super) fn is_packed_for(&self, params: &[f32]) -> bool {
        self.packed_for == Some((params.as_ptr() as usize, params.len()))
            && KernelLevel::current() == KernelLevel::Avx512
    }

    /// Ends what [`Workspace::pack`] began: later calls read the weights from `params`.
    pub fn unpack(&mut self) {
        self.packed_for = None;
        self.pack_temp = false;
    }
}

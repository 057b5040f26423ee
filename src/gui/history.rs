//! A bounded history of metric series for the plots: recent points at full resolution,
//! older ones thinned out, so a long run stays fast to draw.

use crate::train::StepMetrics;

/// Points kept per series before the older half is thinned.
pub const CAPACITY: usize = 4000;

/// One plotted series of (step, value).
#[derive(Debug, Clone, Default)]
pub struct Series {
    pub points: Vec<[f64; 2]>,
}

impl Series {
    pub fn push(&mut self, step: usize, v: f64) {
        if !v.is_finite() {
            return;
        }
        #[allow(clippy::cast_precision_loss)]
        self.points.push([step as f64, v]);
        if self.points.len() > CAPACITY {
            // Keep every other point of the older half.
            let half = self.points.len() / 2;
            let mut kept: Vec<[f64; 2]> = self.points[..half].iter().step_by(2).copied().collect();
            kept.extend_from_slice(&self.points[half..]);
            self.points = kept;
        }
    }

    /// Drops the points past `step`; returns how many.
    pub fn truncate_after(&mut self, step: usize) -> usize {
        #[allow(clippy::cast_precision_loss)]
        let at = step as f64;
        let n = self.points.len();
        self.points.retain(|p| p[0] <= at);
        n - self.points.len()
    }

    #[must_use]
    pub fn last(&self) -> Option<f64> {
        self.points.last().map(|p| p[1])
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.points.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
}

/// Every series the window plots.
#[derive(Debug, Clone, Default)]
pub struct MetricsHistory {
    pub loss: Series,
    pub e_data: Series,
    pub e_sample: Series,
    pub data_term_norm: Series,
    pub sample_term_norm: Series,
    pub grad_norm: Series,
    pub cos_terms: Series,
    pub nll: Series,
    pub step_ms: Series,
    pub sample_term_cos_exact: Series,
    pub sample_term_rel_err: Series,
    pub kl_gap: Series,
    /// The NLL's standard error where log Z is an AIS estimate (outside the plane).
    pub nll_stderr: Series,
    /// The effective sample size of AIS's weights behind each NLL (outside the plane).
    pub nll_ess: Series,
    /// The sampler's term against the reference chains' (outside the plane), and their R̂.
    pub sample_term_cos_reference: Series,
    pub sample_term_rel_err_reference: Series,
    pub reference_rhat: Series,
    /// The sampler's acceptance rate (MALA, HMC).
    pub acceptance: Series,
    /// Score matching: its gradient's cosine to the exact ML gradient (2-D).
    pub objective_cos_ml: Series,
    /// The adapted step size (MALA, HMC with a target acceptance).
    pub step_size: Series,
    /// JEM: the batch's cross-entropy, held-out accuracy and calibration error.
    pub ce_loss: Series,
    pub accuracy: Series,
    pub ece: Series,
    /// Per layer: (name, |data term|, |sample term|).
    pub layers: Vec<(String, Series, Series)>,
    /// Steps received in all.
    pub received: usize,
}

impl MetricsHistory {
    /// Forgets the steps past `step` (a roll-back undid them): their points, the spike a
    /// divergence left, leave the plots.
    pub fn truncate_after(&mut self, step: usize) {
        let removed = self.loss.truncate_after(step);
        for s in [
            &mut self.e_data,
            &mut self.e_sample,
            &mut self.data_term_norm,
            &mut self.sample_term_norm,
            &mut self.grad_norm,
            &mut self.cos_terms,
            &mut self.nll,
            &mut self.step_ms,
            &mut self.sample_term_cos_exact,
            &mut self.sample_term_rel_err,
            &mut self.kl_gap,
            &mut self.nll_stderr,
            &mut self.nll_ess,
            &mut self.sample_term_cos_reference,
            &mut self.sample_term_rel_err_reference,
            &mut self.reference_rhat,
            &mut self.acceptance,
            &mut self.objective_cos_ml,
            &mut self.step_size,
            &mut self.ce_loss,
            &mut self.accuracy,
            &mut self.ece,
        ] {
            s.truncate_after(step);
        }
        for (_, d, s) in &mut self.layers {
            d.truncate_after(step);
            s.truncate_after(step);
        }
        self.received = self.received.saturating_sub(removed);
    }

    pub fn push(&mut self, m: &StepMetrics) {
        let s = m.step;
        self.loss.push(s, m.loss);
        self.e_data.push(s, m.e_data);
        self.e_sample.push(s, m.e_sample);
        self.data_term_norm.push(s, m.data_term_norm);
        self.sample_term_norm.push(s, m.sample_term_norm);
        self.grad_norm.push(s, m.grad_norm);
        self.cos_terms.push(s, m.cos_terms);
        if let Some(n) = m.nll {
            self.nll.push(s, n);
        }
        self.step_ms.push(s, m.step_ms);
        if let Some(v) = m.sample_term_cos_exact {
            self.sample_term_cos_exact.push(s, v);
        }
        if let Some(v) = m.sample_term_rel_err {
            self.sample_term_rel_err.push(s, v);
        }
        if let Some(v) = m.kl_gap {
            self.kl_gap.push(s, v);
        }
        if let Some(v) = m.nll_stderr {
            self.nll_stderr.push(s, v);
        }
        if let Some(v) = m.nll_ess {
            self.nll_ess.push(s, v);
        }
        if let Some(v) = m.sample_term_cos_reference {
            self.sample_term_cos_reference.push(s, v);
        }
        if let Some(v) = m.sample_term_rel_err_reference {
            self.sample_term_rel_err_reference.push(s, v);
        }
        if let Some(v) = m.reference_rhat {
            self.reference_rhat.push(s, v);
        }
        if let Some(v) = m.acceptance {
            self.acceptance.push(s, v);
        }
        if let Some(v) = m.objective_cos_ml {
            self.objective_cos_ml.push(s, v);
        }
        if let Some(v) = m.step_size {
            self.step_size.push(s, v);
        }
        if let Some(v) = m.ce_loss {
            self.ce_loss.push(s, v);
        }
        if let Some(v) = m.accuracy {
            self.accuracy.push(s, v);
        }
        if let Some(v) = m.ece {
            self.ece.push(s, v);
        }
        if self.layers.len() != m.layers.len() {
            self.layers = m
                .layers
                .iter()
                .map(|l| (l.name.clone(), Series::default(), Series::default()))
                .collect();
        }
        for (slot, l) in self.layers.iter_mut().zip(&m.layers) {
            slot.1.push(s, l.data_term_norm);
            slot.2.push(s, l.sample_term_norm);
        }
        self.received += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_stays_bounded_and_keeps_the_latest() {
        let mut s = Series::default();
        for i in 0..20_000 {
            s.push(i, 1.0);
        }
        assert!(s.len() <= CAPACITY);
        assert_eq!(s.points.last().map(|p| p[0]), Some(19_999.0));
        assert_eq!(s.points[0][0], 0.0);
        // Recent points are at full resolution.
        let n = s.len();
        assert_eq!(s.points[n - 1][0] - s.points[n - 2][0], 1.0);
    }
}

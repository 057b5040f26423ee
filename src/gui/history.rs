//! A bounded history of metric series for the plots: recent points at full resolution,
//! older ones thinned out, so a long run stays fast to draw.

use crate::eval::Method;
use crate::train::StepMetrics;
use crate::train::metrics::PerMetric;

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

/// Every series the window plots: one per metric of the table
/// ([`crate::train::metrics::METRICS`], reached by the metrics' field names through
/// `Deref`), and the two terms per layer.
#[derive(Debug, Clone, Default)]
pub struct MetricsHistory {
    pub series: PerMetric<Series>,
    /// How the latest NLL was obtained.
    pub nll_method: Option<Method>,
    /// Per layer: (name, |data term|, |sample term|).
    pub layers: Vec<(String, Series, Series)>,
    /// The evaluations whose NLL was not measurable (AIS whose weights failed their
    /// verdict, [`crate::eval::verdict`]), with the estimate: kept out of `nll`, so that
    /// no plot, pin or comparison shows it as a likelihood.
    pub nll_untrusted: Series,
    /// Steps received in all.
    pub received: usize,
}

impl std::ops::Deref for MetricsHistory {
    type Target = PerMetric<Series>;
    fn deref(&self) -> &Self::Target {
        &self.series
    }
}

impl std::ops::DerefMut for MetricsHistory {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.series
    }
}

impl MetricsHistory {
    /// Forgets the steps past `step` (a roll-back undid them): their points, the spike a
    /// divergence left, leave the plots.
    pub fn truncate_after(&mut self, step: usize) {
        let removed = self.loss.truncate_after(step);
        self.nll_untrusted.truncate_after(step);
        for (_, s) in self.series.iter_mut() {
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
        let untrusted = m.nll_trusted.is_some_and(|t| t < 0.5);
        for (metric, series) in self.series.iter_mut() {
            if let Some(v) = (metric.get)(m) {
                if untrusted && metric.name == "nll" {
                    self.nll_untrusted.push(s, v);
                } else {
                    series.push(s, v);
                }
            }
        }
        if m.nll.is_some() {
            self.nll_method = m.nll_method.or(self.nll_method);
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

    /// The NLL of step `step` (a fresh model's, before any step): plotted where `trusted`,
    /// kept aside otherwise.
    pub fn push_nll(&mut self, step: usize, nll: f64, trusted: bool) {
        if trusted {
            self.series.nll.push(step, nll);
        } else {
            self.nll_untrusted.push(step, nll);
        }
    }

    /// The step of the latest evaluation whose NLL was not measurable, if it is the latest
    /// evaluation.
    #[must_use]
    pub fn latest_nll_untrusted(&self) -> Option<usize> {
        let untrusted = self.nll_untrusted.points.last()?[0];
        let trusted = self.nll.points.last().map_or(-1.0, |p| p[0]);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        (untrusted > trusted).then_some(untrusted as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_nll_that_is_not_measurable_stays_out_of_the_plotted_series() {
        let mut h = MetricsHistory::default();
        let at = |step: usize, nll: f64, trusted: Option<f64>| StepMetrics {
            step,
            nll: Some(nll),
            nll_trusted: trusted,
            ..StepMetrics::empty(step)
        };
        h.push_nll(0, 900.0, false);
        h.push(&at(10, 3.5, Some(1.0)));
        assert_eq!(h.latest_nll_untrusted(), None);
        h.push(&at(20, -24_777.0, Some(0.0)));
        h.push(&at(30, 2.5, None));
        assert_eq!(h.nll.points, vec![[10.0, 3.5], [30.0, 2.5]]);
        assert_eq!(
            h.nll_untrusted.points,
            vec![[0.0, 900.0], [20.0, -24_777.0]]
        );
        assert_eq!(h.latest_nll_untrusted(), None);
        h.push(&at(40, -30_000.0, Some(0.0)));
        assert_eq!(h.latest_nll_untrusted(), Some(40));
        h.truncate_after(30);
        assert_eq!(h.nll_untrusted.len(), 2);
    }

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

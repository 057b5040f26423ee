//! One record per training step. The field names are the CSV columns and the plot names.

use crate::eval::Method;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// The norms of the two gradient terms for one layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerTerms {
    /// `layers.{i}`.
    pub name: String,
    pub data_term_norm: f64,
    pub sample_term_norm: f64,
}

/// Builds the metrics from one table: each entry, `name: kind, "label", digits;`, is a
/// field of [`StepMetrics`] (`always`: an `f64` every step; `sometimes`: an `Option<f64>`),
/// a CSV column of that name, a series of [`PerMetric`] (the window's history and the
/// comparison of runs) and an entry of [`METRICS`] with the label the plots show.
/// Adding a metric is adding one entry (and filling it where it is measured).
macro_rules! metric_table {
    ($( $(#[doc = $doc:literal])* $name:ident : $kind:ident, $label:literal, $digits:expr; )*) => {
        /// One training step's record.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        pub struct StepMetrics {
            /// 1-based: the number of optimiser steps taken after this one.
            pub step: usize,
            $( $(#[doc = $doc])* #[serde(default)] pub $name: metric_type!($kind), )*
            /// How `nll` was obtained (quadrature or AIS), where there is one.
            #[serde(default)]
            pub nll_method: Option<Method>,
            /// The two terms per layer.
            pub layers: Vec<LayerTerms>,
        }

        /// One value per metric of the table (a plotted series, say), named as the fields
        /// of [`StepMetrics`].
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct PerMetric<T> {
            $( $(#[doc = $doc])* pub $name: T, )*
        }

        impl<T> PerMetric<T> {
            /// Each metric with its value, in the table's order.
            pub fn iter(&self) -> impl Iterator<Item = (&'static Metric, &T)> {
                METRICS.iter().zip([$( &self.$name ),*])
            }

            /// The value of `metric`.
            ///
            /// # Panics
            /// Never for a metric of [`METRICS`].
            #[must_use]
            pub fn of(&self, metric: &Metric) -> &T {
                self.iter()
                    .find(|(m, _)| m.name == metric.name)
                    .map(|(_, v)| v)
                    .expect("a metric of the table")
            }

            /// Each metric with its value to change, in the table's order.
            pub fn iter_mut(&mut self) -> impl Iterator<Item = (&'static Metric, &mut T)> {
                METRICS.iter().zip([$( &mut self.$name ),*])
            }
        }

        impl StepMetrics {
            /// A step's record with nothing measured: every-step metrics NaN, the rest
            /// `None`.
            #[must_use]
            pub fn empty(step: usize) -> Self {
                Self {
                    step,
                    $( $name: metric_empty!($kind), )*
                    nll_method: None,
                    layers: Vec::new(),
                }
            }
        }

        /// The table: every metric's name (field and CSV column), label and accessors.
        pub const METRICS: &[Metric] = &[$(
            Metric {
                name: stringify!($name),
                label: $label,
                digits: $digits,
                get: |m| metric_get!($kind, m.$name),
                set: |m, v| metric_set!($kind, m.$name, v),
            },
        )*];
    };
}

macro_rules! metric_type {
    (always) => { f64 };
    (sometimes) => { Option<f64> };
}

macro_rules! metric_empty {
    (always) => {
        f64::NAN
    };
    (sometimes) => {
        None
    };
}

macro_rules! metric_get {
    (always, $e:expr) => {
        Some($e)
    };
    (sometimes, $e:expr) => {
        $e
    };
}

macro_rules! metric_set {
    (always, $e:expr, $v:expr) => {
        $e = $v.unwrap_or(f64::NAN)
    };
    (sometimes, $e:expr, $v:expr) => {
        $e = $v
    };
}

/// A metric of the table.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    /// The field's and the CSV column's name.
    pub name: &'static str,
    /// What the plots call it.
    pub label: &'static str,
    /// Decimals in the CSV (`None`: as many as the number needs).
    pub digits: Option<usize>,
    /// Its value in a step's record (`None` where the step did not measure it).
    pub get: fn(&StepMetrics) -> Option<f64>,
    /// Sets it (a missing value of an every-step metric reads as NaN).
    pub set: fn(&mut StepMetrics, Option<f64>),
}

impl Metric {
    /// The metric of this name.
    #[must_use]
    pub fn named(name: &str) -> Option<&'static Self> {
        METRICS.iter().find(|m| m.name == name)
    }
}

metric_table! {
    /// mean E(x⁺) − mean E(x⁻) + α·(mean E(x⁺)² + mean E(x⁻)²).
    loss: always, "loss", None;
    /// mean E(x⁺) over the data batch.
    e_data: always, "E(data)", None;
    /// mean E(x⁻) over the sampler's batch.
    e_sample: always, "E(samples)", None;
    /// ‖g_data‖, g_data = ∂ mean E(x⁺)/∂θ over all parameters.
    data_term_norm: always, "|data term|", None;
    /// ‖g_sample‖, g_sample = ∂ mean E(x⁻)/∂θ.
    sample_term_norm: always, "|sample term|", None;
    /// ‖g_data − g_sample‖, the estimated NLL gradient.
    grad_norm: always, "|data term − sample term|", None;
    /// cos(g_data, g_sample).
    cos_terms: always, "cos(data term, sample term)", None;
    /// Held-out NLL in nats, on evaluation steps only; `nll_method` says how log Z was
    /// obtained.
    nll: sometimes, "held-out NLL", None;
    /// Wall time of the step (sampling, gradients, update; evaluation excluded).
    step_ms: always, "step time (ms)", Some(4);
    /// cos(g_sample, g*_sample) against the exact sample term on the grid (2-D), on
    /// evaluation steps.
    sample_term_cos_exact: sometimes, "cos(sample term, exact)", None;
    /// ‖g_sample − g*_sample‖ / ‖g*_sample‖, on evaluation steps.
    sample_term_rel_err: sometimes, "sample term's relative error (exact)", None;
    /// Model NLL − true NLL (where the data's density is known), on evaluation steps.
    kl_gap: sometimes, "NLL − true NLL", None;
    /// The fraction of proposals the sampler accepted this step (MALA, HMC).
    acceptance: sometimes, "acceptance", None;
    /// Mean cross-entropy of the data batch's labels (JEM).
    ce_loss: sometimes, "cross-entropy", None;
    /// The classifier's accuracy on the data batch (JEM).
    batch_accuracy: sometimes, "batch accuracy", None;
    /// Held-out accuracy (JEM), on evaluation steps.
    accuracy: sometimes, "held-out accuracy", None;
    /// Held-out expected calibration error (JEM), on evaluation steps.
    ece: sometimes, "calibration error (ECE)", None;
    /// The step size the sampler used, when MALA or HMC adapt it.
    step_size: sometimes, "step size", None;
    /// The standard error of `nll` where log Z is an AIS estimate (outside the plane).
    nll_stderr: sometimes, "NLL's standard error", None;
    /// cos(g_sample, g_ref) against the reference sample term of long MALA chains
    /// (outside the plane, where no exact term exists), on evaluation steps.
    sample_term_cos_reference: sometimes, "cos(sample term, reference)", None;
    /// ‖g_sample − g_ref‖ / ‖g_ref‖, on evaluation steps outside the plane.
    sample_term_rel_err_reference: sometimes, "sample term's relative error (reference)", None;
    /// The reference chains' classic split-R̂ (the largest over the energy and the first
    /// coordinates): near 1 they can be trusted.
    reference_rhat: sometimes, "reference chains' split R-hat", None;
    /// The Monte-Carlo floor of `sample_term_cos_exact`: the mean less 2.5 standard
    /// deviations of cos(ĝ, g*_sample) over batches of the same size drawn exactly from
    /// the model (2-D, evaluation steps). A sampler is only blamed below what its
    /// batch's noise alone explains.
    sample_term_cos_floor: sometimes, "cos floor of exact draws", None;
    /// Score matching in the plane: cos(g_objective, g_ML), the objective's parameter
    /// gradient against the exact maximum-likelihood gradient (data term − exact sample
    /// term), on evaluation steps. 1: it optimises what maximum likelihood would.
    objective_cos_ml: sometimes, "cos(objective, ML gradient)", None;
    /// The effective sample size of AIS's importance weights behind `nll`, (Σw)²/Σw²
    /// (outside the plane): near 1, one chain carries the weight and `nll` means little.
    nll_ess: sometimes, "AIS weights' ESS", None;
    /// 1 where `nll` may be shown as a likelihood, 0 where it is not measurable (AIS
    /// whose weights' ESS is under [`crate::eval::verdict::MIN_ESS_FRACTION`] of the
    /// chains): AIS evaluation steps only.
    nll_trusted: sometimes, "NLL trusted (1) or not measurable (0)", None;
    /// Wall time of an evaluation step's measurements (the truth comparison, log Z and
    /// the held-out NLL, the classifier's accuracy), on evaluation steps: what evaluating
    /// costs the run beside `step_ms`.
    eval_ms: sometimes, "evaluation time (ms)", Some(4);
}

impl StepMetrics {
    /// The columns that measure wall time, not the run: two runs of the same seed agree
    /// on every other one.
    pub const WALL_TIME: [&'static str; 2] = ["step_ms", "eval_ms"];

    /// The same metrics with the wall times zeroed (where measured), for comparing runs.
    #[must_use]
    pub fn without_wall_time(self) -> Self {
        Self {
            step_ms: 0.0,
            eval_ms: self.eval_ms.map(|_| 0.0),
            ..self
        }
    }

    /// The CSV header row: `step`, the table's columns, `nll_method`.
    #[must_use]
    pub fn csv_header() -> String {
        let mut s = String::from("step");
        for c in METRICS {
            s.push(',');
            s.push_str(c.name);
        }
        s.push_str(",nll_method");
        s
    }

    /// One CSV row (no newline); a metric the step did not measure is an empty field.
    #[must_use]
    pub fn csv_row(&self) -> String {
        let mut s = self.step.to_string();
        for c in METRICS {
            s.push(',');
            match ((c.get)(self), c.digits) {
                (Some(v), Some(d)) => {
                    let _ = write!(s, "{v:.d$}");
                }
                (Some(v), None) => {
                    let _ = write!(s, "{v}");
                }
                (None, _) => {}
            }
        }
        s.push(',');
        if let Some(m) = self.nll_method {
            s.push_str(m.name());
        }
        s
    }

    /// A row of a metrics CSV back as metrics, columns found by the header's names (so
    /// files with fewer or reordered columns read too); per-layer terms are not in the CSV.
    ///
    /// # Errors
    /// A missing `step` column or a field that is not a number, naming it.
    pub fn from_csv_row(header: &[&str], row: &str) -> Result<Self, String> {
        let fields: Vec<&str> = row.split(',').collect();
        let field = |name: &str| {
            header
                .iter()
                .position(|h| *h == name)
                .and_then(|i| fields.get(i))
                .map(|t| t.trim())
                .filter(|t| !t.is_empty())
        };
        let number = |name: &str| -> Result<Option<f64>, String> {
            field(name)
                .map(|t| {
                    t.parse::<f64>()
                        .map_err(|_| format!("{name} `{t}` is not a number"))
                })
                .transpose()
        };
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let step = number("step")?.ok_or("no step")? as usize;
        let mut m = Self::empty(step);
        for c in METRICS {
            (c.set)(&mut m, number(c.name)?);
        }
        m.nll_method = match field("nll_method") {
            None => None,
            Some(t) => Some(
                Method::from_name(t).ok_or_else(|| format!("nll_method `{t}` is not a method"))?,
            ),
        };
        Ok(m)
    }
}

/// Every row of a metrics CSV (as `to_csv` writes it).
///
/// # Errors
/// What is wrong and on which line.
pub fn from_csv(text: &str) -> Result<Vec<StepMetrics>, String> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().ok_or("empty file")?.split(',').collect();
    if !header.contains(&"step") {
        return Err("line 1: no `step` column: not a metrics CSV".into());
    }
    lines
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            StepMetrics::from_csv_row(&header, l).map_err(|e| format!("line {}: {e}", i + 2))
        })
        .collect()
}

/// Metrics as a whole CSV document.
#[must_use]
pub fn to_csv(rows: &[StepMetrics]) -> String {
    let mut s = String::with_capacity(rows.len() * 120 + 100);
    s.push_str(&StepMetrics::csv_header());
    s.push('\n');
    for r in rows {
        s.push_str(&r.csv_row());
        s.push('\n');
    }
    s
}

/// Watches the sampler's estimate of the sample term against the exact one (2-D) and
/// says once when the sampler stops following the model, again only after it recovered.
#[derive(Debug, Clone, Default)]
pub struct LagMonitor {
    warned: bool,
    /// The data are bits: the advice is about Gibbs sweeps, not step sizes.
    discrete: bool,
}

impl LagMonitor {
    /// Below this cosine to the exact sample term the sampler is said to lag.
    pub const LAG_COS: f64 = 0.8;
    /// Above this the monitor re-arms.
    pub const RECOVERED_COS: f64 = 0.9;

    /// A monitor whose advice fits the data's space (Gibbs sweeps on bits).
    #[must_use]
    pub fn for_space(space: crate::data::Space) -> Self {
        Self {
            warned: false,
            discrete: space.allows().discrete,
        }
    }

    /// A warning for this step, if it is the first step of a lag: against the exact
    /// sample term in the plane, against the reference chains' elsewhere (where their
    /// R-hat says they mixed).
    pub fn check(&mut self, m: &StepMetrics) -> Option<String> {
        // What the batch's Monte-Carlo noise alone gives an exact sampler (2-D): only
        // below it is the sampler to blame.
        let floor = m.sample_term_cos_floor.unwrap_or(1.0);
        let (c, err, against) = match (m.sample_term_cos_exact, m.sample_term_cos_reference) {
            (Some(c), _) => (
                c,
                m.sample_term_rel_err,
                "g*_sample) against the exact sample term",
            ),
            // A reference whose chains have not mixed measures nothing: no blame from it.
            (None, Some(c))
                if m.reference_rhat
                    .is_some_and(|r| crate::eval::verdict::reference(r).trusted()) =>
            {
                (
                    c,
                    m.sample_term_rel_err_reference,
                    "g_ref) against the reference sample term of long MALA chains",
                )
            }
            _ => return None,
        };
        if c < Self::LAG_COS && c < floor && !self.warned {
            self.warned = true;
            let rhat = m.reference_rhat.map_or(String::new(), |r| {
                format!("; the reference chains' R-hat is {r:.3}")
            });
            let rhat = match m.sample_term_cos_floor {
                Some(f) => format!("{rhat}; exact draws of the same batch size reach {f:.2}"),
                None => rhat,
            };
            let advice = if self.discrete {
                "try more Gibbs sweeps (steps K) or the Exact sampler"
            } else {
                "try a smaller step size, more steps, or MALA/HMC"
            };
            return Some(format!(
                "step {}: the sampler no longer follows the model: cos(g_sample, {against} is {c:.2} (relative error {:.2}{rhat}); {advice}",
                m.step,
                err.unwrap_or(f64::NAN)
            ));
        }
        if c > Self::RECOVERED_COS.min(floor) {
            self.warned = false;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(step: usize, cos: Option<f64>) -> StepMetrics {
        StepMetrics {
            loss: 0.0,
            e_data: 0.0,
            e_sample: 0.0,
            grad_norm: 0.0,
            data_term_norm: 1.0,
            sample_term_norm: 1.0,
            cos_terms: 1.0,
            sample_term_cos_exact: cos,
            sample_term_rel_err: cos.map(|c| 1.0 - c),
            step_ms: 1.0,
            ..StepMetrics::empty(step)
        }
    }

    #[test]
    fn metrics_read_back_from_their_csv() {
        let mut a = at(10, Some(0.9));
        a.nll = Some(3.25);
        a.acceptance = Some(0.5);
        a.nll_stderr = Some(0.125);
        a.nll_ess = Some(12.5);
        a.nll_method = Some(Method::Ais);
        let b = at(11, None);
        let back = from_csv(&to_csv(&[a.clone(), b.clone()])).expect("a metrics CSV");
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].step, 10);
        assert_eq!(back[0].nll, Some(3.25));
        assert_eq!(back[0].acceptance, Some(0.5));
        assert_eq!(back[0].nll_stderr, Some(0.125));
        assert_eq!(back[0].nll_ess, Some(12.5));
        assert_eq!(back[0].sample_term_cos_exact, Some(0.9));
        assert_eq!(back[0].nll_method, Some(Method::Ais));
        assert_eq!(back, [a, b.clone()], "every column reads back");
        assert_eq!(back[1].nll, None);
        assert_eq!(back[1].loss, b.loss);
        let e = from_csv("step,loss\n1,abc\n").unwrap_err();
        assert!(e.contains("line 2") && e.contains("loss"), "{e}");
        assert!(
            from_csv("x,y\n1,2\n")
                .unwrap_err()
                .contains("not a metrics CSV")
        );
    }

    #[test]
    fn every_metric_of_the_table_is_a_csv_column_and_a_series() {
        let mut m = StepMetrics::empty(7);
        #[allow(clippy::cast_precision_loss)]
        for (i, c) in METRICS.iter().enumerate() {
            (c.set)(&mut m, Some(0.5 + i as f64));
        }
        let header = StepMetrics::csv_header();
        let names: Vec<&str> = header.split(',').collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "one column per name: {header}");
        assert_eq!(
            names.len(),
            METRICS.len() + 2,
            "step, the table, nll_method"
        );
        let back = from_csv(&to_csv(std::slice::from_ref(&m))).expect("reads back");
        #[allow(clippy::cast_precision_loss)]
        for (i, c) in METRICS.iter().enumerate() {
            assert_eq!((c.get)(&back[0]), Some(0.5 + i as f64), "{}", c.name);
        }
        let mut per = PerMetric::<Vec<f64>>::default();
        for (c, v) in per.iter_mut() {
            v.extend((c.get)(&m));
        }
        #[allow(clippy::cast_precision_loss)]
        for (i, c) in METRICS.iter().enumerate() {
            assert_eq!(per.of(c), &[0.5 + i as f64], "{}", c.name);
        }
    }

    #[test]
    fn the_lag_is_reported_once_until_the_sampler_recovers() {
        let mut m = LagMonitor::default();
        assert_eq!(m.check(&at(100, Some(0.99))), None);
        assert_eq!(m.check(&at(150, None)), None);
        let w = m.check(&at(200, Some(0.5))).expect("a warning");
        assert!(w.starts_with("step 200:") && w.contains("0.50"), "{w}");
        assert_eq!(m.check(&at(300, Some(0.6))), None, "said once");
        assert_eq!(m.check(&at(400, Some(0.85))), None, "not yet recovered");
        assert_eq!(m.check(&at(500, Some(0.7))), None, "still the same lag");
        assert_eq!(m.check(&at(600, Some(0.95))), None);
        assert!(m.check(&at(700, Some(0.6))).is_some(), "a new lag");
    }

    #[test]
    fn monte_carlo_noise_alone_is_not_blamed_on_the_sampler() {
        let mut m = LagMonitor::default();
        let noisy = |step, cos, floor| StepMetrics {
            sample_term_cos_floor: Some(floor),
            ..at(step, Some(cos))
        };
        // Batch 1: an exact draw reaches only 0.3, the sampler 0.5.
        assert_eq!(m.check(&noisy(100, 0.5, 0.3)), None);
        // Below what exact draws of its batch size reach: the sampler lags.
        let w = m.check(&noisy(200, 0.1, 0.3)).expect("a warning");
        assert!(
            w.contains("exact draws of the same batch size reach 0.30"),
            "{w}"
        );
    }

    #[test]
    fn a_reference_whose_chains_have_not_mixed_blames_nobody() {
        let against = |step, cos, rhat| StepMetrics {
            sample_term_cos_reference: Some(cos),
            sample_term_rel_err_reference: Some(1.0 - cos),
            reference_rhat: Some(rhat),
            ..at(step, None)
        };
        let mut m = LagMonitor::default();
        assert_eq!(m.check(&against(100, 0.5, 3.0)), None, "not mixed");
        let w = m.check(&against(200, 0.5, 1.02)).expect("a warning");
        assert!(
            w.contains("reference sample term") && w.contains("1.020"),
            "{w}"
        );
    }
}

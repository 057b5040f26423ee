//! One record per training step. The field names are the CSV columns and the plot names.

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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    /// 1-based: the number of optimiser steps taken after this one.
    pub step: usize,
    /// mean E(x⁺) − mean E(x⁻) + α·(mean E(x⁺)² + mean E(x⁻)²).
    pub loss: f64,
    /// mean E(x⁺) over the data batch.
    pub e_data: f64,
    /// mean E(x⁻) over the sampler's batch.
    pub e_sample: f64,
    /// ‖g_data‖, g_data = ∂ mean E(x⁺)/∂θ over all parameters.
    pub data_term_norm: f64,
    /// ‖g_sample‖, g_sample = ∂ mean E(x⁻)/∂θ.
    pub sample_term_norm: f64,
    /// ‖g_data − g_sample‖, the estimated NLL gradient.
    pub grad_norm: f64,
    /// cos(g_data, g_sample).
    pub cos_terms: f64,
    /// Held-out NLL in nats (quadrature), on evaluation steps only.
    pub nll: Option<f64>,
    /// cos(g_sample, g*_sample) against the exact sample term on the grid (2-D), on
    /// evaluation steps.
    pub sample_term_cos_exact: Option<f64>,
    /// ‖g_sample − g*_sample‖ / ‖g*_sample‖, on evaluation steps.
    pub sample_term_rel_err: Option<f64>,
    /// The Monte-Carlo floor of `sample_term_cos_exact`: the mean less 2.5 standard
    /// deviations of cos(ĝ, g*_sample) over batches of the same size drawn exactly from
    /// the model (2-D, evaluation steps). A sampler is only blamed below what its
    /// batch's noise alone explains.
    #[serde(default)]
    pub sample_term_cos_floor: Option<f64>,
    /// Score matching in the plane: cos(g_objective, g_ML), the objective's parameter
    /// gradient against the exact maximum-likelihood gradient (data term − exact sample
    /// term), on evaluation steps. 1: it optimises what maximum likelihood would.
    #[serde(default)]
    pub objective_cos_ml: Option<f64>,
    /// Model NLL − true NLL (where the data's density is known), on evaluation steps.
    pub kl_gap: Option<f64>,
    /// The standard error of `nll` where log Z is an AIS estimate (outside the plane).
    #[serde(default)]
    pub nll_stderr: Option<f64>,
    /// The effective sample size of AIS's importance weights behind `nll`, (Σw)²/Σw²
    /// (outside the plane): near 1, one chain carries the weight and `nll` means little.
    #[serde(default)]
    pub nll_ess: Option<f64>,
    /// cos(g_sample, g_ref) against the reference sample term of long MALA chains
    /// (outside the plane, where no exact term exists), on evaluation steps.
    #[serde(default)]
    pub sample_term_cos_reference: Option<f64>,
    /// ‖g_sample − g_ref‖ / ‖g_ref‖, on evaluation steps outside the plane.
    #[serde(default)]
    pub sample_term_rel_err_reference: Option<f64>,
    /// The reference chains' split-R̂ (the largest over the energy and the first
    /// coordinates): near 1 they can be trusted.
    #[serde(default)]
    pub reference_rhat: Option<f64>,
    /// The fraction of proposals the sampler accepted this step (MALA, HMC).
    #[serde(default)]
    pub acceptance: Option<f64>,
    /// The step size the sampler used, when MALA or HMC adapt it.
    #[serde(default)]
    pub step_size: Option<f64>,
    /// Mean cross-entropy of the data batch's labels (JEM).
    #[serde(default)]
    pub ce_loss: Option<f64>,
    /// The classifier's accuracy on the data batch (JEM).
    #[serde(default)]
    pub batch_accuracy: Option<f64>,
    /// Held-out accuracy (JEM), on evaluation steps.
    #[serde(default)]
    pub accuracy: Option<f64>,
    /// Held-out expected calibration error (JEM), on evaluation steps.
    #[serde(default)]
    pub ece: Option<f64>,
    /// Wall time of the step (sampling, gradients, update; evaluation excluded).
    pub step_ms: f64,
    /// The two terms per layer.
    pub layers: Vec<LayerTerms>,
}

impl StepMetrics {
    /// The CSV header row.
    pub const CSV_HEADER: &'static str = "step,loss,e_data,e_sample,data_term_norm,sample_term_norm,grad_norm,cos_terms,nll,step_ms,sample_term_cos_exact,sample_term_rel_err,kl_gap,acceptance,ce_loss,batch_accuracy,accuracy,ece,step_size,nll_stderr,sample_term_cos_reference,sample_term_rel_err_reference,reference_rhat,sample_term_cos_floor,objective_cos_ml,nll_ess";

    /// One CSV row (no newline); `nll` is empty between evaluations.
    #[must_use]
    pub fn csv_row(&self) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            "{},{},{},{},{},{},{},{},",
            self.step,
            self.loss,
            self.e_data,
            self.e_sample,
            self.data_term_norm,
            self.sample_term_norm,
            self.grad_norm,
            self.cos_terms
        );
        if let Some(n) = self.nll {
            let _ = write!(s, "{n}");
        }
        let _ = write!(s, ",{:.4}", self.step_ms);
        for v in [
            self.sample_term_cos_exact,
            self.sample_term_rel_err,
            self.kl_gap,
            self.acceptance,
            self.ce_loss,
            self.batch_accuracy,
            self.accuracy,
            self.ece,
            self.step_size,
            self.nll_stderr,
            self.sample_term_cos_reference,
            self.sample_term_rel_err_reference,
            self.reference_rhat,
            self.sample_term_cos_floor,
            self.objective_cos_ml,
            self.nll_ess,
        ] {
            s.push(',');
            if let Some(v) = v {
                let _ = write!(s, "{v}");
            }
        }
        s
    }
}

impl StepMetrics {
    /// A row of a metrics CSV back as metrics, columns found by the header's names (so
    /// files with fewer or reordered columns read too); per-layer terms are not in the CSV.
    ///
    /// # Errors
    /// A missing `step` column or a field that is not a number, naming it.
    pub fn from_csv_row(header: &[&str], row: &str) -> Result<Self, String> {
        let fields: Vec<&str> = row.split(',').collect();
        let get = |name: &str| -> Result<Option<f64>, String> {
            match header
                .iter()
                .position(|h| *h == name)
                .and_then(|i| fields.get(i))
            {
                None => Ok(None),
                Some(t) if t.trim().is_empty() => Ok(None),
                Some(t) => t
                    .trim()
                    .parse::<f64>()
                    .map(Some)
                    .map_err(|_| format!("{name} `{t}` is not a number")),
            }
        };
        let need = |name: &str| get(name).map(|v| v.unwrap_or(f64::NAN));
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let step = get("step")?.ok_or("no step")? as usize;
        Ok(Self {
            step,
            loss: need("loss")?,
            e_data: need("e_data")?,
            e_sample: need("e_sample")?,
            data_term_norm: need("data_term_norm")?,
            sample_term_norm: need("sample_term_norm")?,
            grad_norm: need("grad_norm")?,
            cos_terms: need("cos_terms")?,
            nll: get("nll")?,
            sample_term_cos_exact: get("sample_term_cos_exact")?,
            sample_term_rel_err: get("sample_term_rel_err")?,
            sample_term_cos_floor: get("sample_term_cos_floor")?,
            objective_cos_ml: get("objective_cos_ml")?,
            kl_gap: get("kl_gap")?,
            nll_stderr: get("nll_stderr")?,
            nll_ess: get("nll_ess")?,
            sample_term_cos_reference: get("sample_term_cos_reference")?,
            sample_term_rel_err_reference: get("sample_term_rel_err_reference")?,
            reference_rhat: get("reference_rhat")?,
            acceptance: get("acceptance")?,
            step_size: get("step_size")?,
            ce_loss: get("ce_loss")?,
            batch_accuracy: get("batch_accuracy")?,
            accuracy: get("accuracy")?,
            ece: get("ece")?,
            step_ms: need("step_ms")?,
            layers: Vec::new(),
        })
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
    s.push_str(StepMetrics::CSV_HEADER);
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
}

impl LagMonitor {
    /// Below this cosine to the exact sample term the sampler is said to lag.
    pub const LAG_COS: f64 = 0.8;
    /// Above this the monitor re-arms.
    pub const RECOVERED_COS: f64 = 0.9;

    /// A warning for this step, if it is the first step of a lag: against the exact
    /// sample term in the plane, against the reference chains' elsewhere.
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
            (None, Some(c)) => (
                c,
                m.sample_term_rel_err_reference,
                "g_ref) against the reference sample term of long MALA chains",
            ),
            (None, None) => return None,
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
            return Some(format!(
                "step {}: the sampler no longer follows the model: cos(g_sample, {against} is {c:.2} (relative error {:.2}{rhat}); try a smaller step size, more steps, or MALA/HMC",
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
            step,
            loss: 0.0,
            e_data: 0.0,
            e_sample: 0.0,
            data_term_norm: 1.0,
            sample_term_norm: 1.0,
            grad_norm: 0.0,
            cos_terms: 1.0,
            nll: None,
            sample_term_cos_exact: cos,
            sample_term_rel_err: cos.map(|c| 1.0 - c),
            sample_term_cos_floor: None,
            objective_cos_ml: None,
            kl_gap: None,
            nll_stderr: None,
            nll_ess: None,
            sample_term_cos_reference: None,
            sample_term_rel_err_reference: None,
            reference_rhat: None,
            acceptance: None,
            step_size: None,
            ce_loss: None,
            batch_accuracy: None,
            accuracy: None,
            ece: None,
            step_ms: 1.0,
            layers: Vec::new(),
        }
    }

    #[test]
    fn metrics_read_back_from_their_csv() {
        let mut a = at(10, Some(0.9));
        a.nll = Some(3.25);
        a.acceptance = Some(0.5);
        a.nll_stderr = Some(0.125);
        a.nll_ess = Some(12.5);
        let b = at(11, None);
        let back = from_csv(&to_csv(&[a.clone(), b.clone()])).expect("a metrics CSV");
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].step, 10);
        assert_eq!(back[0].nll, Some(3.25));
        assert_eq!(back[0].acceptance, Some(0.5));
        assert_eq!(back[0].nll_stderr, Some(0.125));
        assert_eq!(back[0].nll_ess, Some(12.5));
        assert_eq!(back[0].sample_term_cos_exact, Some(0.9));
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
}

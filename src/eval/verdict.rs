//! Whether a measured number can be shown as what it claims to be. AIS's log Z is an
//! importance-sampling estimate: when a few chains carry all the weight (a small
//! effective sample size), or when forward and reverse AIS do not bracket it closely,
//! the NLL it gives is not a likelihood but noise, and the window, `train` and `eval`
//! say "not measurable" with the reason (the number stays in the metrics CSV). The
//! reference sample term is a mean over long MALA chains: when their split R̂ says they
//! have not mixed, the sampler's cosine to it measures nothing. The thresholds live
//! here, once.

/// AIS is not measurable when its weights' effective sample size is below this fraction
/// of the chains.
pub const MIN_ESS_FRACTION: f64 = 0.1;

/// AIS is not measurable when forward (a lower bound) and reverse AIS (an upper bound,
/// where the space has exact model draws) are further apart than this many nats.
pub const MAX_BRACKET_NATS: f64 = 1.0;

/// The reference chains have not mixed when their split R̂ exceeds this.
pub const MAX_RHAT: f64 = 1.1;

/// What a number may be shown as.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Exact (quadrature, enumeration) or an estimate whose diagnostics pass.
    Trusted,
    /// An estimate whose diagnostics fail, and why (a sentence without its subject:
    /// "one chain carries …").
    NotMeasurable(String),
}

impl Verdict {
    #[must_use]
    pub fn trusted(&self) -> bool {
        matches!(self, Self::Trusted)
    }

    /// Why not, where not.
    #[must_use]
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Trusted => None,
            Self::NotMeasurable(r) => Some(r),
        }
    }

    /// 1 or 0, as the metrics CSV keeps it.
    #[must_use]
    pub fn as_f64(&self) -> f64 {
        if self.trusted() { 1.0 } else { 0.0 }
    }
}

/// The verdict on an AIS estimate from `chains` chains whose weights have effective
/// sample size `ess`, with the reverse estimate's log Z where there is one.
#[must_use]
pub fn ais(ess: f64, chains: usize, forward: f64, reverse: Option<f64>) -> Verdict {
    #[allow(clippy::cast_precision_loss)]
    let needed = MIN_ESS_FRACTION * chains as f64;
    if !forward.is_finite() {
        return Verdict::NotMeasurable(
            "AIS's log Z is not finite: the energy failed or no chain reached the model".into(),
        );
    }
    if ess.is_nan() || ess < needed {
        return Verdict::NotMeasurable(format!(
            "AIS weights' ESS {ess:.1} of {chains} chains is under {:.0} %: {}",
            MIN_ESS_FRACTION * 100.0,
            if ess < 1.5 {
                "one chain carries all the weight, and neither the estimate nor its error bar means anything"
            } else {
                "a few chains carry the weight, and neither the estimate nor its error bar can be relied on"
            }
        ));
    }
    if let Some(r) = reverse {
        let gap = (r - forward).abs();
        if gap.is_nan() || gap > MAX_BRACKET_NATS {
            return Verdict::NotMeasurable(format!(
                "forward and reverse AIS differ by {gap:.2} nats (more than {MAX_BRACKET_NATS})"
            ));
        }
    }
    Verdict::Trusted
}

/// The verdict on the reference sample term from chains with split R̂ `rhat`.
#[must_use]
pub fn reference(rhat: f64) -> Verdict {
    if rhat <= MAX_RHAT {
        Verdict::Trusted
    } else {
        Verdict::NotMeasurable(format!(
            "the reference chains have not mixed (split R-hat {rhat:.2} > {MAX_RHAT})"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ais_is_trusted_with_enough_effective_chains_and_a_tight_bracket() {
        assert!(ais(40.0, 128, -3.0, None).trusted());
        assert!(ais(12.8, 128, -3.0, None).trusted());
        let one = ais(1.0, 256, -3.0, None);
        assert!(
            one.reason().unwrap().contains("one chain carries"),
            "{one:?}"
        );
        assert!(!ais(12.7, 128, -3.0, None).trusted());
        assert!(!ais(f64::NAN, 128, -3.0, None).trusted());
        assert!(!ais(100.0, 128, f64::NEG_INFINITY, None).trusted());
        assert!(ais(100.0, 128, -3.0, Some(-2.5)).trusted());
        let wide = ais(100.0, 128, -3.0, Some(-1.5));
        assert!(wide.reason().unwrap().contains("1.50 nats"), "{wide:?}");
    }

    #[test]
    fn reference_is_trusted_only_when_mixed() {
        assert!(reference(1.05).trusted());
        assert!(!reference(1.2).trusted());
        assert!(!reference(f64::NAN).trusted());
    }
}

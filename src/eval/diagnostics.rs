//! Convergence diagnostics of MCMC draws, as Vehtari, Gelman, Simpson, Carpenter and
//! Bürkner define them ("Rank-normalization, folding, and localization: an improved R̂
//! for assessing convergence of MCMC", Bayesian Analysis 2021): the rank-normalised
//! split-R̂ (the larger of the bulk's and the folded draws') and the bulk effective
//! sample size. `chains[c][t]` is draw `t` of chain `c`; every chain has the same length.

/// The standard normal quantile Φ⁻¹(p), p in (0, 1) (Acklam's rational approximation,
/// relative error below 1.2·10⁻⁹).
#[must_use]
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p <= 0.0 {
        f64::NEG_INFINITY
    } else if p >= 1.0 {
        f64::INFINITY
    } else if p < 0.024_25 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.024_25 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// Every chain cut in two halves (the middle draw of an odd length dropped).
fn split(chains: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let n = chains.first().map_or(0, Vec::len) / 2;
    chains
        .iter()
        .flat_map(|c| [c[..n].to_vec(), c[c.len() - n..].to_vec()])
        .collect()
}

/// The draws replaced by the normal scores of their ranks among all draws (ties share
/// their average rank): z = Φ⁻¹((r − 3/8) / (S + 1/4)).
fn rank_normalize(chains: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let mut all: Vec<(f64, usize, usize)> = chains
        .iter()
        .enumerate()
        .flat_map(|(c, ch)| ch.iter().enumerate().map(move |(t, v)| (*v, c, t)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let s = all.len();
    let mut out: Vec<Vec<f64>> = chains.iter().map(|c| vec![0.0; c.len()]).collect();
    let mut i = 0;
    while i < s {
        let mut j = i;
        while j + 1 < s && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        // Ranks from 1; a run of ties gets their mean.
        #[allow(clippy::cast_precision_loss)]
        let r = (i + j) as f64 / 2.0 + 1.0;
        #[allow(clippy::cast_precision_loss)]
        let z = normal_quantile((r - 0.375) / (s as f64 + 0.25));
        for item in &all[i..=j] {
            out[item.1][item.2] = z;
        }
        i = j + 1;
    }
    out
}

fn mean(x: &[f64]) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let n = x.len().max(1) as f64;
    x.iter().sum::<f64>() / n
}

/// The classic R̂ of chains as given: the pooled variance estimate against the mean
/// within-chain variance.
fn plain_rhat(chains: &[Vec<f64>]) -> f64 {
    let m = chains.len();
    let n = chains.first().map_or(0, Vec::len);
    if m < 2 || n < 2 {
        return f64::NAN;
    }
    #[allow(clippy::cast_precision_loss)]
    let (mf, nf) = (m as f64, n as f64);
    let means: Vec<f64> = chains.iter().map(|c| mean(c)).collect();
    let grand = mean(&means);
    let b = nf * means.iter().map(|x| (x - grand).powi(2)).sum::<f64>() / (mf - 1.0);
    let w = chains
        .iter()
        .zip(&means)
        .map(|(c, mu)| c.iter().map(|x| (x - mu).powi(2)).sum::<f64>() / (nf - 1.0))
        .sum::<f64>()
        / mf;
    if w <= 0.0 {
        return if b <= 0.0 { 1.0 } else { f64::INFINITY };
    }
    (((nf - 1.0) / nf * w + b / nf) / w).sqrt()
}

/// The classic split-R̂ (Gelman et al., Bayesian Data Analysis, 3rd ed., §11.4) of
/// `chains[c][t]`: every chain cut in halves, the variance between the halves' means set
/// against the variance within them. 1 when the chains agree; `NaN` for chains too short
/// to split. The reference chains report this one ("split R-hat").
#[must_use]
pub fn split_rhat(chains: &[Vec<f64>]) -> f64 {
    plain_rhat(&split(chains))
}

/// The rank-normalised split-R̂ of Vehtari et al. (2021), as ArviZ computes it: the larger of the bulk R̂ (of the rank-normalised
/// split chains) and the tail R̂ (of the same for the draws folded about their median).
/// Near 1 when the chains agree; above 1.01 the paper's authors do not trust them.
#[must_use]
pub fn rank_normalized_rhat(chains: &[Vec<f64>]) -> f64 {
    let halves = split(chains);
    let bulk = plain_rhat(&rank_normalize(&halves));
    let mut pooled: Vec<f64> = chains.iter().flatten().copied().collect();
    pooled.sort_by(f64::total_cmp);
    let median = pooled.get(pooled.len() / 2).copied().unwrap_or(0.0);
    let folded: Vec<Vec<f64>> = halves
        .iter()
        .map(|c| c.iter().map(|x| (x - median).abs()).collect())
        .collect();
    let tail = plain_rhat(&rank_normalize(&folded));
    bulk.max(tail)
}

/// The effective sample size of chains as given (Geyer's initial monotone sequence
/// over the multi-chain autocorrelation, as Stan and ArviZ compute it).
fn ess(chains: &[Vec<f64>]) -> f64 {
    let m = chains.len();
    let n = chains.first().map_or(0, Vec::len);
    if m == 0 || n < 4 {
        return f64::NAN;
    }
    #[allow(clippy::cast_precision_loss)]
    let (mf, nf) = (m as f64, n as f64);
    // Autocovariances (divided by n) of every chain up to the lag needed.
    let means: Vec<f64> = chains.iter().map(|c| mean(c)).collect();
    let acov = |c: usize, lag: usize| -> f64 {
        let x = &chains[c];
        let mu = means[c];
        (0..n - lag)
            .map(|t| (x[t] - mu) * (x[t + lag] - mu))
            .sum::<f64>()
            / nf
    };
    let mean_acov = |lag: usize| (0..m).map(|c| acov(c, lag)).sum::<f64>() / mf;
    let mean_var = mean_acov(0) * nf / (nf - 1.0);
    let mut var_plus = mean_var * (nf - 1.0) / nf;
    if m > 1 {
        let grand = mean(&means);
        var_plus += means.iter().map(|x| (x - grand).powi(2)).sum::<f64>() / (mf - 1.0);
    }
    if var_plus <= 0.0 {
        return f64::NAN;
    }
    let rho = |lag: usize| 1.0 - (mean_var - mean_acov(lag)) / var_plus;
    let mut rho_hat = vec![0.0; n + 1];
    rho_hat[0] = 1.0;
    let mut even = 1.0;
    let mut odd = rho(1);
    rho_hat[1] = odd;
    // Geyer's initial positive sequence, over pairs (ρ̂_{t+1}, ρ̂_{t+2}) while t < n − 3
    // and the last pair's sum is positive (the last pair is kept only if non-negative).
    let mut t = 1;
    while t + 3 < n && even + odd > 0.0 {
        even = rho(t + 1);
        odd = rho(t + 2);
        if even + odd >= 0.0 {
            rho_hat[t + 1] = even;
            rho_hat[t + 2] = odd;
        }
        t += 2;
    }
    // The lags summed twice are 0..=t − 2; the one after, ρ̂_{t−1}, is summed once, and
    // is the last even autocorrelation where that was positive. (A loop that never ran,
    // t = 1: lag 0 alone, summed once.)
    let tail = t - 1;
    if even > 0.0 {
        rho_hat[tail] = even;
    }
    // The initial monotone sequence.
    let mut t = 1;
    while t + 3 <= tail {
        if rho_hat[t + 1] + rho_hat[t + 2] > rho_hat[t - 1] + rho_hat[t] {
            rho_hat[t + 1] = f64::midpoint(rho_hat[t - 1], rho_hat[t]);
            rho_hat[t + 2] = rho_hat[t + 1];
        }
        t += 2;
    }
    let total = mf * nf;
    let tau =
        (-1.0 + 2.0 * rho_hat[..tail].iter().sum::<f64>() + rho_hat[tail]).max(1.0 / total.log10());
    total / tau
}

/// The bulk effective sample size: the ESS of the rank-normalised split chains.
#[must_use]
pub fn ess_bulk(chains: &[Vec<f64>]) -> f64 {
    ess(&rank_normalize(&split(chains)))
}

/// Over named quantities (each `chains[c][t]`), the largest R̂ and the smallest bulk
/// ESS, each with the name of the quantity it comes from (NaN values are passed over;
/// NaN and the first name when all are).
#[must_use]
pub fn worst(quantities: &[(String, Vec<Vec<f64>>)]) -> ((String, f64), (String, f64)) {
    let first = quantities.first().map_or(String::new(), |q| q.0.clone());
    let (mut r_worst, mut e_worst) = ((first.clone(), f64::NAN), (first, f64::NAN));
    for (name, q) in quantities {
        let (r, e) = (rank_normalized_rhat(q), ess_bulk(q));
        if !r.is_nan() && (r_worst.1.is_nan() || r > r_worst.1) {
            r_worst = (name.clone(), r);
        }
        if !e.is_nan() && (e_worst.1.is_nan() || e < e_worst.1) {
            e_worst = (name.clone(), e);
        }
    }
    (r_worst, e_worst)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng as _;
    use rand_distr::Distribution as _;

    fn ar1(chains: usize, n: usize, rho: f64, shift: &[f64], seed: u64) -> Vec<Vec<f64>> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let normal = rand_distr::StandardNormal;
        (0..chains)
            .map(|c| {
                let mut x: f64 = normal.sample(&mut rng);
                (0..n)
                    .map(|_| {
                        let e: f64 = normal.sample(&mut rng);
                        x = rho * x + (1.0 - rho * rho).sqrt() * e;
                        x + shift.get(c).copied().unwrap_or(0.0)
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn the_quantile_inverts_the_normal_cdf() {
        assert!(normal_quantile(0.5).abs() < 1e-12);
        assert!((normal_quantile(0.975) - 1.959_963_984_540_054).abs() < 1e-8);
        assert!((normal_quantile(0.001) + 3.090_232_306_167_813_6).abs() < 1e-8);
    }

    #[test]
    fn independent_draws_have_rhat_one_and_ess_near_their_number() {
        let c = ar1(4, 1000, 0.0, &[], 1);
        let r = rank_normalized_rhat(&c);
        assert!(r < 1.01, "R̂ {r}");
        let e = ess_bulk(&c);
        assert!(
            (3200.0..4800.0).contains(&e),
            "ESS {e} of 4000 independent draws"
        );
    }

    #[test]
    fn correlated_draws_have_the_ess_of_their_autocorrelation() {
        // AR(1) with ρ = 0.9: ESS = N (1 − ρ)/(1 + ρ) = 4000/19 ≈ 211.
        let c = ar1(4, 1000, 0.9, &[], 2);
        let e = ess_bulk(&c);
        assert!((150.0..280.0).contains(&e), "ESS {e}, about 211 expected");
        assert!(rank_normalized_rhat(&c) < 1.05);
    }

    /// Against ArviZ 0.23.4 (`az.rhat(v, method="rank")`, `az.ess(v, method="bulk")`) on
    /// chains anyone can rebuild: the logistic map x ← 3.9 x (1 − x) from x₀ = 0.1 + 0.2c,
    /// 300 draws each, chain 3 shifted by 0.05.
    #[test]
    fn rhat_and_ess_agree_with_arviz() {
        let chains: Vec<Vec<f64>> = (0..4)
            .map(|c| {
                let mut x = 0.1 + 0.2 * f64::from(c);
                (0..300)
                    .map(|_| {
                        x = 3.9 * x * (1.0 - x);
                        x + if c == 3 { 0.05 } else { 0.0 }
                    })
                    .collect()
            })
            .collect();
        let (r, e) = (rank_normalized_rhat(&chains), ess_bulk(&chains));
        assert!((r - 1.010_007_257_8).abs() < 1e-8, "R̂ {r}");
        assert!((e - 2_099.005_463_237_5).abs() < 1e-6, "ESS {e}");
    }

    const RHAT_ROUNDED: f64 = 1.000_821_640_408;
    const ESS_ROUNDED: f64 = 2_413.200_889_107_905;
    const RHAT_MALA: f64 = 1.131_135_643_672;
    const ESS_MALA: f64 = 23.738_670_615_462;

    /// splitmix64 with Box–Muller normals: a random stream that a few lines of Python
    /// rebuild exactly (scripts/checks/arviz_ties.py).
    struct SplitMix64(u64);

    impl SplitMix64 {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        #[allow(clippy::cast_precision_loss)]
        fn uniform(&mut self) -> f64 {
            (self.next() >> 11) as f64 * 2.0_f64.powi(-53)
        }
        fn normal(&mut self) -> f64 {
            let u1 = 1.0 - self.uniform();
            let u2 = self.uniform();
            (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
        }
    }

    /// Against ArviZ 0.23.4 on chains full of ties, where ranks matter: the logistic
    /// chains above rounded to one decimal (10 distinct values in 1 200 draws), and MALA
    /// on a standard normal with a step of 8, which rejects 91 % of its proposals, so
    /// that each chain repeats its value (181 distinct values in 2 000). Tied draws share
    /// their mean rank; given the first rank of their run instead, R̂ and ESS move far
    /// from ArviZ's. The figures come from scripts/checks/arviz_ties.py.
    #[test]
    fn rhat_and_ess_agree_with_arviz_on_tied_draws() {
        let rounded: Vec<Vec<f64>> = (0..4)
            .map(|c| {
                let mut x = 0.1 + 0.2 * f64::from(c);
                (0..300)
                    .map(|_| {
                        x = 3.9 * x * (1.0 - x);
                        let v = x + if c == 3 { 0.05 } else { 0.0 };
                        (v * 10.0 + 0.5).floor() / 10.0
                    })
                    .collect()
            })
            .collect();
        let mut rng = SplitMix64(2024);
        let (h, mut accepted) = (8.0_f64, 0);
        let mala: Vec<Vec<f64>> = (0..4)
            .map(|c| {
                let mut x = -1.5 + f64::from(c);
                (0..500)
                    .map(|_| {
                        let z = rng.normal();
                        let y = x - h * x + (2.0 * h).sqrt() * z;
                        let fwd = (y - x + h * x).powi(2);
                        let bwd = (x - y + h * y).powi(2);
                        let log_a = 0.5 * x * x - 0.5 * y * y + (fwd - bwd) / (4.0 * h);
                        if rng.uniform().ln() < log_a {
                            x = y;
                            accepted += 1;
                        }
                        x
                    })
                    .collect()
            })
            .collect();
        // The same draws as the script's (its sums, and acceptance 0.0885).
        assert_eq!(accepted, 177);
        let sum = |c: &[Vec<f64>]| c.iter().flatten().sum::<f64>();
        assert!((sum(&rounded) - 723.0).abs() < 1e-9);
        assert!(
            (sum(&mala) + 244.636_286_398_853_83).abs() < 1e-9,
            "{}",
            sum(&mala)
        );
        for (name, chains, r_want, e_want) in [
            ("rounded", &rounded, RHAT_ROUNDED, ESS_ROUNDED),
            ("MALA", &mala, RHAT_MALA, ESS_MALA),
        ] {
            let (r, e) = (rank_normalized_rhat(chains), ess_bulk(chains));
            assert!((r - r_want).abs() < 1e-8, "{name}: R̂ {r}, ArviZ {r_want}");
            assert!(
                (e - e_want).abs() < 1e-8 * e_want,
                "{name}: ESS {e}, ArviZ {e_want}"
            );
        }
    }

    #[test]
    fn chains_that_disagree_have_a_large_rhat() {
        let c = ar1(4, 500, 0.5, &[0.0, 0.0, 0.0, 3.0], 3);
        assert!(
            rank_normalized_rhat(&c) > 1.1,
            "{}",
            rank_normalized_rhat(&c)
        );
        // Same means, one chain four times as spread: the folded draws see it.
        let mut d = ar1(4, 500, 0.0, &[], 4);
        for v in &mut d[3] {
            *v *= 4.0;
        }
        assert!(
            rank_normalized_rhat(&d) > 1.05,
            "{}",
            rank_normalized_rhat(&d)
        );
    }
}

//! The truth about the gradient: AIS against closed forms and quadrature, the exact
//! sample term against finite differences of log Z, and the exact sampler.

mod common;

use ebm_workbench::Session;
use ebm_workbench::energy::engine::FastEngine;
use ebm_workbench::eval::ais::{self, AisSpec, Base, BaseKind, EnergyFn, EngineEnergy};
use ebm_workbench::eval::exact;
use ebm_workbench::sampler::SamplerKind;
use rand::SeedableRng as _;
use rand::rngs::StdRng;

/// E(x) = ½ Σ aⱼ xⱼ² ⇒ log Z = (d/2) ln 2π − ½ Σ ln aⱼ.
struct Quadratic {
    a: Vec<f32>,
}

impl EnergyFn for Quadratic {
    fn dim(&self) -> usize {
        self.a.len()
    }
    fn energy_grad(&mut self, x: &[f32], e: &mut [f32], g: &mut [f32]) {
        common::quadratic(&self.a, x, e, g);
    }
}

/// `d` precisions spread evenly from 0.5 to 2.
fn precisions(d: usize) -> Vec<f32> {
    (0..d)
        .map(|j| 0.5 + 1.5 * j as f32 / (d - 1) as f32)
        .collect()
}

fn closed_form(a: &[f32]) -> f64 {
    let d = a.len() as f64;
    0.5 * d * (2.0 * std::f64::consts::PI).ln()
        - 0.5 * a.iter().map(|v| f64::from(*v).ln()).sum::<f64>()
}

#[test]
fn ais_matches_quadratic_closed_form_in_2_10_and_50_dimensions() {
    let mut rng = StdRng::seed_from_u64(3);
    for d in [2_usize, 10, 50] {
        // Precisions between 0.5 and 2, a base that is not the target.
        let a = precisions(d);
        let exact = closed_form(&a);
        let base = Base::Gaussian {
            mean: vec![0.3; d],
            std: vec![1.2; d],
        };
        let spec = AisSpec {
            chains: 256,
            temperatures: 400,
            steps_per_temperature: 2,
            base: BaseKind::Gaussian,
        };
        let r = ais::log_z(
            &mut Quadratic { a: a.clone() },
            &base,
            &spec,
            None,
            &mut rng,
        )
        .forward;
        let err = (r.log_z - exact).abs();
        eprintln!(
            "d={d}: AIS {:.4} ± {:.4}, closed form {exact:.4}, acceptance {:.2}",
            r.log_z, r.stderr, r.acceptance
        );
        assert!(
            err <= 3.0 * r.stderr + 1e-3,
            "d={d}: |{} − {exact}| > 3·{}",
            r.log_z,
            r.stderr
        );
        // An absolute bound as well, so that a run with a wildly inflated standard error
        // cannot pass: 0.1 nats up to 10-D, 0.5 at 50-D (about 0.01 nats a dimension).
        let bound = if d <= 10 { 0.1 } else { 0.5 };
        assert!(err < bound, "d={d}: AIS {} vs closed form {exact}", r.log_z);
        assert!(r.stderr < bound, "d={d}: standard error {}", r.stderr);
    }
}

fn trained(steps: usize, sampler: Option<SamplerKind>) -> Session {
    let mut p = common::small(32);
    p.batch_size = 128;
    p.sampler.steps = 10;
    p.optimizer.lr = 3e-3;
    p.eval.eval_every = 0;
    if let Some(k) = sampler {
        p.sampler.kind = k;
    }
    let mut s = Session::new(&p).expect("the preset's data");
    for _ in 0..steps {
        s.step().expect("training step");
    }
    s
}

#[test]
fn ais_agrees_with_quadrature_on_a_trained_model() {
    let mut s = trained(300, None);
    let quad = s.evaluate_grid(256).log_z;
    let arch = s.architecture().clone();
    let params = s.params().to_vec();
    let base = Base::fit(BaseKind::Gaussian, &s.data().train, 2);
    let mut rng = StdRng::seed_from_u64(9);
    let mut fast = FastEngine::new(&arch);
    let m = exact::grid_model(&mut fast, &params, &s.data().data_box, 256).expect("fast");
    let mut model_samples = vec![0.0_f32; 2 * 256];
    exact::sample(&m, &mut model_samples, &mut rng);
    let spec = AisSpec::default();
    let r = ais::log_z(
        &mut EngineEnergy::new(&mut fast, &params),
        &base,
        &spec,
        Some(&model_samples),
        &mut rng,
    );
    let rev = r.reverse.unwrap();
    eprintln!(
        "quadrature {quad:.4}; AIS forward {:.4} ± {:.4}, reverse {:.4} ± {:.4}",
        r.forward.log_z, r.forward.stderr, rev.log_z, rev.stderr
    );
    assert!(
        (r.forward.log_z - quad).abs() < 0.1,
        "forward AIS {} vs quadrature {quad}",
        r.forward.log_z
    );
    assert!(
        (rev.log_z - quad).abs() < 0.1,
        "reverse AIS {} vs quadrature {quad}",
        rev.log_z
    );
}

#[test]
fn exact_sample_term_is_minus_the_gradient_of_log_z() {
    let s = trained(50, None);
    let arch = s.architecture().clone();
    let params = s.params().to_vec();
    let b = s.data().data_box.clone();
    let g = 128;
    let mut fast = FastEngine::new(&arch);
    let m = exact::grid_model(&mut fast, &params, &b, g).expect("fast");
    let g_star = exact::exact_sample_term(&mut fast, &params, &m).expect("fast");
    let h = 1e-2_f32;
    for e in &arch.params {
        for k in [0, e.len / 2, e.len - 1] {
            let i = e.offset + k;
            let mut plus = params.clone();
            plus[i] += h;
            let mut minus = params.clone();
            minus[i] -= h;
            let mut lz = |p: &[f32]| exact::grid_model(&mut fast, p, &b, g).expect("fast").log_z;
            let fd = (lz(&plus) - lz(&minus)) / (2.0 * f64::from(h));
            let got = -f64::from(g_star[i]);
            assert!(
                (got - fd).abs() <= 2e-3 + 2e-2 * fd.abs(),
                "{}[{k}]: −g* = {got}, d log Z/dθ by finite differences = {fd}",
                e.name
            );
        }
    }
}

#[test]
fn exact_sampler_gives_a_sample_term_close_to_the_exact_one() {
    let mut p = common::small(32);
    p.batch_size = 1024;
    p.eval.eval_every = 5;
    p.eval.grid = 128;
    p.sampler.kind = SamplerKind::Exact;
    let mut s = Session::new(&p).unwrap();
    let mut cosines = Vec::new();
    for _ in 0..20 {
        let m = s.step().unwrap();
        if let Some(c) = m.sample_term_cos_exact {
            cosines.push(c);
            assert!(m.sample_term_rel_err.unwrap() < 0.2);
        }
    }
    eprintln!("cos with the exact sample term: {cosines:?}");
    assert_eq!(cosines.len(), 4);
    assert!(cosines.iter().all(|c| *c > 0.99), "{cosines:?}");
}

/// The exact sample term is a real reference, not a constant: on a trained model the
/// exact sampler agrees with it (cos > 0.99) while biased samplers fall well below —
/// uniform noise without sampler steps, cold SGLD chains (T = s²/2a ≪ 1), which
/// collapse onto the modes, and Langevin with a step far too large.
#[test]
fn the_exact_sample_term_tells_a_biased_sampler_from_an_exact_one() {
    use ebm_workbench::sampler::Init;
    let trained = trained(300, None);
    let measure = |kind: SamplerKind, steps: usize, init: Init| {
        let mut p = trained.preset().clone();
        p.sampler.kind = kind;
        p.sampler.steps = steps;
        p.sampler.init = init;
        p.batch_size = 1024;
        p.eval.eval_every = 1;
        p.eval.grid = 128;
        // A fresh session on the trained parameters (the start and batch differ).
        let mut s = Session::new(&p).expect("the preset's data");
        s.set_params(trained.params().to_vec());
        let (mut cos, mut rel) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            let m = s.step().expect("a step");
            cos.push(m.sample_term_cos_exact.expect("an evaluation step"));
            rel.push(m.sample_term_rel_err.expect("an evaluation step"));
        }
        eprintln!(
            "{} ({steps} steps, {}): cos {cos:.3?}, relative error {rel:.3?}",
            kind.name(),
            init.name()
        );
        (cos, rel)
    };
    let (cos, rel) = measure(SamplerKind::Exact, 0, Init::Noise);
    assert!(cos.iter().all(|c| *c > 0.99), "exact sampler: {cos:?}");
    assert!(rel.iter().all(|r| *r < 0.2), "exact sampler: {rel:?}");
    let (cos, rel) = measure(SamplerKind::Langevin { step_size: 0.1 }, 0, Init::Noise);
    assert!(cos.iter().all(|c| *c < 0.9), "uniform noise: {cos:?}");
    assert!(rel.iter().all(|r| *r > 0.5), "uniform noise: {rel:?}");
    let cold = SamplerKind::Sgld {
        step_size: 0.05,
        noise: 0.005,
    };
    let (cos, rel) = measure(cold, 50, Init::Noise);
    assert!(cos.iter().all(|c| *c < 0.98), "cold SGLD: {cos:?}");
    assert!(rel.iter().all(|r| *r > 0.2), "cold SGLD: {rel:?}");
    // Langevin with a step far too large: the cosine falls below the lag warning's 0.8.
    let (cos, rel) = measure(SamplerKind::Langevin { step_size: 1.0 }, 20, Init::Noise);
    assert!(cos.iter().all(|c| *c < 0.8), "Langevin, step 1: {cos:?}");
    assert!(rel.iter().all(|r| *r > 1.0), "Langevin, step 1: {rel:?}");
}

/// Forward AIS is a stochastic lower bound of log Z and reverse AIS, run backwards from
/// exact samples, an upper one (Grosse, Ghahramani & Adams 2015, "Sandwiching the
/// marginal likelihood using bidirectional Monte Carlo"): each chain's log weight is
/// below log Z in expectation (Jensen), each reverse chain's above. With 4 temperatures
/// and chains that settle at each β (100 MALA steps per temperature) the means of 400
/// one-chain runs bracket the closed form from either side, each well clear of it: the
/// forward weight sums the increments Δβ·r(x) at states drawn from the temperature
/// before, a left Riemann sum of the increasing d log Z_β/dβ = E_β[r]; taken after the
/// transition instead (a right sum) it lands above log Z, and reverse below. With 300
/// temperatures both estimates close on it.
#[test]
fn forward_and_reverse_ais_bracket_log_z() {
    use rand_distr::{Distribution as _, StandardNormal};
    let d = 10;
    let a: Vec<f32> = (0..d).map(|j| 0.5 + 0.3 * j as f32).collect();
    let exact = closed_form(&a);
    let base = Base::Gaussian {
        mean: vec![0.3; d],
        std: vec![1.5; d],
    };
    let mut rng = StdRng::seed_from_u64(1);
    // Exact draws of N(0, A⁻¹).
    let draw = |n: usize, rng: &mut StdRng| -> Vec<f32> {
        (0..n * d)
            .map(|k| {
                let z: f32 = StandardNormal.sample(rng);
                z / a[k % d].sqrt()
            })
            .collect()
    };
    let run =
        |chains: usize, temperatures: usize, steps: usize, samples: &[f32], rng: &mut StdRng| {
            let spec = AisSpec {
                chains,
                temperatures,
                steps_per_temperature: steps,
                base: BaseKind::Gaussian,
            };
            let r = ais::log_z(
                &mut Quadratic { a: a.clone() },
                &base,
                &spec,
                Some(samples),
                rng,
            );
            (r.forward, r.reverse.expect("a reverse run"))
        };
    let runs = 400;
    let (mut fw, mut rv) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let x = draw(1, &mut rng);
        let (f, r) = run(1, 4, 100, &x, &mut rng);
        fw.push(f.log_z);
        rv.push(r.log_z);
    }
    let stats = |v: &[f64]| {
        let n = v.len() as f64;
        let m = v.iter().sum::<f64>() / n;
        let sd = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        (m, sd / n.sqrt())
    };
    let ((mf, sf), (mr, sr)) = (stats(&fw), stats(&rv));
    eprintln!(
        "4 temperatures, {runs} one-chain runs: forward {mf:.3} ± {sf:.3} < {exact:.3} < reverse {mr:.3} ± {sr:.3}"
    );
    assert!(
        mf + 3.0 * sf < exact,
        "forward {mf} ± {sf} is not below {exact}"
    );
    assert!(
        mr - 3.0 * sr > exact,
        "reverse {mr} ± {sr} is not above {exact}"
    );
    let x = draw(512, &mut rng);
    let (f, r) = run(512, 300, 1, &x, &mut rng);
    eprintln!(
        "300 temperatures: forward {:.4} ± {:.4}, reverse {:.4} ± {:.4}",
        f.log_z, f.stderr, r.log_z, r.stderr
    );
    assert!(
        (f.log_z - exact).abs() < 3.0 * f.stderr + 0.02,
        "forward {}",
        f.log_z
    );
    assert!(
        (r.log_z - exact).abs() < 3.0 * r.stderr + 0.02,
        "reverse {}",
        r.log_z
    );
    assert!(f.stderr < 0.05 && r.stderr < 0.05);
}

#[test]
fn ais_from_a_uniform_box_matches_the_closed_form_in_2d() {
    // A box holds all but a negligible part of N(0, A⁻¹) with precisions 0.5 and 2 (±6
    // is more than 4 standard deviations).
    let a = vec![0.5_f32, 2.0];
    let exact = closed_form(&a);
    let base = Base::Uniform {
        lo: vec![-6.0; 2],
        hi: vec![6.0; 2],
    };
    let spec = AisSpec {
        chains: 256,
        temperatures: 400,
        steps_per_temperature: 2,
        base: BaseKind::Uniform,
    };
    let mut rng = StdRng::seed_from_u64(5);
    let r = ais::log_z(&mut Quadratic { a }, &base, &spec, None, &mut rng).forward;
    eprintln!(
        "uniform base: AIS {:.4} ± {:.4}, closed form {exact:.4}",
        r.log_z, r.stderr
    );
    assert!((r.log_z - exact).abs() < 0.1 && (r.log_z - exact).abs() <= 3.0 * r.stderr + 0.01);
}

#[test]
fn ais_of_a_tempered_energy_is_the_log_z_of_exp_minus_e_over_t() {
    // A sampler at temperature T draws from exp(−E/T): for E = ½ Σ aⱼ xⱼ² that is the
    // quadratic with precisions aⱼ/T, whose log Z is known.
    let a: Vec<f32> = (0..8).map(|j| 0.5 + 0.2 * j as f32).collect();
    for t in [0.25_f32, 4.0] {
        let exact = closed_form(&a.iter().map(|v| v / t).collect::<Vec<_>>());
        let untempered = closed_form(&a);
        let std = f64::from(t.sqrt() * 0.8);
        let r = ais::log_z(
            &mut ais::Tempered {
                inner: Quadratic { a: a.clone() },
                temperature: t,
            },
            &Base::Gaussian {
                mean: vec![0.0; 8],
                std: vec![std; 8],
            },
            &AisSpec {
                chains: 256,
                temperatures: 300,
                steps_per_temperature: 2,
                base: BaseKind::Gaussian,
            },
            None,
            &mut StdRng::seed_from_u64(5),
        )
        .forward;
        assert!(
            (r.log_z - exact).abs() < 0.1,
            "T = {t}: AIS {:.4} ± {:.4}, closed form {exact:.4} (untempered {untempered:.4})",
            r.log_z,
            r.stderr
        );
    }
}

/// At batch 1 an exact sampler's sample term is far from the exact one by Monte-Carlo
/// noise alone (cos well under 0.8): the lag warning must not blame the sampler for it,
/// and does once the floor is ignored. A sampler that stands still (no steps from
/// noise) is still blamed.
#[test]
fn the_lag_warning_accounts_for_the_batch_s_own_noise() {
    use ebm_workbench::train::metrics::LagMonitor;
    let mut p = common::small(32);
    p.batch_size = 1;
    p.sampler.kind = SamplerKind::Exact;
    p.eval.eval_every = 5;
    let mut s = Session::new(&p).expect("session");
    let (mut with_floor, mut without) = (LagMonitor::default(), LagMonitor::default());
    let (mut blamed, mut blamed_without, mut evaluations) = (0, 0, 0);
    for _ in 0..100 {
        let m = s.step().expect("a step");
        if m.sample_term_cos_exact.is_none() {
            continue;
        }
        evaluations += 1;
        assert!(
            m.sample_term_cos_floor.is_some(),
            "no floor on an evaluation"
        );
        blamed += usize::from(with_floor.check(&m).is_some());
        let mut bare = m.clone();
        bare.sample_term_cos_floor = None;
        blamed_without += usize::from(without.check(&bare).is_some());
    }
    assert_eq!(evaluations, 20);
    assert_eq!(
        blamed, 0,
        "an exact sampler was blamed for its batch's noise"
    );
    assert!(
        blamed_without > 0,
        "without the floor batch 1 would have warned"
    );
    // At batch 256 the floor is near 1: a sampler that does not move from uniform noise
    // falls well below it (the monitor then blames it once cos drops under 0.8).
    let mut q = common::small(32);
    q.batch_size = 256;
    q.sampler.init = ebm_workbench::sampler::Init::Noise;
    q.sampler.steps = 0;
    q.eval.eval_every = 50;
    let mut s = Session::new(&q).expect("session");
    let mut last = None;
    for _ in 0..400 {
        let m = s.step().expect("a step");
        if let (Some(c), Some(f)) = (m.sample_term_cos_exact, m.sample_term_cos_floor) {
            last = Some((c, f));
        }
    }
    let (c, f) = last.expect("evaluations");
    assert!(f > 0.97, "floor {f} at batch 256");
    assert!(
        c < f - 0.05,
        "a sampler that stands still ({c}) is not below the floor {f}"
    );
}

/// AIS's standard error says how far the estimate may be off, also when one chain
/// carries the weight: over 100 independent forward runs of 64 chains with 2 temperatures
/// in 100-D (log Z 16 nats low, runs 5 nats apart), the reported standard error is
/// within a factor of 2.5 of the runs' actual spread (the bootstrap reads about half of
/// it here), and the weights' ESS, about 1, says that one chain counts. The delta
/// method's value, sd(w)/(√n·mean w), cannot exceed 1 nat: it read 1.0000 beside
/// estimates hundreds of nats off.
#[test]
fn the_ais_standard_error_matches_the_spread_of_independent_runs() {
    let d = 100;
    let a = precisions(d);
    let exact = closed_form(&a);
    let base = Base::Gaussian {
        mean: vec![0.3; d],
        std: vec![1.5; d],
    };
    let spec = AisSpec {
        chains: 64,
        temperatures: 2,
        steps_per_temperature: 1,
        base: BaseKind::Gaussian,
    };
    let mut rng = StdRng::seed_from_u64(12);
    let runs: Vec<_> = (0..100)
        .map(|_| {
            ais::log_z(
                &mut Quadratic { a: a.clone() },
                &base,
                &spec,
                None,
                &mut rng,
            )
            .forward
        })
        .collect();
    let n = runs.len() as f64;
    let mean = runs.iter().map(|r| r.log_z).sum::<f64>() / n;
    let spread = (runs.iter().map(|r| (r.log_z - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let mut se: Vec<f64> = runs.iter().map(|r| r.stderr).collect();
    se.sort_by(f64::total_cmp);
    let mut ess: Vec<f64> = runs.iter().map(|r| r.ess).collect();
    ess.sort_by(f64::total_cmp);
    let (se_median, ess_median) = (se[se.len() / 2], ess[ess.len() / 2]);
    eprintln!(
        "2 temperatures in 100-D: log Z {mean:.3} (exact {exact:.3}), spread over runs {spread:.3}, median standard error {se_median:.3}, median ESS {ess_median:.2} of 64"
    );
    assert!(
        spread > 1.5,
        "the weights are not degenerate enough for this test: spread {spread}"
    );
    assert!(
        se_median > spread / 2.5 && se_median < spread * 2.5,
        "standard error {se_median} against a spread of {spread} over independent runs"
    );
    assert!(
        ess_median < 8.0 && runs.iter().all(|r| r.ess >= 1.0 - 1e-9 && r.ess <= 64.0),
        "ESS {ess:?}"
    );
}

/// A run whose sampler is tempered (SGLD at T = noise²/(2·step) = 0.5) is scored as
/// exp(−E/T), the law its chains follow, in the run itself as by `eval`: for the energy
/// E(x) = a·Σ|xⱼ| (a ReLU network with weights [I; −I] and a·1) in 3-D, the held-out
/// NLL of exp(−E/T) is mean E/T + d·ln(2T/a) in closed form. Scored at T = 1 instead it
/// would be off by several nats.
#[test]
fn the_in_run_nll_of_a_tempered_run_is_that_of_exp_minus_e_over_t() {
    use ebm_workbench::data::target::Target;
    use ebm_workbench::energy::LayerSpec;
    let (d, a, t) = (3_usize, 2.0_f32, 0.5_f32);
    let mut p = common::bundled("mixture_16d.ron");
    p.data.source = ebm_workbench::data::DataSource::Target(Target::Mixture {
        dim: d,
        components: 8,
        spread: 1.0,
        std: 0.5,
    });
    p.model.layers = vec![LayerSpec::Linear(2 * d), LayerSpec::Relu];
    p.sampler.kind = SamplerKind::Sgld {
        step_size: 0.01,
        noise: (2.0_f32 * 0.01 * t).sqrt(),
    };
    p.sampler.clamp = false;
    p.eval.ais_chains = 256;
    p.eval.ais_temperatures = 500;
    p.validate().expect("a valid preset");
    let mut s = Session::new(&p).expect("the target");
    assert!(
        (s.temperature() - t).abs() < 1e-6,
        "T = {}",
        s.temperature()
    );
    let arch = s.architecture().clone();
    let ranges = arch.layer_ranges();
    let mut params = vec![0.0_f32; arch.n_params];
    let (w1, w2) = (ranges[0].2.start, ranges[1].2.start);
    for j in 0..d {
        params[w1 + j * d + j] = 1.0;
        params[w1 + (d + j) * d + j] = -1.0;
    }
    for k in 0..2 * d {
        params[w2 + k] = a;
    }
    s.set_params(params);
    let test = s.data().test.clone();
    let e = s.energy(&test);
    let l1: Vec<f64> = test
        .chunks_exact(d)
        .map(|x| f64::from(a) * x.iter().map(|v| f64::from(v.abs())).sum::<f64>())
        .collect();
    for (got, want) in e.iter().zip(&l1) {
        assert!(
            (f64::from(*got) - want).abs() < 1e-4,
            "E {got} against a·|x|₁ {want}"
        );
    }
    let n = l1.len() as f64;
    let closed = l1.iter().sum::<f64>() / n / f64::from(t)
        + d as f64 * (2.0 * f64::from(t) / f64::from(a)).ln();
    let ev = s.evaluate();
    eprintln!(
        "T = {t}: in-run NLL {:.4} ± {:.4}, closed form {closed:.4}",
        ev.nll, ev.stderr
    );
    assert!(
        (ev.nll - closed).abs() < 4.0 * ev.stderr + 0.05,
        "in-run NLL {} ± {} against the closed form {closed}",
        ev.nll,
        ev.stderr
    );
    // `eval` on the exported model: the same figure.
    let dir = tempfile::tempdir().expect("a temporary folder");
    let model = dir.path().join("laplace.safetensors");
    ebm_workbench::export::save(&model, s.preset(), &[d], s.params()).expect("written");
    let out = common::stdout_of(common::bin().args([
        "eval",
        model.to_str().expect("a UTF-8 path"),
        "--ais-chains",
        "256",
        "--ais-temps",
        "500",
    ]));
    let get = |k: &str| -> f64 {
        out.lines()
            .find_map(|l| l.strip_prefix(k))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{k} in {out}"))
    };
    let (nll, se) = (get("nll="), get("nll_stderr="));
    eprintln!("eval: NLL {nll:.4} ± {se:.4}");
    assert!(
        (nll - closed).abs() < 4.0 * se + 0.05,
        "eval's NLL {nll} ± {se} against the closed form {closed}"
    );
    assert!(
        (nll - ev.nll).abs() < 4.0 * (se + ev.stderr) + 0.05,
        "{out}"
    );
}

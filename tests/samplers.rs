//! MALA and HMC: the Metropolis test makes them exact for the model at step sizes where
//! unadjusted Langevin is visibly biased; their acceptance rate reports how hard they
//! work; both engines run the same chains.

mod common;

use ebm_workbench::Session;
use ebm_workbench::energy::Architecture;
use ebm_workbench::energy::engine::FastEngine;
use ebm_workbench::energy::fast::Workspace;
use ebm_workbench::eval::exact;
use ebm_workbench::preset::EngineChoice;
use ebm_workbench::sampler::{Acceptance, Init, Sampler, SamplerKind, SamplerSpec};
use rand::SeedableRng as _;
use rand::rngs::StdRng;

/// A model with sharp modes: the small eight-gaussians preset after some training.
fn trained_model() -> (Session, exact::GridModel) {
    let mut p = common::small(32);
    p.eval.eval_every = 0;
    let mut s = Session::new(&p).expect("the toy data");
    for _ in 0..400 {
        s.step().expect("training step");
    }
    let m = exact::grid_model(
        &mut FastEngine::new(s.architecture()),
        s.params(),
        &s.data().data_box,
        256,
    )
    .expect("the fast engine");
    (s, m)
}

/// Mean and standard deviation of E under the grid distribution.
fn exact_energy_moments(m: &exact::GridModel) -> (f64, f64) {
    let mean: f64 = m
        .weights
        .iter()
        .zip(&m.energies)
        .map(|(w, e)| w * f64::from(*e))
        .sum();
    let var: f64 = m
        .weights
        .iter()
        .zip(&m.energies)
        .map(|(w, e)| w * (f64::from(*e) - mean).powi(2))
        .sum();
    (mean, var.sqrt())
}

/// Runs `kind` for `steps` steps from `x0` (which lies in the box); returns the mean
/// energy of the chains' end points and the acceptance.
fn run(
    arch: &Architecture,
    params: &[f32],
    m: &exact::GridModel,
    kind: SamplerKind,
    steps: usize,
    x0: &[f32],
) -> (f64, Acceptance) {
    let (_, mean, acc) = run_chains(arch, params, &m.data_box, kind, steps, x0, 7);
    (mean, acc)
}

/// As [`run`] with the sampler's seed given, also returning the chains' end points.
fn run_chains(
    arch: &Architecture,
    params: &[f32],
    data_box: &ebm_workbench::data::DataBox,
    kind: SamplerKind,
    steps: usize,
    x0: &[f32],
    seed: u64,
) -> (Vec<f32>, f64, Acceptance) {
    let spec = SamplerSpec {
        kind,
        steps,
        init: Init::Noise,
        clamp: true,
        target_acceptance: None,
        grad_clip: None,
    };
    let mut x = x0.to_vec();
    let mut rng = StdRng::seed_from_u64(seed);
    let acc = Sampler::new(&FastEngine::new(arch))
        .run(&spec, params, &mut x, data_box, &mut rng, None)
        .expect("the fast engine");
    let mut e = vec![0.0; x.len() / 2];
    Workspace::new(arch).energy(params, &x, &mut e);
    let mean = e.iter().map(|v| f64::from(*v)).sum::<f64>() / e.len() as f64;
    (x, mean, acc)
}

/// Started from exact draws, an exact sampler stays put: the mean energy of its chains
/// matches the model's. Unadjusted Langevin at the same step size drifts to a wider,
/// higher-energy law.
#[test]
fn mala_and_hmc_keep_the_model_where_langevin_drifts_off() {
    let (s, m) = trained_model();
    let (mu, sd) = exact_energy_moments(&m);
    let n = 4096;
    let mut x0 = vec![0.0_f32; 2 * n];
    exact::sample(&m, &mut x0, &mut StdRng::seed_from_u64(3));
    #[allow(clippy::cast_precision_loss)]
    let se = sd / (n as f64).sqrt();
    let (arch, params) = (s.architecture(), s.params());
    let report = |kind: SamplerKind, mean: f64, acc: Acceptance| {
        format!(
            "{}: mean E {mean:.4} vs the model's {mu:.4} (sd {sd:.3}, standard error {se:.4}), acceptance {:?}",
            kind.name(),
            acc.rate()
        )
    };
    let langevin = SamplerKind::Langevin { step_size: 0.3 };
    let (mean, acc) = run(arch, params, &m, langevin, 50, &x0);
    assert!(
        mean - mu > 10.0 * se,
        "Langevin should be biased here: {}",
        report(langevin, mean, acc)
    );
    assert_eq!(acc.rate(), None);
    for (kind, steps) in [
        (SamplerKind::Mala { step_size: 0.3 }, 50),
        (
            SamplerKind::Hmc {
                step_size: 0.6,
                leapfrog_steps: 5,
            },
            20,
        ),
    ] {
        let (mean, acc) = run(arch, params, &m, kind, steps, &x0);
        let msg = report(kind, mean, acc);
        assert!((mean - mu).abs() < 4.0 * se + 0.01, "{msg}");
        let rate = acc.rate().expect("an acceptance rate");
        assert!((0.5..0.99).contains(&rate), "{msg}");
        assert_eq!(acc.proposed, n * steps);
    }
}

/// Larger steps are accepted less often; tiny ones almost always.
#[test]
fn acceptance_falls_as_the_step_grows() {
    let (s, m) = trained_model();
    let mut x0 = vec![0.0_f32; 2 * 1024];
    exact::sample(&m, &mut x0, &mut StdRng::seed_from_u64(5));
    let rate = |kind| {
        run(s.architecture(), s.params(), &m, kind, 10, &x0)
            .1
            .rate()
            .expect("a rate")
    };
    let mala: Vec<f64> = [1e-4, 0.1, 0.5, 2.0]
        .iter()
        .map(|&step_size| rate(SamplerKind::Mala { step_size }))
        .collect();
    let hmc: Vec<f64> = [1e-3, 0.3, 1.0, 3.0]
        .iter()
        .map(|&step_size| {
            rate(SamplerKind::Hmc {
                step_size,
                leapfrog_steps: 4,
            })
        })
        .collect();
    for (name, r) in [("MALA", &mala), ("HMC", &hmc)] {
        assert!(r[0] > 0.99, "{name}: {r:?}");
        assert!(r.windows(2).all(|w| w[1] < w[0]), "{name}: {r:?}");
        assert!(r[3] < 0.5, "{name}: {r:?}");
    }
}

/// Training with MALA or HMC reports the acceptance rate every step (and in the CSV);
/// the fast and the autograd engines follow the same chains and accept the same moves.
#[test]
fn both_engines_run_the_same_metropolis_chains() {
    for kind in [
        SamplerKind::Mala { step_size: 0.05 },
        SamplerKind::Hmc {
            step_size: 0.1,
            leapfrog_steps: 3,
        },
    ] {
        let mut p = common::small(16);
        p.sampler.kind = kind;
        p.sampler.clamp = true;
        p.validate().expect("valid preset");
        let mut fast = Session::new(&p).unwrap();
        p.engine = EngineChoice::Autograd;
        let mut auto = Session::new(&p).unwrap();
        for step in 0..3 {
            let a = fast.step().expect("fast step");
            let b = auto.step().expect("autograd step");
            let (ra, rb) = (a.acceptance.expect("rate"), b.acceptance.expect("rate"));
            assert!(ra > 0.5, "{}: {ra}", kind.name());
            assert_eq!(ra, rb, "{} step {step}: acceptance", kind.name());
            let worst = fast
                .samples()
                .iter()
                .zip(auto.samples())
                .map(|(x, y)| (x - y).abs())
                .fold(0.0_f32, f32::max);
            assert!(
                worst < 1e-4,
                "{} step {step}: chains differ by {worst}",
                kind.name()
            );
            let column = ebm_workbench::StepMetrics::csv_header()
                .split(',')
                .position(|c| c == "acceptance")
                .expect("an acceptance column");
            let row = a.csv_row();
            assert_eq!(
                row.split(',').nth(column),
                Some(ra.to_string().as_str()),
                "{row}"
            );
        }
    }
    let mut p = common::small(8);
    p.sampler.kind = SamplerKind::Langevin { step_size: 0.05 };
    let m = Session::new(&p).unwrap().step().expect("step");
    assert_eq!(m.acceptance, None);
}

/// candle's own tensor loop, which runs the chains on a GPU (on the CPU candle samples
/// in the lanes as every engine does), follows the lanes' chains: the same random
/// numbers, the same rules, the same moves accepted. Checked on the CPU, where it can
/// always run.
#[test]
fn the_gpu_samplers_tensor_loop_follows_the_lanes_chains() {
    use ebm_workbench::energy::{ModelSpec, init_params, net::EnergyNet};
    let arch = Architecture::new(&ModelSpec::default(), 2);
    let params = init_params(&arch, &mut StdRng::seed_from_u64(5));
    let data_box = ebm_workbench::data::DataBox::square(3.0);
    let mut x0 = vec![0.0_f32; 2 * 200];
    ebm_workbench::sampler::uniform_in_box(&data_box, &mut x0, &mut StdRng::seed_from_u64(6));
    let net = EnergyNet::new(&arch, &params, &candle_core::Device::Cpu).expect("candle");
    for kind in [
        SamplerKind::Langevin { step_size: 0.02 },
        SamplerKind::Mala { step_size: 0.05 },
        SamplerKind::Hmc {
            step_size: 0.1,
            leapfrog_steps: 3,
        },
    ] {
        let spec = SamplerSpec {
            kind,
            steps: 10,
            init: Init::Noise,
            clamp: true,
            target_acceptance: None,
            grad_clip: Some(50.0),
        };
        let (mut lanes, mut tensors) = (x0.clone(), x0.clone());
        let (mut path_l, mut path_t) = (Vec::new(), Vec::new());
        let a = Sampler::new(&FastEngine::new(&arch))
            .run(
                &spec,
                &params,
                &mut lanes,
                &data_box,
                &mut StdRng::seed_from_u64(8),
                Some((4, &mut path_l)),
            )
            .expect("the fast engine");
        path_t.extend_from_slice(&x0[..8]);
        let b = ebm_workbench::sampler::run_autograd(
            &spec,
            &net,
            None,
            &mut tensors,
            &data_box,
            &mut StdRng::seed_from_u64(8),
            Some((4, &mut path_t)),
        )
        .expect("candle on the CPU");
        assert_eq!(a, b, "{}: moves accepted", kind.name());
        let worst = |u: &[f32], v: &[f32]| {
            assert_eq!(u.len(), v.len());
            u.iter()
                .zip(v)
                .map(|(p, q)| (p - q).abs())
                .fold(0.0_f32, f32::max)
        };
        assert!(
            worst(&lanes, &tensors) < 1e-4,
            "{}: chains differ by {}",
            kind.name(),
            worst(&lanes, &tensors)
        );
        assert!(
            worst(&path_l, &path_t) < 1e-4,
            "{}: paths differ",
            kind.name()
        );
        assert!(
            worst(&lanes, &x0) > 0.01,
            "{}: the chains moved",
            kind.name()
        );
    }
}

/// 300 training steps of `p` with its sampler clamped and adapting to `target`: the
/// acceptance rate and the step size used at every step.
fn adapting_run(p: &mut ebm_workbench::Preset, target: f32) -> (Vec<f64>, Vec<f64>) {
    p.sampler.clamp = true;
    p.sampler.target_acceptance = Some(target);
    p.validate().expect("valid preset");
    let mut s = Session::new(p).expect("toy data");
    (0..300)
        .map(|_| {
            let m = s.step().expect("training step");
            (
                m.acceptance.expect("a rate"),
                m.step_size.expect("the adapted step"),
            )
        })
        .unzip()
}

/// With a target acceptance, MALA's step size moves until the sampler accepts about that
/// often: from a step that is accepted almost always, up; the step in use is reported.
#[test]
fn mala_adapts_its_step_to_the_target_acceptance() {
    let mut p = common::small(16);
    p.sampler.kind = SamplerKind::Mala { step_size: 0.01 };
    let (rates, steps) = adapting_run(&mut p, 0.6);
    assert!(
        (steps[0] - 0.01).abs() < 1e-6,
        "starts at the preset's step"
    );
    assert!(
        rates[0] > 0.9,
        "a tiny step is almost always accepted: {}",
        rates[0]
    );
    let late = &rates[200..];
    #[allow(clippy::cast_precision_loss)]
    let mean = late.iter().sum::<f64>() / late.len() as f64;
    assert!(
        (0.5..0.7).contains(&mean),
        "acceptance {mean} after adapting"
    );
    assert!(steps[299] > 0.1, "the step went up: {}", steps[299]);

    // Without a target the step stays and is not reported.
    p.sampler.target_acceptance = None;
    let m = Session::new(&p).expect("toy data").step().expect("step");
    assert_eq!(m.step_size, None);
}

/// A model with two modes of unequal weight close enough to mix: trained on a CSV of
/// 3 000 points, three quarters around (−1, 0) and a quarter around (1, 0) (sd 0.45).
fn two_unequal_modes() -> (Session, exact::GridModel, tempfile::TempDir) {
    use rand_distr::{Distribution as _, Normal};
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut rng = StdRng::seed_from_u64(21);
    let noise = Normal::new(0.0_f64, 0.45).expect("a normal");
    let mut text = String::new();
    for i in 0..3000 {
        let cx = if i % 4 == 0 { 1.0 } else { -1.0 };
        let (x, y) = (cx + noise.sample(&mut rng), noise.sample(&mut rng));
        text.push_str(&format!("{x},{y}\n"));
    }
    let path = dir.path().join("two.csv");
    std::fs::write(&path, text).expect("write the points");
    let mut p = common::small(32);
    p.data.source = ebm_workbench::data::DataSource::File(path);
    p.eval.eval_every = 0;
    p.optimizer.lr = 3e-3;
    let mut s = Session::new(&p).expect("the points");
    for _ in 0..400 {
        s.step().expect("training step");
    }
    let m = exact::grid_model(
        &mut FastEngine::new(s.architecture()),
        s.params(),
        &s.data().data_box,
        256,
    )
    .expect("the fast engine");
    (s, m, dir)
}

/// Started all in the light mode, far from the model's law, MALA and HMC mix into it:
/// the share of chains in the heavy mode (x < 0) reaches the model's own share of mass
/// there, and the chains' mean energy the model's. Unadjusted Langevin with a large step
/// ends elsewhere.
#[test]
fn mala_and_hmc_mix_into_the_model_and_weigh_its_modes_right() {
    let (s, m, _dir) = two_unequal_modes();
    let left: f64 = m
        .weights
        .iter()
        .zip(m.points.chunks_exact(2))
        .filter(|(_, p)| p[0] < 0.0)
        .map(|(w, _)| w)
        .sum();
    let (mu, sd) = exact_energy_moments(&m);
    eprintln!("the model's mass at x < 0: {left:.3}; mean E {mu:.3} (sd {sd:.3})");
    assert!(
        (0.6..0.9).contains(&left),
        "the trained model is lopsided: {left}"
    );
    let n = 2048;
    let x0: Vec<f32> = (0..n).flat_map(|_| [1.0_f32, 0.0]).collect();
    #[allow(clippy::cast_precision_loss)]
    let nf = n as f64;
    let se_share = (left * (1.0 - left) / nf).sqrt();
    let se_e = sd / nf.sqrt();
    for (kind, steps) in [
        (SamplerKind::Mala { step_size: 0.1 }, 300),
        (
            SamplerKind::Hmc {
                step_size: 0.25,
                leapfrog_steps: 5,
            },
            100,
        ),
        (SamplerKind::Langevin { step_size: 0.5 }, 300),
    ] {
        let (x, mean, _) = run_chains(
            s.architecture(),
            s.params(),
            &m.data_box,
            kind,
            steps,
            &x0,
            8,
        );
        #[allow(clippy::cast_precision_loss)]
        let share = x.chunks_exact(2).filter(|p| p[0] < 0.0).count() as f64 / nf;
        let msg = format!(
            "{}: share at x < 0 {share:.3} (model {left:.3} ± {se_share:.3}), mean E {mean:.3} (model {mu:.3} ± {se_e:.3})",
            kind.name()
        );
        eprintln!("{msg}");
        let exact_rule = kind.is_metropolis();
        let ok =
            (share - left).abs() < 4.0 * se_share + 0.01 && (mean - mu).abs() < 4.0 * se_e + 0.01;
        assert_eq!(ok, exact_rule, "{msg}");
    }
}

/// With clamping, SGLD/Langevin chains never leave the data box (they are projected back
/// onto it); without, a large step sends them out.
#[test]
fn langevin_clamps_its_chains_to_the_box() {
    let (s, m) = trained_model();
    let b = m.data_box.clone();
    let mut x0 = vec![0.0_f32; 2 * 1024];
    exact::sample(&m, &mut x0, &mut StdRng::seed_from_u64(4));
    let outside = |clamp: bool| {
        let spec = SamplerSpec {
            kind: SamplerKind::Sgld {
                step_size: 0.05,
                noise: 2.0,
            },
            steps: 20,
            init: Init::Noise,
            clamp,
            target_acceptance: None,
            grad_clip: None,
        };
        let mut x = x0.clone();
        Sampler::new(&FastEngine::new(s.architecture()))
            .run(
                &spec,
                s.params(),
                &mut x,
                &b,
                &mut StdRng::seed_from_u64(6),
                None,
            )
            .expect("the fast engine");
        x.chunks_exact(2)
            .filter(|p| (0..2).any(|j| p[j] < b.lo[j] || p[j] > b.hi[j]))
            .count()
    };
    assert_eq!(outside(true), 0, "clamped chains left the box");
    assert!(
        outside(false) > 100,
        "unclamped chains with noise 2 stay in the box"
    );
}

/// The CD-k start: the sampler's chains begin at the data batch, so with zero steps the
/// samples are the data batch itself, and with a few they stay close to it.
#[test]
fn cd_k_starts_the_chains_at_the_data_batch() {
    let mut p = common::small(16);
    p.sampler.init = Init::Data;
    p.sampler.steps = 0;
    let mut s = Session::new(&p).expect("toy data");
    s.step().expect("a step");
    assert_eq!(s.samples(), s.data_batch());
    assert!(s.replay_buffer().is_none());
    p.sampler.steps = 1;
    p.sampler.kind = SamplerKind::Langevin { step_size: 1e-4 };
    let mut s = Session::new(&p).expect("toy data");
    s.step().expect("a step");
    let worst = s
        .samples()
        .iter()
        .zip(s.data_batch())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0_f32, f32::max);
    assert!(
        worst > 0.0 && worst < 0.1,
        "one tiny step from the data: {worst}"
    );
}

/// HMC adapts its leapfrog step to the target acceptance too: from a step far too large
/// (almost nothing accepted), down, until it accepts about as often as asked.
#[test]
fn hmc_adapts_its_step_to_the_target_acceptance() {
    let mut p = common::small(16);
    p.sampler.kind = SamplerKind::Hmc {
        step_size: 2.0,
        leapfrog_steps: 3,
    };
    let (rates, steps) = adapting_run(&mut p, 0.7);
    assert!((steps[0] - 2.0).abs() < 1e-6, "starts at the preset's step");
    assert!(steps[299] < 1.0, "the step went down: {}", steps[299]);
    #[allow(clippy::cast_precision_loss)]
    let late = rates[200..].iter().sum::<f64>() / 100.0;
    assert!(
        (0.6..0.8).contains(&late),
        "acceptance {late} after adapting"
    );
}

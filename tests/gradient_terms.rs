//! The trainer's gradient terms: the data term against finite differences, and the
//! gradient the optimiser receives.

mod common;

use ebm_workbench::Session;
use ebm_workbench::energy::Architecture;
use ebm_workbench::energy::net::EnergyNet;
use ebm_workbench::energy::spec::Op;
use ebm_workbench::optim::{OptimizerKind, OptimizerSpec};
use ebm_workbench::sampler::SamplerKind;

/// E(x) of a Linear/SiLU network in f64, written independently of both engines.
fn energy_f64(arch: &Architecture, p: &[f64], x: [f64; 2]) -> f64 {
    let mut h: Vec<f64> = x.to_vec();
    for op in &arch.ops {
        match *op {
            Op::Linear {
                input,
                output,
                weight,
                bias,
                ..
            } => {
                h = (0..output)
                    .map(|o| {
                        p[bias + o]
                            + (0..input)
                                .map(|i| p[weight + o * input + i] * h[i])
                                .sum::<f64>()
                    })
                    .collect();
            }
            Op::Act(_) => h.iter_mut().for_each(|v| *v /= 1.0 + (-*v).exp()),
            Op::Conv2d { .. } | Op::Pool { .. } => unreachable!("an MLP"),
        }
    }
    h[0]
}

fn mean_energy(arch: &Architecture, p: &[f64], xs: &[f32]) -> f64 {
    let n = xs.len() / 2;
    xs.chunks_exact(2)
        .map(|r| energy_f64(arch, p, [f64::from(r[0]), f64::from(r[1])]))
        .sum::<f64>()
        / n as f64
}

#[test]
fn data_term_matches_finite_differences() {
    let preset = common::small(16);
    let mut s = Session::new(&preset).unwrap();
    s.step().unwrap();
    let before: Vec<f64> = s.params().iter().map(|v| f64::from(*v)).collect();
    s.step().unwrap();
    let arch = s.architecture().clone();
    let g_data = s.terms().0.to_vec();
    let x_pos = s.data_batch().to_vec();
    let h = 1e-5;
    // A few weights and biases of every layer.
    for e in &arch.params {
        for k in [0, e.len / 2, e.len - 1] {
            let idx = e.offset + k;
            let mut plus = before.clone();
            plus[idx] += h;
            let mut minus = before.clone();
            minus[idx] -= h;
            let fd = (mean_energy(&arch, &plus, &x_pos) - mean_energy(&arch, &minus, &x_pos))
                / (2.0 * h);
            let got = f64::from(g_data[idx]);
            assert!(
                (got - fd).abs() <= 1e-4 + 1e-3 * fd.abs(),
                "{}[{k}]: trainer {got}, finite difference {fd}",
                e.name
            );
        }
    }
}

#[test]
fn optimizer_receives_data_term_minus_sample_term_plus_regulariser() {
    let mut preset = common::small(16);
    preset.objective.alpha = 0.1;
    preset.optimizer = OptimizerSpec {
        kind: OptimizerKind::Sgd,
        lr: 0.01,
        ..OptimizerSpec::default()
    };
    let mut s = Session::new(&preset).unwrap();
    s.step().unwrap();
    let before = s.params().to_vec();
    s.step().unwrap();
    let after = s.params().to_vec();
    let (g_data, g_sample) = s.terms();
    // The regulariser's gradient, by candle autograd: Σᵣ (2α/B)·E(xᵣ)·∂E(xᵣ)/∂θ over [x⁺; x⁻].
    let b = preset.batch_size;
    let dev = candle_core::Device::Cpu;
    let net = EnergyNet::new(s.architecture(), &before, &dev).unwrap();
    let mut both = s.data_batch().to_vec();
    both.extend_from_slice(s.samples());
    let x = candle_core::Tensor::from_slice(&both, (2 * b, 2), &dev).unwrap();
    let e = candle_core::Module::forward(&net, &x).unwrap();
    let w = (e.detach() * (2.0 * 0.1 / b as f64)).unwrap();
    let g_reg = net.weighted_param_grad(&x, &w).unwrap();
    let mut max_err = 0.0_f32;
    for i in 0..before.len() {
        let expected = g_data[i] - g_sample[i] + g_reg[i];
        assert!((s.last_gradient()[i] - expected).abs() < 1e-5);
        // SGD without momentum: θ ← θ − lr·g.
        let step = (before[i] - after[i]) / 0.01;
        max_err = max_err.max((step - expected).abs());
    }
    assert!(
        max_err < 1e-3,
        "update differs from −lr·(g_data − g_sample + g_reg) by {max_err}"
    );
}

/// The same preset and seed give the same metrics, parameters and chains, whatever the
/// number of threads: batches of 300 (three chain tiles of 128, run in parallel lanes
/// with their own seeds; gradient pieces of 256 and 44 rows) and of 100 (two tiles of
/// 56 and 44) under Langevin, MALA and HMC, in pools of 1, 2 and 3 threads.
#[test]
fn same_seed_gives_identical_runs_on_any_number_of_threads() {
    for (kind, batch) in [
        SamplerKind::Langevin { step_size: 0.1 },
        SamplerKind::Mala { step_size: 0.05 },
        SamplerKind::Hmc {
            step_size: 0.1,
            leapfrog_steps: 2,
        },
    ]
    .into_iter()
    .flat_map(|k| [(k, 300), (k, 100)])
    {
        let mut preset = common::small(16);
        preset.batch_size = batch;
        preset.sampler.kind = kind;
        preset.sampler.clamp = kind.is_metropolis();
        preset.validate().expect("a valid preset");
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("a thread pool");
            pool.install(|| {
                let mut s = Session::new(&preset).unwrap();
                let metrics: Vec<_> = (0..12)
                    .map(|_| s.step().unwrap().without_wall_time())
                    .collect();
                let buffer = s.replay_buffer().map(|b| b.points.clone());
                (metrics, s.params().to_vec(), s.samples().to_vec(), buffer)
            })
        };
        let one = run(1);
        for threads in [2, 3] {
            let other = run(threads);
            assert!(
                one == other,
                "{} at batch {batch}: 1 thread and {threads} threads differ",
                kind.name()
            );
        }
        let mut other = preset.clone();
        other.seed += 1;
        let mut s = Session::new(&other).unwrap();
        let c = s.step().unwrap().without_wall_time();
        assert_ne!(one.0[0], c, "another seed gave the same first step");
    }
}

/// A run that diverges is rolled back to the last good state — the parameters, the
/// optimiser, the replay buffer's chains and the adapted step size, exactly as they were
/// — and, with sane settings again, trains on without diverging.
#[test]
fn diverging_run_is_rolled_back_and_trains_on() {
    for kind in [
        SamplerKind::Langevin { step_size: 0.1 },
        SamplerKind::Mala { step_size: 0.05 },
    ] {
        let mut sane = common::small(16);
        sane.sampler.kind = kind;
        sane.sampler.target_acceptance = kind.is_metropolis().then_some(0.6);
        // Langevin unclamped (as the bundled presets run it), MALA within the box.
        sane.sampler.clamp = kind.is_metropolis();
        sane.validate().expect("a valid preset");
        let mut s = Session::new(&sane).unwrap();
        // Twenty healthy steps; an evaluation (every 10) marks step 20 as good.
        let mut last = None;
        for _ in 0..20 {
            last = Some(s.step().expect("a healthy step"));
        }
        assert_eq!(last.expect("a step").step, 20);
        let good_params = s.params().to_vec();
        let good_buffer = s.replay_buffer().expect("a replay buffer").points.clone();
        // Then a learning rate of 1000 and a huge Langevin step: the run blows up.
        let mut wild = sane.clone();
        wild.optimizer.kind = OptimizerKind::Sgd;
        wild.optimizer.lr = 1e3;
        wild.objective.alpha = 0.0;
        if !kind.is_metropolis() {
            wild.sampler.kind = SamplerKind::Langevin { step_size: 5.0 };
        }
        assert!(s.apply_live(&wild));
        let mut adapted_at_20 = None;
        let e = loop {
            match s.step() {
                Ok(m) => {
                    if m.step == 21 {
                        adapted_at_20 = m.step_size;
                    }
                    assert!(m.step < 60, "{}: lr 1000 should diverge", kind.name());
                }
                Err(e) => break e,
            }
        };
        let msg = e.to_string();
        eprintln!("{}: {msg}", kind.name());
        assert!(
            msg.contains("rolled back to step 20") && msg.contains("the replay buffer"),
            "{msg}"
        );
        assert_eq!(s.step_count(), 20);
        assert_eq!(s.params(), good_params.as_slice(), "parameters of step 20");
        let changed = s
            .replay_buffer()
            .unwrap()
            .points
            .iter()
            .zip(&good_buffer)
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(changed, 0, "replay buffer values differ from step 20's");
        // Sane settings again: training goes on from step 20, and the adapted step size
        // is the one of step 20.
        assert!(s.apply_live(&sane));
        for i in 0..30 {
            let m = s.step().unwrap_or_else(|e| {
                panic!(
                    "{}: diverged again {i} steps after the roll-back: {e}",
                    kind.name()
                )
            });
            assert_eq!(m.step, 21 + i);
            if i == 0 && kind.is_metropolis() {
                assert!(msg.contains("the adapted step size"), "{msg}");
                assert_eq!(m.step_size, adapted_at_20, "the adapted step of step 20");
            }
        }
        // The chains are back near the data: within the box doubled.
        let b = s.data().data_box.clone();
        let outside = s
            .samples()
            .chunks_exact(2)
            .filter(|p| (0..2).any(|j| !(2.0 * b.lo[j]..=2.0 * b.hi[j]).contains(&p[j])))
            .count();
        assert_eq!(
            outside,
            0,
            "{}: chains far outside the box after the roll-back",
            kind.name()
        );
    }
}

/// The autograd engine (candle, here on the CPU) follows the same chains as the fast
/// engine and yields the same terms: the fallback for layers the fast engine lacks and
/// the path to GPUs.
#[test]
fn autograd_engine_matches_fast_engine_step_for_step() {
    let mut preset = common::small(24);
    preset.objective.alpha = 0.1;
    let mut fast = Session::new(&preset).unwrap();
    let mut auto_preset = preset.clone();
    auto_preset.engine = ebm_workbench::preset::EngineChoice::Autograd;
    let mut auto = Session::new(&auto_preset).unwrap();
    assert!(auto.device_message.is_none());
    for step in 0..5 {
        let a = fast.step().unwrap();
        let b = auto.step().unwrap();
        let close = |x: f64, y: f64| (x - y).abs() <= 1e-4 * (1.0 + x.abs());
        for (name, x, y) in [
            ("e_data", a.e_data, b.e_data),
            ("e_sample", a.e_sample, b.e_sample),
            ("loss", a.loss, b.loss),
            ("data_term_norm", a.data_term_norm, b.data_term_norm),
            ("sample_term_norm", a.sample_term_norm, b.sample_term_norm),
            ("cos_terms", a.cos_terms, b.cos_terms),
        ] {
            assert!(close(x, y), "step {step}: {name} fast {x} vs autograd {y}");
        }
    }
    // Beyond the scalars: the same chains, the same replay buffer and the same
    // parameters after the updates, element by element.
    let worst = common::worst_rel;
    let chains = worst(fast.samples(), auto.samples());
    let buffer = worst(
        &fast.replay_buffer().unwrap().points,
        &auto.replay_buffer().unwrap().points,
    );
    let params = worst(fast.params(), auto.params());
    let terms = worst(fast.terms().1, auto.terms().1);
    assert!(chains < 1e-4, "chains differ by {chains}");
    assert!(buffer < 1e-4, "replay buffers differ by {buffer}");
    assert!(terms < 1e-4, "sample terms differ by {terms}");
    assert!(params < 1e-5, "parameters differ by {params}");
}

#[test]
fn a_missing_gpu_falls_back_to_the_cpu_with_a_message() {
    let mut preset = common::small(8);
    preset.device = ebm_workbench::device::DeviceSpec::Cuda(0);
    let mut s = Session::new(&preset).unwrap();
    let msg = s.device_message.clone();
    if cfg!(feature = "cuda") && msg.is_none() {
        return; // a real GPU: nothing to fall back from
    }
    let msg = msg.expect("a fallback message");
    assert!(msg.contains("CPU"), "{msg}");
    s.step().expect("training runs on the CPU");
}

//! The trainer's gradient terms: the data term against finite differences, and the
//! gradient the optimiser receives.

mod common;

use ebm_workbench::Session;
use ebm_workbench::energy::Architecture;
use ebm_workbench::energy::net::EnergyNet;
use ebm_workbench::energy::spec::Op;
use ebm_workbench::optim::{OptimizerKind, OptimizerSpec};

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

#[test]
fn same_seed_gives_identical_metrics() {
    let preset = common::small(16);
    let run = || {
        let mut s = Session::new(&preset).unwrap();
        (0..25)
            .map(|_| {
                let mut m = s.step().unwrap();
                m.step_ms = 0.0;
                m
            })
            .collect::<Vec<_>>()
    };
    let a = run();
    let b = run();
    assert_eq!(a, b);
    let mut other = preset.clone();
    other.seed += 1;
    let mut s = Session::new(&other).unwrap();
    let mut c = s.step().unwrap();
    c.step_ms = 0.0;
    assert_ne!(a[0], c, "another seed gave the same first step");
}

#[test]
fn diverging_run_is_rolled_back() {
    let mut preset = common::small(16);
    preset.optimizer.lr = 1e3;
    preset.optimizer.kind = OptimizerKind::Sgd;
    preset.objective.alpha = 0.0;
    preset.sampler.kind = ebm_workbench::sampler::SamplerKind::Langevin { step_size: 5.0 };
    let mut s = Session::new(&preset).unwrap();
    let start = s.params().to_vec();
    let mut diverged = None;
    for _ in 0..200 {
        if let Err(e) = s.step() {
            diverged = Some(e);
            break;
        }
    }
    let e = diverged.expect("lr 1000 should diverge");
    assert!(e.to_string().contains("rolled back"), "{e}");
    assert!(s.params().iter().all(|p| p.is_finite()));
    if s.step_count() == 0 {
        assert_eq!(s.params(), start.as_slice());
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
    auto_preset.engine = ebm_workbench::preset::Engine::Autograd;
    let mut auto = Session::new(&auto_preset).unwrap();
    assert!(auto.device_message.is_none());
    for step in 0..3 {
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

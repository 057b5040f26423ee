//! The optimisers against their textbook update rules, written out here in f64
//! (Kingma & Ba 2015 for Adam; Loshchilov & Hutter 2019 for AdamW's decoupled decay;
//! SGD with heavy-ball momentum as PyTorch defines it: m ← μ·m + g, θ ← θ − lr·m), and
//! gradient clipping to a norm.

use ebm_workbench::optim::{Optimizer, OptimizerKind, OptimizerSpec};

/// Three gradients of a 4-parameter model, one per step.
const GRADS: [[f64; 4]; 3] = [
    [0.5, -1.0, 2.0, 0.0],
    [0.1, 0.3, -4.0, 1.0],
    [-0.7, 0.2, 0.5, -2.0],
];
const START: [f64; 4] = [1.0, -2.0, 0.5, 3.0];

/// The reference: `steps` updates of `spec` in f64.
fn reference(spec: &OptimizerSpec) -> Vec<[f64; 4]> {
    let (b1, b2) = (f64::from(spec.betas.0), f64::from(spec.betas.1));
    let (lr, eps, wd, mu) = (
        f64::from(spec.lr),
        f64::from(spec.eps),
        f64::from(spec.weight_decay),
        f64::from(spec.momentum),
    );
    let mut p = START;
    let (mut m, mut v) = ([0.0; 4], [0.0; 4]);
    let mut out = Vec::new();
    for (t, g0) in GRADS.iter().enumerate() {
        let mut g = *g0;
        if let Some(c) = spec.clip_grad_norm {
            let n = g.iter().map(|x| x * x).sum::<f64>().sqrt();
            if n > f64::from(c) {
                g.iter_mut().for_each(|x| *x *= f64::from(c) / n);
            }
        }
        let t = i32::try_from(t + 1).expect("few steps");
        for i in 0..4 {
            match spec.kind {
                OptimizerKind::Adam | OptimizerKind::AdamW => {
                    let gi = if spec.kind == OptimizerKind::Adam {
                        g[i] + wd * p[i]
                    } else {
                        p[i] -= lr * wd * p[i];
                        g[i]
                    };
                    m[i] = b1 * m[i] + (1.0 - b1) * gi;
                    v[i] = b2 * v[i] + (1.0 - b2) * gi * gi;
                    let mh = m[i] / (1.0 - b1.powi(t));
                    let vh = v[i] / (1.0 - b2.powi(t));
                    p[i] -= lr * mh / (vh.sqrt() + eps);
                }
                OptimizerKind::Sgd => {
                    let gi = g[i] + wd * p[i];
                    m[i] = mu * m[i] + gi;
                    p[i] -= lr * m[i];
                }
            }
        }
        out.push(p);
    }
    out
}

fn check(spec: &OptimizerSpec) {
    let mut opt = Optimizer::new(4);
    #[allow(clippy::cast_possible_truncation)]
    let mut p: Vec<f32> = START.iter().map(|v| *v as f32).collect();
    let want = reference(spec);
    for (t, g) in GRADS.iter().enumerate() {
        #[allow(clippy::cast_possible_truncation)]
        let mut g: Vec<f32> = g.iter().map(|v| *v as f32).collect();
        let norm = opt.step(spec, &mut p, &mut g);
        let n = GRADS[t].iter().map(|x| x * x).sum::<f64>().sqrt();
        assert!((f64::from(norm) - n).abs() < 1e-5, "reported norm");
        for i in 0..4 {
            assert!(
                (f64::from(p[i]) - want[t][i]).abs() < 1e-5,
                "{spec:?} step {}: θ[{i}] = {} but the rule gives {}",
                t + 1,
                p[i],
                want[t][i]
            );
        }
    }
}

#[test]
fn adam_adamw_and_sgd_follow_their_rules() {
    let base = OptimizerSpec {
        lr: 0.1,
        ..OptimizerSpec::default()
    };
    for spec in [
        // Adam with β₁ = 0 (the EBM default) and with the usual 0.9.
        base.clone(),
        OptimizerSpec {
            betas: (0.9, 0.999),
            ..base.clone()
        },
        // Adam's L2 decay goes through the moments, AdamW's does not.
        OptimizerSpec {
            betas: (0.9, 0.99),
            weight_decay: 0.1,
            ..base.clone()
        },
        OptimizerSpec {
            kind: OptimizerKind::AdamW,
            betas: (0.9, 0.99),
            weight_decay: 0.1,
            ..base.clone()
        },
        OptimizerSpec {
            kind: OptimizerKind::Sgd,
            ..base.clone()
        },
        OptimizerSpec {
            kind: OptimizerKind::Sgd,
            momentum: 0.9,
            weight_decay: 0.01,
            ..base.clone()
        },
    ] {
        check(&spec);
    }
}

#[test]
fn clipping_rescales_the_gradient_to_the_norm() {
    for kind in OptimizerKind::ALL {
        check(&OptimizerSpec {
            kind,
            lr: 0.05,
            momentum: 0.5,
            betas: (0.9, 0.999),
            clip_grad_norm: Some(1.0),
            ..OptimizerSpec::default()
        });
    }
    // SGD makes the rescaling visible directly: a gradient of norm 5 clipped to 1.
    let spec = OptimizerSpec {
        kind: OptimizerKind::Sgd,
        lr: 1.0,
        clip_grad_norm: Some(1.0),
        ..OptimizerSpec::default()
    };
    let mut p = vec![0.0_f32, 0.0];
    let mut g = vec![3.0_f32, 4.0];
    let norm = Optimizer::new(2).step(&spec, &mut p, &mut g);
    assert!((norm - 5.0).abs() < 1e-6);
    assert!(
        (p[0] + 0.6).abs() < 1e-6 && (p[1] + 0.8).abs() < 1e-6,
        "{p:?}"
    );
}

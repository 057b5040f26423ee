//! A classifier as an EBM (JEM): K logits f(x), E(x) = −logsumexp f(x), trained on the
//! labels and by maximum likelihood; held-out accuracy and calibration.

mod common;

use ebm_workbench::preset::{EngineChoice, ObjectiveKind};
use ebm_workbench::train::session::Classification;
use ebm_workbench::{Preset, Session};

fn jem(ce_weight: f32) -> Preset {
    let mut p = common::small(32);
    p.model.outputs = 8;
    p.objective.kind = ObjectiveKind::Jem { ce_weight };
    p.eval.eval_every = 100;
    p.optimizer.lr = 3e-3;
    p.validate().expect("a valid JEM preset");
    p
}

/// The cross-entropy is what teaches the logits the classes: with it the held-out
/// accuracy is near perfect on the 8 (well separated) gaussians; without it, the same
/// network trained by likelihood alone is no classifier. Both learn the density.
#[test]
fn jem_learns_to_classify_and_the_density() {
    let mut results = Vec::new();
    for w in [1.0, 0.0] {
        let mut s = Session::new(&jem(w)).expect("toy data");
        let nll0 = s.evaluate().nll;
        let mut last = None;
        for _ in 0..400 {
            let m = s.step().expect("training step");
            if w > 0.0 {
                assert!(m.ce_loss.is_some() && m.batch_accuracy.is_some());
            } else {
                assert!(m.ce_loss.is_none());
            }
            if m.accuracy.is_some() {
                last = Some(m);
            }
        }
        let m = last.expect("an evaluation step");
        let c = s.classify().expect("a classifier");
        assert_eq!(Some(c.accuracy), m.accuracy);
        let nll = s.evaluate().nll;
        assert!(nll < nll0 - 0.5, "weight {w}: NLL {nll0} -> {nll}");
        results.push(c);
    }
    assert!(results[0].accuracy > 0.97, "{:?}", results[0]);
    assert!(results[0].ece < 0.05, "{:?}", results[0]);
    assert!(results[1].accuracy < 0.6, "{:?}", results[1]);
}

#[test]
fn both_engines_train_the_same_classifier() {
    let p = jem(1.0);
    let mut fast = Session::new(&p).expect("toy data");
    let mut ap = p;
    ap.engine = EngineChoice::Autograd;
    let mut auto = Session::new(&ap).expect("toy data");
    for step in 0..3 {
        let a = fast.step().expect("fast step");
        let b = auto.step().expect("autograd step");
        let (ca, cb) = (a.ce_loss.expect("ce"), b.ce_loss.expect("ce"));
        assert!(
            (ca - cb).abs() < 1e-4 * (1.0 + ca),
            "step {step}: CE {ca} vs {cb}"
        );
        assert_eq!(a.batch_accuracy, b.batch_accuracy, "step {step}");
        assert!(
            (a.loss - b.loss).abs() < 1e-4 * (1.0 + a.loss.abs()),
            "step {step}"
        );
    }
}

#[test]
fn jem_needs_one_logit_per_class_and_labels() {
    let mut p = jem(1.0);
    p.model.outputs = 3;
    let e = Preset::from_ron(&p.to_ron()).unwrap_err().to_string();
    assert!(
        e.contains("model.outputs") && e.contains("8, one logit per class"),
        "{e}"
    );
    let mut p = jem(1.0);
    p.data.source = ebm_workbench::data::DataSource::Toy(ebm_workbench::data::ToySet::TwoMoons);
    let e = p.validate().unwrap_err().to_string();
    assert!(e.contains("2, one logit per class of two_moons"), "{e}");
    let mut p = jem(1.0);
    p.data.source = ebm_workbench::data::DataSource::File("points.csv".into());
    let e = p.validate().unwrap_err().to_string();
    assert!(
        e.contains("data.labels") && e.contains("JEM needs labels"),
        "{e}"
    );
}

#[test]
fn calibration_error_of_known_cases() {
    // Ten points at confidence 0.9: nine right is calibrated, five right is not.
    let probs: Vec<f32> = (0..10).flat_map(|_| [0.9, 0.1]).collect();
    let nine: Vec<u32> = (0..10).map(|i| u32::from(i == 0)).collect();
    let five: Vec<u32> = (0..10).map(|i| u32::from(i < 5)).collect();
    let c = Classification::from_probs(&probs, &nine, 2);
    assert!((c.accuracy - 0.9).abs() < 1e-9 && c.ece < 1e-6, "{c:?}");
    let c = Classification::from_probs(&probs, &five, 2);
    assert!(
        (c.accuracy - 0.5).abs() < 1e-9 && (c.ece - 0.4).abs() < 1e-6,
        "{c:?}"
    );
}

/// The ECE of Guo, Pleiss, Sun & Weinberger (2017), written out as their code computes it:
/// 15 bins of equal width with edges from `linspace(0, 1, 16)`, a point in the bin
/// (lower, upper] of its confidence (the largest probability), and the bins' gaps
/// |accuracy − mean confidence| weighted by their share of the points.
fn guo_ece(probs: &[f32], labels: &[u32], k: usize) -> f64 {
    let edges: Vec<f64> = (0..=15).map(|i| f64::from(i) / 15.0).collect();
    let rows: Vec<(f64, bool)> = probs
        .chunks_exact(k)
        .zip(labels)
        .map(|(p, y)| {
            let (best, conf) =
                p.iter().enumerate().fold(
                    (0, f32::MIN),
                    |b, (i, v)| if *v > b.1 { (i, *v) } else { b },
                );
            (f64::from(conf), best == *y as usize)
        })
        .collect();
    let n = rows.len() as f64;
    edges
        .windows(2)
        .map(|w| {
            let inside: Vec<&(f64, bool)> = rows
                .iter()
                .filter(|(c, _)| *c > w[0] && *c <= w[1])
                .collect();
            if inside.is_empty() {
                return 0.0;
            }
            let m = inside.len() as f64;
            let acc = inside.iter().filter(|r| r.1).count() as f64 / m;
            let conf = inside.iter().map(|r| r.0).sum::<f64>() / m;
            m / n * (acc - conf).abs()
        })
        .sum()
}

/// The ECE agrees with the reference implementation on 400 random predictions over 4
/// classes (confidences from 0.25 to nearly 1, across the bins, some bins over- and some
/// under-confident), and on two points
/// that share the 15-bin bin (13/15, 14/15] but that 14 bins would split (0.87 right,
/// 0.93 wrong: ECE |0.5 − 0.9| = 0.4 with 15 bins, 0.065 + 0.465 = 0.53 with 14).
#[test]
fn calibration_error_agrees_with_the_reference_implementation() {
    use rand::{Rng as _, SeedableRng as _};
    let mut rng = rand::rngs::StdRng::seed_from_u64(15);
    let k = 4;
    let (mut probs, mut labels) = (Vec::new(), Vec::new());
    for _ in 0..400 {
        // Logits of varying sharpness, so confidences reach every bin from 1/4 up.
        let scale = rng.random_range(0.0_f32..6.0);
        let logits: Vec<f32> = (0..k).map(|_| scale * rng.random::<f32>()).collect();
        let z: f32 = logits.iter().map(|l| l.exp()).sum();
        let p: Vec<f32> = logits.iter().map(|l| l.exp() / z).collect();
        let (best, conf) =
            p.iter().enumerate().fold(
                (0, f32::MIN),
                |b, (i, v)| if *v > b.1 { (i, *v) } else { b },
            );
        // Right with a probability that wavers about the confidence, so that some bins
        // are over- and some under-confident (where all gaps have one sign, the ECE is
        // mean confidence − accuracy whatever the bins).
        let right = rng.random::<f32>() < (conf + 0.25 * (25.0 * conf).sin()).clamp(0.0, 1.0);
        let other = (best + 1 + rng.random_range(0..k - 1)) % k;
        labels.push(if right { best } else { other } as u32);
        probs.extend(p);
    }
    let c = Classification::from_probs(&probs, &labels, k);
    let want = guo_ece(&probs, &labels, k);
    assert!(want > 0.05, "{want}");
    assert!((c.ece - want).abs() < 1e-9, "ECE {} against {want}", c.ece);
    eprintln!("ECE {} against the reference {want}", c.ece);
    let two = Classification::from_probs(&[0.87, 0.13, 0.93, 0.07], &[0, 1], 2);
    assert!((guo_ece(&[0.87, 0.13, 0.93, 0.07], &[0, 1], 2) - 0.4).abs() < 1e-6);
    assert!((two.ece - 0.4).abs() < 1e-6, "{two:?}");
}

/// Points spread over three confidence bins (of 15, width 1/15): the ECE is the
/// bins' weighted gaps, not one gap. Written out: bin of 0.95 (4 points, 2 right):
/// |0.5 − 0.95| = 0.45; bin of 0.6 (4 points, 4 right): |1 − 0.6| = 0.4; bin of 0.35
/// (three classes, 2 points, 1 right): |0.5 − 0.35| = 0.15. ECE = 0.4·0.45 + 0.4·0.4 +
/// 0.2·0.15 = 0.37; accuracy 7/10.
#[test]
fn calibration_error_over_several_bins() {
    let mut probs = Vec::new();
    let mut labels = Vec::new();
    for i in 0..4 {
        probs.extend([0.95, 0.03, 0.02]);
        labels.push(u32::from(i >= 2));
    }
    for _ in 0..4 {
        probs.extend([0.2, 0.6, 0.2]);
    }
    labels.extend([1; 4]);
    for i in 0..2 {
        probs.extend([0.33, 0.32, 0.35]);
        labels.push(if i == 0 { 2 } else { 0 });
    }
    let c = Classification::from_probs(&probs, &labels, 3);
    assert!((c.accuracy - 0.7).abs() < 1e-9, "{c:?}");
    assert!((c.ece - 0.37).abs() < 1e-6, "{c:?}");
}

/// The classifier's class-conditional p(x | y) ∝ exp(f_y(x)): chains started from noise
/// end where the classifier itself says "y", for every class; the fast engine's class
/// energy gradient matches candle autograd's.
#[test]
fn class_conditional_samples_land_in_their_class() {
    let mut s = Session::new(&jem(1.0)).expect("toy data");
    for _ in 0..400 {
        s.step().expect("training step");
    }
    let arch = s.architecture().clone();
    let params = s.params().to_vec();
    let mut ws = ebm_workbench::energy::fast::Workspace::new(&arch);
    for y in 0..8 {
        let x = s.class_samples(y, 300, 150).expect("a classifier");
        let mut e = vec![0.0; 300];
        let mut p = vec![0.0; 300 * 8];
        ws.class_probs(&params, &x, &mut e, &mut p);
        let hits = p
            .chunks_exact(8)
            .filter(|row| ebm_workbench::energy::argmax(row).0 == y)
            .count();
        assert!(
            hits > 270,
            "class {y}: {hits} of 300 samples classified as {y}"
        );
    }
    assert!(s.class_samples(8, 10, 10).is_none(), "no class 8");

    // ∇ₓ(−f_y) against autograd.
    use candle_core::{Device, Tensor};
    let x: Vec<f32> = (0..40).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
    let mut e = vec![0.0; 20];
    let mut g = vec![0.0; 40];
    ws.class_energy_grad_x(&params, &x, 5, &mut e, &mut g);
    let net = ebm_workbench::energy::net::EnergyNet::new(&arch, &params, &Device::Cpu).unwrap();
    let xv = candle_core::Var::from_tensor(&Tensor::from_slice(&x, (20, 2), &Device::Cpu).unwrap())
        .unwrap();
    let f5 = net
        .outputs(xv.as_tensor())
        .unwrap()
        .narrow(1, 5, 1)
        .unwrap();
    let grads = f5.neg().unwrap().sum_all().unwrap().backward().unwrap();
    let g_ref = grads
        .get(xv.as_tensor())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let e_ref = f5
        .neg()
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    for (a, b) in g.iter().zip(&g_ref).chain(e.iter().zip(&e_ref)) {
        assert!((a - b).abs() < 1e-4 * (1.0 + b.abs()), "{a} vs {b}");
    }
}

//! Bits (DESIGN §8): data of 0/1 values whose states are few enough to enumerate. log Z,
//! the held-out NLL and the sample term are sums over every state, exact as quadrature is
//! in the plane; Gibbs sweeps flip the bits; bars and stripes has a known NLL.

mod common;

use ebm_workbench::Session;
use ebm_workbench::data::{BitSet, DataSource, Dataset, Space};
use ebm_workbench::energy::engine::{Engine, FastEngine};
use ebm_workbench::energy::{Architecture, LayerSpec, ModelSpec};
use ebm_workbench::eval::{Method, exact};
use ebm_workbench::sampler::{Init, Sampler, SamplerKind, SamplerSpec};
use rand::SeedableRng as _;
use rand::rngs::StdRng;

/// A network on `bits` inputs with one hidden SiLU layer, its weights scaled by `scale`
/// (larger: a more peaked distribution over the states).
fn model(bits: usize, hidden: usize, scale: f32, seed: u64) -> (Architecture, Vec<f32>) {
    let spec = ModelSpec {
        layers: vec![LayerSpec::Linear(hidden), LayerSpec::Silu],
        outputs: 1,
        gaussian: None,
    };
    let arch = Architecture::new(&spec, bits);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut p = ebm_workbench::energy::init_params(&arch, &mut rng);
    for v in &mut p {
        *v *= scale;
    }
    (arch, p)
}

/// Index of a state as [`exact::states`] numbers them (bit j is (k >> j) & 1).
fn index(row: &[f32]) -> usize {
    row.iter()
        .enumerate()
        .map(|(j, v)| usize::from(*v > 0.5) << j)
        .sum()
}

/// Total variation between the empirical distribution of `rows` and `p`.
fn total_variation(rows: &[f32], bits: usize, p: &[f64]) -> f64 {
    let mut counts = vec![0.0_f64; p.len()];
    for r in rows.chunks_exact(bits) {
        counts[index(r)] += 1.0;
    }
    #[allow(clippy::cast_precision_loss)]
    let n = (rows.len() / bits) as f64;
    0.5 * counts
        .iter()
        .zip(p)
        .map(|(c, q)| (c / n - q).abs())
        .sum::<f64>()
}

/// An energy linear in the bits, E(x) = w·x + b (no hidden layer), has the closed form
/// log Z = Σⱼ ln(1 + e^(−wⱼ)) − b: the enumeration must agree, and state k must be the
/// bits of k.
#[test]
fn enumeration_gives_the_closed_form_log_z_of_a_linear_energy() {
    let bits = 12;
    let arch = Architecture::new(
        &ModelSpec {
            layers: Vec::new(),
            outputs: 1,
            gaussian: None,
        },
        bits,
    );
    let mut rng = StdRng::seed_from_u64(3);
    let mut params = ebm_workbench::energy::init_params(&arch, &mut rng);
    for v in &mut params {
        *v *= 8.0;
    }
    let (w, b) = (&params[..bits], params[bits]);
    let closed: f64 = w
        .iter()
        .map(|wj| (1.0 + (-f64::from(*wj)).exp()).ln())
        .sum::<f64>()
        - f64::from(b);
    let m = exact::states_model(&mut FastEngine::new(&arch), &params, bits).expect("fast");
    assert!(
        (m.log_z - closed).abs() < 1e-4 * closed.abs().max(1.0),
        "{} vs {closed}",
        m.log_z
    );
    let s = exact::states(3);
    assert_eq!(s.len(), 8 * 3);
    assert_eq!(
        &s[6 * 3..7 * 3],
        &[0.0, 1.0, 1.0],
        "state 6 is bits 0, 1, 1"
    );
    assert!((m.weights.iter().sum::<f64>() - 1.0).abs() < 1e-9);
}

/// The exact sample term Σ p(x) ∂E(x)/∂θ over the states is the mean of ∂E/∂θ over
/// many exact draws, and exact draws follow the enumerated distribution.
#[test]
fn the_exact_sample_term_is_the_mean_over_exact_draws() {
    let bits = 10;
    let (arch, params) = model(bits, 16, 3.0, 5);
    let mut engine = FastEngine::new(&arch);
    let m = exact::states_model(&mut engine, &params, bits).expect("fast");
    let g_star = exact::exact_sample_term(&mut engine, &params, &m).expect("fast");
    let n = 200_000;
    let mut draws = vec![0.0_f32; n * bits];
    exact::sample(&m, &mut draws, &mut StdRng::seed_from_u64(9));
    assert!(draws.iter().all(|v| *v == 0.0 || *v == 1.0));
    #[allow(clippy::cast_precision_loss)]
    let w = vec![1.0 / n as f32; n];
    let mut g = vec![0.0_f32; arch.n_params];
    engine
        .weighted_param_grad(&params, &draws, &w, &mut g)
        .expect("fast");
    let (cos, rel) = exact::compare(&g, &g_star);
    assert!(cos > 0.999 && rel < 0.03, "cos {cos}, relative error {rel}");
    let tv = total_variation(&draws, bits, &m.weights);
    assert!(tv < 0.05, "exact draws' total variation {tv}");
}

/// Gibbs sweeps leave the model's distribution invariant and reach it: 20 000 chains
/// from fair coin flips, after 30 sweeps, are as close to the enumerated distribution
/// (total variation) as as many exact draws are, give or take their noise.
#[test]
fn gibbs_chains_reach_the_enumerated_distribution_of_a_ten_bit_model() {
    let bits = 10;
    let (arch, params) = model(bits, 16, 3.0, 5);
    let engine = FastEngine::new(&arch);
    let m = exact::states_model(&mut engine.clone(), &params, bits).expect("fast");
    let n = 20_000;
    let data_box = ebm_workbench::data::DataBox::bits(bits);
    let mut rng = StdRng::seed_from_u64(11);
    let mut x = vec![0.0_f32; n * bits];
    ebm_workbench::sampler::uniform_in_box(&data_box, &mut x, &mut rng);
    assert!(x.iter().all(|v| *v == 0.0 || *v == 1.0), "coin flips");
    let start_tv = total_variation(&x, bits, &m.weights);
    let spec = SamplerSpec {
        kind: SamplerKind::Gibbs,
        steps: 30,
        init: Init::Noise,
        ..SamplerSpec::default()
    };
    Sampler::new(&engine)
        .run(&spec, &params, &mut x, &data_box, &mut rng, None)
        .expect("fast");
    assert!(x.iter().all(|v| *v == 0.0 || *v == 1.0), "still bits");
    let tv = total_variation(&x, bits, &m.weights);
    let mut draws = vec![0.0_f32; n * bits];
    exact::sample(&m, &mut draws, &mut rng);
    let tv_exact = total_variation(&draws, bits, &m.weights);
    eprintln!("total variation: start {start_tv:.3}, Gibbs {tv:.3}, exact draws {tv_exact:.3}");
    assert!(start_tv > 0.3, "the model is far from uniform: {start_tv}");
    assert!(
        tv < tv_exact + 0.02,
        "Gibbs {tv} against exact draws {tv_exact}"
    );
}

/// Bars and stripes: every pattern has all rows or all columns equal, there are
/// 2^(n+1) − 2 of them, drawn uniformly, and the held-out NLL of the truth is ln of that.
#[test]
fn bars_and_stripes_are_uniform_over_their_patterns() {
    let set = BitSet::BarsStripes(4);
    assert_eq!(set.patterns().len(), 30);
    let mut spec = ebm_workbench::data::DataSpec {
        source: DataSource::Bits(set),
        size: 6000,
        ..Default::default()
    };
    let d = Dataset::load(&spec).expect("generated");
    assert_eq!(d.space, Space::Bits { h: 4, w: 4 });
    assert_eq!(d.dim, 16);
    assert!((d.true_nll().expect("known") - 30.0_f64.ln()).abs() < 1e-12);
    let mut counts = std::collections::HashMap::new();
    for r in d.train.chunks_exact(16) {
        let rows_equal = (0..4).all(|i| (0..4).all(|j| r[i * 4 + j] == r[i * 4]));
        let cols_equal = (0..4).all(|j| (0..4).all(|i| r[i * 4 + j] == r[j]));
        assert!(rows_equal || cols_equal, "{r:?}");
        *counts.entry(index(r)).or_insert(0_usize) += 1;
    }
    assert_eq!(counts.len(), 30);
    #[allow(clippy::cast_precision_loss)]
    let expected = d.n_train() as f64 / 30.0;
    for c in counts.values() {
        #[allow(clippy::cast_precision_loss)]
        let c = *c as f64;
        assert!(
            (c - expected).abs() < 5.0 * expected.sqrt(),
            "{c} vs {expected}"
        );
    }
    // One bit a dimension: bits per dimension is the NLL in bits over 16.
    let bpd = d.bits_per_dim(30.0_f64.ln()).expect("bits");
    assert!((bpd - 30.0_f64.log2() / 16.0).abs() < 1e-12);
    spec.source = DataSource::Bits(BitSet::BarsStripes(5));
    let e = Dataset::load(&spec).expect_err("25 bits are refused");
    assert!(e.to_string().contains("up to 20 bits"), "{e}");
}

/// The bundled preset learns bars and stripes with Gibbs chains, every NLL exact
/// (enumeration); the samplers that move points are refused on bits, and Gibbs on
/// points, each with a message that says what to choose.
#[test]
fn the_bars_and_stripes_preset_learns_towards_ln_30_and_the_wrong_samplers_are_refused() {
    let p = common::bundled("bars_stripes_gibbs.ron");
    let mut s = Session::new(&p).expect("bits");
    assert_eq!(s.evaluator().method(), Method::Enumeration);
    let first = s.evaluate();
    assert!(first.verdict.trusted() && first.stderr == 0.0);
    let mut last = None;
    for _ in 0..p.steps {
        let m = s.step().expect("a step");
        if m.nll.is_some() {
            assert_eq!(m.nll_method, Some(Method::Enumeration));
            assert!(
                m.sample_term_cos_exact.is_some(),
                "the exact sample term on bits"
            );
            assert!(m.sample_term_cos_reference.is_none());
            last = m.nll;
        }
    }
    let nll = last.expect("evaluations");
    let truth = 30.0_f64.ln();
    eprintln!(
        "bars and stripes: NLL {nll:.4} from {:.4}, truth {truth:.4}",
        first.nll
    );
    assert!(nll < 4.0 && nll > truth - 0.05, "NLL {nll}");
    assert!(
        first.nll > 8.0,
        "an untrained model is far from it: {}",
        first.nll
    );
    assert!(
        s.samples().iter().all(|v| *v == 0.0 || *v == 1.0),
        "samples are bits"
    );

    let mut q = p.clone();
    q.sampler.kind = SamplerKind::Langevin { step_size: 0.1 };
    let e = Session::new(&q).expect_err("Langevin on bits");
    assert!(e.to_string().contains("choose Gibbs"), "{e}");
    let mut q = common::small(16);
    q.sampler.kind = SamplerKind::Gibbs;
    let e = Session::new(&q).expect_err("Gibbs on the plane");
    assert!(e.to_string().contains("Gibbs flips bits"), "{e}");
}

/// `eval` of a model on bits sums over the states: `log_z_enumeration=` and the exact
/// held-out NLL (the one training printed last), no AIS (its moves are MALA's).
#[test]
fn eval_of_a_bits_model_is_exact_by_enumeration() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("bits.safetensors");
    let out = common::stdout_of(
        common::bin()
            .args([
                "train",
                common::preset_path("bars_stripes_gibbs.ron")
                    .to_str()
                    .unwrap(),
                "--steps",
                "100",
                "-q",
                "--export",
            ])
            .arg(&model),
    );
    let value = |out: &str, k: &str| -> f64 {
        out.lines()
            .find_map(|l| l.strip_prefix(k))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{k} in {out}"))
    };
    assert!(out.contains("evaluation=enumeration"), "{out}");
    let trained = value(&out, "final_nll=");
    let ev = common::stdout_of(common::bin().arg("eval").arg(&model));
    assert!(
        ev.contains("log_z_enumeration=") && !ev.contains("log_z_ais"),
        "{ev}"
    );
    assert!(ev.contains("nll_trusted=true"), "{ev}");
    let nll = value(&ev, "nll=");
    assert!(
        (nll - trained).abs() < 1e-3,
        "eval {nll} against train {trained}"
    );
    assert!((value(&ev, "true_nll=") - 30.0_f64.ln()).abs() < 1e-6);
}

/// An RBM of `hidden` units on `visible` bits with weights scaled by `scale`.
fn rbm(visible: usize, hidden: usize, scale: f32, seed: u64) -> (Architecture, Vec<f32>) {
    let spec = ModelSpec {
        layers: vec![LayerSpec::Rbm {
            hidden,
            visible: ebm_workbench::energy::Visible::Bernoulli,
        }],
        outputs: 1,
        gaussian: None,
    };
    let arch = Architecture::new(&spec, visible);
    assert_eq!(arch.rbm, Some(hidden));
    assert_eq!(arch.n_params, hidden * visible + visible + hidden);
    let mut rng = StdRng::seed_from_u64(seed);
    let p: Vec<f32> = (0..arch.n_params)
        .map(|_| scale * (rand::Rng::random::<f32>(&mut rng) - 0.5))
        .collect();
    (arch, p)
}

/// The RBM's free energy summed over the visible states is its joint energy summed over
/// visible and hidden states: log Z by the engine's enumeration against the brute-force
/// double sum Σᵥ Σₕ exp(bᵀv + cᵀh + hᵀWv) on 10 visible and 6 hidden units.
#[test]
fn rbm_log_z_by_enumeration_is_the_double_sum_over_visible_and_hidden_states() {
    let (n, m) = (10, 6);
    let (arch, params) = rbm(n, m, 3.0, 21);
    let mut engine = ebm_workbench::energy::engine::fast_engine(&arch);
    assert_eq!(engine.name(), "RBM");
    let model = exact::states_model(engine.as_mut(), &params, n).expect("rbm");
    let (w, rest) = params.split_at(m * n);
    let (b, c) = rest.split_at(n);
    let mut terms = Vec::with_capacity(1 << (n + m));
    for vk in 0..1_usize << n {
        for hk in 0..1_usize << m {
            let v = |k: usize| f64::from(u8::try_from(vk >> k & 1).unwrap());
            let h = |j: usize| f64::from(u8::try_from(hk >> j & 1).unwrap());
            let mut t = 0.0;
            for (k, bk) in b.iter().enumerate() {
                t += f64::from(*bk) * v(k);
            }
            for j in 0..m {
                t += f64::from(c[j]) * h(j);
                for k in 0..n {
                    t += h(j) * f64::from(w[j * n + k]) * v(k);
                }
            }
            terms.push(t);
        }
    }
    let top = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let brute = top + terms.iter().map(|t| (t - top).exp()).sum::<f64>().ln();
    assert!(
        (model.log_z - brute).abs() < 1e-4 * brute.abs().max(1.0),
        "enumeration {} against the double sum {brute}",
        model.log_z
    );
}

/// The RBM engine's free energy, ∇ᵥF and weighted parameter gradients are candle
/// autograd's of the same free energy, on bits and between them.
#[test]
fn the_rbm_engine_agrees_with_candle_autograd() {
    use ebm_workbench::energy::engine::CandleEngine;
    let (n, m) = (12, 7);
    let (arch, params) = rbm(n, m, 2.0, 4);
    let mut fast = ebm_workbench::energy::engine::fast_engine(&arch);
    let mut candle = CandleEngine::new(&arch, candle_core::Device::Cpu);
    let rows = 9;
    let mut rng = StdRng::seed_from_u64(8);
    let x: Vec<f32> = (0..rows * n)
        .map(|i| {
            if i % 5 == 0 {
                rand::Rng::random::<f32>(&mut rng)
            } else {
                f32::from(u8::from(rand::Rng::random::<bool>(&mut rng)))
            }
        })
        .collect();
    let (mut e1, mut g1) = (vec![0.0; rows], vec![0.0; rows * n]);
    let (mut e2, mut g2) = (vec![0.0; rows], vec![0.0; rows * n]);
    fast.energy_grad_x(&params, &x, None, &mut e1, &mut g1)
        .expect("rbm");
    candle
        .energy_grad_x(&params, &x, None, &mut e2, &mut g2)
        .expect("candle");
    let close = |a: &[f32], b: &[f32], what: &str| {
        for (u, v) in a.iter().zip(b) {
            assert!(
                (u - v).abs() < 1e-4 * (1.0 + v.abs()),
                "{what}: {u} against {v}"
            );
        }
    };
    close(&e1, &e2, "F");
    close(&g1, &g2, "∇ᵥF");
    let mut e3 = vec![0.0; rows];
    fast.energy(&params, &x, &mut e3).expect("rbm");
    close(&e3, &e2, "F without the gradient");
    // A buffer of the wrong length is an error, not rows left uncomputed.
    let mut short = vec![0.0; rows - 1];
    let e = fast
        .energy(&params, &x, &mut short)
        .expect_err("a short buffer");
    assert!(e.contains("8 values for 9 rows"), "{e}");
    let w: Vec<f32> = (0..rows).map(|r| 0.1 + 0.05 * r as f32).collect();
    let (mut p1, mut p2) = (vec![0.0; arch.n_params], vec![0.0; arch.n_params]);
    fast.weighted_param_grad(&params, &x, &w, &mut p1)
        .expect("rbm");
    candle
        .weighted_param_grad(&params, &x, &w, &mut p2)
        .expect("candle");
    close(&p1, &p2, "Σ w ∂F/∂θ");
}

/// The bundled RBM preset: CD-1 trains an RBM on bars and stripes with every NLL exact,
/// and the model file names its tensors as scikit-learn's RBM does, with its kind in the
/// metadata; `eval` reads it back to the same NLL.
#[test]
fn the_rbm_preset_learns_by_cd1_and_exports_an_rbm_file() {
    let p = common::bundled("bars_stripes_rbm.ron");
    let mut s = Session::new(&p).expect("an RBM on bits");
    assert_eq!(s.engine_name(), "RBM");
    let first = s.evaluate().nll;
    let mut last = None;
    for _ in 0..p.steps {
        let m = s.step().expect("a step");
        if m.nll.is_some() {
            assert!(m.sample_term_cos_exact.is_some());
            last = m.nll;
        }
    }
    let nll = last.expect("evaluated");
    eprintln!(
        "RBM by CD-1: NLL {first:.4} -> {nll:.4} (truth {:.4})",
        30.0_f64.ln()
    );
    assert!(
        first > 8.0 && nll < 4.6 && nll > 30.0_f64.ln(),
        "{first} -> {nll}"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rbm.safetensors");
    ebm_workbench::export::save(&path, s.preset(), &s.data().space.input_shape(), s.params())
        .expect("written");
    let bytes = std::fs::read(&path).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).expect("safetensors");
    let meta = meta.metadata().clone().expect("metadata");
    assert_eq!(
        meta.get("energy").map(String::as_str),
        Some("rbm_bernoulli")
    );
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("safetensors");
    assert_eq!(st.tensor("weight").unwrap().shape(), &[16, 16]);
    assert_eq!(st.tensor("visible_bias").unwrap().shape(), &[16]);
    assert_eq!(st.tensor("hidden_bias").unwrap().shape(), &[16]);
    let ev = common::stdout_of(common::bin().arg("eval").arg(&path));
    let back: f64 = ev
        .lines()
        .find_map(|l| l.strip_prefix("nll="))
        .and_then(|v| v.parse().ok())
        .expect("nll=");
    assert!((back - nll).abs() < 1e-3, "eval {back} against {nll}");

    let mut q = p.clone();
    q.data = common::small(8).data;
    q.sampler.kind = SamplerKind::Langevin { step_size: 0.1 };
    let e = Session::new(&q).expect_err("an RBM on the plane");
    assert!(
        e.to_string().contains("binary (Bernoulli) visible units"),
        "{e}"
    );
}

/// Summing over an RBM's hidden states gives what summing over its visible states does:
/// log Z, the exact sample term, and draws that follow the enumerated distribution.
#[test]
fn the_rbm_hidden_sum_agrees_with_the_visible_enumeration() {
    use ebm_workbench::eval::rbm::RbmTruth;
    let (n, m) = (8, 5);
    let (arch, params) = rbm(n, m, 3.0, 33);
    let mut engine = ebm_workbench::energy::engine::fast_engine(&arch);
    let states = exact::states_model(engine.as_mut(), &params, n).expect("rbm");
    let by_states = exact::exact_sample_term(engine.as_mut(), &params, &states).expect("rbm");
    let t = RbmTruth::new(&params, n, m);
    assert!(
        (t.log_z - states.log_z).abs() < 1e-5 * states.log_z.abs().max(1.0),
        "hidden sum {} against visible enumeration {}",
        t.log_z,
        states.log_z
    );
    let (cos, rel) = exact::compare(&t.sample_term(&params), &by_states);
    assert!(
        cos > 0.999_99 && rel < 1e-4,
        "cos {cos}, relative error {rel}"
    );
    let draws_n = 50_000;
    let mut rng = StdRng::seed_from_u64(2);
    let mut x = vec![0.0_f32; draws_n * n];
    t.sample(&params, &mut x, &mut rng);
    let tv = total_variation(&x, n, &states.weights);
    let mut y = vec![0.0_f32; draws_n * n];
    exact::sample(&states, &mut y, &mut rng);
    let tv_states = total_variation(&y, n, &states.weights);
    assert!(
        tv < tv_states + 0.02,
        "hidden-sum draws {tv} against {tv_states}"
    );
}

/// The digits binarized (64 bits, too many to enumerate) with an RBM of 16 hidden units:
/// every NLL is exact by the hidden sum and falls under PCD; an energy of layers on the
/// same bits is evaluated by AIS on bits (GWG moves), with its weights' ESS.
#[test]
fn an_rbm_on_binarized_digits_has_an_exact_nll_and_a_network_of_layers_an_ais_one() {
    let p = common::bundled("digits_rbm_pcd.ron");
    let mut s = Session::new(&p).expect("binarized digits");
    assert_eq!(s.data().space, Space::Bits { h: 8, w: 8 });
    assert!(s.data().train.iter().all(|v| *v == 0.0 || *v == 1.0));
    assert_eq!(s.evaluator().method(), Method::Enumeration);
    let first = s.evaluate().nll;
    let mut last = None;
    for _ in 0..600 {
        let m = s.step().expect("a step");
        if m.nll.is_some() {
            assert!(
                m.sample_term_cos_exact.is_some(),
                "the exact sample term at 64 bits"
            );
            last = m.nll;
        }
    }
    let nll = last.expect("evaluated");
    eprintln!("digits RBM: exact NLL {first:.3} -> {nll:.3} after 600 steps");
    assert!(first > 40.0 && nll < 24.0, "{first} -> {nll}");

    let mut q = p.clone();
    q.model = ModelSpec {
        layers: common::mlp(16),
        outputs: 1,
        gaussian: None,
    };
    q.eval.ais_temperatures = 300;
    let mut s = Session::new(&q).expect("an MLP on bits trains");
    assert_eq!(s.evaluator().method(), Method::Ais);
    let e = s.evaluate();
    assert!(e.log_z.is_finite() && e.nll.is_finite(), "{e:?}");
    assert!(e.ess > 1.0 && e.stderr > 0.0, "{e:?}");
}

/// Block Gibbs (h given v, then v given h) leaves an RBM's distribution invariant and
/// reaches it: 20 000 chains from coin flips, after 50 steps, are as close to the
/// enumerated distribution as as many exact draws. It refuses an energy of layers.
#[test]
fn block_gibbs_chains_reach_an_rbms_enumerated_distribution() {
    let (n, m) = (10, 6);
    let (arch, params) = rbm(n, m, 3.0, 13);
    let engine = ebm_workbench::energy::engine::fast_engine(&arch);
    let states = exact::states_model(engine.box_clone().as_mut(), &params, n).expect("rbm");
    let chains = 20_000;
    let data_box = ebm_workbench::data::DataBox::bits(n);
    let mut rng = StdRng::seed_from_u64(17);
    let mut x = vec![0.0_f32; chains * n];
    ebm_workbench::sampler::uniform_in_box(&data_box, &mut x, &mut rng);
    let start_tv = total_variation(&x, n, &states.weights);
    let spec = SamplerSpec {
        kind: SamplerKind::BlockGibbs,
        steps: 50,
        init: Init::Noise,
        ..SamplerSpec::default()
    };
    Sampler::new(engine.as_ref())
        .run(&spec, &params, &mut x, &data_box, &mut rng, None)
        .expect("an RBM");
    assert!(x.iter().all(|v| *v == 0.0 || *v == 1.0));
    let tv = total_variation(&x, n, &states.weights);
    let mut y = vec![0.0_f32; chains * n];
    exact::sample(&states, &mut y, &mut rng);
    let tv_exact = total_variation(&y, n, &states.weights);
    eprintln!(
        "block Gibbs: total variation from {start_tv:.3} to {tv:.3}; exact draws {tv_exact:.3}"
    );
    assert!(start_tv > 0.3, "a model far from uniform: {start_tv}");
    assert!(
        tv < tv_exact + 0.02,
        "block Gibbs {tv} against exact draws {tv_exact}"
    );

    let (mlp, p) = model(n, 8, 1.0, 1);
    let mut z = vec![0.0_f32; 4 * n];
    let e = Sampler::new(&FastEngine::new(&mlp))
        .run(&spec, &p, &mut z, &data_box, &mut rng, None)
        .expect_err("not an RBM");
    assert!(e.contains("RBM"), "{e}");
    let mut q = common::bundled("bars_stripes_gibbs.ron");
    q.sampler.kind = SamplerKind::BlockGibbs;
    let e = Session::new(&q).expect_err("block Gibbs of layers");
    assert!(e.to_string().contains("choose Gibbs"), "{e}");
}

/// An RBM written by another program (numpy and the safetensors package, as
/// bench/peer_rbm_sklearn.py writes scikit-learn's): F64 tensors `weight`,
/// `visible_bias`, `hidden_bias`, no preset. `eval --data` scores every row of a 0/1
/// table exactly, as a brute-force sum over the visible states in this test does; without
/// data it says what to give, and a value that is not a bit is named by row and column.
#[test]
fn an_rbm_written_by_another_program_is_scored_exactly_on_a_table_of_bits() {
    use safetensors::tensor::{Dtype, TensorView};
    let (n, m) = (10, 4);
    let mut rng = StdRng::seed_from_u64(40);
    let mut draw = |k: usize| -> Vec<f64> {
        (0..k)
            .map(|_| 4.0 * (rand::Rng::random::<f64>(&mut rng) - 0.5))
            .collect()
    };
    let (w, b, c) = (draw(m * n), draw(n), draw(m));
    let bytes = |v: &[f64]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
    let (wb, bb, cb) = (bytes(&w), bytes(&b), bytes(&c));
    let views = vec![
        (
            "weight",
            TensorView::new(Dtype::F64, vec![m, n], &wb).unwrap(),
        ),
        (
            "visible_bias",
            TensorView::new(Dtype::F64, vec![n], &bb).unwrap(),
        ),
        (
            "hidden_bias",
            TensorView::new(Dtype::F64, vec![m], &cb).unwrap(),
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("foreign.safetensors");
    std::fs::write(&model, safetensors::tensor::serialize(views, None).unwrap()).unwrap();
    // Rows of bits, as uint8.
    let rows: Vec<u8> = (0..50 * n)
        .map(|i| u8::from((i * 7 + i / n) % 3 == 0))
        .collect();
    let table = dir.path().join("bits.npy");
    std::fs::write(&table, common::npy_bytes("|u1", &[50, n], &rows)).unwrap();
    // The truth by brute force: F(v) = −b·v − Σⱼ softplus(cⱼ + Wⱼ·v), over all 2^n v.
    let softplus = |a: f64| a.max(0.0) + (-a.abs()).exp().ln_1p();
    let free = |v: &[f64]| -> f64 {
        -v.iter().zip(&b).map(|(x, y)| x * y).sum::<f64>()
            - (0..m)
                .map(|j| softplus(c[j] + (0..n).map(|k| w[j * n + k] * v[k]).sum::<f64>()))
                .sum::<f64>()
    };
    let terms: Vec<f64> = (0..1_usize << n)
        .map(|s| {
            -free(
                &(0..n)
                    .map(|k| f64::from(u8::try_from(s >> k & 1).unwrap()))
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    let top = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let log_z = top + terms.iter().map(|t| (t - top).exp()).sum::<f64>().ln();
    let nll = rows
        .chunks_exact(n)
        .map(|r| free(&r.iter().map(|x| f64::from(*x)).collect::<Vec<_>>()) + log_z)
        .sum::<f64>()
        / 50.0;
    let out = common::stdout_of(
        common::bin()
            .arg("eval")
            .arg(&model)
            .arg("--data")
            .arg(&table),
    );
    let get = |k: &str| -> f64 {
        out.lines()
            .find_map(|l| l.strip_prefix(k))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{k} in {out}"))
    };
    assert_eq!(get("rows_scored="), 50.0, "{out}");
    assert!(
        (get("log_z_enumeration=") - log_z).abs() < 1e-4,
        "{out} against {log_z}"
    );
    assert!((get("nll=") - nll).abs() < 1e-4, "{out} against {nll}");

    // Declared an RBM, but with a tensor an RBM does not have: refused by its name.
    let extra = dir.path().join("extra.safetensors");
    let views = vec![
        (
            "weight",
            TensorView::new(Dtype::F64, vec![m, n], &wb).unwrap(),
        ),
        (
            "visible_bias",
            TensorView::new(Dtype::F64, vec![n], &bb).unwrap(),
        ),
        (
            "hidden_bias",
            TensorView::new(Dtype::F64, vec![m], &cb).unwrap(),
        ),
        ("offset", TensorView::new(Dtype::F64, vec![m], &cb).unwrap()),
    ];
    let meta =
        std::collections::HashMap::from([("energy".to_string(), "rbm_bernoulli".to_string())]);
    std::fs::write(
        &extra,
        safetensors::tensor::serialize(views, Some(meta)).unwrap(),
    )
    .unwrap();
    let refused = common::bin()
        .arg("eval")
        .arg(&extra)
        .arg("--data")
        .arg(&table)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && err.contains("offset"), "{err}");

    let no_data = common::bin().arg("eval").arg(&model).output().unwrap();
    let err = String::from_utf8_lossy(&no_data.stderr);
    assert!(!no_data.status.success() && err.contains("--data"), "{err}");
    let mut bad = rows.clone();
    bad[3 * n + 2] = 2;
    std::fs::write(&table, common::npy_bytes("|u1", &[50, n], &bad)).unwrap();
    let wrong = common::bin()
        .arg("eval")
        .arg(&model)
        .arg("--data")
        .arg(&table)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        !wrong.status.success() && err.contains("row 4, column 3") && err.contains("not a bit"),
        "{err}"
    );
}

/// Gibbs with gradients leaves any energy on bits invariant and reaches it: 20 000 chains
/// of a 10-bit network, one flip a step for 300 steps, end as close to the enumerated
/// distribution as as many exact draws; it reports its acceptance.
#[test]
fn gibbs_with_gradients_reaches_the_enumerated_distribution() {
    let bits = 10;
    let (arch, params) = model(bits, 16, 3.0, 5);
    let engine = FastEngine::new(&arch);
    let m = exact::states_model(&mut engine.clone(), &params, bits).expect("fast");
    let n = 20_000;
    let data_box = ebm_workbench::data::DataBox::bits(bits);
    let mut rng = StdRng::seed_from_u64(23);
    let mut x = vec![0.0_f32; n * bits];
    ebm_workbench::sampler::uniform_in_box(&data_box, &mut x, &mut rng);
    let spec = SamplerSpec {
        kind: SamplerKind::Gwg,
        steps: 300,
        init: Init::Noise,
        ..SamplerSpec::default()
    };
    let acc = Sampler::new(&engine)
        .run(&spec, &params, &mut x, &data_box, &mut rng, None)
        .expect("fast");
    assert!(x.iter().all(|v| *v == 0.0 || *v == 1.0), "still bits");
    let rate = acc.rate().expect("a Metropolis rule");
    let tv = total_variation(&x, bits, &m.weights);
    let mut draws = vec![0.0_f32; n * bits];
    exact::sample(&m, &mut draws, &mut rng);
    let tv_exact = total_variation(&draws, bits, &m.weights);
    eprintln!("GWG: total variation {tv:.3}, exact draws {tv_exact:.3}, acceptance {rate:.2}");
    assert!(
        tv < tv_exact + 0.02,
        "GWG {tv} against exact draws {tv_exact}"
    );
    assert!(rate > 0.3 && rate <= 1.0, "acceptance {rate}");
}

/// AIS for RBMs (block Gibbs along the tempered path from a base of independent bits)
/// against the exact log Z of the hidden sum: at 784 visible × 20 hidden units (MNIST's
/// size, a random RBM) and on the 64-bit digits RBM after PCD training, within 0.1 nats
/// and three standard errors; and healthy by its verdict.
#[test]
fn rbm_ais_agrees_with_the_exact_log_z_at_784_visible_units_and_on_digits() {
    use ebm_workbench::eval::rbm::{RbmTruth, ais_log_z, base_biases};
    let (n, m) = (784, 20);
    let mut rng = StdRng::seed_from_u64(784);
    let mut params: Vec<f32> = (0..m * n)
        .map(|_| 0.3 * (rand::Rng::random::<f32>(&mut rng) - 0.5))
        .collect();
    params.extend((0..n + m).map(|_| 2.0 * (rand::Rng::random::<f32>(&mut rng) - 0.5)));
    let t0 = std::time::Instant::now();
    let exact = RbmTruth::new(&params, n, m).log_z;
    let t_exact = t0.elapsed().as_secs_f64();
    let base: Vec<f64> = params[m * n..m * n + n]
        .iter()
        .map(|v| f64::from(*v))
        .collect();
    let t0 = std::time::Instant::now();
    let est = ais_log_z(&params, n, m, &base, 100, 1000, &mut rng);
    let t_ais = t0.elapsed().as_secs_f64();
    eprintln!(
        "784 × 20 RBM: exact log Z {exact:.4} ({t_exact:.1} s), AIS {:.4} ± {:.4}, ESS {:.1} of 100 ({t_ais:.1} s)",
        est.log_z, est.stderr, est.ess
    );
    let gap = (est.log_z - exact).abs();
    assert!(
        gap < 0.1 && gap < 3.0 * est.stderr.max(0.01),
        "AIS {est:?} against {exact}"
    );
    assert!(ebm_workbench::eval::verdict::ais(est.ess, 100, est.log_z, None).trusted());

    let p = common::bundled("digits_rbm_pcd.ron");
    let mut s = Session::new(&p).expect("digits");
    for _ in 0..500 {
        s.step().expect("a step");
    }
    let exact = RbmTruth::new(s.params(), 64, 16).log_z;
    let base = base_biases(&s.data().train, 64);
    let est = ais_log_z(s.params(), 64, 16, &base, 200, 1000, &mut rng);
    eprintln!(
        "digits RBM: exact log Z {exact:.4}, AIS {:.4} ± {:.4}, ESS {:.1} of 200",
        est.log_z, est.stderr, est.ess
    );
    let gap = (est.log_z - exact).abs();
    assert!(
        gap < 0.1 && gap < 3.0 * est.stderr.max(0.01),
        "AIS {est:?} against {exact}"
    );
}

/// AIS on bits for any energy (Gibbs sweeps or GWG steps along the tempered path from
/// independent bits with the data's marginals) against the exact log Z: an MLP on
/// 16 bits after training on bars and stripes (every state enumerated), by both moves;
/// and the 64-bit digits RBM after PCD run through the generic path (its engine's free
/// energy, GWG moves), against the hidden sum. Within 0.15 nats and three standard
/// errors, and healthy by the verdict.
#[test]
fn bits_ais_of_any_energy_agrees_with_the_exact_log_z_by_gibbs_and_gwg() {
    use ebm_workbench::eval::ais::{AisSpec, BaseKind};
    use ebm_workbench::eval::bits::ais_log_z;
    use ebm_workbench::eval::rbm::{RbmTruth, base_biases};
    let check = |what: &str, est: ebm_workbench::eval::ais::AisEstimate, exact: f64, chains| {
        eprintln!(
            "{what}: exact log Z {exact:.4}, AIS {:.4} ± {:.4}, ESS {:.1} of {chains}, acceptance {:.3}",
            est.log_z, est.stderr, est.ess, est.acceptance
        );
        let gap = (est.log_z - exact).abs();
        assert!(
            gap < 0.15 && gap < 3.0 * est.stderr.max(0.02),
            "{what}: AIS {est:?} against {exact}"
        );
        assert!(ebm_workbench::eval::verdict::ais(est.ess, chains, est.log_z, None).trusted());
    };
    let mut rng = StdRng::seed_from_u64(5);
    let p = common::bundled("bars_stripes_gibbs.ron");
    let mut s = Session::new(&p).expect("bars and stripes");
    for _ in 0..300 {
        s.step().expect("a step");
    }
    let exact = s.evaluate().log_z;
    let base = base_biases(&s.data().train, 16);
    let engine = FastEngine::new(s.architecture());
    let spec = AisSpec {
        chains: 128,
        temperatures: 1000,
        steps_per_temperature: 1,
        base: BaseKind::Gaussian,
    };
    for kind in [SamplerKind::Gibbs, SamplerKind::Gwg] {
        let est = ais_log_z(&engine, s.params(), &base, &spec, kind, &mut rng).expect("AIS");
        check(&format!("bars MLP by {}", kind.name()), est, exact, 128);
        if kind == SamplerKind::Gwg {
            assert!(est.acceptance > 0.3 && est.acceptance < 1.0, "{est:?}");
        } else {
            assert!((est.acceptance - 1.0).abs() < 1e-12);
        }
    }

    let p = common::bundled("digits_rbm_pcd.ron");
    let mut s = Session::new(&p).expect("digits");
    for _ in 0..300 {
        s.step().expect("a step");
    }
    let exact = RbmTruth::new(s.params(), 64, 16).log_z;
    let base = base_biases(&s.data().train, 64);
    let engine = ebm_workbench::energy::engine::fast_engine(s.architecture());
    let spec = AisSpec {
        chains: 128,
        temperatures: 3000,
        steps_per_temperature: 1,
        base: BaseKind::Gaussian,
    };
    let est = ais_log_z(
        engine.as_ref(),
        s.params(),
        &base,
        &spec,
        SamplerKind::Gwg,
        &mut rng,
    )
    .expect("AIS");
    check("digits RBM by GWG", est, exact, 128);
}

/// Stochastic binarization: each pixel 1 with probability its grey level, drawn once from
/// the seed. The same seed gives the same bits, another seed others; over the digits the
/// bits' mean is the grey levels' mean (where thresholding at half differs); a preset
/// writes and reads the choice.
#[test]
fn stochastic_binarization_keeps_grey_levels_as_frequencies_and_its_seed() {
    use ebm_workbench::data::Binarize;
    let mut p = common::bundled("digits_rbm_pcd.ron");
    p.data.held_out = 0.0;
    let load = |b: Binarize| {
        let mut q = p.clone();
        q.data.binarize = b;
        Dataset::load(&q.data).expect("binarized digits").train
    };
    let threshold = load(Binarize::Threshold);
    let (a, a_again, b) = (
        load(Binarize::Stochastic(1)),
        load(Binarize::Stochastic(1)),
        load(Binarize::Stochastic(2)),
    );
    assert!(a.iter().all(|v| *v == 0.0 || *v == 1.0));
    assert_eq!(a, a_again, "one seed, one set of bits");
    assert_ne!(a, b, "another seed, other bits");
    let grey = ebm_workbench::data::images::digits().pixels;
    let mean = |v: &[f32]| v.iter().map(|x| f64::from(*x)).sum::<f64>() / v.len() as f64;
    // The split shuffles rows: compare means over the whole set.
    let (m_grey, m_a, m_t) = (mean(&grey), mean(&a), mean(&threshold));
    eprintln!("mean grey {m_grey:.4}, stochastic bits {m_a:.4}, thresholded {m_t:.4}");
    assert!((m_a - m_grey).abs() < 0.005, "{m_a} against {m_grey}");
    assert!((m_t - m_grey).abs() > 0.01, "thresholding differs: {m_t}");
    let mut q = common::bundled("digits_rbm_pcd.ron");
    assert!(
        !q.to_ron().contains("binarize"),
        "the default is not written"
    );
    q.data.binarize = Binarize::Stochastic(7);
    let text = q.to_ron();
    assert!(text.contains("binarize: Stochastic(7)"), "{text}");
    assert_eq!(
        ebm_workbench::Preset::from_ron(&text)
            .unwrap()
            .data
            .binarize,
        Binarize::Stochastic(7)
    );
}

/// `sample` on bits: a model trained on bits draws 0/1 rows by its own Gibbs sweeps or
/// by `--sampler gwg`, and refuses a rule that moves points; a Bernoulli RBM file written
/// by another program (no experiment, no data) samples by block Gibbs from coin flips;
/// a Gaussian one gives real rows.
#[test]
fn sample_draws_bits_from_bits_models_and_from_another_programs_rbm() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("bars.safetensors");
    let p = common::bundled("bars_stripes_gibbs.ron");
    let mut s = Session::new(&p).expect("bars");
    for _ in 0..50 {
        s.step().expect("a step");
    }
    ebm_workbench::export::save(
        &model,
        s.preset(),
        &s.data().space.input_shape(),
        s.params(),
    )
    .unwrap();
    let csv = dir.path().join("draws.csv");
    let rows_of = |path: &std::path::Path, d: usize| -> Vec<Vec<f32>> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| l.split(',').skip(3).map(|v| v.parse().unwrap()).collect())
            .inspect(|r: &Vec<f32>| assert_eq!(r.len(), d))
            .collect()
    };
    for rule in [None, Some("gwg")] {
        let mut cmd = common::bin();
        cmd.arg("sample")
            .arg(&model)
            .args(["--chains", "4", "--steps", "40", "--out"])
            .arg(&csv);
        if let Some(r) = rule {
            cmd.args(["--sampler", r]);
        }
        let out = common::stdout_of(&mut cmd);
        let want = if rule.is_some() {
            "sampler=Gwg"
        } else {
            "sampler=Gibbs"
        };
        assert!(out.contains(want), "{out}");
        let rows = rows_of(&csv, 16);
        assert_eq!(rows.len(), 4 * 20);
        assert!(rows.iter().flatten().all(|v| *v == 0.0 || *v == 1.0));
    }
    let refused = common::bin()
        .arg("sample")
        .arg(&model)
        .args(["--sampler", "mala", "--out"])
        .arg(&csv)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let e = String::from_utf8_lossy(&refused.stderr);
    assert!(e.contains("choose Gibbs"), "{e}");

    // Another program's RBMs: the three tensors and the metadata, no experiment.
    let (n, m) = (12, 5);
    let w: Vec<f32> = (0..m * n)
        .map(|i| 0.4 * ((i * 37 % 11) as f32 - 5.0) / 5.0)
        .collect();
    let (b, c) = (vec![0.0_f32; n], vec![0.0_f32; m]);
    for (name, meta) in [
        ("bern.safetensors", vec![("energy", "rbm_bernoulli")]),
        (
            "gauss.safetensors",
            vec![("energy", "rbm_gaussian"), ("sigma", "0.5")],
        ),
    ] {
        let path = dir.path().join(name);
        common::write_rbm_file(&path, (m, n), (&w, &b, &c), &meta);
        let out = common::stdout_of(
            common::bin()
                .arg("sample")
                .arg(&path)
                .args(["--chains", "4", "--steps", "40", "--out"])
                .arg(&csv),
        );
        assert!(out.contains("sampler=BlockGibbs"), "{out}");
        let rows = rows_of(&csv, n);
        let bits = rows.iter().flatten().all(|v| *v == 0.0 || *v == 1.0);
        assert_eq!(bits, name == "bern.safetensors", "{name}: {:?}", rows[0]);
    }
}

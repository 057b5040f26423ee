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

//! The Gaussian–Bernoulli RBM (DESIGN §8): real visible units of fixed deviation σ,
//! binary hidden units. Each hidden state's Gaussian integrates in closed form, so log Z,
//! the exact sample term and exact draws are sums over the hidden states in any visible
//! dimension: the continuous images' model of known log Z.

mod common;

use ebm_workbench::Session;
use ebm_workbench::energy::engine::{CandleEngine, Engine};
use ebm_workbench::energy::{Architecture, LayerSpec, ModelSpec, Visible};
use ebm_workbench::eval::rbm::RbmTruth;
use ebm_workbench::eval::{Method, exact};
use ebm_workbench::sampler::{Init, Sampler, SamplerKind, SamplerSpec};
use rand::SeedableRng as _;
use rand::rngs::StdRng;

/// A Gaussian RBM of `hidden` units on `visible` reals of deviation `sigma`, its
/// parameters uniform in ±`scale`/2.
fn grbm(
    visible: usize,
    hidden: usize,
    sigma: f32,
    scale: f32,
    seed: u64,
) -> (Architecture, Vec<f32>) {
    let spec = ModelSpec {
        layers: vec![LayerSpec::Rbm {
            hidden,
            visible: Visible::Gaussian(sigma),
        }],
        outputs: 1,
        gaussian: None,
    };
    let arch = Architecture::new(&spec, visible);
    assert_eq!(arch.visible, Visible::Gaussian(sigma));
    let mut rng = StdRng::seed_from_u64(seed);
    let p: Vec<f32> = (0..arch.n_params)
        .map(|_| scale * (rand::Rng::random::<f32>(&mut rng) - 0.5))
        .collect();
    (arch, p)
}

/// log Σ exp over `terms`.
fn log_sum_exp(terms: &[f64]) -> f64 {
    let top = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    top + terms.iter().map(|t| (t - top).exp()).sum::<f64>().ln()
}

/// log Z by the hidden sum against the integral of exp(−F(v)) by the midpoint rule, with
/// F from the engine: in one visible dimension (6 hidden units, 40 000 cells over ±10)
/// and two (5 hidden units, 1 200² cells over ±7).
#[test]
fn gaussian_rbm_log_z_is_the_numerical_integral_in_one_and_two_dimensions() {
    for (n, m, sigma, cells, half) in [(1, 6, 0.5, 40_000, 10.0), (2, 5, 0.3, 1_200, 7.0)] {
        let (arch, params) = grbm(n, m, sigma, 2.0, 11 + n as u64);
        let t = RbmTruth::with_units(&params, n, m, arch.visible);
        let mut engine = ebm_workbench::energy::engine::fast_engine(&arch);
        assert_eq!(engine.name(), "RBM");
        let h = 2.0 * half / cells as f64;
        let centre = |i: usize| (-half + (i as f64 + 0.5) * h) as f32;
        let x: Vec<f32> = if n == 1 {
            (0..cells).map(centre).collect()
        } else {
            (0..cells * cells)
                .flat_map(|k| [centre(k / cells), centre(k % cells)])
                .collect()
        };
        let mut e = vec![0.0_f32; x.len() / n];
        engine.energy(&params, &x, &mut e).expect("a Gaussian RBM");
        let terms: Vec<f64> = e.iter().map(|v| -f64::from(*v)).collect();
        let integral = log_sum_exp(&terms) + n as f64 * h.ln();
        eprintln!("{n}-D: hidden sum {:.6}, integral {integral:.6}", t.log_z);
        assert!(
            (t.log_z - integral).abs() < 2e-4,
            "{n}-D: hidden sum {} against the integral {integral}",
            t.log_z
        );
    }
}

/// The engine's free energy, ∇ᵥF and weighted parameter gradients of a Gaussian RBM are
/// candle autograd's of the same free energy.
#[test]
fn the_gaussian_rbm_engine_agrees_with_candle_autograd() {
    let (n, m) = (12, 7);
    let (arch, params) = grbm(n, m, 0.4, 2.0, 4);
    let mut fast = ebm_workbench::energy::engine::fast_engine(&arch);
    let mut candle = CandleEngine::new(&arch, candle_core::Device::Cpu);
    let rows = 9;
    let mut rng = StdRng::seed_from_u64(8);
    let x: Vec<f32> = (0..rows * n)
        .map(|_| 2.0 * rand::Rng::random::<f32>(&mut rng) - 0.5)
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
    let w: Vec<f32> = (0..rows).map(|r| 0.1 + 0.05 * r as f32).collect();
    let (mut p1, mut p2) = (vec![0.0; arch.n_params], vec![0.0; arch.n_params]);
    fast.weighted_param_grad(&params, &x, &w, &mut p1)
        .expect("rbm");
    candle
        .weighted_param_grad(&params, &x, &w, &mut p2)
        .expect("candle");
    close(&p1, &p2, "Σ w ∂F/∂θ");
}

/// Per-dimension means and the mean of v₀·v₁ of rows of `n`.
fn moments(x: &[f32], n: usize) -> Vec<f64> {
    let rows = (x.len() / n) as f64;
    let mut out = vec![0.0; n + 1];
    for r in x.chunks_exact(n) {
        for (o, v) in out.iter_mut().zip(r) {
            *o += f64::from(*v) / rows;
        }
        out[n] += f64::from(r[0] * r[1]) / rows;
    }
    out
}

/// The exact sample term is the mean of ∂F/∂θ over exact draws (200 000 of them), and
/// block Gibbs chains (h given v, then v given h) started far off reach the model: their
/// means and a second moment match exact draws' within the Monte-Carlo error.
#[test]
fn the_exact_sample_term_is_the_mean_over_draws_and_block_gibbs_reaches_the_model() {
    let (n, m) = (6, 5);
    let (arch, params) = grbm(n, m, 0.5, 3.0, 29);
    let t = RbmTruth::with_units(&params, n, m, arch.visible);
    let mut engine = ebm_workbench::energy::engine::fast_engine(&arch);
    let draws = 200_000;
    let mut rng = StdRng::seed_from_u64(3);
    let mut x = vec![0.0_f32; draws * n];
    t.sample(&params, &mut x, &mut rng);
    let weights = vec![1.0 / draws as f32; draws];
    let mut mean_grad = vec![0.0_f32; arch.n_params];
    engine
        .weighted_param_grad(&params, &x, &weights, &mut mean_grad)
        .expect("rbm");
    let exact_term = t.sample_term(&params);
    let (cos, rel) = exact::compare(&mean_grad, &exact_term);
    eprintln!("sample term: draws against the hidden sum: cos {cos:.6}, relative error {rel:.5}");
    assert!(
        cos > 0.9999 && rel < 0.01,
        "cos {cos}, relative error {rel}"
    );

    let chains = 20_000;
    let mut y: Vec<f32> = (0..chains * n).map(|i| 3.0 + (i % 7) as f32).collect();
    let spec = SamplerSpec {
        kind: SamplerKind::BlockGibbs,
        steps: 60,
        init: Init::Noise,
        ..SamplerSpec::default()
    };
    let data_box = ebm_workbench::data::DataBox {
        lo: vec![-5.0; n],
        hi: vec![5.0; n],
        bits: false,
    };
    let before = moments(&y, n);
    Sampler::new(engine.as_ref())
        .run(&spec, &params, &mut y, &data_box, &mut rng, None)
        .expect("a Gaussian RBM");
    let (want, got) = (moments(&x, n), moments(&y, n));
    eprintln!("moments: start {before:.3?}, block Gibbs {got:.3?}, exact {want:.3?}");
    for (k, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(
            (g - w).abs() < 0.03,
            "moment {k}: block Gibbs {g} against exact {w}"
        );
    }
    assert!(
        (before[0] - want[0]).abs() > 1.0,
        "the chains start far off"
    );
}

/// digits_grbm: a Gaussian RBM on the digits as real pixels, every NLL exact by the hidden
/// sum and falling under PCD, the exact sample term beside PCD's; its model file declares
/// `rbm_gaussian` with σ and reads back to the same NLL; a file of the three tensors
/// written by another program with that metadata is a Gaussian RBM, and one without σ
/// is refused by name. Bernoulli and Gaussian units each refuse the other's data.
#[test]
fn digits_grbm_has_an_exact_nll_that_falls_and_its_file_names_sigma() {
    let p = common::bundled("digits_grbm.ron");
    let mut s = Session::new(&p).expect("a Gaussian RBM on images");
    assert_eq!(s.engine_name(), "RBM");
    assert_eq!(s.evaluator().method(), Method::Enumeration);
    assert!(s.has_exact_truth());
    let first = s.evaluate();
    assert!(first.verdict.trusted());
    let mut last = None;
    for _ in 0..500 {
        let m = s.step().expect("a step");
        if m.nll.is_some() {
            let cos = m
                .sample_term_cos_exact
                .expect("the exact sample term on images");
            assert!(cos > 0.5, "PCD follows the exact sample term: {cos}");
            last = m.nll;
        }
    }
    let nll = last.expect("evaluated");
    let bpd = s.data().bits_per_dim(nll).expect("images");
    eprintln!(
        "digits GRBM: exact NLL {:.3} -> {nll:.3} nats ({bpd:.3} bits/dim) after 500 steps",
        first.nll
    );
    assert!(first.nll > 60.0 && nll < 15.0, "{} -> {nll}", first.nll);

    // The file: σ in the metadata, the same NLL read back.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grbm.safetensors");
    ebm_workbench::export::save(&path, s.preset(), &s.data().space.input_shape(), s.params())
        .expect("saved");
    let bytes = std::fs::read(&path).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let meta = meta.metadata().clone().unwrap();
    assert_eq!(meta.get("energy").map(String::as_str), Some("rbm_gaussian"));
    assert_eq!(meta.get("sigma").map(String::as_str), Some("0.3"));
    let back = ebm_workbench::export::load(&path).expect("reads back");
    assert_eq!(
        back.preset.model.rbm_visible(),
        Some(Visible::Gaussian(0.3))
    );
    let mut again = Session::for_model(&back).expect("a session of the file");
    let nll_back = again.evaluate().nll;
    assert!((nll_back - s.evaluate().nll).abs() < 1e-6, "{nll_back}");

    // Another program's file: the three tensors, `energy` and `sigma` in the metadata.
    let (n, m) = (64, 16);
    let params = s.params().to_vec();
    let write = |name: &str, meta: &[(&str, &str)]| {
        let path = dir.path().join(name);
        common::write_rbm_file(
            &path,
            (m, n),
            (
                &params[..m * n],
                &params[m * n..m * n + n],
                &params[m * n + n..],
            ),
            meta,
        );
        path
    };
    let foreign = write(
        "foreign.safetensors",
        &[
            ("energy", "rbm_gaussian"),
            ("sigma", "0.3"),
            ("input_shape", "[1, 8, 8]"),
        ],
    );
    let model = ebm_workbench::export::load(&foreign).expect("a Gaussian RBM file");
    assert!(!model.described);
    assert_eq!(
        model.preset.model.rbm_visible(),
        Some(Visible::Gaussian(0.3))
    );
    assert_eq!(
        model.space(),
        ebm_workbench::data::Space::Image { c: 1, h: 8, w: 8 }
    );
    assert_eq!(model.params, params);
    let no_sigma = write("no_sigma.safetensors", &[("energy", "rbm_gaussian")]);
    let e = ebm_workbench::export::load(&no_sigma)
        .expect_err("σ missing")
        .to_string();
    assert!(
        e.contains("no_sigma.safetensors") && e.contains("`sigma` is missing"),
        "{e}"
    );

    // Each kind of visible unit refuses the other's data, naming the choice.
    let mut bern = p.clone();
    bern.model.layers = vec![LayerSpec::Rbm {
        hidden: 16,
        visible: Visible::Bernoulli,
    }];
    let e = Session::new(&bern).expect_err("binary units on real pixels");
    assert!(e.to_string().contains("Gaussian(sigma)"), "{e}");
    let mut gauss = common::bundled("digits_rbm_pcd.ron");
    gauss.model.layers = p.model.layers.clone();
    gauss.sampler.kind = SamplerKind::BlockGibbs;
    let e = Session::new(&gauss).expect_err("Gaussian units on bits");
    assert!(e.to_string().contains("Rbm(visible: Bernoulli)"), "{e}");
}

/// digits_convergent: an MLP tilting a Gaussian (E = f + ‖x‖²/(2σ²)), learned at T = 1
/// by MALA from a persistent buffer, has a trusted AIS NLL on the same held-out digits as
/// digits_grbm, below the Gaussian RBM's exact one after as many steps. The tilt adds
/// exactly ‖x‖²/(2σ²) to the network's energy and x/σ² to its gradient.
#[test]
fn digits_convergent_has_a_trusted_ais_nll_to_set_beside_the_grbms_exact_one() {
    let p = common::bundled("digits_convergent.ron");
    let mut s = Session::new(&p).expect("digits");
    let mut g = Session::new(&common::bundled("digits_grbm.ron")).expect("digits");
    assert_eq!(s.data().test, g.data().test, "the same held-out digits");
    assert_eq!(s.evaluator().method(), Method::Ais);

    // The tilt, against the network alone.
    let mut plain = p.model.clone();
    plain.gaussian = None;
    let shape = s.data().space.input_shape();
    let arch = Architecture::for_shape(&plain, &shape).unwrap();
    let mut bare = ebm_workbench::energy::engine::fast_engine(&arch);
    let mut tilted = ebm_workbench::energy::engine::fast_engine(s.architecture());
    let x = &s.data().test[..3 * 64];
    let (mut e0, mut g0) = (vec![0.0; 3], vec![0.0; 3 * 64]);
    let (mut e1, mut g1) = (vec![0.0; 3], vec![0.0; 3 * 64]);
    bare.energy_grad_x(s.params(), x, None, &mut e0, &mut g0)
        .unwrap();
    tilted
        .energy_grad_x(s.params(), x, None, &mut e1, &mut g1)
        .unwrap();
    let inv_var = 1.0 / (0.3_f32 * 0.3);
    for r in 0..3 {
        let row = &x[r * 64..(r + 1) * 64];
        let q: f32 = 0.5 * inv_var * row.iter().map(|v| v * v).sum::<f32>();
        assert!(
            (e1[r] - e0[r] - q).abs() < 1e-3 * (1.0 + q),
            "{} {} {q}",
            e1[r],
            e0[r]
        );
        for (k, xk) in row.iter().enumerate() {
            let i = r * 64 + k;
            assert!((g1[i] - g0[i] - inv_var * xk).abs() < 1e-4 * (1.0 + g1[i].abs()));
        }
    }

    let (mut last, mut last_g) = (None, None);
    for _ in 0..1000 {
        if let Some(e) = s.step().expect("a step").nll {
            last = Some(e);
        }
        if let Some(e) = g.step().expect("a step").nll {
            last_g = Some(e);
        }
    }
    let e = s.evaluate();
    let exact = last_g.expect("evaluated");
    eprintln!(
        "after 1000 steps: convergent EBM NLL {:.3} ± {:.3} (ESS {:.1} of 128; last in-run {last:?}), Gaussian RBM exact {exact:.3}",
        e.nll, e.stderr, e.ess
    );
    assert!(e.verdict.trusted(), "{e:?}");
    assert!(e.nll < exact - 5.0, "{} against the GRBM's {exact}", e.nll);
}

/// The tilted engine's one pass of parameter gradients equals the plain route (the
/// tilted energy, then one weighted gradient per set), with the α·E² weights scaled by
/// the tilted energy; and Run AIS on a Gaussian RBM sets its estimate beside the exact
/// log Z of the hidden sum.
#[test]
fn the_tilted_engines_gradients_use_the_tilted_energy_and_ais_meets_the_grbms_exact_log_z() {
    use ebm_workbench::energy::fast::RowWeights;
    let p = common::bundled("digits_convergent.ron");
    let s = Session::new(&p).expect("digits");
    let mut engine = ebm_workbench::energy::engine::fast_engine(s.architecture());
    let x = &s.data().train[..10 * 64];
    let n = s.architecture().n_params;
    let (mut a1, mut b1) = (vec![0.0_f32; n], vec![0.0_f32; n]);
    let mut e = vec![0.0_f32; 10];
    {
        let mut sets = vec![
            (
                RowWeights::Range {
                    rows: 0..5,
                    scale: 0.2,
                },
                a1.as_mut_slice(),
            ),
            (
                RowWeights::EnergyScaled {
                    rows: 0..10,
                    scale: 0.02,
                },
                b1.as_mut_slice(),
            ),
        ];
        engine
            .param_grads(s.params(), x, &mut e, &mut sets)
            .unwrap();
    }
    let mut e2 = vec![0.0_f32; 10];
    engine.energy(s.params(), x, &mut e2).unwrap();
    for (u, v) in e.iter().zip(&e2) {
        assert!((u - v).abs() < 1e-4 * (1.0 + v.abs()), "{u} against {v}");
    }
    let (mut a2, mut b2) = (vec![0.0_f32; n], vec![0.0_f32; n]);
    let wa: Vec<f32> = (0..10).map(|r| if r < 5 { 0.2 } else { 0.0 }).collect();
    let wb: Vec<f32> = e2.iter().map(|v| 0.02 * v).collect();
    engine
        .weighted_param_grad(s.params(), x, &wa, &mut a2)
        .unwrap();
    engine
        .weighted_param_grad(s.params(), x, &wb, &mut b2)
        .unwrap();
    assert!(common::max_rel(&a1, &a2) < 1e-4 && common::max_rel(&b1, &b2) < 1e-4);

    let mut g = Session::new(&common::bundled("digits_grbm.ron")).expect("digits");
    for _ in 0..200 {
        g.step().expect("a step");
    }
    let spec = ebm_workbench::eval::ais::AisSpec {
        chains: 64,
        temperatures: 300,
        ..Default::default()
    };
    let mut rng = StdRng::seed_from_u64(1);
    let (r, exact) = g.ais(&spec, &mut rng);
    let exact = exact.expect("the hidden sum's log Z beside AIS");
    assert!((exact - g.evaluate().log_z).abs() < 1e-9);
    eprintln!(
        "Gaussian RBM: AIS {:.3} ± {:.3} (ESS {:.1}) against exact {exact:.3}",
        r.forward.log_z, r.forward.stderr, r.forward.ess
    );
}

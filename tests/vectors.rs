//! Beyond the plane: data of any dimension train, evaluate by AIS against their true NLL,
//! compare the sampler with a reference sample term, and save their input shape.

mod common;

use ebm_workbench::data::Space;
use ebm_workbench::data::target::Target;
use ebm_workbench::eval::Method;
use ebm_workbench::eval::reference::ReferenceChains;
use ebm_workbench::preset::EngineChoice;
use ebm_workbench::sampler::SamplerKind;
use ebm_workbench::{Preset, Session, export};
use rand::SeedableRng as _;
use rand::rngs::StdRng;

/// The bundled 16-D mixture, shortened and narrowed for a test.
fn mixture(dim: usize, hidden: usize) -> Preset {
    let mut p = common::bundled("mixture_16d.ron");
    p.data.source = ebm_workbench::data::DataSource::Target(Target::Mixture {
        dim,
        components: 8,
        spread: 1.0,
        std: 0.5,
    });
    p.model.layers = common::mlp(hidden);
    p
}

/// The 16-D mixture learns: its NLL by AIS over the data box falls from about 29 nats to
/// within half a nat of the true 13.70; evaluations report the AIS standard error and the
/// sampler's cosine to the reference term (never an exact one), with the reference's R̂.
#[test]
fn a_16d_mixture_learns_to_near_its_true_nll_by_ais() {
    let mut p = mixture(16, 64);
    p.steps = 1500;
    p.eval.eval_every = 500;
    let mut s = Session::new(&p).expect("the target");
    assert_eq!(s.data().space, Space::Vector { d: 16 });
    assert_eq!(s.evaluator().method(), Method::Ais);
    let truth = s.data().true_nll().expect("a known density");
    let initial = s.evaluate();
    assert_eq!(initial.method, Method::Ais);
    assert!(initial.energies.is_empty(), "no grid outside the plane");
    let mut evals = Vec::new();
    for _ in 0..p.steps {
        let m = s.step().expect("training step");
        if m.nll.is_some() {
            assert!(m.sample_term_cos_exact.is_none() && m.sample_term_rel_err.is_none());
            let (c, r) = (
                m.sample_term_cos_reference.expect("a reference cosine"),
                m.reference_rhat.expect("an R-hat"),
            );
            assert!(c > 0.8 && c <= 1.0 + 1e-9, "cosine to the reference {c}");
            assert!(r >= 0.99 && r.is_finite(), "R-hat {r}");
            // The AIS error of a model near its data: a fraction of a nat (the delta
            // method's figure could not exceed 1, so `< 1` said nothing).
            assert!(
                m.nll_stderr.is_some_and(|e| e > 0.0 && e < 0.5),
                "{:?}",
                m.nll_stderr
            );
            // How many of the AIS chains count, beside the error.
            assert!(
                m.nll_ess
                    .is_some_and(|e| e >= 1.0 && e <= p.eval.ais_chains as f64),
                "{:?}",
                m.nll_ess
            );
            assert!(m.kl_gap.is_some());
            assert_eq!(
                m.nll_method,
                Some(Method::Ais),
                "the NLL says how it was got"
            );
            evals.push(m);
        }
    }
    assert_eq!(evals.len(), 3);
    let fin = s.evaluate();
    eprintln!(
        "16-D mixture: NLL {:.3} ± {:.3} -> {:.3} ± {:.3} (weights' ESS {:.1} of {}), true {truth:.3}; reference cosines {:?}",
        initial.nll,
        initial.stderr,
        fin.nll,
        fin.stderr,
        fin.ess,
        p.eval.ais_chains,
        evals
            .iter()
            .map(|m| m.sample_term_cos_reference)
            .collect::<Vec<_>>()
    );
    assert!(initial.nll - fin.nll > 10.0);
    assert!(
        (fin.nll - truth).abs() < 0.5 + 3.0 * fin.stderr,
        "final NLL {} ± {} against the true {truth}",
        fin.nll,
        fin.stderr
    );
}

/// The fast engine and candle autograd follow the same chains and give the same terms
/// and parameters in 2, 10 and 50 dimensions.
#[test]
fn both_engines_agree_in_2_10_and_50_dimensions() {
    for dim in [2, 10, 50] {
        let mut p = mixture(dim, 24);
        p.batch_size = 64;
        p.sampler.steps = 3;
        p.eval.eval_every = 0;
        p.objective.alpha = 0.1;
        let mut fast = Session::new(&p).expect("the target");
        p.engine = EngineChoice::Autograd;
        let mut auto = Session::new(&p).expect("the target");
        for _ in 0..3 {
            let a = fast.step().expect("fast step");
            let b = auto.step().expect("autograd step");
            assert!(
                (a.loss - b.loss).abs() < 1e-4 * (1.0 + a.loss.abs()),
                "dim {dim}"
            );
            assert_eq!(a.acceptance, b.acceptance, "dim {dim}");
        }
        let worst = common::worst_rel;
        assert!(
            worst(fast.samples(), auto.samples()) < 1e-4,
            "dim {dim}: chains"
        );
        assert!(
            worst(fast.terms().1, auto.terms().1) < 1e-4,
            "dim {dim}: terms"
        );
        assert!(
            worst(fast.params(), auto.params()) < 1e-5,
            "dim {dim}: parameters"
        );
    }
}

/// The reference sample term is checked where the truth is known: in the plane its MALA
/// chains give nearly the exact sample term of a trained model (from the replay buffer,
/// 200 steps of burn-in that adapt the step, then 200 draws that R̂ judges).
#[test]
fn the_reference_term_matches_the_exact_one_in_the_plane() {
    let (s, m) = trained_in_the_plane();
    let (arch, params) = (s.architecture().clone(), s.params().to_vec());
    let exact = ebm_workbench::eval::exact::exact_sample_term(
        &mut ebm_workbench::energy::engine::FastEngine::new(&arch),
        &params,
        &m,
    )
    .expect("the fast engine");
    let buffer = s.replay_buffer().expect("a buffer").points[..2 * 1024].to_vec();
    let mut chains = ReferenceChains::new(buffer, 2, 0.05);
    let mut rng = StdRng::seed_from_u64(4);
    let mut engine = ebm_workbench::energy::engine::FastEngine::new(&arch);
    let r = chains
        .advance(&mut engine, &params, 400, None, &mut rng)
        .expect("the fast engine");
    let (cos, err) = ebm_workbench::eval::exact::compare(&r.term, &exact);
    eprintln!(
        "reference vs exact: cos {cos:.4}, relative error {err:.3}, R-hat {:.3}, acceptance {:.2}",
        r.rhat, r.acceptance
    );
    assert!(cos > 0.97 && err < 0.3, "cos {cos}, error {err}");
    assert!((0.4..0.8).contains(&r.acceptance), "{}", r.acceptance);
    assert!(r.rhat < 1.2, "R-hat {}", r.rhat);
}

/// The 8 gaussians learnt for 300 steps by a small network, and its exact grid (256²).
fn trained_in_the_plane() -> (Session, ebm_workbench::eval::exact::GridModel) {
    let mut p = common::small(32);
    p.eval.eval_every = 0;
    let mut s = Session::new(&p).expect("toy data");
    for _ in 0..300 {
        s.step().expect("training step");
    }
    let m = ebm_workbench::eval::exact::grid_model(
        &mut ebm_workbench::energy::engine::FastEngine::new(s.architecture()),
        s.params(),
        &s.data().data_box,
        256,
    )
    .expect("the fast engine");
    (s, m)
}

/// The reference chains draw from the model itself: in the plane, 8 192 chains started
/// from exact draws of a trained model (so that any drift is the kernel's own) and kept
/// in the data box (the grid's domain) end 200 steps later with the exact mean energy and
/// quadrant masses (about the box's centre), within four standard errors. A Langevin
/// proposal accepted without its proposal correction drifts to another law, which these
/// figures tell apart (19 standard errors) where the sample term's cosine (0.98 against
/// 0.995) does not.
#[test]
fn the_reference_chains_draw_from_the_model_in_the_plane() {
    let (s, m) = trained_in_the_plane();
    let (arch, params) = (s.architecture().clone(), s.params().to_vec());
    let b = s.data().data_box.clone();
    let centre: Vec<f32> = b.lo.iter().zip(&b.hi).map(|(l, h)| 0.5 * (l + h)).collect();
    let quadrant = |x: &[f32]| usize::from(x[0] > centre[0]) + 2 * usize::from(x[1] > centre[1]);
    // The exact figures, summed over the grid's cells.
    let (mut e_exact, mut q_exact) = (0.0_f64, [0.0_f64; 4]);
    for ((w, e), x) in m
        .weights
        .iter()
        .zip(&m.energies)
        .zip(m.points.chunks_exact(2))
    {
        e_exact += w * f64::from(*e);
        q_exact[quadrant(x)] += w;
    }
    let mut rng = StdRng::seed_from_u64(4);
    let mut engine = ebm_workbench::energy::engine::FastEngine::new(&arch);
    let n = 8192;
    let mut start = vec![0.0_f32; 2 * n];
    ebm_workbench::eval::exact::sample(&m, &mut start, &mut rng);
    let mut chains = ReferenceChains::new(start, 2, 0.05);
    let r = chains
        .advance(&mut engine, &params, 200, Some(&b), &mut rng)
        .expect("the fast engine");
    let (ends, acceptance) = (&chains.x, r.acceptance);
    let mut e = vec![0.0_f32; n];
    ebm_workbench::energy::engine::Engine::energy(&mut engine, &params, ends, &mut e)
        .expect("the fast engine");
    let nf = n as f64;
    let e_mean = e.iter().map(|v| f64::from(*v)).sum::<f64>() / nf;
    let e_se = (e
        .iter()
        .map(|v| (f64::from(*v) - e_mean).powi(2))
        .sum::<f64>()
        / (nf - 1.0))
        .sqrt()
        / nf.sqrt();
    let mut q = [0.0_f64; 4];
    for x in ends.chunks_exact(2) {
        q[quadrant(x)] += 1.0 / nf;
    }
    eprintln!(
        "{n} reference chains: mean E {e_mean:.4} ± {e_se:.4} (exact {e_exact:.4}); quadrants {q:.4?} (exact {q_exact:.4?}); acceptance {acceptance:.2}"
    );
    assert!(
        (e_mean - e_exact).abs() < 4.0 * e_se,
        "mean energy {e_mean} ± {e_se} against the exact {e_exact}"
    );
    for (k, (got, want)) in q.iter().zip(&q_exact).enumerate() {
        let se = (want * (1.0 - want) / nf).sqrt();
        assert!(
            (got - want).abs() < 4.0 * se,
            "quadrant {k}: mass {got} against the exact {want} ± {se}"
        );
    }
}

/// The exact sampler needs a grid: outside the plane it is refused, naming the data.
#[test]
fn the_exact_sampler_is_refused_outside_the_plane() {
    let mut p = mixture(10, 8);
    p.sampler.kind = SamplerKind::Exact;
    let e = Session::new(&p).expect_err("refused").to_string();
    assert!(
        e.contains("mixture_10d") && e.contains("Exact") && e.contains("10-D vectors"),
        "{e}"
    );
}

/// Model files record the input shape; files without it are read as 2-D, and a shape
/// that is not one is named.
#[test]
fn model_files_record_their_input_shape() {
    let dir = tempfile::tempdir().expect("a folder");
    let mut p = mixture(10, 16);
    p.eval.eval_every = 0;
    let mut s = Session::new(&p).expect("the target");
    s.step().expect("a step");
    let path = dir.path().join("m10.safetensors");
    export::save(&path, s.preset(), &s.data().space.input_shape(), s.params()).unwrap();
    let m = export::load(&path).unwrap();
    assert_eq!(m.input_shape, vec![10]);
    assert_eq!(m.space(), Space::Vector { d: 10 });
    let bytes = std::fs::read(&path).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    assert_eq!(meta.metadata().as_ref().unwrap()["input_shape"], "[10]");
    let x: Vec<f32> = (0..50).map(|i| (i as f32 * 0.3).sin()).collect();
    let mut back = Session::from_params(&m.preset, m.params).unwrap();
    assert_eq!(back.energy(&x), s.energy(&x));

    // The same file claiming another shape: its tensors no longer fit, and it says so.
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = String::from_utf8(bytes[8..8 + header_len].to_vec()).unwrap();
    for (claim, what) in [("[12]", "layers.0.weight"), ("[ten]", "input_shape")] {
        let new_header = header.replace(
            "\"input_shape\":\"[10]\"",
            &format!("\"input_shape\":\"{claim}\""),
        );
        assert_ne!(new_header, header);
        let mut out = (new_header.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(new_header.as_bytes());
        out.extend_from_slice(&bytes[8 + header_len..]);
        let bad = dir.path().join("bad.safetensors");
        std::fs::write(&bad, out).unwrap();
        let e = export::load(&bad).unwrap_err().to_string();
        assert!(e.contains("bad.safetensors") && e.contains(what), "{e}");
    }
}

/// Evaluation, AIS, classification and class-conditional sampling go through the engine
/// the preset chose: the candle engine gives the fast engine's figures on the same
/// parameters, in the plane (quadrature, JEM's accuracy, p(x | y)) and in 10-D (AIS).
#[test]
fn evaluation_goes_through_the_chosen_engine() {
    // A JEM classifier in the plane.
    let mut p = common::small(32);
    p.model.outputs = 8;
    p.objective.kind = ebm_workbench::preset::ObjectiveKind::Jem { ce_weight: 1.0 };
    p.optimizer.lr = 3e-3;
    p.eval.eval_every = 0;
    let mut fast = Session::new(&p).expect("toy data");
    for _ in 0..400 {
        fast.step().expect("training step");
    }
    let mut q = p.clone();
    q.engine = EngineChoice::Autograd;
    let mut auto = Session::new(&q).expect("toy data");
    auto.set_params(fast.params().to_vec());
    assert_eq!(fast.engine_name(), "fast");
    assert_eq!(auto.engine_name(), "candle (CPU)");
    let (a, b) = (fast.evaluate(), auto.evaluate());
    assert!(
        (a.log_z - b.log_z).abs() < 1e-4 && (a.nll - b.nll).abs() < 1e-4,
        "{} vs {}",
        a.nll,
        b.nll
    );
    let (ca, cb) = (fast.classify().unwrap(), auto.classify().unwrap());
    assert!((ca.accuracy - cb.accuracy).abs() < 0.01 && (ca.ece - cb.ece).abs() < 0.01);
    let mut ws = ebm_workbench::energy::fast::Workspace::new(auto.architecture());
    let params = fast.params().to_vec();
    let mut hits = |xs: &[f32]| {
        let (mut e, mut probs) = (vec![0.0; 200], vec![0.0; 200 * 8]);
        ws.class_probs(&params, xs, &mut e, &mut probs);
        probs
            .chunks_exact(8)
            .filter(|r| ebm_workbench::energy::argmax(r).0 == 2)
            .count()
    };
    let by_candle = hits(&auto.class_samples(2, 200, 100).expect("a classifier"));
    let by_fast = hits(&fast.class_samples(2, 200, 100).expect("a classifier"));
    eprintln!("draws from p(x | 2) classified as 2: candle {by_candle}, fast {by_fast} of 200");
    assert!(by_candle > 150 && by_fast > 150);
    assert!(auto.device_message.is_none(), "{:?}", auto.device_message);

    // AIS in 10-D: the same estimate from both engines with the same random numbers.
    let mut p = mixture(10, 16);
    p.eval.eval_every = 0;
    p.eval.ais_temperatures = 30;
    let mut fast = Session::new(&p).expect("the target");
    fast.step().expect("a step");
    p.engine = EngineChoice::Autograd;
    let mut auto = Session::new(&p).expect("the target");
    auto.set_params(fast.params().to_vec());
    let spec = p.eval.ais_spec(ebm_workbench::eval::ais::BaseKind::DataBox);
    let (ra, _) = fast.ais(&spec, &mut StdRng::seed_from_u64(1));
    let (rb, _) = auto.ais(&spec, &mut StdRng::seed_from_u64(1));
    assert!(
        (ra.forward.log_z - rb.forward.log_z).abs() < 1e-3,
        "AIS fast {} vs candle {}",
        ra.forward.log_z,
        rb.forward.log_z
    );
}

/// Clamping keeps every coordinate in the box, in both engines (SGLD and Langevin project
/// back onto it; the reference chains reject moves out of it).
#[test]
fn clamping_keeps_every_coordinate_in_the_box() {
    let mut p = mixture(10, 16);
    p.sampler.kind = SamplerKind::Sgld {
        step_size: 0.05,
        noise: 3.0,
    };
    p.sampler.clamp = true;
    p.batch_size = 64;
    p.eval.eval_every = 0;
    for engine in [EngineChoice::Fast, EngineChoice::Autograd] {
        p.engine = engine;
        let mut s = Session::new(&p).expect("the target");
        s.step().expect("a step");
        let b = s.data().data_box.clone();
        let outside = s
            .samples()
            .chunks_exact(10)
            .filter(|r| !b.contains(r))
            .count();
        assert_eq!(outside, 0, "{engine:?}: chains left the box");
    }
}

/// A target's box holds every drawn point (the funnel's x_i reach far out when v is
/// large), so the data term and the clamped sampler see the same region.
#[test]
fn a_targets_box_holds_all_of_its_data() {
    for t in [
        Target::Funnel { dim: 10 },
        Target::ManyWell { dim: 8 },
        Target::Mixture {
            dim: 6,
            components: 3,
            spread: 2.0,
            std: 0.3,
        },
    ] {
        let spec = ebm_workbench::data::DataSpec {
            source: ebm_workbench::data::DataSource::Target(t.clone()),
            size: 5000,
            ..ebm_workbench::data::DataSpec::default()
        };
        let d = ebm_workbench::data::Dataset::load(&spec).expect("the target");
        let b = &d.data_box;
        let rows = d
            .train
            .chunks_exact(d.dim)
            .chain(d.test.chunks_exact(d.dim));
        assert!(
            rows.clone().all(|r| b.contains(r)),
            "{t:?}: points outside the box"
        );
        let (lo, _) = t.bounds();
        assert!(
            b.lo.iter().zip(&lo).all(|(a, l)| a <= l),
            "{t:?}: box narrower than the target's"
        );
    }
}

/// E(x) = ½ Σ aⱼ xⱼ², as an engine (the reference chains take any engine): exact draws
/// are N(0, diag(1/a)), and E's mean under the model is d/2.
#[derive(Debug, Clone)]
struct Quadratic {
    a: Vec<f32>,
    arch: ebm_workbench::energy::Architecture,
}

impl Quadratic {
    fn new(a: Vec<f32>) -> Self {
        let spec = ebm_workbench::energy::ModelSpec {
            layers: Vec::new(),
            outputs: 1,
            gaussian: None,
        };
        let arch = ebm_workbench::energy::Architecture::new(&spec, a.len());
        Self { a, arch }
    }
}

impl ebm_workbench::energy::engine::Engine for Quadratic {
    fn name(&self) -> String {
        "quadratic".into()
    }
    fn architecture(&self) -> &ebm_workbench::energy::Architecture {
        &self.arch
    }
    fn energy(&mut self, _: &[f32], x: &[f32], e: &mut [f32]) -> Result<(), String> {
        let mut g = vec![0.0; x.len()];
        self.energy_grad_x(&[], x, None, e, &mut g)
    }
    fn energy_grad_x(
        &mut self,
        _: &[f32],
        x: &[f32],
        _: Option<usize>,
        e: &mut [f32],
        g: &mut [f32],
    ) -> Result<(), String> {
        common::quadratic(&self.a, x, e, g);
        Ok(())
    }
    fn weighted_param_grad(
        &mut self,
        _: &[f32],
        _: &[f32],
        _: &[f32],
        _: &mut [f32],
    ) -> Result<(), String> {
        Ok(())
    }
    fn class_probs(
        &mut self,
        _: &[f32],
        _: &[f32],
        _: &mut [f32],
        _: &mut [f32],
    ) -> Result<(), String> {
        Err("no classes".into())
    }
    fn cross_entropy_grads(
        &mut self,
        _: &[f32],
        _: &[f32],
        _: &[u32],
        _: f32,
        _: &mut [f32],
    ) -> Result<(f64, usize), String> {
        Err("no classes".into())
    }
    fn box_clone(&self) -> Box<dyn ebm_workbench::energy::engine::Engine> {
        Box::new(self.clone())
    }
}

/// The reference chains' step adapts during a burn-in, then stays put for the draws. A
/// step that keeps adapting to the chains' own acceptance makes a kernel that no longer
/// leaves the model invariant. With one chain per set (each accepted move lengthens the
/// step by 8 %, each rejection shortens it by 11 %, so the step follows where the chain
/// is), 131 072 sets on E = x²/2 started from exact draws, 200 steps each, end with
/// E[x²] = 1.030 ± 0.004 and P(|x| > 1) = 0.327 ± 0.001 (exact 1 and 0.317, both 8
/// standard errors off) when the step adapts throughout; frozen after the burn-in, 0.998
/// and 0.317.
#[test]
fn the_reference_chains_step_is_frozen_for_the_draws() {
    use rand_distr::{Distribution as _, StandardNormal};
    let mut engine = Quadratic::new(vec![1.0]);
    let mut rng = StdRng::seed_from_u64(4);
    let sets = 131_072;
    let mut ends = Vec::with_capacity(sets);
    for _ in 0..sets {
        let start: f32 = StandardNormal.sample(&mut rng);
        let mut c = ReferenceChains::new(vec![start], 1, 0.05);
        c.advance(&mut engine, &[], 200, None, &mut rng)
            .expect("a closed form");
        ends.push(f64::from(c.x[0]));
    }
    let n = sets as f64;
    let second = ends.iter().map(|x| x * x).sum::<f64>() / n;
    let outside = ends.iter().filter(|x| x.abs() > 1.0).count() as f64 / n;
    // Var(x²) = 2 and P(|x| > 1) = 0.3173 under N(0, 1).
    let (se2, p1) = ((2.0 / n).sqrt(), 0.317_310_507_9);
    let se1 = (p1 * (1.0 - p1) / n).sqrt();
    eprintln!(
        "E[x²] {second:.4} ± {se2:.4} (exact 1), P(|x| > 1) {outside:.4} ± {se1:.4} (exact {p1:.4})"
    );
    assert!((second - 1.0).abs() < 4.0 * se2, "E[x²] = {second} ± {se2}");
    assert!(
        (outside - p1).abs() < 4.0 * se1,
        "P(|x| > 1) = {outside} ± {se1}"
    );
}

/// R̂ and the acceptance rate judge the draws, not the burn-in: 64 chains started
/// together far out in the tail of E = x²/2 (x = 30, a step of 0.05 to adapt from) fall
/// towards the mode during the first of their 100 steps, with nearly every move
/// accepted. Over the 50 draws after the burn-in R̂ is 1.02 and the acceptance 0.70;
/// counted from the start they would read 1.09 and 0.81.
#[test]
fn the_reference_chains_diagnostics_cover_the_draws() {
    let mut engine = Quadratic::new(vec![1.0]);
    let mut rng = StdRng::seed_from_u64(5);
    let mut c = ReferenceChains::new(vec![30.0; 64], 1, 0.05);
    let r = c
        .advance(&mut engine, &[], 100, None, &mut rng)
        .expect("a closed form");
    eprintln!(
        "from x = 30: R-hat {:.3}, acceptance {:.3}, step {:.3}",
        r.rhat, r.acceptance, r.step_size
    );
    assert!(r.rhat < 1.05, "R-hat {}", r.rhat);
    assert!((0.45..0.75).contains(&r.acceptance), "{}", r.acceptance);
}

/// Each space gets its own view, chosen once and bounded: the plane its heat map and the
/// chains as they are (a buffer of 20 000 sent as at most 16 384; the bundled presets
/// keep 10 000), vectors their
/// projection (no grid), images their tiles (no projection computed, no points).
#[test]
fn each_space_gets_its_own_bounded_view() {
    use ebm_workbench::data::projection::ProjectionKind;
    use ebm_workbench::train::view::{PLANE_BUFFER_POINTS, Scene, VIEW_POINTS, ViewBuilder};
    let mut plane = common::bundled("eight_gaussians.ron");
    plane.sampler.init = ebm_workbench::sampler::Init::ReplayBuffer {
        size: 20_000,
        reinit_prob: 0.05,
    };
    let cases = [
        ("plane", plane),
        ("vectors", mixture(16, 16)),
        ("images", common::bundled("digits_jem.ron")),
    ];
    for (name, mut p) in cases {
        p.eval.eval_every = 0;
        let mut s = Session::new(&p).expect("a session");
        s.step().expect("a step");
        let v = ViewBuilder::for_session(&s, ProjectionKind::default(), false).build(&mut s);
        match (&v.scene, name) {
            (Scene::Plane { chains, heat, .. }, "plane") => {
                assert_eq!(heat.energies.len(), heat.grid * heat.grid);
                let (buf, ages) = chains.buffer.as_ref().expect("a buffer");
                assert_eq!(buf.len(), 2 * PLANE_BUFFER_POINTS);
                assert_eq!(ages.len(), PLANE_BUFFER_POINTS);
            }
            (Scene::Projected { chains, data }, "vectors") => {
                assert!(data.data.len() <= 2 * VIEW_POINTS && !data.data.is_empty());
                assert!(chains.samples.len() <= 2 * VIEW_POINTS);
                assert!(v.heat().is_none());
            }
            (Scene::Images(i), "images") => {
                assert_eq!(i.shape, [1, 8, 8]);
                assert!(v.chains().is_none() && v.projection().is_none());
                assert_eq!(v.energy_populations.ood.len(), 512);
            }
            (scene, _) => panic!("{name}: the wrong view {scene:?}"),
        }
    }
}

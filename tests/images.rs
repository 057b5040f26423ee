//! Images: the bundled digits and users' image files, convolutional energies through
//! candle (checked against an independent computation), the samplers' clip, the digits
//! presets' figures, and short run against long run.

mod common;

use common::{bin, bundled, stdout_of};
use ebm_workbench::data::{Dataset, Space};
use ebm_workbench::energy::engine::{CandleEngine, Engine as _};
use ebm_workbench::energy::{Architecture, LayerSpec, ModelSpec, init_params};
use ebm_workbench::preset::EngineChoice;
use ebm_workbench::sampler::{Init, SamplerKind, SamplerSpec};
use ebm_workbench::{Preset, Session};
use rand::SeedableRng as _;
use rand::rngs::StdRng;

/// A small image network: two channels in, a strided convolution, both
/// poolings, a Linear after the feature map; K logits.
fn conv_spec(outputs: usize) -> ModelSpec {
    ModelSpec {
        layers: vec![
            LayerSpec::conv(4, 3, 1, 1),
            LayerSpec::Silu,
            LayerSpec::AvgPool2d(2),
            LayerSpec::conv(5, 3, 2, 1),
            LayerSpec::Tanh,
            LayerSpec::MaxPool2d(2),
            LayerSpec::Linear(7),
            LayerSpec::Softplus,
        ],
        outputs,
        gaussian: None,
    }
}

/// The network's outputs for one C×H×W image, in f64, written from the definitions
/// (cross-correlation with zero padding, weight [out, in, k, k] as in PyTorch; pooling
/// windows of k with stride k), independently of candle.
fn outputs_f64(arch: &Architecture, spec: &ModelSpec, p: &[f64], x: &[f64]) -> Vec<f64> {
    let [c0, h0, w0] = [
        arch.input_shape[0],
        arch.input_shape[1],
        arch.input_shape[2],
    ];
    let (mut c, mut h, mut w) = (c0, h0, w0);
    let mut a: Vec<f64> = x.to_vec();
    let mut params = arch.params.iter();
    let mut layers = spec.layers.clone();
    layers.push(LayerSpec::Linear(spec.outputs));
    for l in layers {
        match l {
            LayerSpec::Conv2d {
                channels,
                kernel: k,
                stride: s,
                padding: pad,
            } => {
                let (wt, b) = (
                    params.next().expect("a parameter"),
                    params.next().expect("a parameter"),
                );
                let (oh, ow) = ((h + 2 * pad - k) / s + 1, (w + 2 * pad - k) / s + 1);
                let mut out = vec![0.0; channels * oh * ow];
                for o in 0..channels {
                    for i in 0..oh {
                        for j in 0..ow {
                            let mut v = p[b.offset + o];
                            for ci in 0..c {
                                for di in 0..k {
                                    for dj in 0..k {
                                        let (y, xx) = (
                                            (i * s + di) as isize - pad as isize,
                                            (j * s + dj) as isize - pad as isize,
                                        );
                                        if y < 0 || xx < 0 || y >= h as isize || xx >= w as isize {
                                            continue;
                                        }
                                        v += p[wt.offset + ((o * c + ci) * k + di) * k + dj]
                                            * a[(ci * h + y as usize) * w + xx as usize];
                                    }
                                }
                            }
                            out[(o * oh + i) * ow + j] = v;
                        }
                    }
                }
                (a, c, h, w) = (out, channels, oh, ow);
            }
            LayerSpec::AvgPool2d(k) | LayerSpec::MaxPool2d(k) => {
                let avg = matches!(l, LayerSpec::AvgPool2d(_));
                let (oh, ow) = (h / k, w / k);
                let mut out = vec![0.0; c * oh * ow];
                for ci in 0..c {
                    for i in 0..oh {
                        for j in 0..ow {
                            let vals =
                                (0..k * k).map(|t| a[(ci * h + i * k + t / k) * w + j * k + t % k]);
                            out[(ci * oh + i) * ow + j] = if avg {
                                vals.sum::<f64>() / (k * k) as f64
                            } else {
                                vals.fold(f64::NEG_INFINITY, f64::max)
                            };
                        }
                    }
                }
                (a, h, w) = (out, oh, ow);
            }
            LayerSpec::Linear(out) => {
                let (wt, b) = (
                    params.next().expect("a parameter"),
                    params.next().expect("a parameter"),
                );
                let n = a.len();
                a = (0..out)
                    .map(|o| {
                        p[b.offset + o]
                            + (0..n).map(|i| p[wt.offset + o * n + i] * a[i]).sum::<f64>()
                    })
                    .collect();
                (c, h, w) = (a.len(), 1, 1);
            }
            LayerSpec::Silu => a.iter_mut().for_each(|v| *v /= 1.0 + (-*v).exp()),
            LayerSpec::Tanh => a.iter_mut().for_each(|v| *v = v.tanh()),
            LayerSpec::Softplus => a.iter_mut().for_each(|v| *v = v.exp().ln_1p()),
            other => panic!("not in this test: {other:?}"),
        }
    }
    a
}

/// E = −logsumexp of the logits (K > 1) or the single output.
fn energy_f64(arch: &Architecture, spec: &ModelSpec, p: &[f64], x: &[f64]) -> f64 {
    let f = outputs_f64(arch, spec, p, x);
    if f.len() == 1 {
        return f[0];
    }
    let m = f.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    -(m + f.iter().map(|v| (v - m).exp()).sum::<f64>().ln())
}

#[test]
fn a_conv_net_computes_what_its_definition_says_and_its_gradients_are_right() {
    let spec = conv_spec(3);
    // 9×11 → conv (pad 1) 9×11 → avg 4×5 → conv stride 2 → 2×3 (the rows leave a
    // remainder the columns do not) → max 1×1: 5 features.
    let arch = Architecture::for_shape(&spec, &[2, 9, 11]).expect("fits");
    assert_eq!(arch.params[0].name, "layers.0.weight");
    assert_eq!(arch.params[0].shape, [4, 2, 3, 3]);
    assert_eq!(arch.params[2].shape, [5, 4, 3, 3]);
    assert_eq!(arch.params[4].shape, [7, 5]);
    let mut rng = StdRng::seed_from_u64(1);
    let params = init_params(&arch, &mut rng);
    let p64: Vec<f64> = params.iter().map(|v| f64::from(*v)).collect();
    let rows = 3;
    let x: Vec<f32> = (0..rows * 198)
        .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
        .collect();
    let mut engine = CandleEngine::new(&arch, candle_core::Device::Cpu);
    let (mut e, mut g) = (vec![0.0; rows], vec![0.0; rows * 198]);
    engine
        .energy_grad_x(&params, &x, None, &mut e, &mut g)
        .expect("candle runs it");
    for r in 0..rows {
        let xr: Vec<f64> = x[r * 198..(r + 1) * 198]
            .iter()
            .map(|v| f64::from(*v))
            .collect();
        let want = energy_f64(&arch, &spec, &p64, &xr);
        assert!(
            (f64::from(e[r]) - want).abs() < 1e-4,
            "row {r}: candle {} vs {want}",
            e[r]
        );
        // ∇ₓE against central differences of the f64 definition, on a few pixels.
        for j in [0, 17, 80, 99, 197] {
            let h = 1e-4;
            let (mut up, mut dn) = (xr.clone(), xr.clone());
            up[j] += h;
            dn[j] -= h;
            let fd = (energy_f64(&arch, &spec, &p64, &up) - energy_f64(&arch, &spec, &p64, &dn))
                / (2.0 * h);
            let got = f64::from(g[r * 198 + j]);
            assert!(
                (got - fd).abs() < 1e-3 * (1.0 + fd.abs()),
                "row {r}, pixel {j}: ∇ₓE {got} vs {fd}"
            );
        }
    }
    // ∂E/∂θ (summed over rows) against differences, on a weight of every layer.
    let mut grad = vec![0.0; arch.n_params];
    engine
        .weighted_param_grad(&params, &x, &[1.0; 3], &mut grad)
        .expect("candle runs it");
    for e in &arch.params {
        let k = e.offset + e.len / 2;
        let sum = |p: &[f64]| {
            (0..rows)
                .map(|r| {
                    let xr: Vec<f64> = x[r * 198..(r + 1) * 198]
                        .iter()
                        .map(|v| f64::from(*v))
                        .collect();
                    energy_f64(&arch, &spec, p, &xr)
                })
                .sum::<f64>()
        };
        let (mut up, mut dn) = (p64.clone(), p64.clone());
        up[k] += 1e-4;
        dn[k] -= 1e-4;
        let fd = (sum(&up) - sum(&dn)) / 2e-4;
        let got = f64::from(grad[k]);
        assert!(
            (got - fd).abs() < 1e-3 * (1.0 + fd.abs()),
            "{}[{}]: {got} vs {fd}",
            e.name,
            k - e.offset
        );
    }
}

#[test]
fn the_digits_are_images_in_their_pixel_box_and_batches_carry_their_noise() {
    let p = bundled("digits_jem.ron");
    let mut s = Session::new(&p).expect("digits load");
    let d = s.data();
    assert_eq!(d.space, Space::Image { c: 1, h: 8, w: 8 });
    assert_eq!(d.n_train() + d.n_test(), 1797);
    assert_eq!((d.classes, d.levels), (10, Some(17)));
    assert!(d.data_box.lo.iter().all(|v| *v == -1.0) && d.data_box.hi.iter().all(|v| *v == 1.0));
    assert!(d.train.iter().all(|v| (-1.0..=1.0).contains(v)));
    // Pixels are on the 17 levels of [−1, 1]: multiples of 1/8 shifted by −1.
    assert!(
        d.train
            .iter()
            .all(|v| ((v + 1.0) * 8.0 - ((v + 1.0) * 8.0).round()).abs() < 1e-5)
    );
    let train = d.train.clone();
    s.step().expect("a step");
    // Every row of the data batch is a training image plus N(0, 0.03²) noise.
    let batch = s.data_batch();
    let mut sq = 0.0_f64;
    for row in batch.chunks_exact(64) {
        let nearest = train
            .chunks_exact(64)
            .map(|t| {
                t.iter()
                    .zip(row)
                    .map(|(a, b)| f64::from(a - b).powi(2))
                    .sum::<f64>()
            })
            .fold(f64::INFINITY, f64::min);
        sq += nearest;
    }
    let sd = (sq / batch.len() as f64).sqrt();
    assert!(
        (0.025..0.035).contains(&sd),
        "batch noise sd {sd}, preset 0.03"
    );
}

/// `Auto` runs conv nets through the fast engine on the CPU, `Autograd` through candle,
/// and the two take the same training steps: the same chains, the same terms, the same
/// parameters after them.
#[test]
fn auto_runs_conv_nets_through_the_fast_engine_and_it_trains_as_candle_does() {
    let mut p = bundled("digits_conv.ron");
    assert_eq!(p.engine, EngineChoice::Auto);
    p.eval.eval_every = 0;
    let mut fast = Session::new(&p).expect("conv preset");
    assert_eq!(fast.engine_name(), "fast");
    p.engine = EngineChoice::Fast;
    p.validate().expect("the fast engine runs convolutions");
    p.engine = EngineChoice::Autograd;
    let mut candle = Session::new(&p).expect("conv preset");
    assert_eq!(candle.engine_name(), "candle (CPU)");
    for step in 1..=3 {
        let (a, b) = (
            fast.step().expect("a fast step"),
            candle.step().expect("a candle step"),
        );
        let worst = |u: &[f32], v: &[f32]| {
            u.iter()
                .zip(v)
                .map(|(x, y)| (x - y).abs() / (1.0 + y.abs()))
                .fold(0.0_f32, f32::max)
        };
        assert!(
            worst(fast.samples(), candle.samples()) < 1e-3,
            "step {step}: the chains differ by {}",
            worst(fast.samples(), candle.samples())
        );
        assert!(
            worst(fast.params(), candle.params()) < 1e-4,
            "step {step}: the parameters differ by {}",
            worst(fast.params(), candle.params())
        );
        assert!(
            (a.e_data - b.e_data).abs() < 1e-3 && (a.e_sample - b.e_sample).abs() < 1e-3,
            "step {step}: E(data) {} / {}, E(samples) {} / {}",
            a.e_data,
            b.e_data,
            a.e_sample,
            b.e_sample
        );
    }
    // The MLP presets keep the fast engine under Auto.
    let s = Session::new(&bundled("digits_jem.ron")).expect("mlp");
    assert_eq!(s.engine_name(), "fast");
}

#[test]
fn a_network_that_does_not_fit_its_data_is_refused_naming_the_layer() {
    let mut p = bundled("mixture_16d.ron");
    p.model.layers.insert(2, LayerSpec::conv(8, 3, 1, 1));
    let e = Session::new(&p).expect_err("a conv on vectors").to_string();
    assert!(
        e.contains("model.layers[2]") && e.contains("needs images"),
        "{e}"
    );
    let mut p = bundled("digits_conv.ron");
    p.model.layers.insert(3, LayerSpec::MaxPool2d(16));
    let e = Session::new(&p)
        .expect_err("a pool larger than the map")
        .to_string();
    assert!(
        e.contains("model.layers[3]") && e.contains("MaxPool2d(16)"),
        "{e}"
    );
}

/// Runs `spec` on `x` by the preset's engine (fast for an MLP, candle for a conv net).
fn moved_by(p: &Preset, clip: Option<f32>) -> f32 {
    let mut p = p.clone();
    p.sampler = SamplerSpec {
        kind: SamplerKind::Sgld {
            step_size: 1.0,
            noise: 0.0,
        },
        steps: 5,
        init: Init::Noise,
        clamp: false,
        target_acceptance: None,
        grad_clip: clip,
    };
    let mut s = Session::new(&p).expect("session");
    let mut rng = rand::rngs::SmallRng::seed_from_u64(2);
    let start: Vec<f32> = s.data().test[..16 * 64].to_vec();
    let mut x = start.clone();
    s.run_chains(None, &mut x, 5, &mut rng).expect("runs");
    x.iter()
        .zip(&start)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

#[test]
fn the_gradient_clip_bounds_every_move_of_both_engines() {
    for name in ["digits_jem.ron", "digits_conv.ron"] {
        let p = bundled(name);
        let free = moved_by(&p, None);
        let clipped = moved_by(&p, Some(1e-4));
        // Five noiseless steps of size 1 move a pixel at most 5 · 1e-4.
        assert!(
            clipped <= 5e-4 + 1e-7,
            "{name}: moved {clipped} with the clip"
        );
        assert!(free > 5e-4, "{name}: moved only {free} without the clip");
    }
}

#[test]
fn digits_jem_classifies_held_out_digits_and_is_calibrated() {
    // The preset's own settings and steps; evaluation during training off (it does not
    // change the run: it has its own random numbers).
    let mut p = bundled("digits_jem.ron");
    p.eval.eval_every = 0;
    let mut s = Session::new(&p).expect("session");
    for _ in 0..p.steps {
        s.step().expect("no divergence");
    }
    let c = s.classify().expect("a classifier");
    eprintln!("accuracy {:.4}, ECE {:.4}", c.accuracy, c.ece);
    assert!(c.accuracy >= 0.95, "held-out accuracy {}", c.accuracy);
    assert!(c.ece < 0.08, "ECE {}", c.ece);
    // The sampler learned: its batch sits near the data in energy, far below noise and
    // pixel-shuffled digits (the out-of-distribution set).
    let d = s.data().clone();
    let mean = |v: Vec<f32>| v.iter().map(|x| f64::from(*x)).sum::<f64>() / v.len() as f64;
    let e_data = mean(s.energy(&d.test));
    let samples = s.samples().to_vec();
    let e_samples = mean(s.energy(&samples));
    let e_ood = mean(s.energy(&d.shuffled_rows(256, 1)));
    assert!(
        e_ood > e_data + 1.0,
        "E(shuffled) {e_ood} vs E(data) {e_data}"
    );
    assert!(
        (e_samples - e_data).abs() < 0.5,
        "E(samples) {e_samples} vs E(data) {e_data}"
    );
}

#[test]
fn a_conv_jem_learns_to_classify_and_exports_like_pytorch() {
    let mut p = bundled("digits_conv.ron");
    p.steps = 120;
    p.eval.eval_every = 0;
    let mut s = Session::new(&p).expect("session");
    let before = s.classify().expect("a classifier").accuracy;
    for _ in 0..p.steps {
        s.step().expect("no divergence");
    }
    let after = s.classify().expect("a classifier").accuracy;
    assert!(
        after > 0.3 && after > before + 0.2,
        "accuracy {before} -> {after}"
    );
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("conv.safetensors");
    ebm_workbench::export::save(&path, s.preset(), &s.data().space.input_shape(), s.params())
        .expect("export");
    let bytes = std::fs::read(&path).expect("read");
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("a safetensors file");
    assert_eq!(
        st.tensor("layers.0.weight").expect("conv weight").shape(),
        [16, 1, 3, 3]
    );
    assert_eq!(
        st.tensor("layers.3.weight").expect("conv weight").shape(),
        [32, 16, 3, 3]
    );
    let m = ebm_workbench::export::load(&path).expect("loads");
    assert_eq!(m.input_shape, [1, 8, 8]);
    let mut again = Session::from_params(&m.preset, m.params).expect("session from the file");
    let test = s.data().test[..64 * 32].to_vec();
    assert_eq!(again.energy(&test), s.energy(&test));
}

/// Writes `images` (u8) and `labels` as IDX files, the images gzipped.
fn write_idx(
    dir: &std::path::Path,
    images: &[u8],
    n: u32,
    labels: &[u8],
) -> (std::path::PathBuf, std::path::PathBuf) {
    use std::io::Write as _;
    let mut img = vec![0, 0, 8, 3];
    for v in [n, 8, 8] {
        img.extend_from_slice(&v.to_be_bytes());
    }
    img.extend_from_slice(images);
    let ip = dir.join("images-idx3-ubyte.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&img).expect("gzip");
    std::fs::write(&ip, gz.finish().expect("gzip")).expect("write");
    let mut lab = vec![0, 0, 8, 1];
    lab.extend_from_slice(&u32::try_from(labels.len()).expect("small").to_be_bytes());
    lab.extend_from_slice(labels);
    let lp = dir.join("labels-idx1-ubyte");
    std::fs::write(&lp, lab).expect("write");
    (ip, lp)
}

#[test]
fn train_reads_mnist_style_idx_files_with_a_labels_file_and_refuses_a_count_that_differs() {
    let d = Dataset::load(&bundled("digits_jem.ron").data).expect("digits");
    let n = 300;
    // Back to bytes: [−1, 1] → 0..=255.
    let bytes: Vec<u8> = d.train[..n * 64]
        .iter()
        .map(|v| ((v + 1.0) / 2.0 * 255.0).round() as u8)
        .collect();
    let labels: Vec<u8> = d.train_labels[..n].iter().map(|l| *l as u8).collect();
    let dir = tempfile::tempdir().expect("tmp");
    let (ip, lp) = write_idx(dir.path(), &bytes, n as u32, &labels);
    let out = stdout_of(
        bin()
            .args([
                "train",
                "presets/digits_jem.ron",
                "--steps",
                "3",
                "-q",
                "--data",
            ])
            .arg(&ip)
            .arg("--labels-file")
            .arg(&lp),
    );
    assert!(
        out.contains("space=1×8×8_images") && out.contains("final_accuracy="),
        "{out}"
    );
    // One label short.
    let (ip, lp) = write_idx(dir.path(), &bytes, n as u32, &labels[..n - 1]);
    let o = bin()
        .args(["train", "presets/digits_jem.ron", "--steps", "3", "--data"])
        .arg(&ip)
        .arg("--labels-file")
        .arg(&lp)
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("labels-idx1-ubyte") && err.contains("299 labels") && err.contains("300"),
        "{err}"
    );
}

/// Bits per dimension against a density whose answer is known: uniform over the pixel
/// range, each of the L − 1 steps between grey levels holds 1/(L − 1) of a pixel's mass,
/// so the images cost log2(L − 1) bits a pixel: exactly 4 for the digits' 17 levels
/// (0–16). A bin of range/L instead (the levels counted, not the steps) reads 4.087.
#[test]
fn bits_per_dimension_of_the_uniform_density_is_log2_of_the_steps() {
    let p = bundled("digits_ebm.ron");
    let d = Dataset::load(&p.data).expect("digits");
    let mut levels: Vec<f32> = d.train.clone();
    levels.sort_by(f32::total_cmp);
    levels.dedup();
    assert_eq!(levels.len(), 17);
    let (lo, hi) = (levels[0], levels[16]);
    let nll = d.dim as f64 * f64::from(hi - lo).ln();
    let bpd = d.bits_per_dim(nll).expect("images");
    assert!((bpd - 4.0).abs() < 1e-5, "{bpd} bits/dim, 4 expected");
}

#[test]
fn eval_of_a_degenerate_image_model_says_not_measurable_and_the_long_run_writes_its_grids() {
    let dir = tempfile::tempdir().expect("tmp");
    let model = dir.path().join("m.safetensors");
    let png = dir.path().join("grid.png");
    let mut p = bundled("digits_ebm.ron");
    p.steps = 30;
    p.eval.eval_every = 0;
    let preset = dir.path().join("p.ron");
    p.save(&preset).expect("save");
    stdout_of(
        bin()
            .arg("train")
            .arg(&preset)
            .arg("-q")
            .arg("--export")
            .arg(&model),
    );
    let out = stdout_of(
        bin()
            .arg("eval")
            .arg(&model)
            .args([
                "--ais-chains",
                "32",
                "--ais-temps",
                "50",
                "--long-run",
                "40",
                "--grid-png",
            ])
            .arg(&png),
    );
    let field = |k: &str| -> f64 {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("no {k} in {out}"))
            .split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{k} is not a number in {out}"))
    };
    // At the preset's T = 5·10⁻⁵ AIS's weights are degenerate: the NLL is not measurable,
    // and no bits/dim are derived from it (`bits_per_dim`'s formula is tested above).
    assert!(out.contains("nll=not_measurable"), "{out}");
    assert!(field("nll_untrusted_estimate").is_finite());
    assert!(!out.contains("bits_per_dim="), "{out}");
    let t = field("temperature");
    assert!((t - 5e-5).abs() < 1e-9, "temperature {t}");
    assert!(field("e_long_run_mean").is_finite());
    let img = std::fs::read(&png).expect("the grid PNG");
    assert_eq!(&img[1..4], b"PNG");
    // Three 8×8 grids of 8 tiles a row at 4× with 1-pixel gaps, 12 pixels apart.
    let width = u32::from_be_bytes([img[16], img[17], img[18], img[19]]);
    assert_eq!(width, 3 * (8 * 33 + 1) + 2 * 12);
}

#[test]
fn the_written_out_input_gradient_is_autograds_for_every_layer_and_activation() {
    use ebm_workbench::energy::Activation;
    use ebm_workbench::energy::net::EnergyNet;
    let dev = candle_core::Device::Cpu;
    let v = |t: &candle_core::Tensor| {
        t.flatten_all()
            .and_then(|t| t.to_vec1::<f32>())
            .expect("values")
    };
    for (i, a) in Activation::ALL.into_iter().enumerate() {
        // A 7×8 map (pooling drops a row; the strided convolution's rows and columns
        // leave different remainders), an even kernel without padding, both poolings, a
        // Linear after a map; K logits and a single energy in turn.
        let spec = ModelSpec {
            layers: vec![
                LayerSpec::conv(3, 2, 1, 0),
                LayerSpec::act(a),
                LayerSpec::conv(3, 3, 1, 1),
                LayerSpec::MaxPool2d(2),
                LayerSpec::conv(4, 3, 2, 1),
                LayerSpec::act(a),
                LayerSpec::AvgPool2d(2),
                LayerSpec::Linear(6),
                LayerSpec::act(a),
            ],
            outputs: if i % 2 == 0 { 3 } else { 1 },
            gaussian: None,
        };
        let arch = Architecture::for_shape(&spec, &[2, 8, 9]).expect("fits");
        let params = init_params(&arch, &mut StdRng::seed_from_u64(i as u64));
        let net = EnergyNet::new(&arch, &params, &dev).expect("net");
        let x = candle_core::Tensor::randn(0_f32, 1.0, (5, 144), &dev).expect("x");
        let (e, g) = net.energy_grad_x(&x).expect("written out");
        let (ea, ga) = net.energy_grad_x_autograd(&x).expect("autograd");
        assert!(common::worst_rel(&v(&e), &v(&ea)) < 1e-5, "{a:?}: energies");
        let (g, ga) = (v(&g), v(&ga));
        let d = common::max_rel(&g, &ga);
        assert!(d < 1e-4, "{a:?}: ∇ₓE differs by {d}");
        assert!(
            ga.iter().any(|v| v.abs() > 1e-6),
            "{a:?}: a gradient of zeros proves nothing"
        );
        if spec.outputs == 3 {
            // A class energy −f_y through both.
            let (e1, g1) = net.class_energy_grad_x(&x, 2).expect("written out");
            let x_var = candle_core::Var::from_tensor(&x).expect("var");
            let f = net
                .outputs(x_var.as_tensor())
                .and_then(|o| o.narrow(1, 2, 1))
                .and_then(|o| o.neg())
                .expect("outputs");
            let ga = f
                .sum_all()
                .and_then(|s| s.backward())
                .expect("backward")
                .get(x_var.as_tensor())
                .cloned()
                .expect("a gradient");
            assert!(
                common::worst_rel(&v(&e1), &v(&f)) < 1e-5,
                "{a:?}: class energies"
            );
            let d = common::max_rel(&v(&g1), &v(&ga));
            assert!(d < 1e-4, "{a:?}: class ∇ₓE differs by {d}");
        }
    }
}

#[test]
fn max_pooling_sends_a_tied_windows_gradient_to_its_first_maximum_as_pytorch_does() {
    use ebm_workbench::energy::net::EnergyNet;
    // Input → MaxPool2d(2) → Linear(1) with weight 1: E = Σ window maxima; a flat image
    // ties every window.
    let spec = ModelSpec {
        layers: vec![LayerSpec::MaxPool2d(2)],
        outputs: 1,
        gaussian: None,
    };
    let arch = Architecture::for_shape(&spec, &[1, 4, 4]).expect("fits");
    let mut params = vec![0.0_f32; arch.n_params];
    params[..4].fill(1.0);
    let net = EnergyNet::new(&arch, &params, &candle_core::Device::Cpu).expect("net");
    let x = candle_core::Tensor::full(0.5_f32, (1, 16), &candle_core::Device::Cpu).expect("x");
    for (e, g) in [
        net.energy_grad_x(&x).expect("written out"),
        net.energy_grad_x_autograd(&x).expect("autograd"),
    ] {
        assert!((e.to_vec1::<f32>().expect("e")[0] - 2.0).abs() < 1e-6);
        let g = g.flatten_all().and_then(|t| t.to_vec1::<f32>()).expect("g");
        // The top-left entry of each 2×2 window gets 1, the others 0.
        let want: Vec<f32> = (0..16)
            .map(|i| f32::from(u8::from((i / 4) % 2 == 0 && i % 2 == 0)))
            .collect();
        assert_eq!(g, want);
    }
}

#[test]
fn a_map_with_as_many_channels_as_rows_and_columns_is_convolved_right() {
    // 1×4×4 → Conv2d(4) → a 4×4×4 map (C = H = W) → Conv2d(2): the case candle 0.9.2
    // reads channels-last. Energies and ∇ₓE against the f64 definition.
    let spec = ModelSpec {
        layers: vec![
            LayerSpec::conv(4, 3, 1, 1),
            LayerSpec::Tanh,
            LayerSpec::conv(2, 3, 1, 1),
            LayerSpec::Silu,
        ],
        outputs: 1,
        gaussian: None,
    };
    let arch = Architecture::for_shape(&spec, &[1, 4, 4]).expect("fits");
    let params = init_params(&arch, &mut StdRng::seed_from_u64(9));
    let p64: Vec<f64> = params.iter().map(|v| f64::from(*v)).collect();
    let x: Vec<f32> = (0..2 * 16)
        .map(|i| ((i * 29 % 31) as f32 / 15.0) - 1.0)
        .collect();
    let mut engine = CandleEngine::new(&arch, candle_core::Device::Cpu);
    let (mut e, mut g) = (vec![0.0; 2], vec![0.0; 32]);
    engine
        .energy_grad_x(&params, &x, None, &mut e, &mut g)
        .expect("candle runs it");
    for r in 0..2 {
        let xr: Vec<f64> = x[r * 16..(r + 1) * 16]
            .iter()
            .map(|v| f64::from(*v))
            .collect();
        let want = energy_f64(&arch, &spec, &p64, &xr);
        assert!(
            (f64::from(e[r]) - want).abs() < 1e-5,
            "row {r}: {} vs {want}",
            e[r]
        );
        for j in [0, 5, 15] {
            let (mut up, mut dn) = (xr.clone(), xr.clone());
            up[j] += 1e-4;
            dn[j] -= 1e-4;
            let fd =
                (energy_f64(&arch, &spec, &p64, &up) - energy_f64(&arch, &spec, &p64, &dn)) / 2e-4;
            let got = f64::from(g[r * 16 + j]);
            assert!(
                (got - fd).abs() < 1e-3 * (1.0 + fd.abs()),
                "row {r}, pixel {j}: {got} vs {fd}"
            );
        }
    }
}

/// presets/mnist_conv_jem.ron reads MNIST's two files from `mnist/` beside itself, plain
/// or gzip-compressed as they are published, on a generated 28×28 set (never a
/// download): it trains on 28×28 images with their labels, the held-out tenth apart;
/// without the files it says where it looked and what to put there, and nothing starts.
#[test]
fn the_mnist_preset_reads_its_files_beside_it_plain_or_gzip_and_says_where_when_missing() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().expect("tmp");
    let preset = dir.path().join("mnist_conv_jem.ron");
    std::fs::copy(common::preset_path("mnist_conv_jem.ron"), &preset).expect("copy");

    // Missing: the message names both files, the folder, and MNIST.
    let err = Session::new(&Preset::load(&preset).expect("preset"))
        .expect_err("no data, no session")
        .to_string();
    let folder = dir.path().join("mnist");
    assert!(
        err.contains("train-images-idx3-ubyte")
            && err.contains("train-images-idx3-ubyte.gz")
            && err.contains(&folder.display().to_string())
            && err.contains("train-labels-idx1-ubyte")
            && err.contains("MNIST"),
        "{err}"
    );

    // The images gzip-compressed, the labels plain: each found under the name the
    // preset gives.
    let n = 400;
    let images = ebm_workbench::data::images::digits_scaled(n, 28, 5);
    std::fs::create_dir(&folder).expect("mkdir");
    let plain = folder.join("train-images-idx3-ubyte");
    let labels = folder.join("train-labels-idx1-ubyte");
    ebm_workbench::data::images::write_idx(&images, &plain, Some(&labels)).expect("write");
    let bytes = std::fs::read(&plain).expect("read");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&bytes).expect("gzip");
    std::fs::write(
        folder.join("train-images-idx3-ubyte.gz"),
        gz.finish().expect("gzip"),
    )
    .expect("write");
    std::fs::remove_file(&plain).expect("rm");

    let out = stdout_of(bin().args(["train", "--steps", "3", "-q"]).arg(&preset));
    assert!(
        out.contains("space=1×28×28_images") && out.contains("final_accuracy="),
        "{out}"
    );
    let p = Preset::load(&preset).expect("preset");
    let s = Session::new(&p).expect("the generated set");
    let d = s.data();
    assert_eq!(d.space, Space::Image { c: 1, h: 28, w: 28 });
    assert_eq!((d.n_train(), d.n_test()), (360, 40));
    assert_eq!(d.classes, 10);
    // The pixels are the file's, scaled to [−1, 1]: the generated digits' darkest and
    // brightest.
    let (lo, hi) = d
        .train
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
    assert!(lo == -1.0 && hi == 1.0, "pixels from {lo} to {hi}");
}

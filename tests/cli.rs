//! The binary as users run it: `train` on a preset, `bench`, and a broken preset.

mod common;

use ebm_workbench::sampler::{Init, SamplerKind};

use common::{bin, stdout_of};

/// The number printed as `key=value` (key given with its `=`).
fn value(stdout: &str, key: &str) -> f64 {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap_or_else(|| panic!("{key} missing: {stdout}"))
        .parse()
        .unwrap_or_else(|e| panic!("{key}: {e}"))
}

#[test]
fn train_writes_metrics_and_model() {
    let dir = tempfile::tempdir().unwrap();
    let preset = dir.path().join("small.ron");
    let mut p = common::small(16);
    p.eval.eval_every = 5;
    p.save(&preset).unwrap();
    let csv = dir.path().join("m.csv");
    let model = dir.path().join("m.safetensors");
    let stdout = stdout_of(
        bin()
            .args([
                "train",
                preset.to_str().unwrap(),
                "--steps",
                "12",
                "--metrics",
            ])
            .arg(&csv)
            .arg("--export")
            .arg(&model),
    );
    assert!(stdout.contains("temperature=1.0000"), "{stdout}");
    let final_nll = value(&stdout, "final_nll=");
    assert!(final_nll.is_finite());
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "step,loss,e_data,e_sample,data_term_norm,sample_term_norm,grad_norm,cos_terms,nll,step_ms,sample_term_cos_exact,sample_term_rel_err,kl_gap,acceptance,ce_loss,batch_accuracy,accuracy,ece,step_size,nll_stderr,sample_term_cos_reference,sample_term_rel_err_reference,reference_rhat,sample_term_cos_floor,objective_cos_ml,nll_ess,nll_trusted,eval_ms,nll_method"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 12);
    assert!(rows[3][8].is_empty(), "nll between evaluations is empty");
    assert!(!rows[4][8].is_empty(), "nll at step 5 is filled");
    assert!(
        !rows[4][10].is_empty(),
        "sample_term_cos_exact at step 5 is filled"
    );
    assert!(
        !rows[4][12].is_empty(),
        "kl_gap at step 5 is filled (8 gaussians)"
    );
    assert!(rows[3][10].is_empty());
    // How the NLL was obtained, beside it: quadrature in the plane.
    assert_eq!((rows[4][28], rows[3][28]), ("quadrature", ""));
    // Quadrature is exact: no AIS verdict beside it.
    assert_eq!((rows[4][26], rows[3][26]), ("", ""));
    // What evaluating cost, on evaluation steps only.
    assert!(rows[4][27].parse::<f64>().is_ok_and(|t| t > 0.0) && rows[3][27].is_empty());
    assert!(stdout.contains(" eval_ms="), "{stdout}");
    // The Monte-Carlo floor beside the exact term (the last column), every evaluation.
    assert!(!rows[4][23].is_empty() && rows[3][23].is_empty());
    assert!(model.exists());
    let m = ebm_workbench::export::load(&model).unwrap();
    assert!(m.params.iter().all(|v| v.is_finite()));
    assert_eq!(m.input_shape, vec![2]);
}

#[test]
fn same_seed_same_csv_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let preset = dir.path().join("small.ron");
    common::small(16).save(&preset).unwrap();
    let run = |name: &str| {
        let csv = dir.path().join(name);
        let st = bin()
            .args([
                "train",
                preset.to_str().unwrap(),
                "--steps",
                "10",
                "--seed",
                "3",
                "-q",
                "--metrics",
            ])
            .arg(&csv)
            .status()
            .unwrap();
        assert!(st.success());
        // Data rows, the wall-time columns (step_ms, eval_ms) blanked.
        common::without_wall_time(&std::fs::read_to_string(csv).unwrap()).split_off(1)
    };
    assert_eq!(run("a.csv"), run("b.csv"));
}

#[test]
fn broken_preset_is_reported_with_place() {
    let dir = tempfile::tempdir().unwrap();
    let preset = dir.path().join("bad.ron");
    std::fs::write(&preset, "(\n  version: 1,\n  steps: ,\n)\n").unwrap();
    let out = bin()
        .args(["train", preset.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.ron:3:"), "{err}");
}

#[test]
fn bench_prints_figures() {
    let stdout = stdout_of(bin().args([
        "bench",
        "--batch",
        "32",
        "--hidden",
        "16",
        "--langevin-steps",
        "2",
        "--steps",
        "10",
    ]));
    for key in ["steps_per_sec=", "grid_eval_ms="] {
        let v = value(&stdout, key);
        assert!(v > 0.0);
    }
}

#[test]
fn bench_runs_several_batches_and_says_when_the_device_is_missing() {
    let args = [
        "bench",
        "--batches",
        "16,48",
        "--hidden",
        "16",
        "--langevin-steps",
        "2",
        "--steps",
        "5",
    ];
    let stdout = stdout_of(bin().args(args));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    for (line, batch) in lines.iter().zip(["16", "48"]) {
        assert!(line.starts_with(&format!("batch={batch} ")), "{line}");
        assert!(line.contains(" device=CPU "), "{line}");
        let rate: f64 = line
            .split_whitespace()
            .find_map(|f| f.strip_prefix("steps_per_sec="))
            .unwrap_or_else(|| panic!("no steps_per_sec: {line}"))
            .parse()
            .unwrap();
        assert!(rate > 0.0, "{line}");
    }
    // Without the GPU (or without CUDA in this build) there is nothing to compare: the
    // output says so instead of comparing the CPU with itself.
    let out = bin()
        .args(args)
        .args(["--device", "cuda"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !ebm_workbench::device::cuda_devices().is_ok_and(|d| !d.is_empty()) {
        assert!(out.status.success());
        assert!(
            stdout.contains("device_wins_from_batch=unavailable"),
            "{stdout}"
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains("warning: "));
    } else {
        assert!(stdout.contains("device_wins_from_batch="), "{stdout}");
        assert!(stdout.contains("device_steps_per_sec="), "{stdout}");
    }
}

#[test]
fn bench_compares_the_fast_engine_with_autograd() {
    let stdout = stdout_of(bin().args([
        "bench",
        "--batch",
        "64",
        "--hidden",
        "32",
        "--langevin-steps",
        "2",
        "--steps",
        "5",
        "--compare-autograd",
    ]));
    assert!(stdout.contains("agree=true"), "{stdout}");
    for key in [
        "max_rel_diff_grad_x=",
        "max_rel_diff_data_term=",
        "max_rel_diff_sample_term=",
    ] {
        let v = value(&stdout, key);
        assert!(v <= 1e-4, "{key}{v}");
    }
}

#[test]
fn eval_prints_quadrature_ais_and_nll() {
    let dir = tempfile::tempdir().unwrap();
    let preset = dir.path().join("small.ron");
    // Trained enough that its mass lies inside the data box, where quadrature integrates.
    let mut p = common::small(32);
    p.batch_size = 128;
    p.sampler.steps = 10;
    p.optimizer.lr = 3e-3;
    p.eval.eval_every = 0;
    p.save(&preset).unwrap();
    let model = dir.path().join("m.safetensors");
    let st = bin()
        .args([
            "train",
            preset.to_str().unwrap(),
            "--steps",
            "300",
            "-q",
            "--export",
        ])
        .arg(&model)
        .status()
        .unwrap();
    assert!(st.success());
    let stdout = stdout_of(bin().args([
        "eval",
        model.to_str().unwrap(),
        "--ais-chains",
        "64",
        "--ais-temps",
        "200",
    ]));
    let get = |k: &str| value(&stdout, k);
    let (quad, ais, se, nll) = (
        get("log_z_quadrature="),
        get("log_z_ais="),
        get("log_z_ais_stderr="),
        get("nll="),
    );
    assert!(se > 0.0 && nll.is_finite());
    // How many of the 64 chains count.
    let ess = get("ais_ess=");
    assert!(
        (1.0..=64.0).contains(&ess) && get("ais_chains=") == 64.0,
        "{stdout}"
    );
    // One chain has no spread to give a standard error: refused, saying why.
    let one = bin()
        .args(["eval", model.to_str().unwrap(), "--ais-chains", "1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&one.stderr);
    assert!(
        !one.status.success() && err.contains("--ais-chains") && err.contains("at least 2"),
        "{err}"
    );
    assert!(
        (quad - ais).abs() < 0.1,
        "quadrature {quad} vs AIS {ais} ± {se}"
    );
    // Where the data's density is known: its true NLL on the held-out split (the same
    // figure the library computes) and the gap, NLL − true NLL.
    let truth = ebm_workbench::data::Dataset::load(&p.data)
        .unwrap()
        .true_nll()
        .unwrap();
    assert!((get("true_nll=") - truth).abs() < 1e-5, "{stdout}");
    assert!((get("kl_gap=") - (nll - truth)).abs() < 2e-6, "{stdout}");
    assert!(
        get("kl_gap=") > 0.0,
        "a model below the data's entropy: {stdout}"
    );
    // Reverse AIS from exact samples brackets quadrature with forward AIS.
    let rev = get("log_z_ais_reverse=");
    assert!(
        ais - 3.0 * se < quad + 0.02 && quad - 0.02 < rev + 3.0 * get("log_z_ais_reverse_stderr="),
        "{stdout}"
    );
    // From a uniform base over the data box instead of a gaussian: the same log Z.
    let uniform = stdout_of(bin().args([
        "eval",
        model.to_str().unwrap(),
        "--ais-chains",
        "64",
        "--ais-temps",
        "200",
        "--uniform-base",
    ]));
    let u = value(&uniform, "log_z_ais=");
    assert!(
        (u - quad).abs() < 0.15 && (u - ais).abs() > 1e-9,
        "uniform base {u} vs quadrature {quad} (gaussian base {ais})"
    );
    // Data without a known density: no true NLL, no gap.
    let moons = stdout_of(bin().args([
        "eval",
        model.to_str().unwrap(),
        "--ais-chains",
        "16",
        "--ais-temps",
        "20",
        "--data",
        "two_moons",
    ]));
    assert!(
        !moons.contains("true_nll=") && !moons.contains("kl_gap="),
        "{moons}"
    );
    let bad = bin()
        .args(["eval", model.to_str().unwrap(), "--data", "three_moons"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("two_moons"));
}

#[test]
fn train_on_a_data_file_and_a_bad_row_fails_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..400 {
        let t = f64::from(i) * 0.37;
        text.push_str(&format!("{} {}\n", 2.0 * t.cos(), 2.0 * t.sin()));
    }
    let good = dir.path().join("circle.txt");
    std::fs::write(&good, &text).unwrap();
    let preset = common::preset_path("two_moons.ron");
    let stdout = stdout_of(
        bin()
            .args(["train", preset.to_str().unwrap(), "--steps", "30", "--data"])
            .arg(&good),
    );
    assert!(stdout.contains("data=circle.txt"), "{stdout}");
    assert!(value(&stdout, "final_nll=").is_finite());
    assert!(!stdout.contains("true_nll="), "no true density for a file");

    let bad = dir.path().join("bad.txt");
    std::fs::write(&bad, format!("{text}1.0 2.0 3.0\n")).unwrap();
    let out = bin()
        .args(["train", preset.to_str().unwrap(), "--data"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.txt:line 401: 3 fields, but line 1 has 2"),
        "{stderr}"
    );
}

#[test]
fn a_jem_model_trains_exports_and_evaluates_with_its_accuracy() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = common::bundled("eight_gaussians_jem.ron");
    p.model.layers = common::mlp(32);
    p.batch_size = 64;
    p.sampler.steps = 5;
    p.eval.eval_every = 50;
    p.eval.grid = 64;
    let preset = dir.path().join("jem.ron");
    p.save(&preset).unwrap();
    let model = dir.path().join("jem.safetensors");
    let stdout = stdout_of(
        bin()
            .args([
                "train",
                preset.to_str().unwrap(),
                "--steps",
                "200",
                "--export",
            ])
            .arg(&model),
    );
    assert!(stdout.contains("objective=jem_hybrid"), "{stdout}");
    assert!(stdout.contains(" ce_loss="), "{stdout}");
    let trained = value(&stdout, "final_accuracy=");
    let trained_ece = value(&stdout, "final_ece=");
    assert!(trained > 0.9, "{stdout}");

    let stdout = stdout_of(bin().args([
        "eval",
        model.to_str().unwrap(),
        "--ais-chains",
        "32",
        "--ais-temps",
        "50",
    ]));
    assert!(
        (value(&stdout, "accuracy=") - trained).abs() < 1e-3,
        "{stdout}"
    );
    assert!(
        (value(&stdout, "ece=") - trained_ece).abs() < 1e-3,
        "{stdout}"
    );
}

/// `train` says when the sampler stops following the model — once per lag, on standard
/// error — and says nothing when it follows: short-run chains of zero steps (uniform noise) lose
/// the model as it sharpens; the exact sampler never does.
#[test]
fn train_warns_when_the_sampler_lags_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, kind: SamplerKind, steps: usize| {
        let mut p = common::small(16);
        p.sampler.kind = kind;
        p.sampler.steps = steps;
        p.sampler.init = Init::Noise;
        p.optimizer.lr = 3e-3;
        let path = dir.path().join(name);
        p.save(&path).unwrap();
        let out = bin()
            .args(["train", path.to_str().unwrap(), "--steps", "300", "-q"])
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let noise = run("noise.ron", SamplerKind::Langevin { step_size: 0.1 }, 0);
    // Said when the lag begins, not at every evaluation (every 10 steps) while it lasts:
    // a second warning comes only after an evaluation that saw the sampler recover.
    let warned_at: Vec<usize> = noise
        .lines()
        .filter(|l| l.contains("the sampler no longer follows the model"))
        .map(|l| {
            l.strip_prefix("warning: step ")
                .and_then(|r| r.split(':').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("not a step warning: {l}"))
        })
        .collect();
    assert!(!warned_at.is_empty(), "{noise}");
    assert!(warned_at.len() <= 3, "{noise}");
    assert!(
        warned_at.windows(2).all(|w| w[1] - w[0] > 10),
        "warned at consecutive evaluations: {noise}"
    );
    let exact = run("exact.ron", SamplerKind::Exact, 0);
    assert!(!exact.contains("no longer follows"), "{exact}");
}

/// Every command runs a 16-D preset: `train` says the shape and evaluates by AIS, `eval`
/// prints no quadrature outside the plane, `bench --dim` times the same workload in 10-D.
#[test]
fn every_command_runs_data_of_sixteen_dimensions() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = common::bundled("mixture_16d.ron");
    p.model.layers = common::mlp(32);
    p.eval.eval_every = 50;
    p.eval.ais_temperatures = 50;
    let preset = dir.path().join("m16.ron");
    p.save(&preset).unwrap();
    let model = dir.path().join("m16.safetensors");
    let stdout = stdout_of(
        bin()
            .args([
                "train",
                preset.to_str().unwrap(),
                "--steps",
                "100",
                "--export",
            ])
            .arg(&model),
    );
    let first = stdout.lines().next().unwrap();
    assert!(
        first.contains(" dim=16 ") && first.contains("evaluation=AIS"),
        "{first}"
    );
    assert!(value(&stdout, "final_nll_stderr=") > 0.0, "{stdout}");
    assert!(stdout.contains("sample_term_cos_reference="), "{stdout}");
    let stdout = stdout_of(bin().args([
        "eval",
        model.to_str().unwrap(),
        "--ais-chains",
        "32",
        "--ais-temps",
        "50",
    ]));
    assert!(!stdout.contains("log_z_quadrature="), "{stdout}");
    assert!(
        stdout.contains("dim=16") && stdout.contains("ais_base=data_box"),
        "{stdout}"
    );
    let (nll, truth) = (value(&stdout, "nll="), value(&stdout, "true_nll="));
    assert!(
        (value(&stdout, "kl_gap=") - (nll - truth)).abs() < 2e-6,
        "{stdout}"
    );
    assert!(value(&stdout, "nll_stderr=") > 0.0);
    let stdout = stdout_of(bin().args([
        "bench",
        "--dim",
        "10",
        "--batch",
        "32",
        "--hidden",
        "16",
        "--langevin-steps",
        "2",
        "--steps",
        "5",
    ]));
    assert!(value(&stdout, "steps_per_sec=") > 0.0 && value(&stdout, "ais_eval_ms=") > 0.0);
    assert!(!stdout.contains("grid_eval_ms="), "{stdout}");
    // A 2-D model evaluated on 16-D data is refused with both shapes, not a panic.
    let flat = dir.path().join("flat.safetensors");
    let small = dir.path().join("small.ron");
    common::small(8).save(&small).unwrap();
    stdout_of(
        bin()
            .args([
                "train",
                small.to_str().unwrap(),
                "--steps",
                "2",
                "-q",
                "--export",
            ])
            .arg(&flat),
    );
    let out = bin()
        .args(["eval", flat.to_str().unwrap(), "--data"])
        .arg(&preset)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("16-D vectors") && !err.contains("panicked"),
        "{err}"
    );
}

#[test]
fn a_preset_that_is_not_text_says_so_once_with_its_place() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = dir.path().join("binary.ron");
    std::fs::write(&p, b"(\n  name: \"x\xff\xfe\",\n)").expect("write");
    let o = common::bin().arg("train").arg(&p).output().expect("runs");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("binary.ron:2:") && err.contains("not UTF-8 text"),
        "{err}"
    );
    assert_eq!(err.matches("UTF-8").count(), 1, "{err}");
}

/// `sample` draws chains from a model file, writes one row per kept draw (NPY or CSV)
/// and prints the acceptance rate, R̂ and ESS; what it cannot do it refuses by name.
#[test]
fn sample_writes_draws_and_diagnostics() {
    let dir = tempfile::tempdir().unwrap();
    let preset = dir.path().join("small.ron");
    common::small(16).save(&preset).unwrap();
    let model = dir.path().join("m.safetensors");
    stdout_of(
        bin()
            .args([
                "train",
                preset.to_str().unwrap(),
                "--steps",
                "30",
                "-q",
                "--export",
            ])
            .arg(&model),
    );
    let npy = dir.path().join("draws.npy");
    let stdout = stdout_of(
        bin()
            .arg("sample")
            .arg(&model)
            .args(["--sampler", "mala", "--step-size", "0.1", "--chains", "4"])
            .args(["--steps", "400", "--thin", "2", "--out"])
            .arg(&npy),
    );
    let acceptance = value(&stdout, "acceptance=");
    assert!(
        (0.0..=1.0).contains(&acceptance) && acceptance > 0.0,
        "{stdout}"
    );
    let rhat = value(&stdout, "rhat=");
    assert!(rhat.is_finite() && rhat > 0.9, "{stdout}");
    let ess = value(&stdout, "ess=");
    // 4 chains × (400 − 200 burn-in) / 2 = 400 draws.
    assert!(ess > 1.0 && ess < 2.0 * 400.0, "{stdout}");
    let bytes = std::fs::read(&npy).unwrap();
    let header = String::from_utf8_lossy(&bytes[10..128]);
    assert!(header.contains("'shape': (400, 2)"), "{header}");
    assert_eq!(
        (bytes.len() - 128) / 4,
        800,
        "400 draws of 2 floats after the header"
    );
    // The same as CSV: a header and a row per draw, chain by chain.
    let csv = dir.path().join("draws.csv");
    stdout_of(
        bin()
            .arg("sample")
            .arg(&model)
            .args([
                "--sampler",
                "langevin",
                "--chains",
                "3",
                "--steps",
                "40",
                "--out",
            ])
            .arg(&csv),
    );
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("chain,draw,energy,x0,x1"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 3 * 20);
    assert!(rows[20].starts_with("1,0,"));
    // One chain cannot give an R̂; a text file is not a format it writes.
    let csv_out = csv.to_str().unwrap();
    for (args, says) in [
        (vec!["--chains", "1", "--out", csv_out], "two chains"),
        (vec!["--out", "x.txt"], ".npy or a .csv"),
        (
            vec!["--sampler", "nuts", "--out", csv_out],
            "one of langevin",
        ),
        // A rule of bits on points: refused by the space, naming the rules to choose.
        (
            vec!["--sampler", "gibbs", "--out", csv_out],
            "choose MALA, HMC, Langevin or SGLD",
        ),
    ] {
        let mut cmd = bin();
        cmd.arg("sample").arg(&model).args(&args);
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(says),
            "{args:?}: {err}"
        );
    }
}

/// The word after `device=` in the first line that has one.
fn device_of(stdout: &str) -> String {
    stdout
        .split_whitespace()
        .find_map(|w| w.strip_prefix("device="))
        .unwrap_or_else(|| panic!("no device= in {stdout}"))
        .to_string()
}

#[test]
fn train_and_bench_say_which_device_ran_and_why_not_the_one_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let preset = dir.path().join("small.ron");
    common::small(16).save(&preset).unwrap();
    let found = ebm_workbench::device::probe();
    let gpu = found
        .iter()
        .any(|d| d.spec == ebm_workbench::device::DeviceSpec::Cuda(0) && d.usable());
    let runs = [
        vec!["train", preset.to_str().unwrap(), "--steps", "3", "-q"],
        vec![
            "bench",
            "--batch",
            "32",
            "--hidden",
            "16",
            "--langevin-steps",
            "2",
            "--steps",
            "3",
        ],
    ];
    for args in runs {
        // Asked for nothing: the CPU, without a warning.
        let out = bin().args(&args).output().unwrap();
        assert!(out.status.success());
        assert_eq!(device_of(&String::from_utf8_lossy(&out.stdout)), "CPU");
        assert!(!String::from_utf8_lossy(&out.stderr).contains("not available"));
        // Asked for CUDA: the GPU where there is one, else the CPU and why.
        let out = bin()
            .args(&args)
            .args(["--device", "cuda"])
            .output()
            .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(out.status.success(), "{stdout}{stderr}");
        if gpu {
            assert_eq!(device_of(&stdout), "CUDA_0");
        } else {
            assert_eq!(device_of(&stdout), "CPU", "{stdout}");
            let warning = stderr
                .lines()
                .find(|l| l.starts_with("warning: CUDA device 0"))
                .unwrap_or_else(|| panic!("no fallback warning: {stderr}"));
            assert!(warning.ends_with("; running on the CPU"), "{warning}");
            if cfg!(not(feature = "cuda")) {
                assert!(
                    warning.contains("build with `--features cuda`"),
                    "{warning}"
                );
            }
        }
    }
    let out = bin()
        .args(["train", preset.to_str().unwrap(), "--device", "tpu"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown device `tpu`"));
}

/// A likelihood that means nothing is not printed as one. The digits JEM preset's AIS (at
/// its sampler's T = 5·10⁻⁵) puts all the weight on one chain: `train` and `eval` print
/// `not_measurable` with the reason, the number under another name and the ESS. The
/// 16-D mixture's AIS is healthy: its NLL is printed as a number and trusted, and agrees
/// with the data's true NLL to within a few nats.
#[test]
fn a_degenerate_ais_is_not_measurable_and_a_healthy_one_is() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("jem.safetensors");
    let stdout = stdout_of(
        bin()
            .args([
                "train",
                common::preset_path("digits_jem.ron").to_str().unwrap(),
                "--steps",
                "20",
                "--export",
            ])
            .arg(&model),
    );
    let line = |out: &str, k: &str| -> String {
        out.lines()
            .find_map(|l| l.strip_prefix(k))
            .unwrap_or_else(|| panic!("{k} missing: {out}"))
            .to_string()
    };
    for prefix in ["initial_", "final_"] {
        assert_eq!(line(&stdout, &format!("{prefix}nll=")), "not_measurable");
        assert_eq!(line(&stdout, &format!("{prefix}nll_trusted=")), "false");
        assert!(line(&stdout, &format!("{prefix}nll_reason=")).contains("ESS"));
        assert!(value(&stdout, &format!("{prefix}nll_untrusted_estimate=")).is_finite());
        assert!(
            value(&stdout, &format!("{prefix}ais_ess=")) < 12.8,
            "{stdout}"
        );
    }
    let out = stdout_of(bin().args([
        "eval",
        model.to_str().unwrap(),
        "--ais-chains",
        "32",
        "--ais-temps",
        "50",
    ]));
    assert_eq!(line(&out, "nll="), "not_measurable", "{out}");
    assert_eq!(line(&out, "nll_trusted="), "false");
    assert!(line(&out, "nll_reason=").contains("of 32 chains"), "{out}");
    assert!(!out.contains("bits_per_dim="), "{out}");

    let stdout = stdout_of(bin().args([
        "train",
        common::preset_path("mixture_16d.ron").to_str().unwrap(),
        "--steps",
        "300",
    ]));
    assert_eq!(line(&stdout, "final_nll_trusted="), "true");
    assert!(value(&stdout, "final_ais_ess=") >= 12.8, "{stdout}");
    let (nll, truth) = (value(&stdout, "final_nll="), value(&stdout, "true_nll="));
    assert!((nll - truth).abs() < 5.0, "{nll} against {truth}");
    assert!(!stdout.contains("not_measurable"), "{stdout}");
}

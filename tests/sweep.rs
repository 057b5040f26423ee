//! Sweeps: numbered runs from a base preset, axes and seeds; run here N at a time or one
//! by its index; resumable; a summary of every run.

mod common;

use common::{bin, stdout_of};
use ebm_workbench::sampler::SamplerKind;
use ebm_workbench::sweep::Sweep;
use std::path::Path;

/// A small base preset and a sweep over it in `dir`.
fn write_sweep(dir: &Path, axes: &str) -> std::path::PathBuf {
    let mut p = common::small(8);
    p.eval.eval_every = 10;
    p.save(&dir.join("base.ron"))
        .expect("write the base preset");
    let path = dir.join("sweep.ron");
    std::fs::write(
        &path,
        format!("(\n    base: \"base.ron\",\n    steps: Some(20),\n    seeds: [0, 1],\n    axes: {{ {axes} }},\n)\n"),
    )
    .expect("write the sweep");
    path
}

/// The metrics of a run with the wall-time columns blanked.
fn metrics(dir: &Path, index: usize) -> Vec<String> {
    common::without_wall_time(
        &std::fs::read_to_string(dir.join(format!("runs/{index:04}/metrics.csv")))
            .expect("the run's metrics"),
    )
}

#[test]
fn runs_are_the_product_of_axes_and_seeds_in_a_fixed_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_sweep(
        dir.path(),
        "\"sampler.kind.step_size\": [0.03, 0.1, 0.3], \"sampler.steps\": [2, 4]",
    );
    let s = Sweep::load(&path).unwrap();
    assert_eq!(s.runs.len(), 12);
    // The last axis fastest, then the seeds.
    // Run 5: the third combination (step 0.1, K = 2), second seed.
    let r5 = &s.runs[5];
    assert_eq!(r5.seed, 1);
    assert_eq!(r5.preset.sampler.steps, 2);
    assert_eq!(
        r5.preset.sampler.kind,
        SamplerKind::Langevin { step_size: 0.1 }
    );
    assert_eq!(s.runs[3].preset.sampler.steps, 4);
    assert_eq!(r5.preset.steps, 20);
    assert_eq!(s.runs[11].preset.sampler.kind.step_size(), 0.3);
    let listed = stdout_of(bin().arg("sweep").arg(&path).arg("--list"));
    assert!(
        listed.starts_with("runs=12\n0000 seed=0 sampler.kind.step_size=0.03 sampler.steps=2\n"),
        "{listed}"
    );

    // The file's order, not the alphabet's.
    let s = Sweep::load(&write_sweep(
        dir.path(),
        "\"sampler.steps\": [2, 4], \"optimizer.lr\": [0.001, 0.01]",
    ))
    .unwrap();
    assert_eq!(s.axes, ["sampler.steps", "optimizer.lr"]);
    assert_eq!(s.runs[2].preset.sampler.steps, 2);
    assert!((s.runs[2].preset.optimizer.lr - 0.01).abs() < 1e-9);
    // A rule as an axis: a string at an enum field is read as RON.
    let path = write_sweep(
        dir.path(),
        "\"sampler.kind\": [\"Langevin(step_size: 0.1)\", \"Mala(step_size: 0.05)\"]",
    );
    let s = Sweep::load(&path).unwrap();
    assert_eq!(
        s.runs[2].preset.sampler.kind,
        SamplerKind::Mala { step_size: 0.05 }
    );

    // A path that names no field, and a value the field does not take, are named.
    for (axes, want) in [
        ("\"sampler.kind.stepsize\": [0.1]", "no field `stepsize`"),
        ("\"optimizer.lr\": [-1.0]", "optimizer.lr"),
        ("\"sampler.steps\": [\"many\"]", "sampler.steps"),
    ] {
        let e = Sweep::load(&write_sweep(dir.path(), axes))
            .unwrap_err()
            .to_string();
        assert!(e.contains("sweep.ron") && e.contains(want), "{axes}: {e}");
    }
}

#[test]
fn a_sweep_runs_resumes_and_a_run_alone_is_the_same_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_sweep(dir.path(), "\"optimizer.lr\": [0.001, 0.003]");
    let out = dir.path().join("out");
    let stdout = stdout_of(
        bin()
            .arg("sweep")
            .arg(&path)
            .arg("--out")
            .arg(&out)
            .args(["--jobs", "2"]),
    );
    assert!(stdout.contains("runs=4 to_run=4 jobs=2"), "{stdout}");
    assert!(stdout.contains("done=4 not_done=0"), "{stdout}");
    let summary = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    let lines: Vec<&str> = summary.lines().collect();
    assert_eq!(
        lines[0],
        "index,seed,optimizer.lr,final_nll,accuracy,ece,steps_per_sec,status,reason"
    );
    assert_eq!(lines.len(), 5);
    assert!(
        lines[3].starts_with("2,0,0.003,") && lines[3].contains(",done,"),
        "{summary}"
    );
    for i in 0..4 {
        let d = out.join(format!("runs/{i:04}"));
        for f in [
            "preset.ron",
            "metrics.csv",
            "model.safetensors",
            "final.txt",
        ] {
            assert!(d.join(f).exists(), "{}", d.join(f).display());
        }
        assert_eq!(metrics(&out, i).len(), 21);
    }
    // Started again: nothing left to run.
    let again = stdout_of(bin().arg("sweep").arg(&path).arg("--out").arg(&out));
    assert!(again.contains("to_run=0"), "{again}");
    // A run killed half-way (no final.txt) is run again, and only it.
    std::fs::remove_file(out.join("runs/0001/final.txt")).unwrap();
    let again = stdout_of(bin().arg("sweep").arg(&path).arg("--out").arg(&out));
    assert!(again.contains("to_run=1"), "{again}");

    let summary = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    // Run 2 alone (as a scheduler runs it, by its index) gives the same metrics.
    let alone = dir.path().join("alone");
    stdout_of(
        bin()
            .arg("sweep")
            .arg(&path)
            .arg("--out")
            .arg(&alone)
            .args(["--index", "2"]),
    );
    assert_eq!(metrics(&alone, 2), metrics(&out, 2));
    let slurm = dir.path().join("slurm");
    stdout_of(
        bin()
            .arg("sweep")
            .arg(&path)
            .arg("--out")
            .arg(&slurm)
            .args(["--index", "auto"])
            .env("SLURM_ARRAY_TASK_ID", "3"),
    );
    assert_eq!(metrics(&slurm, 3), metrics(&out, 3));
    let bad = bin()
        .arg("sweep")
        .arg(&path)
        .arg("--out")
        .arg(&slurm)
        .args(["--index", "9"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("runs 0 to 3"));

    // The summary rebuilt from the run folders.
    std::fs::remove_file(out.join("summary.csv")).unwrap();
    // From the folder alone, by the copy of the sweep the run left there.
    let c = stdout_of(bin().arg("sweep").arg("--collect").arg(&out));
    assert!(c.contains("collected=4 of 4"), "{c}");
    assert_eq!(
        std::fs::read_to_string(out.join("summary.csv")).unwrap(),
        summary
    );
}

/// What differs between two presets, in their own terms (for the window's pinned runs).
#[test]
fn differences_name_the_fields_that_changed() {
    let a = common::small(8);
    let mut b = a.clone();
    b.sampler.kind = SamplerKind::Mala { step_size: 0.3 };
    b.optimizer.lr = 0.003;
    b.name = "other".into();
    let d = ebm_workbench::sweep::differences(&a, &b);
    let shown: Vec<String> = d.iter().map(|(p, x, y)| format!("{p} {x} → {y}")).collect();
    assert_eq!(
        shown,
        [
            "optimizer.lr 0.001 → 0.003",
            "sampler.kind Langevin → Mala",
            "sampler.kind.step_size 0.1 → 0.3"
        ],
        "{shown:?}"
    );
    assert!(ebm_workbench::sweep::differences(&a, &a).is_empty());
}

/// A run that diverges is recorded as such, with why, and the sweep goes on; `sample`
/// takes a seeded subset of the runs, numbered afresh.
#[test]
fn a_diverged_run_is_recorded_and_a_sample_is_a_seeded_subset() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_sweep(
        dir.path(),
        "\"optimizer.kind\": [\"Sgd\"], \"optimizer.lr\": [0.001, 1000.0], \"objective.alpha\": [0.0]",
    );
    let out = dir.path().join("out");
    stdout_of(
        bin()
            .arg("sweep")
            .arg(&path)
            .arg("--out")
            .arg(&out)
            .args(["--jobs", "1"]),
    );
    let summary = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    let rows: Vec<&str> = summary.lines().skip(1).collect();
    assert!(rows[0].contains(",done,"), "{summary}");
    assert!(
        rows[2].contains(",diverged,") && rows[2].contains("rolled back"),
        "{summary}"
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let sampled = dir.path().join("sampled.ron");
    std::fs::write(
        &sampled,
        text.replace("seeds: [0, 1],", "seeds: [0, 1, 2, 3, 4], sample: Some(3),"),
    )
    .unwrap();
    let a = Sweep::load(&sampled).unwrap();
    let b = Sweep::load(&sampled).unwrap();
    assert_eq!(a.runs.len(), 3);
    assert_eq!(
        a.runs.iter().map(|r| r.index).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    let seeds = |s: &Sweep| {
        s.runs
            .iter()
            .map(|r| (r.seed, r.values.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(seeds(&a), seeds(&b), "the subset is the same every time");
}

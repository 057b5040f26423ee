//! Checkpoints resume exactly: a run stopped, written to a checkpoint, read back and
//! continued gives the same metrics, step for step, as one that never stopped; a damaged
//! checkpoint is refused.

mod common;

use common::{bin, bundled, mlp, stdout_of};
use ebm_workbench::sampler::{Init, SamplerKind};
use ebm_workbench::train::metrics::to_csv;
use ebm_workbench::train::session::Checkpoint;
use ebm_workbench::{Preset, Session, StepMetrics};
use std::path::Path;

/// The metrics as CSV without the columns that measure time.
fn csv(rows: &[StepMetrics]) -> String {
    let rows: Vec<StepMetrics> = rows.iter().map(|r| r.clone().without_wall_time()).collect();
    to_csv(&rows)
}

/// Per step: each layer's (name, |data term|, |sample term|).
type LayerRows = Vec<(usize, Vec<(String, f64, f64)>)>;

/// `n` steps straight, against `n/2`, a checkpoint through its bytes, and `n/2` more.
fn resumes_exactly(p: &Preset, n: usize) {
    let mut a = Session::new(p).expect("session");
    let straight: Vec<StepMetrics> = (0..n).map(|_| a.step().expect("a step")).collect();
    let mut b = Session::new(p).expect("session");
    let first: Vec<StepMetrics> = (0..n / 2).map(|_| b.step().expect("a step")).collect();
    // The window's first NLL point (before any step) goes with the checkpoint.
    b.initial_nll = Some((4.25, true, Some(17.5)));
    let bytes = b.checkpoint(&first).to_bytes();
    drop(b);
    let ck = Checkpoint::from_bytes(Path::new("ck"), &bytes).expect("reads back");
    assert_eq!(ck.step(), n / 2);
    let (mut c, mut rows) = Session::resume(&ck).expect("resumes");
    assert_eq!(csv(&rows), csv(&first), "{}: the metrics so far", p.name);
    assert_eq!(c.initial_nll, Some((4.25, true, Some(17.5))), "{}", p.name);
    for _ in n / 2..n {
        rows.push(c.step().expect("a step"));
    }
    assert_eq!(
        csv(&rows),
        csv(&straight),
        "{}: resumed run differs",
        p.name
    );
    // The per-layer terms too (the plots' per-layer curves), which the CSV does not hold.
    let layers = |rows: &[StepMetrics]| -> LayerRows {
        rows.iter()
            .map(|r| {
                let l = r.layers.iter();
                (
                    r.step,
                    l.map(|t| (t.name.clone(), t.data_term_norm, t.sample_term_norm))
                        .collect(),
                )
            })
            .collect()
    };
    assert!(
        straight.iter().all(|r| !r.layers.is_empty()),
        "{}: every step has its per-layer terms",
        p.name
    );
    // Through the checkpoint's JSON the numbers may move by a unit in the last place.
    let (got, want) = (layers(&rows), layers(&straight));
    assert_eq!(got.len(), want.len(), "{}", p.name);
    for ((sa, la), (sb, lb)) in got.iter().zip(&want) {
        assert_eq!((sa, la.len()), (sb, lb.len()), "{}", p.name);
        for (a, b) in la.iter().zip(lb) {
            assert!(
                a.0 == b.0
                    && (a.1 - b.1).abs() <= 1e-12 * b.1.abs()
                    && (a.2 - b.2).abs() <= 1e-12 * b.2.abs(),
                "{}: per-layer terms at step {sa} after resuming: {a:?} against {b:?}",
                p.name
            );
        }
    }
    assert_eq!(c.params(), a.params(), "{}: parameters", p.name);
    // The evaluation columns were filled along the way (they depend on the saved
    // evaluation generator and reference chains).
    assert!(
        rows.iter().filter(|r| r.nll.is_some()).count() >= 2,
        "{}",
        p.name
    );
}

fn small(p: &mut Preset) {
    p.model.layers = mlp(32);
    p.batch_size = 64;
    p.sampler.steps = 5;
    p.eval.eval_every = 10;
    p.eval.grid = 48;
}

#[test]
fn langevin_with_a_replay_buffer_resumes_exactly() {
    let mut p = bundled("eight_gaussians.ron");
    small(&mut p);
    resumes_exactly(&p, 40);
}

#[test]
fn mala_adapting_its_step_from_noise_resumes_exactly_with_ais_and_reference_chains() {
    let mut p = bundled("mixture_16d.ron");
    small(&mut p);
    p.sampler.init = Init::Noise;
    assert!(matches!(p.sampler.kind, SamplerKind::Mala { .. }));
    assert!(p.sampler.target_acceptance.is_some());
    p.eval.ais_chains = 16;
    p.eval.ais_temperatures = 20;
    p.eval.reference_chains = 16;
    p.eval.reference_steps = 10;
    resumes_exactly(&p, 40);
}

#[test]
fn hmc_resumes_exactly() {
    let mut p = bundled("eight_gaussians_hmc.ron");
    small(&mut p);
    resumes_exactly(&p, 40);
}

#[test]
fn jem_resumes_exactly() {
    let mut p = bundled("eight_gaussians_jem.ron");
    small(&mut p);
    resumes_exactly(&p, 40);
}

#[test]
fn a_damaged_checkpoint_is_refused_naming_the_file() {
    let mut p = bundled("eight_gaussians.ron");
    small(&mut p);
    let mut s = Session::new(&p).expect("session");
    let rows: Vec<StepMetrics> = (0..3).map(|_| s.step().expect("a step")).collect();
    let bytes = s.checkpoint(&rows).to_bytes();
    let path = Path::new("runs/eight.ckpt");
    // A flipped bit anywhere: in the magic's last byte (the format), the header length,
    // the header, the arrays, the checksum itself.
    let n = bytes.len();
    for at in [7, 9, 40, n / 2, n - 20, n - 1] {
        let mut bad = bytes.clone();
        bad[at] ^= 0x10;
        let e = Checkpoint::from_bytes(path, &bad)
            .expect_err("a flipped bit")
            .to_string();
        assert!(e.contains("runs/eight.ckpt"), "byte {at}: {e}");
    }
    for len in [0, 10, 100, n / 2, n - 1] {
        let e = Checkpoint::from_bytes(path, &bytes[..len])
            .expect_err("truncated")
            .to_string();
        assert!(e.contains("runs/eight.ckpt"), "{len} bytes: {e}");
    }
    let e = Checkpoint::from_bytes(path, b"(version: 1)\n")
        .expect_err("a preset")
        .to_string();
    assert!(e.contains("not a checkpoint"), "{e}");
    assert!(Checkpoint::from_bytes(path, &bytes).is_ok());
}

#[test]
fn train_checkpoints_and_resumes_from_the_command_line_with_every_metric_row() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut p = bundled("eight_gaussians.ron");
    small(&mut p);
    let preset = dir.path().join("p.ron");
    p.save(&preset).expect("save");
    let path = |n: &str| dir.path().join(n);
    stdout_of(
        bin()
            .arg("train")
            .arg(&preset)
            .args(["--steps", "30", "-q", "--metrics"])
            .arg(path("straight.csv")),
    );
    let out = stdout_of(
        bin()
            .arg("train")
            .arg(&preset)
            .args(["--steps", "12", "-q", "--checkpoint"])
            .arg(path("run.ckpt"))
            .args(["--checkpoint-every", "5"]),
    );
    assert!(out.contains("checkpoint="), "{out}");
    let out = stdout_of(
        bin()
            .args(["train", "--resume"])
            .arg(path("run.ckpt"))
            .args(["--steps", "30", "-q", "--metrics"])
            .arg(path("resumed.csv")),
    );
    assert!(out.contains("resumed_from_step=12"), "{out}");
    // Data rows, the wall-time columns blanked.
    let without_time = |f: &str| -> Vec<String> {
        common::without_wall_time(&std::fs::read_to_string(path(f)).expect("csv")).split_off(1)
    };
    let (a, b) = (without_time("straight.csv"), without_time("resumed.csv"));
    assert_eq!(a.len(), 30);
    assert_eq!(a, b);
}

#[test]
fn a_resumed_run_rolls_back_to_the_last_good_state_the_checkpoint_kept() {
    // Two runs diverge on purpose after 25 steps (a huge learning rate): one straight,
    // one through a checkpoint. Both roll back to the same state.
    let mut p = bundled("eight_gaussians.ron");
    small(&mut p);
    let diverge = |s: &mut Session| -> (usize, Vec<f32>) {
        let mut q = s.preset().clone();
        q.optimizer.lr = 1e6;
        assert!(s.apply_live(&q));
        for _ in 0..50 {
            if s.step().is_err() {
                return (s.step_count(), s.params().to_vec());
            }
        }
        panic!("the run did not diverge");
    };
    let mut a = Session::new(&p).expect("session");
    for _ in 0..25 {
        a.step().expect("a step");
    }
    let straight = diverge(&mut a);
    let mut b = Session::new(&p).expect("session");
    for _ in 0..25 {
        b.step().expect("a step");
    }
    let ck = Checkpoint::from_bytes(Path::new("ck"), &b.checkpoint(&[]).to_bytes()).expect("reads");
    let (mut c, _) = Session::resume(&ck).expect("resumes");
    let resumed = diverge(&mut c);
    assert_eq!(straight.0, 20, "rolled back to the evaluation at step 20");
    assert_eq!(resumed, straight);
    // The whole rolled-back state is the same (optimiser moments and step count, buffer,
    // random streams), and so are the steps after it: Adam's bias correction depends on
    // the restored step count.
    assert!(
        a.checkpoint(&[]).to_bytes() == c.checkpoint(&[]).to_bytes(),
        "the rolled-back sessions' checkpoints differ"
    );
    for s in [&mut a, &mut c] {
        assert!(s.apply_live(&p));
    }
    for k in 0..5 {
        let (ma, mc) = (a.step().expect("a step"), c.step().expect("a step"));
        assert_eq!(ma.step, mc.step);
        assert_eq!(
            a.params(),
            c.params(),
            "parameters {k} steps after the roll-back"
        );
    }
}

#[test]
fn resuming_on_data_that_changed_since_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let csv = dir.path().join("points.csv");
    let rows: String = (0..60)
        .map(|i| format!("{},{}\n", (i % 7) as f32 * 0.3, (i % 5) as f32 * 0.2))
        .collect();
    std::fs::write(&csv, format!("x,y\n{rows}")).expect("write");
    let mut p = bundled("eight_gaussians.ron");
    small(&mut p);
    p.data.source = ebm_workbench::data::DataSource::File(csv.clone());
    let mut s = Session::new(&p).expect("session");
    s.step().expect("a step");
    let bytes = s.checkpoint(&[]).to_bytes();
    let ck = Checkpoint::from_bytes(Path::new("ck"), &bytes).expect("reads");
    assert!(Session::resume(&ck).is_ok());
    std::fs::write(&csv, format!("x,y\n{rows}9,9\n")).expect("rewrite");
    let e = Session::resume(&ck).expect_err("changed data").to_string();
    assert!(e.contains("points.csv") && e.contains("changed"), "{e}");
}

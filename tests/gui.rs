//! The window driven headless the way a person uses it (egui_kittest): open a preset,
//! press Train, watch the plots fill; change settings; open a broken file.
#![cfg(feature = "gui")]

mod common;

use ebm_workbench::gui::app::{PersistedState, WorkbenchApp};
use ebm_workbench::sampler::SamplerKind;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use std::time::{Duration, Instant};

fn harness() -> Harness<'static, WorkbenchApp> {
    Harness::builder()
        .with_size([1500.0, 950.0])
        .build_eframe(|cc| WorkbenchApp::with_state(&cc.egui_ctx, PersistedState::default()))
}

/// Runs `n` frames (menus and modals open a frame or two after the click).
fn frames(h: &mut Harness<'_, WorkbenchApp>, n: usize) {
    for _ in 0..n {
        h.step();
    }
}

/// Steps frames until `done` holds; a training window never settles, so `run()` cannot
/// be used.
fn step_until(
    h: &mut Harness<'_, WorkbenchApp>,
    what: &str,
    timeout: Duration,
    done: impl Fn(&WorkbenchApp) -> bool,
) {
    let t0 = Instant::now();
    while !done(h.state()) {
        assert!(t0.elapsed() < timeout, "timed out waiting for: {what}");
        h.step();
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A quick version of a bundled preset, saved where the test can open it like a user.
fn quick_preset(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    let mut p = common::bundled(name);
    p.model.layers = common::mlp(32);
    p.eval.eval_every = 20;
    p.eval.grid = 64;
    let path = dir.join(name);
    p.save(&path).expect("write the preset");
    path
}

#[test]
fn open_preset_train_and_watch_the_plots_move() {
    let dir = tempfile::tempdir().unwrap();
    let path = quick_preset(dir.path(), "two_moons.ron");
    let mut h = harness();
    h.step();
    h.state_mut().open_preset(&path);
    h.step();
    assert_eq!(h.state().state.preset.name, "two_moons");
    assert_eq!(h.state().history.received, 0);

    h.get_by_label("Train").click();
    step_until(
        &mut h,
        "50 steps with metrics and an NLL",
        Duration::from_secs(60),
        |a| a.history.received >= 50 && !a.history.nll.is_empty(),
    );
    let a = h.state();
    assert!(a.running);
    assert!(a.step >= 50);
    assert!(!a.history.data_term_norm.is_empty());
    assert!(!a.history.sample_term_norm.is_empty());
    assert!(!a.history.cos_terms.is_empty());
    assert!(
        !a.history.sample_term_cos_exact.is_empty(),
        "no exact-term points"
    );
    assert!(!a.history.kl_gap.is_empty() || !a.true_nll_known());
    assert_eq!(
        a.history.layers.len(),
        3,
        "per-layer terms for three Linear layers"
    );
    step_until(
        &mut h,
        "a view of samples after training began",
        Duration::from_secs(30),
        |a| {
            a.view
                .as_ref()
                .is_some_and(|v| v.step > 0 && !v.samples.is_empty())
        },
    );
    h.get_by_label("Pause").click();
    step_until(
        &mut h,
        "the worker to pause",
        Duration::from_secs(10),
        |a| !a.running,
    );
    // The step counter in the status bar shows the steps taken.
    h.step();
    h.step();
    let shown = format!("step {}", h.state().step);
    assert!(h.state().step >= 50);
    assert!(
        h.query_by_label(&shown).is_some(),
        "no step counter `{shown}`"
    );
    let paused_at = h.state().history.received;
    for _ in 0..20 {
        h.step();
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        h.state().history.received,
        paused_at,
        "metrics kept coming after Pause"
    );

    // Step once: exactly one more row.
    h.get_by_label("Step").click();
    step_until(&mut h, "one more step", Duration::from_secs(10), |a| {
        a.history.received == paused_at + 1
    });
}

#[test]
fn a_live_setting_reaches_the_worker_without_a_reset() {
    let mut h = harness();
    h.step();
    h.get_by_label("Train").click();
    step_until(&mut h, "some steps", Duration::from_secs(60), |a| {
        a.history.received >= 3
    });
    h.state_mut().state.preset.sampler.kind = SamplerKind::Sgld {
        step_size: 0.05,
        noise: 0.02,
    };
    step_until(
        &mut h,
        "the worker to report the new sampler",
        Duration::from_secs(10),
        |a| {
            a.worker_preset.sampler.kind
                == SamplerKind::Sgld {
                    step_size: 0.05,
                    noise: 0.02,
                }
        },
    );
    // Training went on: no reset, the history kept its rows.
    let before = h.state().history.received;
    step_until(&mut h, "more steps", Duration::from_secs(30), |a| {
        a.history.received > before
    });
    // The implied temperature is shown and it is far from 1.
    h.step();
    assert!(h.query_by_label_contains("T = s²/(2a) = 0.0040").is_some());
}

#[test]
fn changing_the_network_asks_before_resetting() {
    let mut h = harness();
    h.step();
    h.get_by_label("Step").click();
    step_until(&mut h, "one step", Duration::from_secs(30), |a| {
        a.history.received >= 1
    });
    let old = h.state().state.preset.model.clone();
    h.state_mut()
        .state
        .preset
        .model
        .layers
        .push(ebm_workbench::energy::LayerSpec::Linear(8));
    h.step();
    h.step();
    assert!(h.state().awaiting_confirmation());
    // A new modal is laid out invisibly on its first frame.
    frames(&mut h, 3);
    assert!(
        h.query_by_label("Reset the parameters?").is_some(),
        "no confirmation; messages: {:?}",
        h.state().messages
    );
    h.get_by_label("Cancel").click();
    h.step();
    assert_eq!(
        h.state().state.preset.model,
        old,
        "Cancel did not restore the network"
    );
    assert_eq!(h.state().worker_preset.model, old);
    assert_eq!(h.state().history.received, 1);

    h.state_mut()
        .state
        .preset
        .model
        .layers
        .push(ebm_workbench::energy::LayerSpec::Linear(8));
    frames(&mut h, 5);
    h.get_by_label("Reset and apply").click();
    step_until(
        &mut h,
        "the worker to run the new network",
        Duration::from_secs(10),
        |a| a.worker_preset.model.layers.len() == old.layers.len() + 1,
    );
    assert_eq!(
        h.state().history.received,
        0,
        "plots were not cleared by the reset"
    );
}

#[test]
fn a_broken_preset_shows_an_error_and_keeps_the_experiment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.ron");
    std::fs::write(
        &path,
        "(\n  version: 1,\n  steps: 10,\n  batch_size: ,\n)\n",
    )
    .unwrap();
    let mut h = harness();
    h.step();
    let before = h.state().state.preset.clone();
    h.state_mut().open_preset(&path);
    h.step();
    h.step();
    assert!(
        h.query_by_label_contains("broken.ron:4:").is_some(),
        "the error with file, line and column is shown"
    );
    assert_eq!(h.state().state.preset, before);
    assert_eq!(h.state().worker_preset, before);

    // A model file of the wrong kind: also a message, nothing lost.
    let bad_model = dir.path().join("bad.safetensors");
    std::fs::write(&bad_model, b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ").unwrap();
    h.state_mut().load_model(&bad_model);
    h.step();
    h.step();
    assert!(h.query_by_label_contains("bad.safetensors").is_some());
    assert_eq!(h.state().state.preset, before);
}

#[test]
fn space_trains_and_pauses() {
    let mut h = harness();
    h.step();
    h.key_press(egui::Key::Space);
    step_until(&mut h, "training to start", Duration::from_secs(30), |a| {
        a.running && a.history.received > 0
    });
    h.key_press(egui::Key::Space);
    step_until(&mut h, "training to pause", Duration::from_secs(10), |a| {
        !a.running
    });
}

#[test]
fn export_model_metrics_and_view_then_load_the_model_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness();
    h.step();
    h.state_mut()
        .run_command(ebm_workbench::gui::app::UiCommand::Step);
    step_until(&mut h, "a step and a view", Duration::from_secs(30), |a| {
        a.history.received >= 1 && a.view.as_ref().is_some_and(|v| v.step >= 1)
    });
    let model = dir.path().join("m.safetensors");
    let csv = dir.path().join("m.csv");
    let png = dir.path().join("v.png");
    h.state_mut().export_model(&model);
    h.state_mut().export_metrics(&csv);
    h.state_mut().export_png(&png);
    step_until(&mut h, "the files", Duration::from_secs(10), |_| {
        model.exists() && csv.exists()
    });
    assert_eq!(&std::fs::read(&png).unwrap()[1..4], b"PNG");
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(text.lines().count(), 2, "header and one step");
    // Loading the model back shows it: a fresh history, the model's preset.
    h.state_mut().load_model(&model);
    step_until(
        &mut h,
        "the loaded model's view",
        Duration::from_secs(10),
        |a| a.history.received == 0 && a.view.as_ref().is_some_and(|v| v.step == 0),
    );
    assert!(
        h.state()
            .messages
            .iter()
            .any(|m| !m.error && m.text.contains("loaded model"))
    );
    assert_eq!(h.state().step, 0);
}

#[test]
fn ais_runs_from_the_window_next_to_quadrature() {
    let dir = tempfile::tempdir().unwrap();
    let path = quick_preset(dir.path(), "eight_gaussians.ron");
    let mut h = harness();
    h.step();
    h.state_mut().open_preset(&path);
    h.get_by_label("Train").click();
    // An untrained network need not be normalisable outside the data box; train first.
    step_until(&mut h, "300 steps", Duration::from_secs(120), |a| {
        a.history.received >= 300
    });
    h.get_by_label("Pause").click();
    step_until(&mut h, "the pause", Duration::from_secs(10), |a| !a.running);
    h.get_by_label("Run AIS").click();
    step_until(&mut h, "an AIS result", Duration::from_secs(60), |a| {
        a.ais.is_some()
    });
    let (lz, se, quad) = h.state().ais.unwrap();
    assert!(se > 0.0 && se < 0.05, "standard error {se}");
    assert!((lz - quad).abs() < 0.15, "AIS {lz} vs quadrature {quad}");
    assert!(h.state().messages.iter().any(|m| m.text.contains("AIS")));
}

#[test]
fn switching_to_the_autograd_engine_keeps_training() {
    let mut h = harness();
    h.step();
    h.get_by_label("Train").click();
    step_until(&mut h, "some steps", Duration::from_secs(60), |a| {
        a.history.received >= 3
    });
    h.state_mut().state.preset.engine = ebm_workbench::preset::Engine::Autograd;
    step_until(
        &mut h,
        "the worker on autograd",
        Duration::from_secs(10),
        |a| a.worker_preset.engine == ebm_workbench::preset::Engine::Autograd,
    );
    let before = h.state().history.received;
    step_until(
        &mut h,
        "steps with autograd",
        Duration::from_secs(60),
        |a| a.history.received >= before + 3,
    );
    h.step();
    assert!(h.query_by_label_contains("autograd, CPU").is_some());
}

#[test]
fn an_example_with_hmc_shows_its_acceptance_and_the_rule_can_switch_to_mala() {
    let mut h = harness();
    h.step();
    h.get_by_label("Examples").click();
    frames(&mut h, 3);
    h.get_by_label("eight_gaussians_hmc").click();
    h.step();
    assert_eq!(h.state().state.preset.name, "eight_gaussians_hmc");
    assert!(matches!(
        h.state().state.preset.sampler.kind,
        SamplerKind::Hmc { .. }
    ));
    h.get_by_label("Train").click();
    step_until(&mut h, "acceptance rates", Duration::from_secs(60), |a| {
        a.history.acceptance.len() >= 3
    });
    h.step();
    assert!(
        h.query_by_label_contains("Sampler acceptance rate")
            .is_some()
    );
    let rate = h.state().history.acceptance.last().unwrap();
    assert!((0.3..=1.0).contains(&rate), "{rate}");

    // The rule's menu shows the current rule; pick MALA from it.
    h.get_by_value("HMC").click();
    frames(&mut h, 3);
    h.get_by_label("MALA").click();
    step_until(&mut h, "the worker on MALA", Duration::from_secs(10), |a| {
        matches!(a.worker_preset.sampler.kind, SamplerKind::Mala { .. })
    });
    let before = h.state().history.acceptance.len();
    step_until(&mut h, "MALA steps", Duration::from_secs(60), |a| {
        a.history.acceptance.len() >= before + 3
    });
}

#[test]
fn a_data_file_trains_and_a_broken_one_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("x,y\n");
    for i in 0..500 {
        let t = f64::from(i) * 0.7;
        text.push_str(&format!("{},{}\n", 3.0 * t.cos(), 1.0 * t.sin()));
    }
    let good = dir.path().join("ellipse.csv");
    std::fs::write(&good, &text).unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, format!("{text}1.5,oops\n")).unwrap();

    let mut h = harness();
    h.step();
    let before = h.state().state.preset.clone();
    // A broken file: the message names file, line and column; nothing changes.
    h.state_mut().open_any(&bad);
    h.step();
    h.step();
    assert!(
        h.query_by_label_contains("bad.csv:line 502, column 2")
            .is_some(),
        "the error names the place"
    );
    assert_eq!(h.state().state.preset, before);

    // A good one (as dropped on the window): the Data panel shows it, training runs.
    h.state_mut().open_any(&good);
    h.step();
    assert_eq!(
        h.state().state.preset.data.file.as_deref(),
        Some(good.as_path())
    );
    step_until(
        &mut h,
        "the worker on the file",
        Duration::from_secs(10),
        |a| a.worker_preset.data.file.is_some(),
    );
    h.step();
    assert!(h.query_by_label("ellipse.csv").is_some());
    assert!(
        h.query_by_label("500").is_some(),
        "the number of points is shown"
    );
    h.get_by_label("Train").click();
    step_until(
        &mut h,
        "steps on the file's data",
        Duration::from_secs(60),
        |a| a.history.received >= 5,
    );

    // Back to a toy set from the panel.
    h.get_by_label("Use a toy set").click();
    step_until(&mut h, "the confirmation", Duration::from_secs(5), |a| {
        a.awaiting_confirmation()
    });
    frames(&mut h, 3);
    h.get_by_label("Reset and apply").click();
    step_until(
        &mut h,
        "the worker on the toy set",
        Duration::from_secs(10),
        |a| a.worker_preset.data.file.is_none(),
    );
}

#[test]
fn the_jem_example_shows_accuracy_and_calibration() {
    let mut h = harness();
    h.step();
    h.state_mut().open_example("eight_gaussians_jem.ron");
    h.step();
    assert_eq!(h.state().state.preset.model.outputs, 8);
    // A smaller network and batch, so that the test is quick on a loaded machine.
    {
        let p = &mut h.state_mut().state.preset;
        p.eval.eval_every = 10;
        p.batch_size = 64;
        p.model.layers = common::mlp(32);
    }
    step_until(
        &mut h,
        "the smaller network",
        Duration::from_secs(10),
        |a| a.worker_preset.batch_size == 64,
    );
    h.get_by_label("Train").click();
    step_until(
        &mut h,
        "a held-out accuracy",
        Duration::from_secs(60),
        |a| !a.history.accuracy.is_empty(),
    );
    h.step();
    assert!(
        h.query_by_label_contains("JEM: held-out accuracy")
            .is_some()
    );
    assert!(
        h.query_by_label_contains("logits, E = −logsumexp")
            .is_some()
    );
    // The class map: each grid cell's most probable class comes with the view.
    h.get_by_label("classes").click();
    h.step();
    h.step();
    step_until(
        &mut h,
        "a view with classes after 100 steps",
        Duration::from_secs(60),
        |a| {
            a.view.as_ref().is_some_and(|v| {
                v.step >= 100
                    && v.classes
                        .as_ref()
                        .is_some_and(|(best, _)| best.len() == v.grid * v.grid)
            })
        },
    );
    assert_eq!(
        h.state().state.samples.heat,
        ebm_workbench::gui::views::HeatKind::Classes
    );
    let v = h.state().view.clone().unwrap();
    let (best, _) = v.classes.unwrap();
    let distinct: std::collections::BTreeSet<u32> = best.iter().copied().collect();
    assert!(
        distinct.len() >= 6,
        "a trained 8-class map shows most classes: {distinct:?}"
    );

    // Draws from p(x | y = 3), picked from the view's menu, are shown over the view.
    h.get_by_value("p(x | y): none").click();
    frames(&mut h, 3);
    h.get_by_label("class 3").click();
    step_until(&mut h, "class samples", Duration::from_secs(30), |a| {
        a.class_samples.is_some()
    });
    let (class, points) = h.state().class_samples.clone().unwrap();
    assert_eq!(class, 3);
    assert_eq!(
        points.len(),
        2 * ebm_workbench::train::worker::CLASS_SAMPLES
    );
    h.step();
    assert!(
        h.query_by_label_contains("draws from p(x | class 3)")
            .is_some()
    );

    // Back to maximum likelihood from the Objective menu: the logits stay, no more CE.
    h.get_by_value("JEM (hybrid)").click();
    frames(&mut h, 3);
    h.get_by_label("maximum likelihood").click();
    step_until(&mut h, "the worker on ML", Duration::from_secs(10), |a| {
        a.worker_preset.objective.kind == ebm_workbench::preset::ObjectiveKind::MaximumLikelihood
    });
}

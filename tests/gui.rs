//! The window driven headless the way a person uses it (egui_kittest): drop a preset on
//! it, press Train, watch the plots fill; pick settings from their menus and type them
//! into their fields; open a broken file; let a run diverge; restart the window.
#![cfg(feature = "gui")]

mod common;

use ebm_workbench::gui::app::{PersistedState, UiCommand, WorkbenchApp};
use ebm_workbench::sampler::SamplerKind;
use egui::accesskit::Role;
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use egui_kittest::{Harness, Node};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn harness() -> Harness<'static, WorkbenchApp> {
    harness_sized(1500.0, 950.0)
}

/// A fresh window of `width` × `height` points.
fn harness_sized(width: f32, height: f32) -> Harness<'static, WorkbenchApp> {
    Harness::builder()
        .with_size([width, height])
        .build_eframe(|cc| WorkbenchApp::with_state(&cc.egui_ctx, PersistedState::default()))
}

/// Runs `n` frames (menus and modals open a frame or two after the click), then waits
/// as a person would for a run asked of the worker (a reset, an opened file) to start:
/// the worker loads its data off the window's thread.
fn frames(h: &mut Harness<'_, WorkbenchApp>, n: usize) {
    for _ in 0..n {
        h.step();
    }
    let t0 = Instant::now();
    while h.state().is_starting() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the worker did not start the run asked for"
        );
        h.step();
        std::thread::sleep(Duration::from_millis(5));
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

/// Steps frames until a text containing `text` is on screen.
fn step_until_shown(h: &mut Harness<'_, WorkbenchApp>, text: &str, timeout: Duration) {
    let t0 = Instant::now();
    while h.query_by_label_contains(text).is_none() {
        assert!(
            t0.elapsed() < timeout,
            "timed out waiting for `{text}` on screen; messages: {:?}",
            h.state().messages
        );
        h.step();
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A file as the window receives it when it is dropped on it.
#[derive(Debug)]
struct DroppedPath(PathBuf);

impl egui::DroppedFile for DroppedPath {
    fn path(&self) -> &Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

/// Drops the file at `path` on the window.
fn drop_file(h: &mut Harness<'_, WorkbenchApp>, path: &Path) {
    h.input_mut()
        .dropped_files
        .push(std::sync::Arc::new(DroppedPath(path.to_path_buf())));
    frames(h, 2);
}

/// The value field a person edits for `label`: the field itself when it carries the
/// label (a prefix such as "width"), else the first field right of the label on the
/// label's row (the settings are grids of a label and its field). `nth` counts the
/// places with that label from the top.
fn field<'h>(h: &'h Harness<'_, WorkbenchApp>, label: &'h str, nth: usize) -> Node<'h> {
    let mut labels: Vec<Node<'h>> = h.get_all_by_label(label).collect();
    labels.sort_by(|a, b| a.rect().top().total_cmp(&b.rect().top()));
    let Some(l) = labels.get(nth).copied() else {
        panic!("no `{label}` number {nth}; there are {}", labels.len());
    };
    if l.accesskit_node().role() == Role::SpinButton {
        return l;
    }
    let r = l.rect();
    h.get_all_by_role(Role::SpinButton)
        .filter(|f| {
            let b = f.rect();
            b.left() >= r.right() - 1.0
                && b.top() - 2.0 <= r.center().y
                && r.center().y <= b.bottom() + 2.0
        })
        .min_by(|a, b| a.rect().left().total_cmp(&b.rect().left()))
        .unwrap_or_else(|| panic!("no field on the row of `{label}`"))
}

/// What the field of `label` shows, as a number (a prefix such as "width " dropped).
fn shown_number(h: &Harness<'_, WorkbenchApp>, label: &str, nth: usize) -> f64 {
    let text = field(h, label, nth).value().unwrap_or_default();
    let number = text.trim_start_matches(|c: char| !(c.is_ascii_digit() || c == '-' || c == '.'));
    number
        .parse()
        .unwrap_or_else(|e| panic!("the field of `{label}` shows `{text}`: {e}"))
}

/// A widget as a person finds it.
#[derive(Clone, Copy)]
enum Target<'a> {
    /// The widget with this label (a button, a check box).
    Label(&'a str),
    /// The menu that shows this value.
    Menu(&'a str),
    /// The `nth` value field of this label (see [`field`]).
    Field(&'a str, usize),
}

fn find<'h>(h: &'h Harness<'_, WorkbenchApp>, target: Target<'h>) -> Node<'h> {
    match target {
        Target::Label(label) => h.get_by_label(label),
        Target::Menu(value) => h.get_by_value(value),
        Target::Field(label, nth) => field(h, label, nth),
    }
}

/// Scrolls the widget into view, waits until it stays put (a scroll shows a few frames
/// later, and a click on a widget that moves under the pointer misses it), and clicks it.
fn click(h: &mut Harness<'_, WorkbenchApp>, target: Target<'_>) {
    find(h, target).scroll_to_me();
    frames(h, 3);
    let mut last = find(h, target).rect();
    for _ in 0..20 {
        h.step();
        let now = find(h, target).rect();
        if now == last {
            break;
        }
        last = now;
    }
    find(h, target).click();
    frames(h, 2);
}

/// Types `text` into the field of `label` as a person does: click it (a drag value
/// turns into a text field), type, press Enter.
fn type_into(h: &mut Harness<'_, WorkbenchApp>, label: &str, nth: usize, text: &str) {
    click(h, Target::Field(label, nth));
    h.event(egui::Event::Text(text.to_string()));
    h.step();
    h.key_press(egui::Key::Enter);
    frames(h, 2);
}

/// Opens the menu that shows `current` and picks `choice` from it.
fn pick(h: &mut Harness<'_, WorkbenchApp>, current: &str, choice: &str) {
    click(h, Target::Menu(current));
    frames(h, 1);
    h.get_by_label(choice).click();
    frames(h, 2);
}

/// Clicks the button or box labelled `label`, scrolled into view first.
fn press(h: &mut Harness<'_, WorkbenchApp>, label: &str) {
    click(h, Target::Label(label));
}

/// The number that follows `prefix` in a label on screen (e.g. "NLL " in the status
/// bar: "NLL 3.1416").
fn number_after(h: &Harness<'_, WorkbenchApp>, prefix: &str) -> f64 {
    let number = |text: String| -> Option<f64> {
        let rest = text.strip_prefix(prefix)?;
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
            .unwrap_or(rest.len());
        rest[..end].parse().ok()
    };
    h.query_all_by_label_contains(prefix)
        .find_map(|n| {
            n.value()
                .and_then(number)
                .or_else(|| n.accesskit_node().label().and_then(number))
        })
        .unwrap_or_else(|| panic!("no number after `{prefix}` on screen"))
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
    drop_file(&mut h, &path);
    assert_eq!(h.state().state.preset.name, "two_moons");
    assert!(
        h.query_by_label_contains("two_moons · fast engine")
            .is_some(),
        "the toolbar names the opened preset (its data's name is the same: said once)"
    );
    assert_eq!(h.state().run.history.received, 0);

    h.get_by_label("Train").click();
    step_until(
        &mut h,
        "50 steps with metrics and an NLL",
        Duration::from_secs(60),
        |a| a.run.history.received >= 50 && !a.run.history.nll.is_empty(),
    );
    let a = h.state();
    assert!(a.run.running);
    assert!(a.run.step >= 50);
    assert!(!a.run.history.data_term_norm.is_empty());
    assert!(!a.run.history.sample_term_norm.is_empty());
    assert!(!a.run.history.cos_terms.is_empty());
    assert!(
        !a.run.history.sample_term_cos_exact.is_empty(),
        "no exact-term points: no evaluation step yet"
    );
    // What the evaluations cost, under the step-time plot.
    assert!(!a.run.history.eval_ms.is_empty());
    h.step();
    assert!(
        h.query_by_label_contains("Evaluations: ").is_some(),
        "the step-time plot does not say what evaluations cost"
    );
    let a = h.state();
    // Two moons has no known density: no true NLL and so no KL gap, although the
    // held-out NLL was evaluated (the exact-term points above come with it).
    assert!(!a.true_nll_known(), "two moons has no true density");
    assert!(
        a.run.history.kl_gap.is_empty(),
        "a KL gap without a true NLL: {:?}",
        a.run.history.kl_gap.points
    );
    assert_eq!(
        a.run.history.layers.len(),
        3,
        "per-layer terms for three Linear layers"
    );
    h.step();
    assert!(
        h.query_by_label("True density unknown for this data.")
            .is_some()
    );
    assert!(
        h.query_by_label("■ model NLL").is_some(),
        "the NLL plot's key is readable"
    );
    assert!(
        h.query_by_label("■ true NLL").is_none(),
        "a true-NLL line for data without a known density"
    );
    step_until(
        &mut h,
        "a view of samples after training began",
        Duration::from_secs(30),
        |a| {
            a.run
                .view
                .as_ref()
                .is_some_and(|v| v.step > 0 && v.chains().is_some_and(|c| !c.samples.is_empty()))
        },
    );
    h.get_by_label("Pause").click();
    step_until(
        &mut h,
        "the worker to pause",
        Duration::from_secs(10),
        |a| !a.run.running,
    );
    // The step counter in the status bar shows the steps taken.
    h.step();
    h.step();
    let shown = format!("step {}", h.state().run.step);
    assert!(h.state().run.step >= 50);
    assert!(
        h.query_by_label(&shown).is_some(),
        "no step counter `{shown}`"
    );
    let paused_at = h.state().run.history.received;
    for _ in 0..20 {
        h.step();
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        h.state().run.history.received,
        paused_at,
        "metrics kept coming after Pause"
    );

    // Step once: exactly one more row.
    h.get_by_label("Step").click();
    step_until(&mut h, "one more step", Duration::from_secs(10), |a| {
        a.run.history.received == paused_at + 1
    });
}

#[test]
fn a_live_setting_reaches_the_worker_without_a_reset() {
    let mut h = harness();
    h.step();
    h.get_by_label("Train").click();
    step_until(&mut h, "some steps", Duration::from_secs(60), |a| {
        a.run.history.received >= 3
    });
    // SGLD from the rule's menu, then its step and noise typed into their fields (the
    // second "Noise" on the left is the sampler's; the first is the data's).
    pick(&mut h, "Langevin", "SGLD");
    type_into(&mut h, "Step size", 0, "0.05");
    type_into(&mut h, "Noise", 1, "0.02");
    assert!((shown_number(&h, "Step size", 0) - 0.05).abs() < 1e-9);
    assert!((shown_number(&h, "Noise", 1) - 0.02).abs() < 1e-9);
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
    // The data's noise was not touched.
    assert_eq!(h.state().state.preset.data.noise, None);
    // Training went on: no reset, the history kept its rows.
    let before = h.state().run.history.received;
    assert!(before >= 3, "the plots were cleared");
    step_until(&mut h, "more steps", Duration::from_secs(30), |a| {
        a.run.history.received > before
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
        a.run.history.received >= 1
    });
    let old = h.state().state.preset.model.clone();
    let params = number_after(&h, "Parameters: ");
    press(&mut h, "+ Linear");
    assert!(h.state().awaiting_confirmation());
    // A new modal is laid out invisibly on its first frame.
    frames(&mut h, 3);
    assert!(
        h.query_by_label("Reset the parameters?").is_some(),
        "no confirmation; messages: {:?}",
        h.state().messages
    );
    assert!(
        h.query_by_label_contains("Changing the network starts the model over")
            .is_some()
    );
    h.get_by_label("Cancel").click();
    frames(&mut h, 2);
    assert_eq!(
        h.state().state.preset.model,
        old,
        "Cancel did not restore the network"
    );
    assert!(
        (number_after(&h, "Parameters: ") - params).abs() < 0.5,
        "the panel shows another network after Cancel"
    );
    assert_eq!(h.state().worker_preset.model, old);
    assert_eq!(h.state().run.history.received, 1);

    press(&mut h, "+ Linear");
    frames(&mut h, 3);
    h.get_by_label("Reset and apply").click();
    step_until(
        &mut h,
        "the worker to run the new network",
        Duration::from_secs(10),
        |a| a.worker_preset.model.layers.len() == old.layers.len() + 1,
    );
    h.step();
    assert!(
        number_after(&h, "Parameters: ") > params,
        "the panel does not show the larger network"
    );
    assert_eq!(
        h.state().run.history.received,
        0,
        "plots were not cleared by the reset"
    );
    assert!(h.query_by_label("step 0").is_some());
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
    drop_file(&mut h, &path);
    assert!(
        h.query_by_label_contains("broken.ron:4:").is_some(),
        "the error with file, line and column is shown"
    );
    assert_eq!(h.state().state.preset, before);
    assert_eq!(h.state().worker_preset, before);

    // A model file of the wrong kind: also a message, nothing lost.
    let bad_model = dir.path().join("bad.safetensors");
    std::fs::write(&bad_model, b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ").unwrap();
    drop_file(&mut h, &bad_model);
    assert!(h.query_by_label_contains("bad.safetensors").is_some());
    assert_eq!(h.state().state.preset, before);
    assert!(
        h.query_by_label_contains("eight_gaussians · ").is_some(),
        "the toolbar still names the experiment"
    );
}

/// The message log keeps what the status bar replaces: a broken preset's error, then an
/// example opened after it (a new run clears the status bar's messages), are both in the
/// Messages window, newest first, with their steps; the button says how many warnings
/// came since it was last opened, in the warning colour, until it is.
#[test]
fn the_message_log_keeps_every_warning_and_change_with_its_step() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.ron");
    std::fs::write(&path, "(\n  version: 1,\n  batch_size: ,\n)\n").unwrap();
    let mut h = harness();
    h.step();
    drop_file(&mut h, &path);
    assert!(h.query_by_label_contains("broken.ron:3:").is_some());
    assert!(
        h.query_by_label("Messages (1 new)").is_some(),
        "one warning unread"
    );
    open_example_from_menu(&mut h, "two_moons");
    confirm_if_asked(&mut h);
    step_until_shown(&mut h, "two_moons · ", Duration::from_secs(10));
    assert!(
        h.query_by_label_contains("broken.ron:3:").is_none(),
        "the status bar moved on"
    );
    press(&mut h, "Messages (1 new)");
    frames(&mut h, 3);
    let log = &h.state().log;
    assert!(!log.open || log.unread == 0);
    let texts: Vec<&str> = log.entries.iter().map(|e| e.text.as_str()).collect();
    let broken = texts
        .iter()
        .position(|t| t.contains("broken.ron:3:"))
        .expect("the error is kept");
    assert!(log.entries[broken].error);
    assert!(
        texts[broken + 1..].iter().any(|t| t.contains("two_moons")),
        "the example's message after it: {texts:?}"
    );
    assert!(
        h.query_by_label_contains("broken.ron:3:").is_some(),
        "shown in the log's window"
    );
    assert!(
        h.query_by_label("Messages (1 new)").is_none(),
        "read: the button is plain again"
    );
}

/// A warning stays in the status bar ahead of the neutral notes after it until the log
/// is read: a step size typed out of range is clamped with a warning, the change that
/// follows ("from step 1: step size …") does not replace it; opened Messages, the latest
/// note shows.
#[test]
fn a_warning_stays_in_the_status_bar_until_read() {
    let mut h = harness();
    frames(&mut h, 2);
    type_into(&mut h, "Step size", 0, "50");
    step_until(&mut h, "the change applied", Duration::from_secs(10), |a| {
        a.messages
            .iter()
            .any(|m| m.text.contains("step size 0.1 → 10"))
    });
    frames(&mut h, 2);
    let status = |h: &Harness<'_, WorkbenchApp>, text: &str| {
        h.query_all_by_label_contains(text).next().is_some()
    };
    assert!(status(&h, "50 is outside"), "the clamp warning stays");
    assert!(!status(&h, "step size 0.1 → 10"), "the neutral note waits");
    press(&mut h, "Messages (1 new)");
    frames(&mut h, 3);
    assert_eq!(h.state().log.unread, 0);
    // Read: the note shows in the status bar as well as in the open log.
    assert_eq!(
        h.query_all_by_label_contains("step size 0.1 → 10").count(),
        2,
        "read: the latest note shows"
    );
}

#[test]
fn space_trains_and_pauses() {
    let mut h = harness();
    h.step();
    h.key_press(egui::Key::Space);
    step_until(&mut h, "training to start", Duration::from_secs(30), |a| {
        a.run.running && a.run.history.received > 0
    });
    h.key_press(egui::Key::Space);
    step_until(&mut h, "training to pause", Duration::from_secs(10), |a| {
        !a.run.running
    });
}

#[test]
fn export_model_metrics_and_view_then_load_the_model_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness();
    h.step();
    h.get_by_label("Step").click();
    step_until(&mut h, "a step and a view", Duration::from_secs(30), |a| {
        a.run.history.received >= 1 && a.run.view.as_ref().is_some_and(|v| v.step >= 1)
    });
    // The toolbar's buttons ask for a file name in a dialog, which a test cannot
    // answer: call what runs with the chosen name.
    let model = dir.path().join("m.safetensors");
    let csv = dir.path().join("m.csv");
    let png = dir.path().join("v.png");
    h.state_mut().export_model(&model);
    h.state_mut().export_metrics(&csv);
    h.state_mut().export_png(&png);
    // The window says it wrote each file.
    step_until(&mut h, "the files", Duration::from_secs(10), |a| {
        [&model, &csv, &png].iter().all(|p| {
            let said = format!("wrote {}", p.display());
            a.messages.iter().any(|m| !m.error && m.text == said)
        })
    });
    assert!(model.exists() && csv.exists());
    assert_eq!(&std::fs::read(&png).unwrap()[1..4], b"PNG");
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(text.lines().count(), 2, "header and one step");
    // Dropping the model on the window shows it: a fresh history, the model's preset.
    drop_file(&mut h, &model);
    // It replaces a trained run: the window asks first.
    assert!(h.query_by_label("Replace the trained run?").is_some());
    confirm_if_asked(&mut h);
    step_until(
        &mut h,
        "the loaded model's view",
        Duration::from_secs(10),
        |a| a.run.history.received == 0 && a.run.view.as_ref().is_some_and(|v| v.step == 0),
    );
    h.step();
    assert!(
        h.query_by_label_contains("loaded model").is_some(),
        "messages: {:?}",
        h.state().messages
    );
    assert!(h.query_by_label("step 0").is_some());
}

/// The step column of a metrics CSV file.
fn csv_steps(path: &Path) -> Vec<usize> {
    std::fs::read_to_string(path)
        .expect("the metrics file")
        .lines()
        .skip(1)
        .map(|l| {
            l.split(',')
                .next()
                .and_then(|s| s.parse().ok())
                .expect("a step number")
        })
        .collect()
}

#[test]
fn metrics_exported_after_the_window_was_busy_hold_each_step_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("small.ron");
    let mut p = common::small(16);
    // Training goes on until paused.
    p.steps = 1_000_000;
    p.save(&path).unwrap();
    let mut h = harness();
    h.step();
    drop_file(&mut h, &path);
    h.get_by_label("Train").click();
    step_until(&mut h, "training", Duration::from_secs(30), |a| {
        a.run.running && a.run.history.received > 0
    });
    // A file dialog (Export metrics…, Open preset…) blocks the window's thread while it
    // is open; training goes on and its events wait in the channel until it is full.
    std::thread::sleep(Duration::from_secs(6));
    h.get_by_label("Pause").click();
    // Paused, and every step taken is in the plots.
    step_until(&mut h, "the pause", Duration::from_secs(30), |a| {
        !a.run.running && a.run.step > 0 && a.run.history.received == a.run.step
    });
    let taken = h.state().run.step;
    assert!(taken > 100, "{taken} steps in 6 s");
    let csv = dir.path().join("metrics.csv");
    h.state_mut().export_metrics(&csv);
    step_until(&mut h, "the file", Duration::from_secs(10), |_| {
        csv.exists()
    });
    let steps = csv_steps(&csv);
    let repeated = steps.windows(2).filter(|w| w[1] <= w[0]).count();
    assert_eq!(
        repeated,
        0,
        "{repeated} rows out of order or repeated among {} for {taken} steps",
        steps.len()
    );
    assert_eq!(steps, (1..=taken).collect::<Vec<_>>());
    assert_eq!(h.state().run.history.received, taken);
}

#[test]
fn ais_runs_from_the_window_next_to_quadrature() {
    let dir = tempfile::tempdir().unwrap();
    let path = quick_preset(dir.path(), "eight_gaussians.ron");
    let mut h = harness();
    h.step();
    drop_file(&mut h, &path);
    h.get_by_label("Train").click();
    // An untrained network need not be normalisable outside the data box; train first.
    step_until(&mut h, "300 steps", Duration::from_secs(120), |a| {
        a.run.history.received >= 300
    });
    h.get_by_label("Pause").click();
    step_until(&mut h, "the pause", Duration::from_secs(10), |a| {
        !a.run.running
    });
    frames(&mut h, 2);

    // 8 gaussians has a known density: the true NLL is shown under Data and as a line
    // in the NLL plot, and every evaluation has a KL gap, the shown NLL minus the
    // shown true NLL.
    assert!(h.state().true_nll_known());
    assert!(
        h.query_by_label("■ true NLL").is_some(),
        "no true-NLL line in the NLL plot's key"
    );
    let true_nll = number_after(&h, "True NLL of the held-out split: ");
    assert!(
        (2.5..3.5).contains(&true_nll),
        "true NLL {true_nll} (about 2.875 for 8 gaussians)"
    );
    let nll = number_after(&h, "NLL ");
    let gap = &h.state().run.history.kl_gap;
    assert!(
        gap.len() >= 300 / 20,
        "{} KL gap points for 300 steps evaluated every 20",
        gap.len()
    );
    let last_gap = gap.last().unwrap();
    assert!(
        (last_gap - (nll - true_nll)).abs() < 1e-3,
        "KL gap {last_gap} vs shown NLL {nll} − true NLL {true_nll}"
    );
    assert!(last_gap > 0.0, "a model better than the truth: {last_gap}");

    h.get_by_label("Run AIS").click();
    step_until(&mut h, "an AIS result", Duration::from_secs(60), |a| {
        a.run.ais.is_some()
    });
    let (lz, se, quad, trusted) = h.state().run.ais.unwrap();
    assert!(se > 0.0 && se < 0.05, "standard error {se}");
    assert!(
        trusted,
        "forward and reverse AIS bracket log Z closely in the plane"
    );
    let quad = quad.expect("quadrature in the plane");
    assert!((lz - quad).abs() < 0.15, "AIS {lz} vs quadrature {quad}");
    h.step();
    assert!(
        h.query_by_label_contains("log Z by quadrature").is_some(),
        "the AIS result is not shown; messages: {:?}",
        h.state().messages
    );
}

#[test]
fn switching_to_the_autograd_engine_keeps_training() {
    let mut h = harness();
    h.step();
    h.get_by_label("Train").click();
    step_until(&mut h, "some steps", Duration::from_secs(60), |a| {
        a.run.history.received >= 3
    });
    pick(&mut h, "Auto", "Autograd");
    step_until(
        &mut h,
        "the worker on autograd",
        Duration::from_secs(10),
        |a| a.worker_preset.engine == ebm_workbench::preset::EngineChoice::Autograd,
    );
    let before = h.state().run.history.received;
    step_until(
        &mut h,
        "steps with autograd",
        Duration::from_secs(60),
        |a| a.run.history.received >= before + 3,
    );
    h.step();
    assert!(h.query_by_label_contains("candle autograd, CPU").is_some());
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
        a.run.history.acceptance.len() >= 3
    });
    h.step();
    assert!(
        h.query_by_label_contains("Sampler acceptance rate")
            .is_some()
    );
    let rate = h.state().run.history.acceptance.last().unwrap();
    assert!((0.3..=1.0).contains(&rate), "{rate}");

    // The rule's menu shows the current rule; pick MALA from it.
    pick(&mut h, "HMC", "MALA");
    step_until(&mut h, "the worker on MALA", Duration::from_secs(10), |a| {
        matches!(a.worker_preset.sampler.kind, SamplerKind::Mala { .. })
    });
    let before = h.state().run.history.acceptance.len();
    step_until(&mut h, "MALA steps", Duration::from_secs(60), |a| {
        a.run.history.acceptance.len() >= before + 3
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
    // A broken file dropped on the window: the message names file, line and column;
    // nothing changes.
    drop_file(&mut h, &bad);
    assert!(
        h.query_by_label_contains("bad.csv:line 502, column 2")
            .is_some(),
        "the error names the place"
    );
    assert_eq!(h.state().state.preset, before);

    // A good one: the Data panel shows it, training runs.
    drop_file(&mut h, &good);
    assert_eq!(h.state().state.preset.data.file(), Some(good.as_path()));
    step_until(
        &mut h,
        "the worker on the file",
        Duration::from_secs(10),
        |a| a.worker_preset.data.file().is_some(),
    );
    // Read once, by the worker: the window draws the worker's own copy.
    assert!(
        std::sync::Arc::strong_count(&h.state().run.data) >= 2,
        "the window's data are not the worker's"
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
        |a| a.run.history.received >= 5,
    );

    // Back to a toy set from the panel.
    press(&mut h, "Use a toy set");
    step_until(&mut h, "the confirmation", Duration::from_secs(5), |a| {
        a.awaiting_confirmation()
    });
    frames(&mut h, 3);
    h.get_by_label("Reset and apply").click();
    step_until(
        &mut h,
        "the worker on the toy set",
        Duration::from_secs(10),
        |a| a.worker_preset.data.file().is_none(),
    );
    h.step();
    assert!(h.query_by_label("ellipse.csv").is_none());
}

#[test]
fn the_jem_example_shows_accuracy_and_calibration() {
    let mut h = harness();
    h.step();
    h.get_by_label("Examples").click();
    frames(&mut h, 3);
    h.get_by_label("eight_gaussians_jem").click();
    frames(&mut h, 2);
    assert_eq!(h.state().state.preset.model.outputs, 8);
    // A smaller network, batch and evaluation interval, typed into their fields (before
    // the first step each applies at once), so that the test is quick on a loaded
    // machine.
    type_into(&mut h, "Batch", 0, "64");
    type_into(&mut h, "NLL every", 0, "10");
    type_into(&mut h, "width", 0, "32");
    type_into(&mut h, "width", 1, "32");
    assert!(!h.state().awaiting_confirmation());
    for (label, nth, value) in [
        ("Batch", 0, 64.0),
        ("NLL every", 0, 10.0),
        ("width", 0, 32.0),
        ("width", 1, 32.0),
    ] {
        let shown = shown_number(&h, label, nth);
        assert!(
            (shown - value).abs() < 1e-9,
            "`{label}` shows {shown}, typed {value}"
        );
    }
    step_until(
        &mut h,
        "the smaller network",
        Duration::from_secs(10),
        |a| {
            a.worker_preset.batch_size == 64
                && a.worker_preset.eval.eval_every == 10
                && a.worker_preset.model.layers == common::mlp(32)
        },
    );
    h.get_by_label("Train").click();
    step_until(
        &mut h,
        "a held-out accuracy",
        Duration::from_secs(60),
        |a| !a.run.history.accuracy.is_empty(),
    );
    h.step();
    assert!(h.query_by_label_contains("JEM: accuracy").is_some());
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
            a.run.view.as_ref().is_some_and(|v| {
                v.step >= 100
                    && v.heat().is_some_and(|h| {
                        h.classes
                            .as_ref()
                            .is_some_and(|(best, _)| best.len() == h.grid * h.grid)
                    })
            })
        },
    );
    assert_eq!(
        h.state().state.samples.heat,
        ebm_workbench::gui::views::HeatKind::Classes
    );
    assert!(
        h.query_by_label("colour key: class colours 0 to 7")
            .is_some(),
        "the view's key names the class colours"
    );
    let v = h.state().run.view.clone().unwrap();
    let (best, _) = v.heat().and_then(|h| h.classes.clone()).unwrap();
    let distinct: std::collections::BTreeSet<u32> = best.iter().copied().collect();
    assert!(
        distinct.len() >= 6,
        "a trained 8-class map shows most classes: {distinct:?}"
    );

    // Draws from p(x | y = 3), picked from the view's menu, are shown over the view.
    pick(&mut h, "p(x | y): none", "class 3");
    step_until(&mut h, "class samples", Duration::from_secs(30), |a| {
        a.run.class_samples.is_some()
    });
    let (class, points) = h.state().run.class_samples.clone().unwrap();
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
    assert!(h.query_by_label("◆ samples of class 3").is_some());

    // Back to maximum likelihood from the Objective menu: the logits stay, no more CE.
    pick(&mut h, "JEM (hybrid)", "maximum likelihood");
    step_until(&mut h, "the worker on ML", Duration::from_secs(10), |a| {
        a.worker_preset.objective.kind == ebm_workbench::preset::ObjectiveKind::MaximumLikelihood
    });
}

/// The start of the warning that the sampler's chains no longer follow the model.
const LAG: &str = "the sampler no longer follows the model";

/// How many divergences the window marked on the curves' step axis.
fn divergences(a: &WorkbenchApp) -> usize {
    a.run
        .marks
        .iter()
        .filter(|(_, m)| *m == ebm_workbench::gui::views::Mark::Diverged)
        .count()
}

/// Picks the optimiser `to` from the menu showing `from` and types the learning rate,
/// α and the Langevin step size into their fields; checks what the fields show.
fn set_training(
    h: &mut Harness<'_, WorkbenchApp>,
    (from, to): (&str, &str),
    lr: &str,
    alpha: &str,
    step: &str,
) {
    pick(h, from, to);
    type_into(h, "Learning rate", 0, lr);
    type_into(h, "α", 0, alpha);
    type_into(h, "Step size", 0, step);
    assert!(h.query_by_value(to).is_some(), "the optimiser menu");
    for (label, typed) in [("Learning rate", lr), ("α", alpha), ("Step size", step)] {
        let shown = shown_number(h, label, 0);
        let typed: f64 = typed.parse().expect("a number was typed");
        assert!(
            (shown - typed).abs() < 1e-9,
            "`{label}` shows {shown}, typed {typed}"
        );
    }
}

#[test]
fn a_diverging_run_pauses_says_so_and_trains_on_with_sane_settings() {
    use ebm_workbench::optim::OptimizerKind;
    let dir = tempfile::tempdir().unwrap();
    let mut p = common::small(16);
    p.name = "small".into();
    // Train stops at step 150, an evaluation step (every 10): the last good state.
    p.steps = 150;
    let path = dir.path().join("small.ron");
    p.save(&path).unwrap();
    let mut h = harness();
    h.step();
    drop_file(&mut h, &path);
    assert_eq!(h.state().state.preset.name, "small");
    h.get_by_label("Train").click();
    step_until(&mut h, "150 healthy steps", Duration::from_secs(60), |a| {
        a.run.step == 150 && !a.run.running
    });
    assert_eq!(h.state().run.history.received, 150);

    // Then wild settings, typed in (as in tests/gradient_terms.rs, within the fields'
    // ranges): SGD at lr 1 with momentum 0.99, no energy regulariser, Langevin at
    // step 10. The energies run away within a few steps.
    set_training(&mut h, ("Adam", "SGD"), "1", "0", "10");
    type_into(&mut h, "Momentum", 0, "0.99");
    assert!((shown_number(&h, "Momentum", 0) - 0.99).abs() < 1e-9);
    step_until(
        &mut h,
        "the worker on the wild settings",
        Duration::from_secs(10),
        |a| {
            let w = &a.worker_preset;
            w.optimizer.kind == OptimizerKind::Sgd
                && (f64::from(w.optimizer.momentum) - 0.99).abs() < 1e-6
                && w.sampler.kind == SamplerKind::Langevin { step_size: 10.0 }
        },
    );
    h.get_by_label("Train").click();
    step_until_shown(&mut h, "training diverged", Duration::from_secs(60));
    step_until(
        &mut h,
        "the divergence pause",
        Duration::from_secs(10),
        |a| !a.run.running,
    );
    frames(&mut h, 2);
    // The message says what was rolled back, and to which step; the window is paused.
    assert!(
        h.query_by_label_contains("rolled back to step 150")
            .is_some(),
        "messages: {:?}",
        h.state().messages
    );
    assert!(h.query_by_label("step 150").is_some(), "the step counter");
    // The steps the roll-back undid (and their spike) left the plots.
    let last = h.state().run.history.e_data.points.last().unwrap()[0];
    assert!(last <= 150.0, "a point of an undone step at {last}");
    assert_eq!(h.state().run.history.received, 150);
    assert!(h.query_by_label_contains("training paused").is_some());
    assert!(
        h.query_by_label("Train").is_some(),
        "Train is offered again"
    );
    assert!(h.query_by_label("Pause").is_none());
    assert!(h.query_by_label("idle").is_some());
    let paused_at = h.state().run.history.received;
    for _ in 0..20 {
        h.step();
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        h.state().run.history.received,
        paused_at,
        "steps came after the divergence pause"
    );

    // Sane settings again: Adam at lr 1e-3, α = 0.1, Langevin at step 0.1.
    set_training(&mut h, ("SGD", "Adam"), "0.001", "0.1", "0.1");
    step_until(
        &mut h,
        "the worker on the sane settings",
        Duration::from_secs(10),
        |a| {
            let w = &a.worker_preset;
            w.optimizer.kind == OptimizerKind::Adam
                && (f64::from(w.optimizer.lr) - 1e-3).abs() < 1e-9
                && (w.objective.alpha - 0.1).abs() < 1e-6
                && w.sampler.kind == SamplerKind::Langevin { step_size: 0.1 }
        },
    );
    assert!(
        !h.state().awaiting_confirmation(),
        "live settings asked for a reset"
    );

    // Train: it trains on without a new divergence (the roll-back must also have
    // restored the replay buffer: chains left far out by the wild steps make the next
    // step diverge again at once).
    let said = divergences(h.state());
    assert!(said >= 1);
    h.get_by_label("Train").click();
    step_until(
        &mut h,
        "30 more steps or another divergence",
        Duration::from_secs(60),
        |a| a.run.history.received >= paused_at + 30 || divergences(a) > said,
    );
    assert_eq!(
        divergences(h.state()),
        said,
        "Train with sane settings diverged again: {:?}",
        h.state().messages.back()
    );
    h.step();
    assert!(h.state().run.running);
    assert!(
        h.query_by_label("Pause").is_some(),
        "the window is not training any more"
    );
    // And the chains are where they were at step 150: the sampler follows the model at
    // the evaluations since (steps 160, 170, 180), with no warning that it lags.
    assert!(h.query_by_label_contains(LAG).is_none());
    assert!(
        !h.state().messages.iter().any(|m| m.text.contains(LAG)),
        "the chains were left behind by the roll-back: {:?}",
        h.state().messages
    );
}

#[test]
fn the_window_says_when_the_sampler_no_longer_follows_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = common::bundled("eight_gaussians.ron");
    p.model.layers = common::mlp(32);
    p.eval.eval_every = 20;
    p.eval.grid = 64;
    // Train stops at step 100; the step size changes there.
    p.steps = 100;
    let path = dir.path().join("eight_gaussians.ron");
    p.save(&path).unwrap();
    let mut h = harness();
    h.step();
    drop_file(&mut h, &path);
    h.get_by_label("Train").click();
    // Langevin at step 0.1 follows the model: cos(g_sample, g*_sample) about 0.95 at
    // every evaluation, no warning.
    step_until(&mut h, "100 steps", Duration::from_secs(60), |a| {
        a.run.step == 100 && !a.run.running
    });
    let following = &h.state().run.history.sample_term_cos_exact;
    assert_eq!(following.len(), 5, "{:?}", following.points);
    assert!(
        following.points.iter().all(|p| p[1] > 0.9),
        "{:?}",
        following.points
    );
    assert!(h.query_by_label_contains(LAG).is_none());
    assert!(!h.state().messages.iter().any(|m| m.text.contains(LAG)));

    // Step 10, typed in: the chains jump far past the model's modes, the sampler's
    // estimate of the sample term loses the exact one (cos about 0.7 at step 120), and
    // the window says so.
    type_into(&mut h, "Step size", 0, "10");
    assert!((shown_number(&h, "Step size", 0) - 10.0).abs() < 1e-9);
    h.get_by_label("Train").click();
    step_until_shown(&mut h, LAG, Duration::from_secs(30));
    assert!(
        h.query_by_label_contains("try a smaller step size")
            .is_some(),
        "the warning says what to do"
    );
    let warnings: Vec<_> = h
        .state()
        .messages
        .iter()
        .filter(|m| m.text.contains(LAG))
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].error, "the lag is shown as a warning");
    let lagging = h
        .state()
        .run
        .history
        .sample_term_cos_exact
        .points
        .iter()
        .find(|p| p[1] < 0.8)
        .copied();
    assert!(
        lagging.is_some_and(|p| p[0] > 100.0),
        "the first lagging evaluation {lagging:?} is not after the change"
    );
    assert!(
        warnings[0]
            .text
            .starts_with(&format!("step {}:", lagging.unwrap()[0])),
        "{}",
        warnings[0].text
    );
}

/// Whether the check box or selectable button labelled `label` shows as on.
fn is_on(h: &Harness<'_, WorkbenchApp>, label: &str) -> Option<bool> {
    let node = h.get_by_label(label);
    let node = node.accesskit_node();
    node.is_selected()
        .or_else(|| node.toggled().map(|t| t == egui::accesskit::Toggled::True))
}

/// eframe's storage, in memory.
#[derive(Default)]
struct MemoryStorage(std::collections::HashMap<String, String>);

impl eframe::Storage for MemoryStorage {
    fn get_string(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }

    fn set_string(&mut self, key: &str, value: String) {
        self.0.insert(key.to_string(), value);
    }

    fn remove_string(&mut self, key: &str) {
        self.0.remove(key);
    }

    fn flush(&mut self) {}
}

#[test]
fn the_window_remembers_its_settings_and_recent_files_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = quick_preset(dir.path(), "two_moons.ron");
    let mut h = harness();
    h.step();
    drop_file(&mut h, &path);
    pick(&mut h, "Langevin", "SGLD");
    type_into(&mut h, "Step size", 0, "0.07");
    type_into(&mut h, "Noise", 1, "0.3");
    press(&mut h, "per layer");
    press(&mut h, "energy");
    let saved = h.state().state.preset.clone();
    assert_eq!(saved.name, "two_moons");
    assert_eq!(
        saved.sampler.kind,
        SamplerKind::Sgld {
            step_size: 0.07,
            noise: 0.3
        }
    );
    assert!(h.state().state.per_layer);

    // eframe calls `save` on the way out (and every few seconds).
    let mut storage = MemoryStorage::default();
    eframe::App::save(h.state_mut(), &mut storage);
    assert!(storage.0.contains_key(eframe::APP_KEY));
    drop(h);

    let mut h = Harness::builder()
        .with_size([1500.0, 950.0])
        .build_eframe(|cc| {
            cc.storage = Some(&storage);
            // Its own folder: a real window killed on this machine leaves an autosave
            // whose offer would stand over this one.
            WorkbenchApp::new_in(cc, Some(dir.path()))
        });
    frames(&mut h, 2);
    assert_eq!(h.state().state.preset, saved);
    assert_eq!(h.state().worker_preset, saved, "the worker trains them");
    // What the restarted window shows: the preset, the rule and its step, the per-layer
    // plot, the energy view, the file in the Recent menu.
    assert!(
        h.query_by_label_contains("two_moons · fast engine")
            .is_some()
    );
    assert!(h.query_by_value("SGLD").is_some(), "the rule's menu");
    assert!((shown_number(&h, "Step size", 0) - 0.07).abs() < 1e-9);
    assert!((shown_number(&h, "Noise", 1) - 0.3).abs() < 1e-9);
    assert!(h.query_by_label("Per layer").is_some());
    assert_eq!(is_on(&h, "per layer"), Some(true));
    assert_eq!(is_on(&h, "energy"), Some(true), "the energy view");
    assert_eq!(is_on(&h, "density"), Some(false));
    h.get_by_label("Recent").click();
    frames(&mut h, 3);
    let name = path.file_name().unwrap().to_string_lossy();
    assert!(
        h.query_by_label(&format!("preset: {name}")).is_some(),
        "the dropped preset is not under Recent with its kind: {:?}",
        h.query_all_by_label_contains(":")
            .filter_map(|n| n.accesskit_node().value().map(|l| l.to_string()))
            .collect::<Vec<_>>()
    );
}

/// The window opens at once on the default experiment and asks the worker for the last
/// session's, whose data the worker loads off the window's thread: a data file that is
/// gone since leaves the default experiment, and the window names the file.
#[test]
fn the_last_sessions_data_load_off_the_window_and_a_file_gone_since_leaves_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("ring.csv");
    let text: String = (0..300)
        .map(|i| {
            let t = f64::from(i) * 0.1;
            format!("{},{}\n", 2.0 * t.cos(), 2.0 * t.sin())
        })
        .collect();
    std::fs::write(&csv, text).unwrap();
    let mut state = PersistedState::default();
    state.preset.name = "ring".into();
    state.preset.data.source = ebm_workbench::data::DataSource::File(csv.clone());
    let open = |state: PersistedState| {
        Harness::builder()
            .with_size([1500.0, 950.0])
            .build_eframe(move |cc| WorkbenchApp::with_state(&cc.egui_ctx, state.clone()))
    };
    let mut h = open(state.clone());
    frames(&mut h, 2);
    assert_eq!(
        h.state().worker_preset.name,
        "ring",
        "{:?}",
        h.state().messages
    );
    assert_eq!(
        h.state().run.data.n_train() + h.state().run.data.n_test(),
        300
    );
    assert!(std::sync::Arc::strong_count(&h.state().run.data) >= 2);
    drop(h);
    std::fs::remove_file(&csv).unwrap();
    let mut h = open(state);
    frames(&mut h, 2);
    let a = h.state();
    assert_eq!(a.state.preset, PersistedState::default().preset);
    assert_eq!(a.worker_preset, PersistedState::default().preset);
    assert!(
        a.messages
            .iter()
            .any(|m| m.error && m.text.contains("ring.csv")),
        "{:?}",
        a.messages
    );
}

/// kittest's accessibility check: every input has a name (its label or tooltip), which
/// a screen reader reads and by which a test finds it. The harness checks the first
/// frame only; this visits every sampler rule, a data file and the JEM example.
#[test]
fn every_input_has_a_name_a_screen_reader_and_a_test_can_use() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("x,y,class\n");
    for i in 0..300 {
        let t = f64::from(i) * 0.7;
        text.push_str(&format!("{},{},{}\n", 3.0 * t.cos(), t.sin(), i % 2));
    }
    let csv = dir.path().join("labelled.csv");
    std::fs::write(&csv, &text).unwrap();

    let mut unnamed = Vec::new();
    let mut look = |h: &Harness<'_, WorkbenchApp>, state: &str| {
        unnamed.extend(
            h.unnamed_widgets()
                .into_iter()
                .map(|w| format!("{state}: {w}")),
        );
    };
    let mut h = harness();
    h.step();
    look(&h, "the default preset");
    let mut current = "Langevin";
    for rule in ["MALA", "HMC", "SGLD", "exact"] {
        pick(&mut h, current, rule);
        assert!(h.query_by_value(rule).is_some());
        look(&h, rule);
        current = rule;
    }
    pick(&mut h, current, "MALA");
    press(&mut h, "adapt to acceptance");
    look(&h, "MALA adapting its step");
    drop_file(&mut h, &csv);
    assert!(h.query_by_label("labelled.csv").is_some());
    look(&h, "a data file");
    press(&mut h, "column");
    look(&h, "a data file with labels");
    h.get_by_label("Examples").click();
    frames(&mut h, 3);
    h.get_by_label("eight_gaussians_jem").click();
    frames(&mut h, 2);
    assert!(h.query_by_value("JEM (hybrid)").is_some());
    look(&h, "the JEM example");
    assert!(
        unnamed.is_empty(),
        "inputs without a name:\n{}",
        unnamed.join("\n")
    );
}
#[test]
fn save_preset_writes_a_file_that_opens_as_the_same_experiment() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness();
    h.step();
    pick(&mut h, "Langevin", "MALA");
    type_into(&mut h, "Step size", 0, "0.07");
    type_into(&mut h, "α", 0, "0.2");
    let edited = h.state().state.preset.clone();
    assert_eq!(edited.sampler.kind, SamplerKind::Mala { step_size: 0.07 });
    // What Save preset… runs with the name chosen in its dialog (a test cannot answer
    // the dialog).
    let path = dir.path().join("mine.ron");
    h.state_mut().save_preset(&path);
    frames(&mut h, 2);
    assert!(
        h.query_by_label(&format!("saved {}", path.display()))
            .is_some(),
        "messages: {:?}",
        h.state().messages
    );
    assert_eq!(ebm_workbench::Preset::load(&path).unwrap(), edited);
    // Dropped on a fresh window, the file opens as the same experiment.
    let mut fresh = harness();
    fresh.step();
    drop_file(&mut fresh, &path);
    assert_eq!(fresh.state().state.preset, edited);
    assert!(fresh.query_by_value("MALA").is_some());
    assert!((shown_number(&fresh, "Step size", 0) - 0.07).abs() < 1e-9);
    assert!((shown_number(&fresh, "α", 0) - 0.2).abs() < 1e-9);
}

/// A 16-D preset dropped on the window trains there: the Data panel shows the target and
/// its dimension, the network its input width, the centre a projection on principal
/// components (switchable to two coordinates) with the energy histograms and the mode
/// coverage, the curves the NLL by AIS and the sampler against the reference term;
/// the exact sampler is not offered.
#[test]
fn a_16d_mixture_trains_in_the_window_with_its_projection() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = common::bundled("mixture_16d.ron");
    p.model.layers = common::mlp(32);
    p.eval.eval_every = 20;
    p.eval.ais_temperatures = 50;
    let path = dir.path().join("m16.ron");
    p.save(&path).unwrap();
    let mut h = harness();
    h.step();
    drop_file(&mut h, &path);
    assert_eq!(h.state().state.preset.name, "mixture_16d");
    step_until_shown(&mut h, "Input: 16 numbers a point", Duration::from_secs(10));
    assert!(h.query_by_value("synthetic target").is_some());
    assert!(h.query_by_value("gaussian mixture").is_some());
    assert!((shown_number(&h, "Dimension", 0) - 16.0).abs() < 1e-9);
    assert!(
        h.query_by_label_contains("True NLL of the held-out split: 13.")
            .is_some()
    );
    press(&mut h, "Train");
    step_until(&mut h, "two evaluations", Duration::from_secs(60), |a| {
        a.run.history.nll.len() >= 3
    });
    step_until(
        &mut h,
        "a view projected on principal components",
        Duration::from_secs(10),
        |a| {
            a.run
                .view
                .as_ref()
                .and_then(|v| v.projection())
                .is_some_and(|p| p.names[0].starts_with("PC1 (") && p.data.len() > 100)
        },
    );
    for text in [
        "Held-out NLL (nats, AIS)",
        "■ ± standard error",
        "Sampler vs the reference sample term",
        "E(held-out data)",
        "E(uniform noise)",
        "share of the samples",
        "true weight",
    ] {
        assert!(
            h.query_by_label_contains(text).is_some(),
            "`{text}` is not shown"
        );
    }
    assert!(
        h.query_by_label_contains("Sampler vs the exact sample term")
            .is_none()
    );
    // The status bar's NLL carries AIS's standard error and how many chains count.
    assert!(
        h.query_by_label_contains("AIS weights' ESS").is_some(),
        "the status bar does not show the AIS weights' ESS"
    );
    let v = h.state().run.view.clone().expect("a view");
    assert!(v.heat().is_none(), "no heat map outside the plane");
    assert_eq!(v.chains().expect("projected chains").samples.len() % 2, 0);
    let cov = v.coverage.expect("mode coverage");
    assert_eq!(cov.len(), 8);
    assert!((cov.iter().map(|c| c.0).sum::<f64>() - 1.0).abs() < 1e-9);
    // Two coordinates instead.
    press(&mut h, "coordinates");
    step_until(
        &mut h,
        "a projection on coordinates",
        Duration::from_secs(10),
        |a| {
            a.run
                .view
                .as_ref()
                .and_then(|v| v.projection())
                .is_some_and(|p| {
                    p.kind == ebm_workbench::data::projection::ProjectionKind::Coordinates(0, 1)
                })
        },
    );
    // The sampler's menu has no exact sampler here.
    press(&mut h, "Pause");
    click(&mut h, Target::Menu("MALA"));
    frames(&mut h, 2);
    assert!(h.query_by_label("HMC").is_some());
    assert!(
        h.query_by_label("exact").is_none(),
        "the exact sampler is offered"
    );
    h.key_press(egui::Key::Escape);
    frames(&mut h, 2);
    // Run AIS: an estimate of log Z with its error, and no quadrature to set beside it.
    press(&mut h, "Run AIS");
    step_until(&mut h, "an AIS result", Duration::from_secs(60), |a| {
        a.run.ais.is_some()
    });
    let (lz, se, quad, trusted) = h.state().run.ais.expect("an estimate");
    assert!(
        lz.is_finite() && se > 0.0 && quad.is_none() && trusted,
        "{lz} ± {se}, {quad:?}, trusted {trusted}"
    );
    frames(&mut h, 2);
    assert!(
        h.query_all_by_label_contains("no exact log Z here")
            .next()
            .is_some(),
        "the AIS message is not shown"
    );
    // The view exports as a picture of the projection (no heat map to draw).
    let png = dir.path().join("projection.png");
    h.state_mut().export_png(&png);
    assert_eq!(&std::fs::read(&png).unwrap()[1..4], b"PNG");
}

/// Answers "Reset and apply" when the window asks (it applies at once before any step).
fn confirm_if_asked(h: &mut Harness<'_, WorkbenchApp>) {
    frames(h, 2);
    if h.state().awaiting_confirmation() {
        frames(h, 3);
        press(h, "Reset and apply");
    }
    if h.state().pending_replace.is_some() {
        frames(h, 3);
        press(h, "Replace");
    }
}

/// The Data panel's source menu switches from a toy set to a synthetic target of any
/// dimension and back (asking first once a run has steps, since the network's input width
/// changes), and the target's dimension is typed into its field.
#[test]
fn the_source_menu_switches_between_the_plane_and_a_target() {
    let mut h = harness();
    h.step();
    press(&mut h, "Step");
    step_until(&mut h, "one step", Duration::from_secs(30), |a| {
        a.run.history.received >= 1
    });
    pick(&mut h, "toy set (plane)", "synthetic target");
    assert!(
        h.state().awaiting_confirmation(),
        "a trained run is replaced without asking"
    );
    confirm_if_asked(&mut h);
    step_until(
        &mut h,
        "the worker on the target",
        Duration::from_secs(10),
        |a| a.worker_preset.data.target().is_some(),
    );
    step_until_shown(&mut h, "Input: 16 numbers a point", Duration::from_secs(5));
    assert!(h.query_by_value("gaussian mixture").is_some());
    type_into(&mut h, "Dimension", 0, "6");
    confirm_if_asked(&mut h);
    step_until(&mut h, "the 6-D target", Duration::from_secs(10), |a| {
        a.worker_preset.data.target().is_some_and(|t| t.dim() == 6)
    });
    step_until_shown(&mut h, "Input: 6 numbers a point", Duration::from_secs(5));
    pick(&mut h, "synthetic target", "toy set (plane)");
    confirm_if_asked(&mut h);
    step_until(&mut h, "back in the plane", Duration::from_secs(10), |a| {
        a.worker_preset.data.target().is_none()
    });
    step_until_shown(&mut h, "Input: 2 numbers a point", Duration::from_secs(5));
}

/// Pin a run, change a setting, and the pinned curves stay on the plots labelled with
/// what differs from the live run; Clear pins removes them.
#[test]
fn a_pinned_run_stays_on_the_plots_labelled_with_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let path = quick_preset(dir.path(), "eight_gaussians.ron");
    let mut h = harness();
    h.step();
    drop_file(&mut h, &path);
    press(&mut h, "Train");
    step_until(
        &mut h,
        "40 steps and an NLL",
        Duration::from_secs(60),
        |a| a.run.history.received >= 40 && a.run.history.nll.len() >= 2,
    );
    press(&mut h, "Pin run");
    assert_eq!(h.state().pins.len(), 1);
    type_into(&mut h, "Step size", 0, "0.05");
    // The label follows the worker's settings, which arrive a few frames later.
    let t0 = std::time::Instant::now();
    let mut shown = 0;
    while shown < 1 && t0.elapsed() < Duration::from_secs(10) {
        h.step();
        shown = h
            .query_all_by_label_contains("pin 1: step size 0.1 → 0.05")
            .count();
    }
    assert_eq!(shown, 1, "the pin's label is in the key above the curves");
    // A second pin: its own colour and its own dash, drawn in the key.
    press(&mut h, "Pin run");
    frames(&mut h, 3);
    assert_eq!(h.state().pins.len(), 2);
    let key: Vec<String> = h
        .query_all_by_label_contains("pin ")
        .filter_map(|n| {
            let n = n.accesskit_node();
            n.value().or_else(|| n.label()).map(|l| l.to_string())
        })
        .collect();
    let first = key
        .iter()
        .find(|l| l.contains("pin 1:"))
        .unwrap_or_else(|| panic!("pin 1's key: {key:?}"));
    let second = key
        .iter()
        .find(|l| l.contains("pin 2"))
        .unwrap_or_else(|| panic!("pin 2's key: {key:?}"));
    let dash = |l: &str| l.split(" pin").next().unwrap_or_default().to_string();
    assert!(
        !dash(first).is_empty() && dash(first) != dash(second),
        "each pin its own dash in the key: {key:?}"
    );
    press(&mut h, "Clear pins");
    frames(&mut h, 3);
    assert!(h.state().pins.is_empty());
    assert!(h.query_by_label_contains("pin 1:").is_none());
}

/// A sweep folder dropped on the window opens the comparison: the runs' curves overlaid
/// with their settings in the legend, a table sortable by any column, and a run loaded
/// back with one click.
#[test]
fn a_sweep_folder_opens_the_comparison_and_a_run_loads_back() {
    use ebm_workbench::sweep::{Sweep, run_one, summary};
    let dir = tempfile::tempdir().unwrap();
    let mut base = common::small(8);
    base.eval.eval_every = 10;
    base.save(&dir.path().join("base.ron")).unwrap();
    let sweep_path = dir.path().join("sweep.ron");
    std::fs::write(
        &sweep_path,
        "(base: \"base.ron\", steps: Some(20), seeds: [0, 1], axes: {\"optimizer.lr\": [0.001, 0.003]})",
    )
    .unwrap();
    let sweep = Sweep::load(&sweep_path).unwrap();
    let out = dir.path().join("out");
    for r in &sweep.runs {
        run_one(&out, r).unwrap();
    }
    std::fs::write(out.join("summary.csv"), summary(&sweep, &out)).unwrap();

    let mut h = harness();
    h.step();
    drop_file(&mut h, &out);
    frames(&mut h, 3);
    assert!(
        h.state().comparison.is_some(),
        "messages: {:?}",
        h.state().messages
    );
    frames(&mut h, 3);
    assert!(
        h.query_by_label("Compare runs").is_some(),
        "no comparison window"
    );
    assert!(
        h.query_by_label_contains("■ run 0002 seed 0 (lr 0.003)")
            .is_some(),
        "the key beside the plot, in the run's colour"
    );
    let c = h.state().comparison.clone().unwrap();
    assert_eq!(c.rows.len(), 4);
    assert!(
        c.runs
            .iter()
            .all(|r| r.as_ref().is_some_and(|h| h.nll.len() == 3)),
        "each run's NLL at steps 0, 10 and 20"
    );
    // The curves start where the window's do: the NLL before the first step.
    for (i, r) in c.runs.iter().flatten().enumerate() {
        let [step, nll] = r.nll.points[0];
        assert_eq!(step, 0.0);
        assert_eq!(
            Some(nll),
            ebm_workbench::sweep::outcome(&out, i).and_then(|o| o.initial_nll)
        );
    }
    // Sorted by the final NLL, then the other way.
    press(&mut h, "final_nll");
    let order = h.state().comparison.as_ref().unwrap().order();
    let nll = |i: usize| c.rows[i][3].parse::<f64>().unwrap();
    assert!(
        order.windows(2).all(|w| nll(w[0]) <= nll(w[1])),
        "{order:?}"
    );
    press(&mut h, "final_nll [asc]");
    let order = h.state().comparison.as_ref().unwrap().order();
    assert!(
        order.windows(2).all(|w| nll(w[0]) >= nll(w[1])),
        "{order:?}"
    );
    // Any metric of the table the runs measured can be overlaid: here the samples'
    // energy instead of the NLL.
    h.get_by_value("held-out NLL").click();
    frames(&mut h, 2);
    h.get_by_label("E(samples)").click();
    frames(&mut h, 2);
    let c = h.state().comparison.clone().unwrap();
    assert_eq!(c.curve.name, "e_sample");
    assert!(
        c.runs
            .iter()
            .flatten()
            .all(|r| r.series.of(c.curve).len() == 20)
    );
    // Load run 2 back: its preset and parameters.
    // Through accesskit (as a screen reader clicks): in the headless harness a pointer
    // click on a row of the window's table does not reach it; in a real window it does.
    h.get_by_label("load 0002").click_accesskit();
    step_until(&mut h, "run 2 loaded", Duration::from_secs(10), |a| {
        a.worker_preset == sweep.runs[2].preset
    });
    assert!(
        h.state()
            .messages
            .iter()
            .any(|m| m.text.contains("loaded model"))
    );

    // Loose metrics files (as Export metrics writes them), dropped one after the other,
    // are compared too; they have no model to load.
    for (name, run) in [("lr_low.csv", 0), ("lr_high.csv", 2)] {
        let f = dir.path().join(name);
        std::fs::copy(out.join(format!("runs/{run:04}/metrics.csv")), &f).unwrap();
        drop_file(&mut h, &f);
    }
    frames(&mut h, 3);
    let c = h.state().comparison.clone().expect("a comparison");
    assert_eq!(c.rows.len(), 2);
    assert!(c.loose_files());
    assert!(
        h.query_all_by_label_contains("lr_high.csv")
            .next()
            .is_some()
    );
    assert_eq!(
        h.state().worker_preset,
        sweep.runs[2].preset,
        "a metrics file was taken for training data"
    );
}

/// The digits as a user meets them: the network panel gives the shape after every
/// layer, training fills the image grids (samples, buffer with ages, data, one chain),
/// a classifier draws a row per class, the long run shows next to the short run, the
/// energy histograms include pixel-shuffled digits, and the PNG export is the grid.
#[test]
fn digits_train_in_the_window_as_pictures() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = common::bundled("digits_jem.ron");
    p.eval.eval_every = 0;
    let path = dir.path().join("digits.ron");
    p.save(&path).unwrap();
    let mut h = harness();
    h.step();
    drop_file(&mut h, &path);
    step_until_shown(&mut h, "Input: 1×8×8 images", Duration::from_secs(10));
    assert!(h.query_by_value("digits (images)").is_some());
    // The shape after each of the four layers, and the count of parameters.
    assert_eq!(h.query_all_by_label_contains("-> 256").count(), 4);
    assert!(
        h.query_by_label_contains("Parameters: 85002").is_some(),
        "64·256 + 256 + 256·256 + 256 + 256·10 + 10"
    );
    press(&mut h, "Train");
    step_until(&mut h, "image views", Duration::from_secs(60), |a| {
        a.run.step >= 30
            && a.run
                .view
                .as_ref()
                .and_then(|v| v.images())
                .is_some_and(|i| i.samples.len() == 64 * 64 && i.buffer_ages.len() == 64)
    });
    for tab in [
        "samples",
        "buffer",
        "data",
        "one chain",
        "class rows",
        "long run",
    ] {
        assert!(h.query_by_label(tab).is_some(), "no `{tab}` tab");
    }
    for text in [
        "E(held-out data)",
        "E(pixel-shuffled data)",
        "E(uniform noise)",
    ] {
        assert!(
            h.query_by_label_contains(text).is_some(),
            "`{text}` is not shown"
        );
    }
    let v = h.state().run.view.clone().unwrap();
    let ood = &v.energy_populations.ood;
    assert_eq!(ood.len(), 512);
    // The buffer's chains come oldest first, with their ages on the tiles.
    let ages = &v.images().unwrap().buffer_ages;
    assert!(
        ages.windows(2).all(|w| w[0] >= w[1]) && ages[0] > 0,
        "{ages:?}"
    );
    click(&mut h, Target::Label("buffer"));
    step_until_shown(
        &mut h,
        "of the buffer's chains, oldest first",
        Duration::from_secs(10),
    );
    // The filmstrip: the worker records one chain once the tab is open.
    click(&mut h, Target::Label("one chain"));
    step_until(&mut h, "a filmstrip", Duration::from_secs(30), |a| {
        a.run
            .view
            .as_ref()
            .and_then(|v| v.images())
            .is_some_and(|i| i.filmstrip.len() == 21 * 64)
    });
    // A row per class.
    click(&mut h, Target::Label("class rows"));
    press(&mut h, "Draw class rows");
    step_until(&mut h, "ten class rows", Duration::from_secs(60), |a| {
        let rows = &a.run.space_view.images().unwrap().class_rows;
        rows.len() == 10 && rows.values().all(|r| r.len() == 10 * 64)
    });
    frames(&mut h, 3);
    assert!(
        h.query_by_label("class 9").is_some(),
        "a row labelled class 9"
    );
    // Short run against long run.
    click(&mut h, Target::Label("long run"));
    press(&mut h, "Run 2000 steps from the buffer");
    step_until(&mut h, "the long run", Duration::from_secs(120), |a| {
        a.run
            .space_view
            .images()
            .unwrap()
            .long_run
            .as_ref()
            .is_some_and(|r| r.end.len() == 32 * 64)
    });
    step_until_shown(&mut h, "after the long run", Duration::from_secs(5));
    assert!(
        h.query_by_label_contains("bulk ESS").is_some(),
        "R-hat and ESS of the long run"
    );
    let r = h
        .state()
        .run
        .space_view
        .images()
        .unwrap()
        .long_run
        .clone()
        .unwrap();
    // The cold sampler descends the energy: the long run ends lower than it started.
    let mean = |v: &[f32]| v.iter().map(|x| f64::from(*x)).sum::<f64>() / v.len() as f64;
    assert!(
        mean(&r.e_end) < mean(&r.e_start) - 0.05,
        "mean E {} -> {}",
        mean(&r.e_start),
        mean(&r.e_end)
    );
    // The PNG export gives the grid of the tab shown (here short and long run).
    let png = dir.path().join("grid.png");
    h.state_mut().export_png(&png);
    let bytes = std::fs::read(&png).expect("the PNG was written");
    let width = u32::from_be_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]);
    // 32 chains in rows of 6 (⌈√32⌉), 8 pixels a picture pixel, 1-pixel gaps.
    assert_eq!(width, (6 * (8 * 8 + 1) + 1) as u32);
}

/// A convolutional network in the window: the panel gives each layer's shape and says
/// the fast engine runs it, the status line names the engine, and training fills the
/// image view.
#[test]
fn a_conv_net_trains_in_the_window_through_the_fast_engine() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = common::bundled("digits_conv.ron");
    p.eval.eval_every = 0;
    let path = dir.path().join("conv.ron");
    p.save(&path).unwrap();
    let mut h = harness();
    h.step();
    drop_file(&mut h, &path);
    step_until_shown(&mut h, "Input: 1×8×8 images", Duration::from_secs(10));
    for shape in ["-> 16×8×8", "-> 16×4×4", "-> 32×4×4", "-> 32×2×2", "-> 128"] {
        assert!(
            h.query_all_by_label_contains(shape).count() >= 1,
            "no `{shape}` in the network panel"
        );
    }
    assert!(
        h.query_by_label_contains("run through the fast engine")
            .is_some()
    );
    press(&mut h, "Train");
    step_until(
        &mut h,
        "conv steps and a view",
        Duration::from_secs(60),
        |a| {
            a.run.step >= 3
                && a.run
                    .view
                    .as_ref()
                    .and_then(|v| v.images())
                    .is_some_and(|i| i.samples.len() == 64 * 64)
        },
    );
    assert!(h.query_by_label_contains("fast engine, CPU").is_some());
    assert!(h.state().run.history.received >= 3);
}

/// A checkpoint saved from the window and dropped on a fresh one goes on where it
/// stopped, curves included.
#[test]
fn a_checkpoint_saved_in_the_window_resumes_in_another() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = common::small(32);
    p.eval.eval_every = 5;
    let preset = dir.path().join("p.ron");
    p.save(&preset).unwrap();
    let ck = dir.path().join("run.ckpt");
    let mut h = harness();
    h.step();
    drop_file(&mut h, &preset);
    for n in 1..=3 {
        press(&mut h, "Step");
        step_until(&mut h, "a step", Duration::from_secs(30), |a| {
            a.run.history.received == n
        });
    }
    assert_eq!(h.state().run.step, 3);
    h.state_mut().save_checkpoint(&ck);
    step_until_shown(&mut h, "wrote", Duration::from_secs(10));
    assert!(ck.exists());
    let mut g = harness();
    g.step();
    drop_file(&mut g, &ck);
    step_until(&mut g, "the resumed curves", Duration::from_secs(10), |a| {
        a.run.history.received == 3 && a.run.step == 3
    });
    step_until_shown(&mut g, "resumed", Duration::from_secs(5));
    assert_eq!(g.state().state.preset.name, p.name);
    // The resumed plots are the straight run's: the per-layer curves from step 1 and the
    // NLL's point before the first step.
    let (a, b) = (&h.state().run.history, &g.state().run.history);
    assert!(
        !a.layers.is_empty(),
        "the straight run has per-layer curves"
    );
    assert_eq!(
        a.layers.len(),
        b.layers.len(),
        "per-layer curves after resuming"
    );
    for ((na, da, sa), (nb, db, sb)) in a.layers.iter().zip(&b.layers) {
        assert_eq!(na, nb);
        assert_eq!(da.points.len(), db.points.len(), "{na}: data term");
        assert_eq!(sa.points.len(), sb.points.len(), "{na}: sample term");
        assert_eq!(
            db.points.first().map(|p| p[0]),
            Some(1.0),
            "{na} from step 1"
        );
    }
    assert_eq!(
        a.nll.points.first(),
        b.nll.points.first(),
        "the NLL before the first step"
    );
    assert_eq!(b.nll.points.first().map(|p| p[0]), Some(0.0));
    press(&mut g, "Step");
    step_until(&mut g, "step 4", Duration::from_secs(30), |a| {
        a.run.step == 4
    });
    // A damaged checkpoint changes nothing and says so.
    let mut bytes = std::fs::read(&ck).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    let bad = dir.path().join("bad.ckpt");
    std::fs::write(&bad, bytes).unwrap();
    drop_file(&mut g, &bad);
    confirm_if_asked(&mut g);
    step_until_shown(&mut g, "the file is damaged", Duration::from_secs(5));
    assert_eq!(g.state().run.step, 4);
}

/// The running experiment is autosaved; a window that did not close cleanly offers it
/// back at the next start, and Restore brings it back.
#[test]
fn an_autosave_is_offered_back_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let auto = dir.path().join("data").join("autosave.ckpt");
    let mut h = harness();
    h.state_mut().autosave_every = Duration::from_millis(200);
    h.state_mut().use_autosave(auto.clone());
    assert!(h.state().restore_offer.is_none());
    h.step();
    press(&mut h, "Train");
    step_until(&mut h, "an autosave", Duration::from_secs(30), |a| {
        a.run.autosaved_at.is_some_and(|s| s > 0)
    });
    press(&mut h, "Pause");
    step_until(&mut h, "paused", Duration::from_secs(10), |a| {
        !a.run.running
    });
    // Let the last autosave catch up with the pause, then "crash" (no clean exit).
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(600) {
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    let saved = h.state().run.autosaved_at.unwrap();
    drop(h);
    assert!(auto.exists());
    let mut g = harness();
    g.state_mut().use_autosave(auto.clone());
    g.step();
    step_until_shown(
        &mut g,
        "Restore the last experiment?",
        Duration::from_secs(5),
    );
    press(&mut g, "Restore");
    step_until(&mut g, "the restored run", Duration::from_secs(10), |a| {
        a.run.step == saved && a.run.history.received == saved
    });
}

/// A panic on the training thread (a bug) is caught: the window says what happened,
/// keeps working, and Reset starts a run that trains.
#[test]
fn a_panic_on_the_training_thread_is_reported_and_reset_recovers() {
    let mut h = harness();
    h.step();
    press(&mut h, "Step");
    step_until(&mut h, "a step", Duration::from_secs(30), |a| {
        a.run.history.received >= 1 && !a.run.running
    });
    h.state_mut()
        .send(ebm_workbench::train::worker::Command::PanicNextStep);
    press(&mut h, "Train");
    step_until_shown(&mut h, "an internal error", Duration::from_secs(10));
    step_until(&mut h, "paused", Duration::from_secs(10), |a| {
        !a.run.running
    });
    press(&mut h, "Reset");
    confirm_if_asked(&mut h);
    press(&mut h, "Step");
    step_until(
        &mut h,
        "a step after the reset",
        Duration::from_secs(30),
        |a| a.run.step == 1 && a.run.history.received == 1,
    );
}

/// Opens a bundled example from the Examples menu, confirming when a trained run is
/// replaced.
fn open_example_from_menu(h: &mut Harness<'_, WorkbenchApp>, name: &str) {
    h.get_by_label("Examples").click();
    frames(h, 3);
    // The list scrolls: the example is brought into view first, as a person would.
    click(h, Target::Label(name));
}

/// Loading an example while another trains: the window asks, and then every curve,
/// message and note starts afresh; nothing the old run sent on its way arrives (the
/// worker tags its events with the run, the window drops the old run's).
#[test]
fn an_example_opened_while_training_starts_every_plot_afresh() {
    let mut h = harness();
    h.step();
    open_example_from_menu(&mut h, "eight_gaussians_hmc");
    press(&mut h, "Train");
    step_until(&mut h, "HMC steps", Duration::from_secs(60), |a| {
        a.run.history.acceptance.len() >= 20 && a.run.running
    });
    h.state_mut()
        .send(ebm_workbench::train::worker::Command::Ais(
            ebm_workbench::eval::ais::AisSpec {
                chains: 16,
                temperatures: 20,
                ..Default::default()
            },
        ));
    step_until(&mut h, "the AIS note", Duration::from_secs(30), |a| {
        a.run.ais.is_some()
    });
    // While it trains: Examples → two_moons asks first, Cancel keeps the run.
    open_example_from_menu(&mut h, "two_moons");
    assert!(h.query_by_label("Replace the trained run?").is_some());
    // The question paused the run (the steps it names stay true); Cancel resumes it.
    step_until(
        &mut h,
        "paused while asking",
        Duration::from_secs(10),
        |a| !a.run.running,
    );
    press(&mut h, "Cancel");
    assert_eq!(h.state().state.preset.name, "eight_gaussians_hmc");
    step_until(
        &mut h,
        "training again after Cancel",
        Duration::from_secs(10),
        |a| a.run.running,
    );
    let old_steps = h.state().run.step;
    // Replace, while the worker is still sending the old run's steps.
    open_example_from_menu(&mut h, "two_moons");
    press(&mut h, "Replace");
    assert_eq!(h.state().state.preset.name, "two_moons");
    // Frames pass while the old run's events drain.
    for _ in 0..30 {
        h.step();
        std::thread::sleep(Duration::from_millis(10));
    }
    let a = h.state();
    assert_eq!(
        a.run.history.received, 0,
        "an old run's step reached the new plots"
    );
    assert!(a.run.history.acceptance.is_empty());
    assert!(a.run.ais.is_none(), "the AIS note outlived its run");
    assert!(a.run.marks.is_empty());
    assert_eq!(a.run.step, 0);
    assert!(
        a.messages.iter().all(|m| m.text.contains("two_moons")),
        "messages of the old run: {:?}",
        a.messages
    );
    press(&mut h, "Train");
    step_until(&mut h, "Langevin steps", Duration::from_secs(60), |a| {
        a.run.history.received >= 10
    });
    let a = h.state();
    assert!(
        a.run.history.acceptance.is_empty(),
        "HMC's acceptance in a Langevin run"
    );
    let first = a.run.history.e_data.points.first().unwrap()[0];
    assert!(
        (first - 1.0).abs() < 1e-9,
        "the curves start at step {first}"
    );
    let last = a.run.history.e_data.points.last().unwrap()[0];
    assert!(
        a.run.history.e_data.points.iter().all(|p| p[0] <= last) && last < old_steps as f64 + 1e4,
        "points beyond the new run"
    );
    // A replacement while the run still trains and sends (no question paused it, as a
    // dropped file does before the first step): none of what it sent on its way arrives.
    assert!(h.state().run.running);
    h.state_mut().open_example("eight_gaussians_jem.ron");
    for _ in 0..30 {
        h.step();
        std::thread::sleep(Duration::from_millis(10));
    }
    let a = h.state();
    assert_eq!(
        a.run.history.received, 0,
        "a replaced run's step reached the new plots"
    );
    assert_eq!(a.run.step, 0);
}

/// A reset that fails while the worker makes the new session (a bug, a panic): the
/// window says so and goes on showing, and training, the run before it.
#[test]
fn a_reset_that_fails_leaves_the_run_before_it_working() {
    let mut h = harness();
    h.step();
    for n in 1..=3 {
        press(&mut h, "Step");
        step_until(&mut h, "a step", Duration::from_secs(30), |a| {
            a.run.history.received == n
        });
    }
    let before = h.state().state.preset.clone();
    h.state_mut()
        .send(ebm_workbench::train::worker::Command::PanicNextReset);
    open_example_from_menu(&mut h, "two_moons");
    press(&mut h, "Replace");
    step_until_shown(&mut h, "the run before it goes on", Duration::from_secs(10));
    assert_eq!(
        h.state().state.preset,
        before,
        "the settings of the run that goes on"
    );
    assert_eq!(h.state().worker_preset, before);
    // Its events arrive again: a step shows on the (cleared) plots.
    press(&mut h, "Step");
    step_until(
        &mut h,
        "a step of the old run",
        Duration::from_secs(30),
        |a| a.run.history.received >= 1 && a.run.step == 4,
    );
}

/// Train runs up to the preset's steps and says so; the batch size changes without a
/// reset.
#[test]
fn a_run_says_when_it_finished_and_the_batch_size_changes_live() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = common::small(32);
    p.steps = 6;
    let preset = dir.path().join("p.ron");
    p.save(&preset).unwrap();
    let mut h = harness();
    h.step();
    drop_file(&mut h, &preset);
    press(&mut h, "Train");
    step_until_shown(
        &mut h,
        "finished 6 steps — Train to continue",
        Duration::from_secs(60),
    );
    assert!(!h.state().run.running);
    type_into(&mut h, "Batch", 0, "64");
    frames(&mut h, 3);
    assert!(
        !h.state().awaiting_confirmation(),
        "the batch size asked for a reset"
    );
    step_until(
        &mut h,
        "the worker on batch 64",
        Duration::from_secs(10),
        |a| a.worker_preset.batch_size == 64,
    );
    // Train goes on from step 6 (not a new run) and the message goes.
    press(&mut h, "Train");
    step_until(&mut h, "steps past 6", Duration::from_secs(60), |a| {
        a.run.step >= 9
    });
    assert!(h.query_by_label_contains("finished 6 steps").is_none());
    assert_eq!(h.state().run.history.received, h.state().run.step);
}

/// A width typed into a layer applies on Enter, not on every keystroke; a value outside
/// the field's range is clamped and the window says so.
#[test]
fn a_typed_width_applies_on_enter_and_a_clamp_is_said() {
    let mut h = harness();
    h.step();
    press(&mut h, "Step");
    step_until(&mut h, "a step", Duration::from_secs(30), |a| {
        a.run.step == 1
    });
    let before = h.state().state.preset.model.clone();
    click(&mut h, Target::Field("width", 0));
    h.event(egui::Event::Text("0".into()));
    frames(&mut h, 4);
    assert!(
        !h.state().awaiting_confirmation(),
        "the reset dialog opened while typing"
    );
    assert_eq!(h.state().state.preset.model, before, "applied before Enter");
    h.key_press(egui::Key::Enter);
    frames(&mut h, 3);
    assert!(
        h.state().awaiting_confirmation(),
        "Enter applies (asking first)"
    );
    let note = h
        .state()
        .messages
        .iter()
        .find(|m| m.text.contains("width"))
        .map(|m| m.text.clone())
        .unwrap_or_default();
    assert!(
        note.contains("0 is outside 1 to 65536; set to the smallest allowed, 1"),
        "{:?}",
        h.state().messages
    );
    press(&mut h, "Reset and apply");
    assert_eq!(
        h.state().state.preset.model.layers[0],
        ebm_workbench::energy::LayerSpec::Linear(1)
    );
}

/// Without the system's file dialog the file buttons open a list inside the window: a
/// path typed there opens the preset.
#[test]
fn the_file_buttons_work_without_a_system_dialog() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = common::small(16);
    p.name = "listed".into();
    let preset = dir.path().join("listed.ron");
    p.save(&preset).unwrap();
    let mut h = harness();
    h.step();
    let no_backend = std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none()
        && !std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|d| Path::new(&d).join("bus").exists())
        && !std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("zenity").is_file()));
    if no_backend {
        // As a user meets it: the button says there is no dialog and opens the list.
        press(&mut h, "Open preset…");
        step_until(&mut h, "the list", Duration::from_secs(10), |a| {
            a.dialogs.picker.is_some()
        });
        assert!(h.state().dialogs.builtin);
        assert!(
            h.state()
                .messages
                .iter()
                .any(|m| m.text.contains("no file dialog is available")),
            "{:?}",
            h.state().messages
        );
        frames(&mut h, 2);
        press(&mut h, "Cancel");
    } else {
        h.state_mut().dialogs.builtin = true;
    }
    press(&mut h, "Open preset…");
    frames(&mut h, 2);
    assert!(h.query_by_label("Open a preset").is_some());
    click(&mut h, Target::Label("file path"));
    h.event(egui::Event::Text(preset.display().to_string()));
    h.step();
    press(&mut h, "Open");
    frames(&mut h, 2);
    assert_eq!(h.state().state.preset.name, "listed");
    assert!(h.state().dialogs.picker.is_none());
    // Every dialog, the system's too, now starts in the folder of the file opened,
    // whatever it is for.
    let there = std::fs::canonicalize(dir.path()).unwrap();
    assert_eq!(h.state().start_folder(), there);
    press(&mut h, "Load model…");
    frames(&mut h, 2);
    assert_eq!(
        h.state().dialogs.picker.as_ref().map(|p| p.dir.clone()),
        Some(there)
    );
    press(&mut h, "Cancel");
    frames(&mut h, 2);
    // Save preset… through the list writes the file where the list is.
    press(&mut h, "Save preset…");
    frames(&mut h, 2);
    let out = dir.path().join("copy.ron");
    click(&mut h, Target::Label("file path"));
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.event(egui::Event::Text(out.display().to_string()));
    h.step();
    press(&mut h, "Save");
    frames(&mut h, 2);
    assert!(out.exists(), "{:?}", h.state().messages);
    // A name without an extension gets the kind's: the file opens as what it is.
    press(&mut h, "Save preset…");
    frames(&mut h, 2);
    click(&mut h, Target::Label("file path"));
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.event(egui::Event::Text(
        dir.path().join("bare").display().to_string(),
    ));
    h.step();
    press(&mut h, "Save");
    frames(&mut h, 2);
    assert!(
        dir.path().join("bare.ron").exists(),
        "{:?}",
        h.state().messages
    );
}

/// At a step size that throws the chains out of the data box the view stays on the box
/// (it neither jumps nor shrinks the data to a dot): the samples outside are counted and
/// drawn on its edge, and "fit to samples" follows them when asked. The heat map has a
/// colour bar with its units.
#[test]
fn the_view_stays_on_the_data_box_with_a_colour_bar() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = common::small(16);
    p.sampler.kind = SamplerKind::Langevin { step_size: 3.0 };
    p.sampler.clamp = false;
    p.sampler.init = ebm_workbench::sampler::Init::Noise;
    let path = dir.path().join("wild.ron");
    p.save(&path).unwrap();
    let mut h = harness();
    h.step();
    drop_file(&mut h, &path);
    press(&mut h, "Step");
    step_until(
        &mut h,
        "a view of the wild samples",
        Duration::from_secs(30),
        |a| a.run.view.as_ref().is_some_and(|v| v.step >= 1),
    );
    frames(&mut h, 3);
    let b = h.state().run.data.data_box.clone();
    let v = h.state().run.view.clone().unwrap();
    let out = ebm_workbench::gui::views::outside_count(&v, &b);
    assert!(out > 0, "no sample left the box at step size 3");
    assert!(
        h.query_by_label_contains(&format!("{out} sample"))
            .is_some()
    );
    let [x0, x1, y0, y1] = h.state().view_bounds.unwrap();
    let (w, hh) = (f64::from(b.hi[0] - b.lo[0]), f64::from(b.hi[1] - b.lo[1]));
    // The box fills the view (the aspect ratio may widen one axis).
    assert!(x0 <= f64::from(b.lo[0]) && x1 >= f64::from(b.hi[0]));
    assert!(y0 <= f64::from(b.lo[1]) && y1 >= f64::from(b.hi[1]));
    assert!(
        (x1 - x0 - w).abs() < 0.1 * w || (y1 - y0 - hh).abs() < 0.1 * hh,
        "the view is not the data box: {:?}",
        [x0, x1, y0, y1]
    );
    assert!(
        h.query_by_label_contains("colour bar: density p(x) from")
            .is_some()
    );
    press(&mut h, "energy");
    frames(&mut h, 3);
    assert!(
        h.query_by_label_contains("colour bar: energy E(x) from")
            .is_some()
    );
    // Fit to samples: the view grows to take in the samples far outside.
    press(&mut h, "fit to samples");
    frames(&mut h, 4);
    let [fx0, fx1, fy0, fy1] = h.state().view_bounds.unwrap();
    let far = v
        .chains()
        .unwrap()
        .samples
        .chunks_exact(2)
        .map(|r| f64::from(r[0].abs().max(r[1].abs())))
        .fold(0.0, f64::max);
    assert!(
        fx1 - fx0 > 1.5 * w || fy1 - fy0 > 1.5 * hh,
        "fit to samples kept the box: {:?} (samples reach {far})",
        [fx0, fx1, fy0, fy1]
    );
}

/// From 1 024 × 700 up the view keeps a good share of the window, the columns fit, and
/// the left column keeps its width when the sampler changes.
#[test]
fn the_layout_fits_a_small_window() {
    let mut h = harness_sized(1024.0, 700.0);
    frames(&mut h, 3);
    press(&mut h, "Step");
    step_until(&mut h, "a view", Duration::from_secs(30), |a| {
        a.run.view.as_ref().is_some_and(|v| v.step >= 1)
    });
    frames(&mut h, 3);
    let [x0, x1, ..] = h.state().view_bounds.unwrap();
    assert!(x1 > x0);
    let view = h.state().view_rect.unwrap();
    let data = h.get_by_label("Data").rect();
    let terms = h.get_by_label("Gradient terms").rect();
    assert!(view.right() <= 1024.0 && terms.left() < 1024.0);
    assert!(
        view.left() > data.right() && view.right() < terms.left() + 1.0,
        "the view overlaps a column: view {view:?}, settings {data:?}, curves {terms:?}"
    );
    // The view with its colour bar keeps about a third of the width.
    assert!(view.width() > 1024.0 / 3.0 - 40.0, "view {view:?}");
    let left_edge = terms.left();
    pick(&mut h, "Langevin", "HMC");
    frames(&mut h, 4);
    let moved = h.get_by_label("Gradient terms").rect().left() - left_edge;
    let view_after = h.state().view_rect.unwrap();
    assert!(
        (view_after.left() - view.left()).abs() < 1.0 && moved.abs() < 1.0,
        "the columns moved when the sampler changed: {moved}, view {view:?} -> {view_after:?}"
    );
}

/// At 1 024 and 1 280 px wide nothing in the settings column runs under its edge: a
/// convolution's layer row (its padding, shape and buttons), the logits row and SGLD's
/// temperature row wrap instead, and the text under them wraps at the column's width.
/// (The column's width follows the window's width alone; the window is tall enough here
/// that every section is on screen.)
#[test]
fn the_settings_column_cuts_nothing_in_a_small_window() {
    for (width, height) in [(1024.0, 2400.0), (1280.0, 2400.0)] {
        let mut h = harness_sized(width, height);
        frames(&mut h, 2);
        for (file, _) in ebm_workbench::preset::BUNDLED {
            let example = file.trim_end_matches(".ron");
            open_example_from_menu(&mut h, example);
            confirm_if_asked(&mut h);
            frames(&mut h, 4);
            let column = h.state().settings_rect.expect("the settings column");
            let (edge, top, bottom) = (column.right(), column.top(), column.bottom());
            let cut: Vec<String> = h
                .query_all(egui_kittest::kittest::By::new())
                .filter(|n| {
                    if n.accesskit_node().bounding_box().is_none() {
                        return false;
                    }
                    let r = n.rect();
                    r.left() > column.left() + 2.0
                        && r.left() < edge
                        && r.top() > top
                        && r.bottom() < bottom
                        && r.right() > edge + 1.0
                })
                .map(|n| {
                    format!(
                        "{:?} `{}{}` {:.0}..{:.0}",
                        n.accesskit_node().role(),
                        n.accesskit_node().label().unwrap_or_default(),
                        n.accesskit_node().value().unwrap_or_default(),
                        n.rect().left(),
                        n.rect().right()
                    )
                })
                .collect();
            assert!(
                cut.is_empty(),
                "{example} at {width} px: the column ends at {edge:.0}, these run under it: {cut:?}"
            );
        }
    }
}

/// The network drawn under the view, as Playground draws it: each hidden layer's
/// strongest units (at most 16) with their responses over the box, updated as training
/// runs; the box turns it off.
#[test]
fn the_network_is_drawn_with_its_units_and_follows_training() {
    let mut h = harness();
    h.step();
    step_until(&mut h, "a view with units", Duration::from_secs(30), |a| {
        a.run.view.as_ref().is_some_and(|v| v.units().is_some())
    });
    frames(&mut h, 2);
    assert!(
        h.query_by_label_contains("layer 0: 16 of 128 units")
            .is_some()
    );
    let before = h
        .state()
        .run
        .view
        .as_ref()
        .unwrap()
        .units()
        .cloned()
        .unwrap();
    assert_eq!(before.layers.len(), 2);
    assert!(before.layers.iter().all(|l| l.units.len() == 16));
    press(&mut h, "Step");
    step_until(
        &mut h,
        "a view after a step",
        Duration::from_secs(30),
        |a| {
            a.run
                .view
                .as_ref()
                .is_some_and(|v| v.step >= 1 && v.units().is_some())
        },
    );
    let after = h
        .state()
        .run
        .view
        .as_ref()
        .unwrap()
        .units()
        .cloned()
        .unwrap();
    assert_ne!(
        before.layers[0].responses, after.layers[0].responses,
        "the drawing did not follow the step"
    );
    press(&mut h, "network");
    press(&mut h, "Step");
    step_until(
        &mut h,
        "a view without units",
        Duration::from_secs(30),
        |a| {
            a.run
                .view
                .as_ref()
                .is_some_and(|v| v.step >= 2 && v.units().is_none())
        },
    );
    frames(&mut h, 2);
    assert!(h.query_by_label_contains("16 of 128 units").is_none());
}

/// The long-run panel: chains from the buffer run apart from training on the current
/// parameters; their energy traces, where they end, R̂ and ESS are shown, and the run
/// that trains is left as it was.
#[test]
fn a_long_run_shows_traces_rhat_and_ess_without_touching_training() {
    let mut h = harness();
    h.step();
    press(&mut h, "Train");
    step_until(&mut h, "40 steps", Duration::from_secs(60), |a| {
        a.run.history.received >= 40
    });
    press(&mut h, "Pause");
    step_until(&mut h, "paused", Duration::from_secs(10), |a| {
        !a.run.running
    });
    frames(&mut h, 3);
    let (step, received) = (h.state().run.step, h.state().run.history.received);
    press(&mut h, "Long run…");
    frames(&mut h, 2);
    type_into(&mut h, "Sampler steps", 0, "400");
    type_into(&mut h, "Chains", 0, "8");
    press(&mut h, "Run chains");
    step_until(&mut h, "the long run", Duration::from_secs(60), |a| {
        a.run.space_view.long_run().unwrap().result.is_some()
    });
    frames(&mut h, 2);
    let r = h
        .state()
        .run
        .space_view
        .long_run()
        .unwrap()
        .result
        .clone()
        .unwrap();
    assert_eq!((r.steps, r.energy_trace.len()), (400, 8));
    assert_eq!(r.end_2d.len(), 8 * 2, "the ends on the view's axes");
    assert_eq!(r.start_2d.len(), 8 * 2, "and the starts");
    // 200 recorded points at most, the start included.
    assert!(r.energy_trace[0].len() == 201 && r.every == 2);
    assert!(
        r.rhat.1.is_finite() && r.ess.1 > 0.0,
        "{:?} {:?}",
        r.rhat,
        r.ess
    );
    assert!(h.query_by_label_contains("bulk ESS").is_some());
    assert!(h.query_by_label_contains("8 chains × 400 steps").is_some());
    // Training was not touched.
    assert_eq!(
        (h.state().run.step, h.state().run.history.received),
        (step, received)
    );
    assert!(!h.state().run.running);
    // The long run belongs to its run: a reset forgets its result and keeps the panel
    // and its settings.
    h.state_mut().run_command(UiCommand::Reset);
    frames(&mut h, 3);
    if h.query_by_label("Replace").is_some() {
        press(&mut h, "Replace");
    }
    step_until(&mut h, "the new run", Duration::from_secs(10), |a| {
        a.run.history.received == 0 && !a.is_starting()
    });
    let l = h.state().run.space_view.long_run().unwrap().clone();
    assert!(l.result.is_none(), "the old run's long run outlived it");
    assert_eq!((l.open, l.chains, l.steps), (true, 8, 400));
}

/// Score matching in the window: the Sampler panel says none is used for training, no
/// samples are drawn, and the curves set the objective's gradient against the exact
/// maximum-likelihood gradient.
#[test]
fn score_matching_trains_in_the_window_without_samples() {
    let mut h = harness();
    h.step();
    open_example_from_menu(&mut h, "eight_gaussians_dsm");
    assert!(h.state().state.preset.objective.kind.is_score_matching());
    assert!(
        h.query_by_label_contains("None is used for training")
            .is_some()
    );
    assert!(h.query_by_value("denoising score matching").is_some());
    press(&mut h, "Train");
    step_until(&mut h, "two evaluations", Duration::from_secs(60), |a| {
        a.run.history.objective_cos_ml.len() >= 2
    });
    press(&mut h, "Pause");
    frames(&mut h, 3);
    assert!(
        h.query_by_label("The objective vs the exact ML gradient")
            .is_some()
    );
    assert!(
        h.query_by_label("Sampler vs the exact sample term")
            .is_none()
    );
    assert!(h.query_by_label("cos(data term, sample term)").is_none());
    assert!(h.query_by_label_contains("no sample term").is_some());
    // No chains train it: the view offers no buffer or chain paths to show, and the
    // energies' plot has no E(samples) key over flat zeros.
    assert!(h.query_by_label("buffer").is_none() && h.query_by_label("chain paths").is_none());
    assert!(h.query_by_label("Energy and loss").is_some());
    assert!(h.query_by_label("■ E(samples)").is_none());
    let v = h.state().run.view.clone().unwrap();
    assert!(
        v.chains().unwrap().samples.is_empty(),
        "samples drawn without a sampler"
    );
}

#[test]
fn the_device_menu_has_a_name_while_the_probe_is_still_running() {
    // On a busy machine the window's first frames come before the probe's answer: the
    // menu must be reachable by name then too (it once had none until the answer came,
    // which failed the accessibility check that builds every harness, now and then).
    let (answer, rx) = std::sync::mpsc::channel();
    let mut h = Harness::builder()
        .with_size([1500.0, 950.0])
        .build_eframe(|cc| {
            let mut app = WorkbenchApp::with_state(&cc.egui_ctx, PersistedState::default());
            app.devices = ebm_workbench::gui::app::DeviceList::answering_on(rx);
            app
        });
    frames(&mut h, 2);
    assert!(!h.state().devices.probed());
    let name = |h: &Harness<'_, WorkbenchApp>| {
        find(h, Target::Menu("CPU"))
            .accesskit_node()
            .label()
            .unwrap_or_default()
    };
    assert!(
        name(&h).contains("Looking for GPUs"),
        "the device menu while probing is named {:?}",
        name(&h)
    );
    h.check_accessibility();
    answer.send(ebm_workbench::device::probe()).unwrap();
    step_until(&mut h, "the probe's answer", Duration::from_secs(10), |a| {
        a.devices.probed()
    });
    frames(&mut h, 2);
    assert!(
        !name(&h).contains("Looking for GPUs"),
        "the menu still says it is looking after the answer: {:?}",
        name(&h)
    );
    h.check_accessibility();
}

#[test]
fn the_device_menu_lists_every_device_with_what_it_is_or_why_it_cannot_be_used() {
    let mut h = harness();
    // The probe runs on its own thread at start-up; the window goes on meanwhile.
    step_until(&mut h, "the device probe", Duration::from_secs(30), |a| {
        a.devices.probed()
    });
    frames(&mut h, 2);
    let found = ebm_workbench::device::probe();
    // In the toolbar, above the columns, where a person looks for it (it was at the foot
    // of the settings, out of sight).
    let menu = find(&h, Target::Menu("CPU")).rect();
    let column = h.state().settings_rect.expect("the settings column");
    assert!(
        menu.bottom() <= column.top() + 1.0,
        "the device menu {menu:?} is not in the toolbar (the columns start at {})",
        column.top()
    );
    click(&mut h, Target::Menu("CPU"));
    frames(&mut h, 1);
    assert!(
        h.query_by_label_contains("CPU — ").is_some(),
        "the CPU entry says what it is"
    );
    for d in &found {
        let name = d.spec.name();
        match &d.status {
            Ok(what) => {
                assert!(
                    h.query_by_label_contains(&format!("{name} — {what}"))
                        .is_some()
                );
            }
            Err(why) => {
                // Listed, greyed, with the reason under it.
                let entry = h.get_by_label(&name);
                assert!(
                    entry.accesskit_node().is_disabled(),
                    "{name} can be picked although: {why}"
                );
                assert!(
                    h.query_by_label_contains(why).is_some(),
                    "no reason shown: {why}"
                );
            }
        }
    }
    if cfg!(not(feature = "cuda")) {
        assert!(
            h.query_by_label_contains("this build has no CUDA support")
                .is_some(),
            "a build without CUDA says so"
        );
        // A greyed entry cannot be picked.
        h.get_by_label("CUDA 0").click();
        frames(&mut h, 2);
        assert_eq!(
            h.state().state.preset.device,
            ebm_workbench::device::DeviceSpec::Cpu
        );
    }
}

/// A CSV whose header names its last column `label` trains as 2-D points with labels
/// (before, as 3-D points until the label column was ticked by hand), and the window
/// says which column it took; a header of coordinates alone (`x,y`) has no labels.
#[test]
fn a_csv_whose_header_names_a_label_column_trains_with_labels() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("x,y,label\n");
    for i in 0..400 {
        let t = f64::from(i) * 0.7;
        text.push_str(&format!("{},{},{}\n", 3.0 * t.cos(), t.sin(), i % 2));
    }
    let labelled = dir.path().join("labelled.csv");
    std::fs::write(&labelled, &text).unwrap();
    let mut h = harness();
    h.step();
    drop_file(&mut h, &labelled);
    step_until(
        &mut h,
        "the worker on the file",
        Duration::from_secs(10),
        |a| a.worker_preset.data.file().is_some(),
    );
    let a = h.state();
    assert_eq!(a.state.preset.data.labels, Some(2));
    assert_eq!(a.run.data.dim, 2, "two features, the labels apart");
    assert!(
        a.log.entries.iter().any(|e| e.text.contains("column 2")),
        "the window says which column holds the labels"
    );
    let plain = dir.path().join("plain.csv");
    std::fs::write(&plain, "x,y\n1,2\n3,4\n5,6\n7,8\n").unwrap();
    assert_eq!(ebm_workbench::data::file::label_column(&plain), None);
    assert_eq!(ebm_workbench::data::file::label_column(&labelled), Some(2));
}

/// The Exact sampler takes no steps and keeps no chains: its panel shows none of Steps
/// (K), Start, Buffer size, Re-init prob. or Clamp; back on Langevin they return.
#[test]
fn the_exact_sampler_shows_no_chain_controls() {
    let mut h = harness();
    frames(&mut h, 2);
    let chain_rows = [
        "Steps (K)",
        "Start",
        "Buffer size",
        "Re-init prob.",
        "Clamp",
    ];
    for r in chain_rows {
        assert!(h.query_by_label(r).is_some(), "{r} for Langevin");
    }
    pick(&mut h, "Langevin", "exact");
    frames(&mut h, 2);
    for r in chain_rows {
        assert!(h.query_by_label(r).is_none(), "{r} shown for exact draws");
    }
    pick(&mut h, "exact", "Langevin");
    frames(&mut h, 2);
    assert!(h.query_by_label("Steps (K)").is_some());
}

/// The 16-D projection keeps its axes while the run trains (the projected data's extent,
/// fixed per run, as the plane keeps its box): three frames apart in time show one
/// range; "fit to samples" makes it follow the samples instead.
#[test]
fn the_projection_keeps_its_axes_while_training_and_fits_on_demand() {
    use ebm_workbench::gui::views::projection_plot_id;
    // A short window: the equal aspect once shrank the taller range and cut the data.
    let mut h = harness_sized(1100.0, 700.0);
    frames(&mut h, 2);
    open_example_from_menu(&mut h, "mixture_16d");
    confirm_if_asked(&mut h);
    step_until_shown(&mut h, "fit to samples", Duration::from_secs(10));
    press(&mut h, "Train");
    let bounds = |h: &Harness<'_, WorkbenchApp>| {
        *egui_plot::PlotMemory::load(&h.ctx, projection_plot_id(false))
            .expect("the projection's memory")
            .bounds()
    };
    step_until(&mut h, "steps", Duration::from_secs(60), |a| {
        a.run.history.received >= 10
    });
    frames(&mut h, 2);
    let first = bounds(&h);
    // Every projected data point is inside the view.
    let data = h
        .state()
        .run
        .view
        .as_ref()
        .and_then(|v| v.projection())
        .expect("projected data")
        .data
        .clone();
    for p in data.chunks_exact(2) {
        let (x, y) = (f64::from(p[0]), f64::from(p[1]));
        assert!(
            (first.min()[0]..=first.max()[0]).contains(&x)
                && (first.min()[1]..=first.max()[1]).contains(&y),
            "({x}, {y}) is outside the view {first:?}"
        );
    }
    let mut later = Vec::new();
    for n in [20, 40] {
        step_until(&mut h, "more steps", Duration::from_secs(60), |a| {
            a.run.history.received >= n
        });
        frames(&mut h, 2);
        later.push(bounds(&h));
    }
    press(&mut h, "Pause");
    for b in later {
        assert_eq!(b, first, "the projection's axes moved while training");
    }
    press(&mut h, "fit to samples");
    frames(&mut h, 3);
    assert!(
        egui_plot::PlotMemory::load(&h.ctx, projection_plot_id(true)).is_some(),
        "the fitted view is its own plot"
    );
}

/// A plot moved off the run (by a drag, or Ctrl + wheel) says so above it, with a
/// "Follow the run" button that brings it back to following the run in one click.
#[test]
fn a_plot_moved_off_the_run_says_so_and_follows_again_in_one_click() {
    use ebm_workbench::gui::views::curve_plot_id;
    let mut h = harness();
    h.step();
    press(&mut h, "Step");
    step_until(&mut h, "a step", Duration::from_secs(30), |a| {
        a.run.history.received >= 1
    });
    frames(&mut h, 3);
    assert!(
        h.query_by_label("Follow the run").is_none(),
        "following: nothing to say"
    );
    let id = curve_plot_id("energy_plot");
    let mut m = egui_plot::PlotMemory::load(&h.ctx, id).expect("the energy plot");
    m.auto_bounds = false.into();
    m.store(&h.ctx, id);
    frames(&mut h, 2);
    assert!(h.query_by_label_contains("not following the run").is_some());
    press(&mut h, "Follow the run");
    frames(&mut h, 3);
    assert!(
        egui_plot::PlotMemory::load(&h.ctx, id)
            .expect("the energy plot")
            .auto_bounds
            .all(),
        "one click: following again"
    );
    assert!(h.query_by_label("Follow the run").is_none());
}

/// Before the first step the plots on the right show steps from 0 to 100 and values from
/// 0 to 1, not egui_plot's default ±0.4 around nothing; after steps, the step axis
/// starts at 0.
#[test]
fn empty_plots_show_the_first_hundred_steps_not_a_dummy_range() {
    use ebm_workbench::gui::views::curve_plot_id;
    let mut h = harness();
    frames(&mut h, 3);
    assert_eq!(h.state().run.history.received, 0);
    let bounds = |h: &Harness<'_, WorkbenchApp>| {
        *egui_plot::PlotMemory::load(&h.ctx, curve_plot_id("energy_plot"))
            .expect("the energy plot's memory")
            .bounds()
    };
    let b = bounds(&h);
    assert!(
        b.min()[0] <= 0.0 && b.max()[0] >= 100.0 && b.min()[1] <= 0.0 && b.max()[1] >= 1.0,
        "empty: {b:?}"
    );
    press(&mut h, "Step");
    step_until(&mut h, "a step", Duration::from_secs(30), |a| {
        a.run.history.received >= 1
    });
    frames(&mut h, 3);
    assert!(bounds(&h).min()[0] <= 0.0, "the step axis starts at 0");
}

/// The mouse wheel over a plot on the right scrolls the panel towards the lower plots,
/// and the plot under the pointer goes on following the run (before, the wheel panned it
/// as well: it stopped following and looked empty until double-clicked).
#[test]
fn the_wheel_over_a_curve_scrolls_the_panel_and_the_plot_keeps_following() {
    use ebm_workbench::gui::views::curve_plot_id;
    let dir = tempfile::tempdir().unwrap();
    let path = quick_preset(dir.path(), "two_moons.ron");
    // A window small enough that the plots need the panel's scroll bar.
    let mut h = harness_sized(1100.0, 700.0);
    h.step();
    drop_file(&mut h, &path);
    h.get_by_label("Train").click();
    step_until(&mut h, "an NLL", Duration::from_secs(60), |a| {
        a.run.history.received >= 30 && !a.run.history.nll.is_empty()
    });
    // Over the NLL plot, just under its heading and key.
    let heading = h.get_by_label("Held-out NLL (nats, quadrature)").rect();
    let over = heading.left_bottom() + egui::vec2(120.0, 60.0);
    let following = |h: &Harness<'_, WorkbenchApp>| {
        egui_plot::PlotMemory::load(&h.ctx, curve_plot_id("nll_plot"))
            .expect("the NLL plot's memory")
            .auto_bounds
    };
    assert!(
        following(&h).all(),
        "the plot follows the run before the wheel"
    );
    for _ in 0..3 {
        h.hover_at(over);
        h.event(egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Point,
            delta: egui::vec2(0.0, -120.0),
            phase: egui::TouchPhase::Move,
            source: egui::MouseWheelSource::Unknown,
            modifiers: egui::Modifiers::NONE,
        });
        frames(&mut h, 3);
    }
    frames(&mut h, 10);
    let moved = h.get_by_label("Held-out NLL (nats, quadrature)").rect();
    assert!(
        moved.top() < heading.top() - 50.0,
        "the panel did not scroll: the heading at {} then {}",
        heading.top(),
        moved.top()
    );
    assert!(
        following(&h).all(),
        "the wheel panned the plot: it no longer follows the run"
    );
}

/// In a 1 024 × 700 window every example stays in reach: the Examples menu scrolls within
/// the window (before, at 1100×700 five of fourteen were cut off, the image presets among
/// them), and its last entry (the last bits example) opens from it.
#[test]
fn every_example_is_in_reach_in_a_small_window() {
    let mut h = harness_sized(1024.0, 700.0);
    frames(&mut h, 2);
    h.get_by_label("Examples").click();
    frames(&mut h, 3);
    // The menu is grouped by kind of data, bits last: its last bits example is the
    // menu's last entry.
    let last = ebm_workbench::preset::BUNDLED
        .iter()
        .rfind(|(_, text)| {
            matches!(
                ebm_workbench::Preset::from_ron(text).map(|p| p.data.source),
                Ok(ebm_workbench::data::DataSource::Bits(_))
            )
        })
        .expect("bundled bits presets")
        .0
        .trim_end_matches(".ron");
    // Scrolled to, it lies inside the window (without the list's scrolling it stayed
    // below the window's edge).
    h.get_by_label(last).scroll_to_me();
    frames(&mut h, 3);
    let r = h.get_by_label(last).rect();
    assert!(
        r.top() >= 0.0 && r.bottom() <= 700.0,
        "the last example is outside the window: {r:?}"
    );
    click(&mut h, Target::Label(last));
    frames(&mut h, 5);
    assert_eq!(
        h.state().state.preset.name,
        last,
        "the last example did not open from the menu"
    );
    // In a tall window the list uses the window's height, not egui's first guess of 400
    // points (it ended in the middle of a 950-point window).
    let mut h = harness();
    frames(&mut h, 2);
    let examples = h.get_by_label("Examples").rect();
    h.get_by_label("Examples").click();
    frames(&mut h, 3);
    let bar = h
        .get_all_by_role(Role::ScrollBar)
        .map(|n| n.rect())
        .find(|r| r.left() > examples.left() && r.left() < examples.left() + 480.0)
        .expect("the list's scroll bar");
    assert!(
        bar.bottom() > 0.85 * 950.0,
        "the list ends at {:.0} of 950 points",
        bar.bottom()
    );
}

/// The panels offer what validation allows: a valid preset's layers and grid stay as the
/// file gives them (the panels' ranges once stopped at 1 024 and clamped).
#[test]
fn the_network_panel_keeps_a_valid_presets_layers() {
    use ebm_workbench::energy::LayerSpec;
    let dir = tempfile::tempdir().unwrap();
    let mut p = common::small(8);
    p.model.layers = vec![
        LayerSpec::Linear(2048),
        LayerSpec::Silu,
        LayerSpec::Linear(1),
    ];
    p.eval.eval_every = 0;
    // And a quadrature grid past the panel's old 1 024.
    p.eval.grid = 2048;
    let path = dir.path().join("wide.ron");
    p.save(&path).unwrap();
    let mut h = harness();
    h.step();
    drop_file(&mut h, &path);
    step_until(&mut h, "the wide preset", Duration::from_secs(10), |a| {
        a.worker_preset.model.layers == p.model.layers
    });
    frames(&mut h, 5);
    assert_eq!(
        h.state().state.preset.model.layers,
        p.model.layers,
        "messages: {:?}",
        h.state().messages
    );
    assert_eq!(h.state().state.preset.eval.grid, 2048);
    assert!(h.state().pending_replace.is_none());
}

/// The MNIST example reads files that are not bundled: opened from the Examples menu
/// without them (presets/mnist/ is not in the repository), the window says where it
/// looked and what to put there, and the experiment stays as it was. Where someone has
/// put the files there, it opens on them instead.
#[test]
fn the_mnist_example_without_its_files_says_where_to_put_them_and_changes_nothing() {
    let mut h = harness();
    frames(&mut h, 2);
    let before = h.state().state.preset.clone();
    open_example_from_menu(&mut h, "mnist_conv_jem");
    frames(&mut h, 10);
    let there = ["train-images-idx3-ubyte", "train-images-idx3-ubyte.gz"]
        .iter()
        .any(|f| std::path::Path::new("presets/mnist").join(f).exists());
    if there {
        assert_eq!(h.state().state.preset.name, "mnist_conv_jem");
        return;
    }
    assert_eq!(
        h.state().state.preset,
        before,
        "a failed example replaced the experiment"
    );
    let said: Vec<String> = h
        .state()
        .messages
        .iter()
        .filter(|m| m.error)
        .map(|m| m.text.clone())
        .collect();
    assert!(
        said.iter().any(|t| t.contains("presets")
            && t.contains("mnist")
            && t.contains("train-images-idx3-ubyte.gz")
            && t.contains("train-labels-idx1-ubyte")),
        "{said:?}"
    );
}

/// A likelihood that means nothing is not shown as one (DESIGN §8). The digits JEM
/// preset's AIS puts all the weight on one chain: the status bar says "NLL not
/// measurable" with the reason on hover, the NLL plot draws no point and says why, and
/// the reference comparison is greyed as its chains have not mixed. On the 16-D mixture
/// the AIS is healthy and its NLL is shown as a number, on the plot too.
#[test]
fn a_degenerate_likelihood_says_not_measurable_and_a_healthy_one_shows() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = common::bundled("digits_jem.ron");
    p.eval.eval_every = 10;
    p.eval.ais_chains = 32;
    p.eval.ais_temperatures = 40;
    p.eval.reference_chains = 16;
    p.eval.reference_steps = 10;
    let path = dir.path().join("digits.ron");
    p.save(&path).unwrap();
    let mut h = harness();
    h.step();
    drop_file(&mut h, &path);
    step_until_shown(&mut h, "Input: 1×8×8 images", Duration::from_secs(10));
    press(&mut h, "Train");
    step_until(&mut h, "two evaluations", Duration::from_secs(120), |a| {
        a.run.history.nll_untrusted.len() >= 3
    });
    press(&mut h, "Pause");
    frames(&mut h, 3);
    let a = h.state();
    assert!(
        a.run.history.nll.is_empty(),
        "no NLL plotted: {:?}",
        a.run.history.nll
    );
    assert!(
        h.query_by_label_contains("NLL not measurable (at step")
            .is_some()
    );
    let plot_note = h
        .query_by_label_contains("Not measurable at step")
        .expect("the NLL plot says why it is empty");
    let note = format!("{plot_note:?}");
    assert!(
        note.contains("of 32 chains") && note.contains("evaluations left off the plot"),
        "{note}"
    );
    assert!(
        h.query_by_label_contains("Greyed: the reference chains have not mixed")
            .is_some(),
        "the reference comparison is greyed"
    );

    let mut p = common::bundled("mixture_16d.ron");
    p.eval.eval_every = 10;
    p.eval.ais_chains = 64;
    p.eval.ais_temperatures = 100;
    p.eval.reference_chains = 16;
    p.eval.reference_steps = 10;
    let path = dir.path().join("mixture.ron");
    p.save(&path).unwrap();
    drop_file(&mut h, &path);
    confirm_if_asked(&mut h);
    step_until_shown(&mut h, "Input: 16 numbers a point", Duration::from_secs(10));
    press(&mut h, "Train");
    step_until(&mut h, "an evaluation", Duration::from_secs(120), |a| {
        a.run.history.nll.len() >= 2
    });
    press(&mut h, "Pause");
    frames(&mut h, 3);
    assert!(h.state().run.history.nll_untrusted.is_empty());
    assert!(h.query_by_label_contains("not measurable").is_none());
    assert!(h.query_by_label_contains("Not measurable").is_none());
    let status = h
        .query_by_label_contains("(held out, at step")
        .expect("the NLL in the status bar");
    assert!(
        format!("{status:?}").contains("AIS weights' ESS"),
        "{status:?}"
    );
}

/// Bits in the window (DESIGN §8): the bars-and-stripes example opens from the menu,
/// trains with Gibbs chains, shows its samples as binary tiles, its NLL by enumeration
/// (exact, against the true ln 30) and the sampler against the exact sample term; the
/// sampler offers only the rules for bits, and Run AIS is AIS on bits.
#[test]
fn bars_and_stripes_train_in_the_window_with_an_exact_nll() {
    let mut h = harness();
    frames(&mut h, 2);
    open_example_from_menu(&mut h, "bars_stripes_gibbs");
    confirm_if_asked(&mut h);
    step_until_shown(&mut h, "Input: 4×4 bits", Duration::from_secs(10));
    assert!(
        h.query_by_label_contains("bars_stripes_4x4 (bits)")
            .is_some()
    );
    assert!(
        h.query_by_label("Run AIS").is_some(),
        "AIS on bits, by Gibbs moves"
    );
    assert!(h.query_by_label("Clamp").is_none());
    click(&mut h, Target::Menu("Gibbs"));
    frames(&mut h, 2);
    assert!(h.query_by_label("exact").is_some());
    assert!(h.query_by_label("MALA").is_none() && h.query_by_label("SGLD").is_none());
    h.key_press(egui::Key::Escape);
    frames(&mut h, 2);
    press(&mut h, "Train");
    step_until(&mut h, "three evaluations", Duration::from_secs(120), |a| {
        a.run.history.nll.len() >= 3
            && a.run
                .view
                .as_ref()
                .and_then(|v| v.images())
                .is_some_and(|i| !i.samples.is_empty())
    });
    press(&mut h, "Pause");
    frames(&mut h, 3);
    let a = h.state();
    assert_eq!(
        a.run.history.nll_method,
        Some(ebm_workbench::eval::Method::Enumeration)
    );
    assert!(a.run.history.nll_untrusted.is_empty());
    assert!(!a.run.history.sample_term_cos_exact.is_empty());
    let samples = &a
        .run
        .view
        .as_ref()
        .and_then(|v| v.images())
        .expect("tiles")
        .samples;
    assert!(
        samples.iter().all(|v| *v == 0.0 || *v == 1.0),
        "binary tiles"
    );
    assert!(
        h.query_by_label_contains("Held-out NLL (nats, enumeration)")
            .is_some()
    );
    assert!(
        h.query_by_label_contains("Sampler vs the exact sample term")
            .is_some()
    );
    let truth = h
        .query_by_label_contains("True NLL of the held-out split: 3.4012")
        .is_some();
    assert!(truth, "ln 30 as the truth");
}

/// An RBM in the window: the example opens with its own network panel (hidden units, no
/// layer list), trains by CD-1 with an exact NLL, and shows its weights as one picture
/// per hidden unit in a "filters" tab that other energies do not have.
#[test]
fn an_rbm_shows_its_filters_and_an_exact_nll() {
    let mut h = harness();
    frames(&mut h, 2);
    assert!(h.query_by_label("filters").is_none());
    open_example_from_menu(&mut h, "bars_stripes_rbm");
    confirm_if_asked(&mut h);
    step_until_shown(
        &mut h,
        "RBM: 16 binary visible units",
        Duration::from_secs(10),
    );
    assert!(h.query_by_label_contains("Parameters: 288").is_some());
    click(&mut h, Target::Menu("Gibbs"));
    frames(&mut h, 2);
    for rule in ["Gibbs with gradients", "block Gibbs (RBM)", "exact"] {
        assert!(
            h.query_by_label(rule).is_some(),
            "{rule} offered for an RBM"
        );
    }
    h.key_press(egui::Key::Escape);
    frames(&mut h, 2);
    assert!(
        h.query_by_label("+ Linear").is_none(),
        "no layer list for an RBM"
    );
    press(&mut h, "Train");
    step_until(&mut h, "two evaluations", Duration::from_secs(120), |a| {
        a.run.history.nll.len() >= 2
            && a.run
                .view
                .as_ref()
                .and_then(|v| v.images())
                .is_some_and(|i| i.filters.len() == 16 * 16)
    });
    press(&mut h, "Pause");
    frames(&mut h, 3);
    press(&mut h, "filters");
    frames(&mut h, 3);
    let a = h.state();
    let f = &a
        .run
        .view
        .as_ref()
        .and_then(|v| v.images())
        .expect("tiles")
        .filters;
    for tile in f.chunks_exact(16) {
        let (mn, mx) = tile
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), v| {
                (a.min(*v), b.max(*v))
            });
        assert!(
            mn.abs() < 1e-6 && (mx - 1.0).abs() < 1e-6,
            "each filter spans black to white"
        );
    }
    assert_eq!(
        a.run.history.nll_method,
        Some(ebm_workbench::eval::Method::Enumeration)
    );
    assert!(h.query_by_label_contains("RBM engine, CPU").is_some());
}

/// The Gaussian RBM example: its panel names the Gaussian units and σ, block Gibbs is
/// offered beside the point samplers, and training shows filters and an exact NLL on
/// real pixels. An image preset of layers offers the Gaussian RBM in their place.
#[test]
fn a_gaussian_rbm_on_real_pixels_shows_sigma_filters_and_an_exact_nll() {
    let mut h = harness();
    frames(&mut h, 2);
    open_example_from_menu(&mut h, "digits_ebm");
    confirm_if_asked(&mut h);
    step_until_shown(&mut h, "Gaussian RBM instead", Duration::from_secs(10));
    open_example_from_menu(&mut h, "digits_grbm");
    confirm_if_asked(&mut h);
    step_until_shown(
        &mut h,
        "RBM: 64 Gaussian visible units,",
        Duration::from_secs(10),
    );
    assert!(h.query_by_label_contains("Parameters: 1104").is_some());
    assert!(
        h.query_by_label("Clamp").is_none(),
        "block Gibbs has nothing to clamp"
    );
    click(&mut h, Target::Menu("block Gibbs (RBM)"));
    frames(&mut h, 2);
    for rule in ["MALA", "Langevin", "exact"] {
        assert!(
            h.query_by_label(rule).is_some(),
            "{rule} offered for a Gaussian RBM"
        );
    }
    assert!(
        h.query_by_label("Gibbs").is_none(),
        "no bit flips on real pixels"
    );
    h.key_press(egui::Key::Escape);
    frames(&mut h, 2);
    press(&mut h, "Train");
    step_until(&mut h, "two evaluations", Duration::from_secs(120), |a| {
        a.run.history.nll.len() >= 2
            && a.run
                .view
                .as_ref()
                .and_then(|v| v.images())
                .is_some_and(|i| i.filters.len() == 16 * 64)
    });
    press(&mut h, "Pause");
    frames(&mut h, 3);
    let a = h.state();
    assert_eq!(
        a.run.history.nll_method,
        Some(ebm_workbench::eval::Method::Enumeration)
    );
    let (first, last) = (
        a.run.history.nll.points[0][1],
        a.run.history.nll.last().unwrap(),
    );
    assert!(
        last < first - 20.0,
        "the exact NLL falls: {first} -> {last}"
    );
}

/// Run AIS on bits: Gibbs moves from independent bits, set beside the exact log Z of
/// every state (bars and stripes, 16 bits), and agreeing with it.
#[test]
fn run_ais_on_bits_sets_its_estimate_beside_the_exact_log_z() {
    let mut h = harness();
    frames(&mut h, 2);
    open_example_from_menu(&mut h, "bars_stripes_gibbs");
    confirm_if_asked(&mut h);
    step_until_shown(&mut h, "Input: 4×4 bits", Duration::from_secs(10));
    press(&mut h, "Run AIS");
    step_until(&mut h, "an AIS result", Duration::from_secs(60), |a| {
        a.run.ais.is_some()
    });
    let (lz, se, exact, trusted) = h.state().run.ais.expect("an estimate");
    let exact = exact.expect("the exact log Z beside it");
    assert!(trusted && se > 0.0, "{lz} ± {se}");
    assert!(
        (lz - exact).abs() < 0.1_f64.max(4.0 * se),
        "AIS {lz} ± {se} against the exact {exact}"
    );
    frames(&mut h, 2);
    assert!(
        h.query_all_by_label_contains("exact (enumeration)")
            .next()
            .is_some(),
        "the AIS message names the exact value"
    );
}

/// An RBM file written by another program (the three tensors, no experiment) goes onto
/// the current data: on the binarized digits it replaces the network and trains with
/// an exact NLL; on the plane it is refused with what to open first, and the
/// experiment stays as it was.
#[test]
fn another_programs_rbm_file_loads_onto_the_current_bits_and_is_refused_on_the_plane() {
    let dir = tempfile::tempdir().unwrap();
    let (n, m) = (64, 12);
    let w: Vec<f32> = (0..m * n)
        .map(|i| 0.05 * ((i * 37 % 11) as f32 - 5.0))
        .collect();
    let path = dir.path().join("sklearn_rbm.safetensors");
    common::write_rbm_file(&path, (m, n), (&w, &vec![0.0; n], &vec![0.0; m]), &[]);

    let mut h = harness();
    frames(&mut h, 2);
    let plane = h.state().state.preset.clone();
    drop_file(&mut h, &path);
    frames(&mut h, 10);
    assert_eq!(
        h.state().state.preset,
        plane,
        "a refused model replaced the experiment"
    );
    let said: Vec<String> = h
        .state()
        .messages
        .iter()
        .filter(|m| m.error)
        .map(|m| m.text.clone())
        .collect();
    assert!(
        said.iter()
            .any(|t| t.contains("sklearn_rbm") && t.contains("no experiment")),
        "{said:?}"
    );

    open_example_from_menu(&mut h, "digits_rbm_pcd");
    confirm_if_asked(&mut h);
    step_until_shown(&mut h, "Input: 8×8 bits", Duration::from_secs(10));
    drop_file(&mut h, &path);
    confirm_if_asked(&mut h);
    step_until(&mut h, "the file's RBM", Duration::from_secs(10), |a| {
        a.worker_preset.model.rbm() == Some(12)
    });
    let a = h.state();
    assert_eq!(a.state.preset.name, "sklearn_rbm");
    assert_eq!(
        a.state.preset.data.source,
        ebm_workbench::data::DataSource::Bits(ebm_workbench::data::BitSet::BinarizedDigits)
    );
    press(&mut h, "Train");
    step_until(
        &mut h,
        "an exact evaluation",
        Duration::from_secs(60),
        |a| a.run.history.nll.len() >= 2,
    );
    press(&mut h, "Pause");
    frames(&mut h, 2);
    assert_eq!(
        h.state().run.history.nll_method,
        Some(ebm_workbench::eval::Method::Enumeration)
    );
}

/// An energy of layers on more bits than can be enumerated (an MLP on 64 bits) plots an
/// NLL estimated by AIS on bits, and an RBM too large to sum over (evaluated by AIS) says
/// that nothing measures its sampler instead of drawing an empty reference plot.
#[test]
fn bits_beyond_enumeration_have_an_ais_nll_and_say_there_is_no_reference() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = common::bundled("digits_rbm_pcd.ron");
    p.model = ebm_workbench::energy::ModelSpec {
        layers: common::mlp(16),
        outputs: 1,
        gaussian: None,
    };
    p.sampler.kind = ebm_workbench::sampler::SamplerKind::Gwg;
    p.eval.eval_every = 10;
    p.eval.ais_chains = 16;
    p.eval.ais_temperatures = 20;
    let path = dir.path().join("mlp_bits.ron");
    p.save(&path).unwrap();
    let mut h = harness();
    h.step();
    drop_file(&mut h, &path);
    step_until_shown(&mut h, "Input: 8×8 bits", Duration::from_secs(10));
    assert!(
        h.query_by_label_contains("NLL not measurable (no estimator)")
            .is_none()
    );
    press(&mut h, "Train");
    step_until(&mut h, "an AIS evaluation", Duration::from_secs(60), |a| {
        a.run.history.nll.len() + a.run.history.nll_untrusted.len() >= 2
    });
    press(&mut h, "Pause");
    frames(&mut h, 3);
    assert_eq!(
        h.state().run.history.nll_method,
        Some(ebm_workbench::eval::Method::Ais)
    );
    assert!(
        h.query_by_label_contains("Held-out NLL (nats, AIS)")
            .is_some()
    );

    let mut p = common::bundled("digits_rbm_pcd.ron");
    p.model.layers = vec![ebm_workbench::energy::LayerSpec::Rbm {
        hidden: 30,
        visible: ebm_workbench::energy::Visible::Bernoulli,
    }];
    p.eval.eval_every = 10;
    p.eval.ais_chains = 16;
    p.eval.ais_temperatures = 20;
    let path = dir.path().join("rbm30.ron");
    p.save(&path).unwrap();
    drop_file(&mut h, &path);
    confirm_if_asked(&mut h);
    step_until_shown(
        &mut h,
        "RBM: 64 binary visible units",
        Duration::from_secs(10),
    );
    assert_eq!(h.state().state.preset.model.rbm(), Some(30));
    press(&mut h, "Train");
    step_until(&mut h, "an AIS evaluation", Duration::from_secs(60), |a| {
        a.run.history.nll.len() + a.run.history.nll_untrusted.len() >= 2
    });
    press(&mut h, "Pause");
    frames(&mut h, 3);
    assert!(
        h.query_by_label_contains("Held-out NLL (nats, AIS)")
            .is_some()
    );
    assert!(
        h.query_by_label_contains("Nothing to measure the sampler against")
            .is_some()
    );
    // 30 hidden units: no exact draws in the sampler's menu; 16 have them (the hidden sum).
    click(&mut h, Target::Menu("Gibbs"));
    frames(&mut h, 2);
    assert!(h.query_by_label("block Gibbs (RBM)").is_some());
    assert!(h.query_by_label("exact").is_none());
    h.key_press(egui::Key::Escape);
    frames(&mut h, 2);
    assert!(
        h.query_by_label_contains("NLL not measurable (no estimator)")
            .is_none()
    );
}

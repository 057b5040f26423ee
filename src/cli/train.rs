//! `ebm-workbench train PRESET`: train headless, with progress, metrics CSV and export.

use super::TrainArgs;
use anyhow::Context as _;
use ebm_workbench::train::metrics::to_csv;
use ebm_workbench::{Preset, Session, export};
use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;
use std::time::Instant;

pub fn run(a: &TrainArgs) -> anyhow::Result<ExitCode> {
    if let Some(ck) = &a.resume {
        anyhow::ensure!(
            a.data.is_none()
                && a.columns.is_none()
                && a.labels.is_none()
                && a.labels_file.is_none()
                && a.seed.is_none(),
            "--resume goes on with the checkpoint's own data and seed: drop --data, --columns, --labels, --labels-file and --seed"
        );
        let ckpt = ebm_workbench::train::session::Checkpoint::load(ck)?;
        let (mut session, rows) =
            Session::resume(&ckpt).map_err(|e| anyhow::anyhow!("{}: {e}", ck.display()))?;
        let mut preset = session.preset().clone();
        if let Some(s) = a.steps {
            preset.steps = s;
            // The total goes into the session's preset (and its next checkpoints).
            session.apply_live(&preset);
        }
        anyhow::ensure!(
            preset.steps >= session.step_count(),
            "{}: the checkpoint is at step {}, past --steps {}",
            ck.display(),
            session.step_count(),
            preset.steps
        );
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "resumed_from_step={} preset={} steps={}",
            session.step_count(),
            preset.name,
            preset.steps
        )?;
        drop(out);
        let mut err = std::io::stderr().lock();
        if let Some(w) = preset.temperature_warning() {
            writeln!(err, "warning: {w}")?;
        }
        if let Some(m) = &session.device_message {
            // e.g. a checkpoint written on a GPU, continued on the CPU.
            writeln!(err, "warning: {m}")?;
        }
        drop(err);
        return train_loop(a, &preset, &mut session, rows);
    }
    let Some(preset_path) = a.preset.as_deref() else {
        anyhow::bail!("give a preset, or --resume CHECKPOINT");
    };
    let mut preset = Preset::load(preset_path)?;
    if let Some(d) = a.device {
        preset.device = d;
    }
    if let Some(s) = a.steps {
        anyhow::ensure!(s > 0, "--steps must be at least 1");
        preset.steps = s;
    }
    if let Some(s) = a.seed {
        preset.seed = s;
    }
    if let Some(f) = &a.data {
        preset.data.source = ebm_workbench::data::DataSource::File(f.clone());
        // An RBM's visible units are bits: so are the file's values.
        preset.data.bits |=
            preset.model.rbm_visible() == Some(ebm_workbench::energy::Visible::Bernoulli);
        preset.data.columns = None;
        preset.data.labels = None;
        preset.data.labels_file = None;
    }
    if let Some(f) = &a.labels_file {
        preset.data.labels_file = Some(f.clone());
    }
    if let Some(c) = &a.columns {
        anyhow::ensure!(!c.is_empty(), "--columns takes column numbers, e.g. 0,1,2");
        preset.data.columns = Some(c.clone());
    }
    if let Some(l) = a.labels {
        preset.data.labels = Some(l);
    }
    preset.validate().map_err(|e| e.with_path(preset_path))?;
    let mut session = Session::new(&preset)?;
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    let t = preset.sampler.kind.temperature();
    let space = session.data().space;
    writeln!(
        out,
        "preset={} data={} dim={} space={} steps={} batch={} sampler={} K={} temperature={} objective={} engine={} device={} evaluation={}",
        preset.name,
        preset.data.name(),
        space.dim(),
        space.describe().replace(' ', "_"),
        preset.steps,
        preset.batch_size,
        preset.sampler.kind.name(),
        preset.sampler.steps,
        ebm_workbench::sampler::format_temperature(t),
        preset.objective.kind.slug(),
        session.engine_name().replace(' ', "_"),
        session.device_name().replace(' ', "_"),
        session.evaluator().method().name()
    )?;
    if let Some(w) = preset.temperature_warning() {
        writeln!(err, "warning: {w}")?;
    }
    if let Some(m) = &session.device_message {
        writeln!(err, "warning: {m}")?;
    }
    if let Some(tn) = session.data().true_nll() {
        writeln!(out, "true_nll={tn:.4}")?;
    }
    let initial = session.evaluate();
    write_nll(&mut out, "initial_", &initial)?;
    drop(out);
    drop(err);
    train_loop(a, &preset, &mut session, Vec::new())
}

/// Trains from the session's step to `preset.steps`, after `rows` (the metrics of the
/// steps already taken, when resuming): progress, metrics CSV, checkpoints, the summary.
fn train_loop(
    a: &TrainArgs,
    preset: &Preset,
    session: &mut Session,
    mut rows: Vec<ebm_workbench::StepMetrics>,
) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    let tty = std::io::stderr().is_terminal() && !a.quiet;
    let start = session.step_count();
    let t0 = Instant::now();
    let mut last_nll = None;
    let mut failure = None;
    let mut lag = ebm_workbench::train::metrics::LagMonitor::for_space(session.data().space);
    let write_checkpoint =
        |session: &Session, rows: &[ebm_workbench::StepMetrics]| -> anyhow::Result<()> {
            if let Some(path) = &a.checkpoint {
                session
                    .checkpoint(rows)
                    .save(path)
                    .with_context(|| format!("cannot write the checkpoint {}", path.display()))?;
            }
            Ok(())
        };
    for i in start..preset.steps {
        match session.step() {
            Ok(m) => {
                if let Some(w) = lag.check(&m) {
                    if tty {
                        writeln!(err)?;
                    }
                    writeln!(err, "warning: {w}")?;
                }
                if m.nll.is_some() {
                    last_nll = Some(nll_text(&m));
                }
                let done = i + 1;
                let rate = f64::from(u32::try_from(done - start).unwrap_or(u32::MAX))
                    / t0.elapsed().as_secs_f64().max(1e-9);
                if tty {
                    let width = 30;
                    let filled = done * width / preset.steps;
                    write!(
                        err,
                        "\r[{}{}] {done}/{} loss {:+.4} nll {}{} {rate:.1} steps/s ",
                        "#".repeat(filled),
                        " ".repeat(width - filled),
                        preset.steps,
                        m.loss,
                        last_nll.as_deref().unwrap_or("-"),
                        m.acceptance
                            .map_or(String::new(), |r| format!(" acc {r:.2}")),
                    )?;
                    err.flush()?;
                } else if !a.quiet && (m.nll.is_some() || done == preset.steps) {
                    writeln!(
                        out,
                        "step={done} loss={:.4} e_data={:.4} e_sample={:.4} data_term_norm={:.4} sample_term_norm={:.4} cos_terms={:.4} nll={}{}{}{}{} steps_per_sec={rate:.1}",
                        m.loss,
                        m.e_data,
                        m.e_sample,
                        m.data_term_norm,
                        m.sample_term_norm,
                        m.cos_terms,
                        nll_text(&m),
                        m.acceptance
                            .map_or(String::new(), |r| format!(" acceptance={r:.4}"))
                            + &m.step_size
                                .map_or(String::new(), |a| format!(" step_size={a:.5}")),
                        m.ce_loss
                            .map_or(String::new(), |c| format!(" ce_loss={c:.4}")),
                        m.accuracy
                            .map_or(String::new(), |a| format!(" accuracy={a:.4}")),
                        m.ece.map_or(String::new(), |e| format!(" ece={e:.4}"))
                            + &reference_text(&m)
                            + &m.eval_ms
                                .map_or(String::new(), |t| format!(" eval_ms={t:.1}")),
                    )?;
                }
                rows.push(m);
                if a.checkpoint_every > 0
                    && (i + 1).is_multiple_of(a.checkpoint_every)
                    && let Err(e) = write_checkpoint(session, &rows)
                {
                    // Training goes on; the next checkpoint may succeed, the last one
                    // (at the end) is an error.
                    writeln!(err, "warning: {e:#}")?;
                }
            }
            Err(e) => {
                // A roll-back takes the session back: the rows past it are gone too.
                let now = session.step_count();
                rows.retain(|r| r.step <= now);
                failure = Some(e);
                break;
            }
        }
    }
    if tty {
        writeln!(err)?;
    }
    let secs = t0.elapsed().as_secs_f64();
    if let Some(path) = &a.metrics {
        ebm_workbench::fs_util::write_atomic(path, to_csv(&rows).as_bytes())
            .with_context(|| format!("cannot write metrics to {}", path.display()))?;
    }
    if let Some(e) = &failure {
        writeln!(err, "error: {e}")?;
    }
    // Before the final evaluation, which moves the evaluation generator: a run resumed
    // from here goes on as one that never stopped.
    if let Some(path) = &a.checkpoint {
        write_checkpoint(session, &rows)?;
        writeln!(
            out,
            "checkpoint={} step={}",
            path.display(),
            session.step_count()
        )?;
    }
    let fin = session.evaluate();
    #[allow(clippy::cast_precision_loss)]
    let sps = session.step_count().saturating_sub(start) as f64 / secs.max(1e-9);
    writeln!(
        out,
        "steps_done={} seconds={secs:.2} steps_per_sec={sps:.1}",
        rows.len()
    )?;
    writeln!(out, "log_z={:.4}", fin.log_z)?;
    if fin.method == ebm_workbench::eval::Method::Ais {
        writeln!(out, "log_z_stderr={:.4}", fin.stderr)?;
    }
    write_nll(&mut out, "final_", &fin)?;
    if let Some(reason) = fin.verdict.reason() {
        writeln!(
            std::io::stderr().lock(),
            "warning: the final NLL is not measurable: {reason}"
        )?;
    } else if let Some(bpd) = session.data().bits_per_dim(fin.nll) {
        writeln!(out, "final_bits_per_dim={bpd:.4}")?;
    }
    if let Some(c) = session.classify() {
        writeln!(out, "final_accuracy={:.4}", c.accuracy)?;
        writeln!(out, "final_ece={:.4}", c.ece)?;
    }
    if a.long_run.is_some() || a.grid_png.is_some() {
        // The chains as training left them: from the replay buffer, or the last batch.
        let d = session.data().dim;
        let chains = match session.replay_buffer() {
            Some(b) => {
                let n = b.len().min(64);
                let step = (b.len() / n.max(1)).max(1);
                (0..n)
                    .flat_map(|i| b.points[i * step * d..(i * step + 1) * d].to_vec())
                    .collect()
            }
            None => session.samples()[..session.samples().len().min(64 * d)].to_vec(),
        };
        super::long_run_report(
            session,
            chains,
            a.long_run.unwrap_or(0),
            a.grid_png.as_deref(),
            &mut out,
        )?;
    }
    if let Some(path) = &a.export {
        export::save(
            path,
            session.preset(),
            &session.data().space.input_shape(),
            session.params(),
        )?;
        writeln!(out, "exported={}", path.display())?;
    }
    Ok(if failure.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The held-out NLL of an evaluation as `PREFIXnll=`: the number where it can be trusted;
/// where AIS's weights say it cannot, `not_measurable` with `PREFIXnll_reason=` and the
/// number under `PREFIXnll_untrusted_estimate=`. AIS's standard error, its weights' ESS
/// and the verdict follow (`PREFIXnll_stderr=`, `PREFIXais_ess=`, `PREFIXnll_trusted=`).
fn write_nll(
    out: &mut impl std::io::Write,
    prefix: &str,
    e: &ebm_workbench::train::Evaluation,
) -> std::io::Result<()> {
    match e.verdict.reason() {
        None => writeln!(out, "{prefix}nll={:.4}", e.nll)?,
        Some(reason) => {
            writeln!(out, "{prefix}nll=not_measurable")?;
            writeln!(out, "{prefix}nll_reason={reason}")?;
            if e.nll.is_finite() {
                writeln!(out, "{prefix}nll_untrusted_estimate={:.4}", e.nll)?;
            }
        }
    }
    if e.method == ebm_workbench::eval::Method::Ais {
        writeln!(out, "{prefix}nll_stderr={:.4}", e.stderr)?;
        writeln!(out, "{prefix}ais_ess={:.1}", e.ess)?;
        writeln!(out, "{prefix}nll_trusted={}", e.verdict.trusted())?;
    }
    Ok(())
}

/// A step's held-out NLL as the evaluation lines print it: the number, or
/// `not_measurable` where AIS's verdict says it is not a likelihood (the CSV keeps it).
fn nll_text(m: &ebm_workbench::StepMetrics) -> String {
    match (m.nll, m.nll_trusted) {
        (Some(_), Some(t)) if t < 0.5 => "not_measurable".into(),
        (Some(n), _) => format!("{n:.4}"),
        (None, _) => String::new(),
    }
}

/// The sampler's term against the reference chains (outside the plane), for the
/// evaluation lines.
fn reference_text(m: &ebm_workbench::StepMetrics) -> String {
    let ais = match (m.nll_stderr, m.nll_ess, m.nll_trusted) {
        (Some(se), Some(ess), Some(t)) => {
            format!(
                " nll_stderr={se:.4} ais_ess={ess:.1} nll_trusted={}",
                t > 0.5
            )
        }
        _ => String::new(),
    };
    match (m.sample_term_cos_reference, m.reference_rhat) {
        (Some(c), Some(r)) => format!(
            " sample_term_cos_reference={c:.4} reference_rhat={r:.3} reference_trusted={}{ais}",
            ebm_workbench::eval::verdict::reference(r).trusted()
        ),
        _ => ais,
    }
}

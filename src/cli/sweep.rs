//! `ebm-workbench sweep SWEEP.ron`: list, run (here, N at a time, or one run by its index
//! for a scheduler) and collect a sweep's runs.

use super::SweepArgs;
use anyhow::Context as _;
use ebm_workbench::sweep::{self, Sweep};
use std::io::{IsTerminal as _, Write as _};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

pub fn run(a: &SweepArgs) -> anyhow::Result<ExitCode> {
    let file = match (&a.sweep, &a.collect) {
        (Some(f), _) => f.clone(),
        (None, Some(dir)) => dir.join("sweep.ron"),
        (None, None) => anyhow::bail!("give a sweep file (or --collect DIR)"),
    };
    let sweep = Sweep::load(&file)?;
    let mut out = std::io::stdout().lock();
    if a.list {
        writeln!(out, "runs={}", sweep.runs.len())?;
        for r in &sweep.runs {
            let values: Vec<String> = r.values.iter().map(|(k, v)| format!("{k}={v}")).collect();
            writeln!(out, "{:04} seed={} {}", r.index, r.seed, values.join(" "))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let dir = a
        .collect
        .as_deref()
        .or(a.out.as_deref())
        .context("--out DIR: the folder the runs and the summary go to")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // A copy of the sweep beside its runs, its base made absolute, for `--collect DIR`.
    let copy = dir.join("sweep.ron");
    if !copy.exists() {
        sweep::write_copy(&file, &copy)?;
    }
    let write_summary = || {
        ebm_workbench::fs_util::write_atomic(
            &dir.join("summary.csv"),
            sweep::summary(&sweep, dir).as_bytes(),
        )
        .with_context(|| format!("cannot write {}", dir.join("summary.csv").display()))
    };
    if a.collect.is_some() {
        write_summary()?;
        let ended = (0..sweep.runs.len())
            .filter(|i| sweep::outcome(dir, *i).is_some())
            .count();
        writeln!(out, "collected={ended} of {}", sweep.runs.len())?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(which) = &a.index {
        let i = index_of(which, sweep.runs.len())?;
        let o = sweep::run_one(dir, &sweep.runs[i])?;
        writeln!(
            out,
            "run={i:04} status={} final_nll={}",
            o.status,
            o.final_nll.map_or(String::new(), |v| format!("{v:.4}"))
        )?;
        return Ok(if o.status == "done" {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    let todo: Vec<usize> = (0..sweep.runs.len())
        .filter(|i| sweep::outcome(dir, *i).is_none())
        .collect();
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let jobs = a.jobs.unwrap_or(cores).clamp(1, todo.len().max(1));
    writeln!(
        out,
        "runs={} to_run={} jobs={jobs} threads_per_run={}",
        sweep.runs.len(),
        todo.len(),
        (cores / jobs).max(1)
    )?;
    drop(out);
    run_pool(&sweep, dir, &todo, jobs, (cores / jobs).max(1))?;
    write_summary()?;
    let mut out = std::io::stdout().lock();
    let failed = (0..sweep.runs.len())
        .filter(|i| sweep::outcome(dir, *i).is_none_or(|o| o.status != "done"))
        .count();
    writeln!(out, "summary={}", dir.join("summary.csv").display())?;
    writeln!(out, "done={} not_done={failed}", sweep.runs.len() - failed)?;
    Ok(ExitCode::SUCCESS)
}

/// `I`, or `auto`: the scheduler's array index (`SLURM_ARRAY_TASK_ID`, or Kubernetes'
/// `JOB_COMPLETION_INDEX`).
fn index_of(which: &str, runs: usize) -> anyhow::Result<usize> {
    let text = if which == "auto" {
        std::env::var("SLURM_ARRAY_TASK_ID")
            .or_else(|_| std::env::var("JOB_COMPLETION_INDEX"))
            .context("--index auto: neither SLURM_ARRAY_TASK_ID nor JOB_COMPLETION_INDEX is set")?
    } else {
        which.to_string()
    };
    let i: usize = text
        .trim()
        .parse()
        .with_context(|| format!("--index {which}: `{text}` is not a run number"))?;
    anyhow::ensure!(
        i < runs,
        "--index {i}: the sweep has runs 0 to {}",
        runs.saturating_sub(1)
    );
    Ok(i)
}

/// Runs `todo` with `jobs` runs at a time, each in a pool of `threads` threads, with a
/// progress line (a bar on a terminal, a line per finished run otherwise).
fn run_pool(
    sweep: &Sweep,
    dir: &Path,
    todo: &[usize],
    jobs: usize,
    threads: usize,
) -> anyhow::Result<()> {
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    let errors: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let tty = std::io::stderr().is_terminal();
    let t0 = Instant::now();
    let report = |i: usize, status: &str| {
        let d = done.load(Ordering::SeqCst);
        let f = failed.load(Ordering::SeqCst);
        let running = next.load(Ordering::SeqCst).min(todo.len()) - d;
        #[allow(clippy::cast_precision_loss)]
        let left = t0.elapsed().as_secs_f64() / d.max(1) as f64 * (todo.len() - d) as f64;
        let mut err = std::io::stderr().lock();
        if tty {
            let _ = write!(
                err,
                "\r[{d}/{}] running {running} failed {f} ~{left:.0} s left ",
                todo.len()
            );
        } else {
            let _ = writeln!(
                err,
                "run {i:04} {status}: done {d}/{} running {running} failed {f} ~{left:.0} s left",
                todo.len()
            );
        }
    };
    std::thread::scope(|s| {
        for w in 0..jobs {
            let (next, done, failed, errors) = (&next, &done, &failed, &errors);
            let report = &report;
            let worker = move || {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .thread_name(move |t| format!("sweep-{w}-{t}"))
                    .build()
                    .ok();
                loop {
                    let k = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&i) = todo.get(k) else { break };
                    let run = || sweep::run_one(dir, &sweep.runs[i]);
                    let r = match &pool {
                        Some(p) => p.install(run),
                        None => run(),
                    };
                    let status = match r {
                        Ok(o) => o.status,
                        Err(e) => {
                            if let Ok(mut v) = errors.lock() {
                                v.push(format!("run {i:04}: {e}"));
                            }
                            "not written".into()
                        }
                    };
                    if status != "done" {
                        failed.fetch_add(1, Ordering::SeqCst);
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                    report(i, &status);
                }
            };
            std::thread::Builder::new()
                .name(format!("sweep-{w}"))
                .spawn_scoped(s, worker)
                .map(|_| ())
                .unwrap_or_else(|e| {
                    if let Ok(mut v) = errors.lock() {
                        v.push(format!("cannot start a worker: {e}"));
                    }
                });
        }
    });
    if tty {
        eprintln!();
    }
    let errors = errors.into_inner().unwrap_or_default();
    anyhow::ensure!(errors.is_empty(), "{}", errors.join("; "));
    Ok(())
}

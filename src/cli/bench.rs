//! `ebm-workbench bench`: the reference workload.

use super::BenchArgs;
use ebm_workbench::bench::{BenchConfig, run as run_bench};
use std::io::Write as _;
use std::process::ExitCode;

pub fn run(a: &BenchArgs) -> anyhow::Result<ExitCode> {
    if let Some(w) = &a.workload {
        let r = ebm_workbench::bench::run_preset_workload(w, 20, a.steps, a.device)
            .map_err(anyhow::Error::msg)?;
        if let Some(m) = &r.device_message {
            eprintln!("warning: {m}");
        }
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "workload={w} preset={} engine={} device={}",
            r.preset,
            r.engine.replace(' ', "_"),
            r.device.replace(' ', "_")
        )?;
        writeln!(out, "steps_per_sec={:.2}", r.steps_per_sec)?;
        writeln!(out, "batch_accuracy={:.4}", r.batch_accuracy)?;
        return Ok(ExitCode::SUCCESS);
    }
    let c = BenchConfig {
        batch: a.batch,
        hidden: a.hidden,
        langevin_steps: a.langevin_steps,
        steps: a.steps,
        dim: a.dim,
        device: a.device.unwrap_or_default(),
        ..BenchConfig::default()
    };
    anyhow::ensure!((1..=4096).contains(&a.dim), "--dim takes 1 to 4096");
    let r = run_bench(&c)?;
    if let Some(m) = &r.device_message {
        eprintln!("warning: {m}");
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "batch={} hidden={} langevin_steps={} dim={} engine={} device={}",
        c.batch,
        c.hidden,
        c.langevin_steps,
        c.dim,
        r.engine.replace(' ', "_"),
        r.device.replace(' ', "_")
    )?;
    writeln!(out, "steps_per_sec={:.2}", r.steps_per_sec)?;
    if let Some(ms) = r.grid_eval_ms {
        writeln!(out, "grid_eval_ms={ms:.2}")?;
    }
    if let Some(ms) = r.ais_eval_ms {
        writeln!(out, "ais_eval_ms={ms:.2}")?;
    }
    writeln!(out, "nll_after={:.4}", r.final_nll)?;
    if a.compare_autograd {
        let c = ebm_workbench::bench::compare_autograd(&c)?;
        writeln!(out, "inner_step_us_fast={:.1}", c.fast_inner_us)?;
        writeln!(out, "inner_step_us_autograd={:.1}", c.autograd_inner_us)?;
        writeln!(out, "terms_us_fast={:.1}", c.fast_terms_us)?;
        writeln!(out, "terms_us_autograd={:.1}", c.autograd_terms_us)?;
        writeln!(out, "max_rel_diff_grad_x={:.2e}", c.grad_x_rel_diff)?;
        writeln!(out, "max_rel_diff_data_term={:.2e}", c.data_term_rel_diff)?;
        writeln!(
            out,
            "max_rel_diff_sample_term={:.2e}",
            c.sample_term_rel_diff
        )?;
        let worst = c
            .grad_x_rel_diff
            .max(c.data_term_rel_diff)
            .max(c.sample_term_rel_diff);
        let ok = worst <= 1e-4;
        writeln!(out, "agree={ok}")?;
        if !ok {
            return Ok(ExitCode::FAILURE);
        }
    }
    Ok(ExitCode::SUCCESS)
}

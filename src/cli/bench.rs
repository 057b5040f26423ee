//! `ebm-workbench bench`: the reference workload.

use super::BenchArgs;
use ebm_workbench::bench::{BenchConfig, run as run_bench};
use std::io::Write as _;
use std::process::ExitCode;

pub fn run(a: &BenchArgs) -> anyhow::Result<ExitCode> {
    let c = BenchConfig {
        batch: a.batch,
        hidden: a.hidden,
        langevin_steps: a.langevin_steps,
        steps: a.steps,
        ..BenchConfig::default()
    };
    let r = run_bench(&c)?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "batch={} hidden={} langevin_steps={}",
        c.batch, c.hidden, c.langevin_steps
    )?;
    writeln!(out, "steps_per_sec={:.2}", r.steps_per_sec)?;
    writeln!(out, "grid_eval_ms={:.2}", r.grid_eval_ms)?;
    writeln!(out, "nll_after={:.4}", r.final_nll)?;
    Ok(ExitCode::SUCCESS)
}

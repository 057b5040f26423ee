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
    if !a.batches.is_empty() {
        return batches(a);
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

/// `--batches`: the workload at each batch size, on the CPU and (with `--device`) on the
/// device, and the batch from which the device wins.
fn batches(a: &BenchArgs) -> anyhow::Result<ExitCode> {
    use ebm_workbench::device::DeviceSpec;
    anyhow::ensure!(
        a.batches.iter().all(|b| (1..=1 << 20).contains(b)),
        "--batches takes sizes from 1 to 1048576"
    );
    anyhow::ensure!((1..=4096).contains(&a.dim), "--dim takes 1 to 4096");
    let device = a.device.filter(|d| *d != DeviceSpec::Cpu);
    let config = |batch: usize, device: DeviceSpec| BenchConfig {
        batch,
        hidden: a.hidden,
        langevin_steps: a.langevin_steps,
        steps: a.steps,
        dim: a.dim,
        device,
        ..BenchConfig::default()
    };
    let mut out = std::io::stdout().lock();
    let mut rows = Vec::new();
    for &batch in &a.batches {
        let Some(d) = device else {
            let cpu = run_bench(&config(batch, DeviceSpec::Cpu))?;
            writeln!(
                out,
                "batch={batch} engine={} device={} steps_per_sec={:.2}",
                cpu.engine.replace(' ', "_"),
                cpu.device.replace(' ', "_"),
                cpu.steps_per_sec
            )?;
            continue;
        };
        let dev = run_bench(&config(batch, d))?;
        if let Some(m) = &dev.device_message {
            // Nothing to compare: the device fell back to the CPU.
            eprintln!("warning: {m}");
            writeln!(
                out,
                "device={} device_wins_from_batch=unavailable",
                dev.device.replace(' ', "_")
            )?;
            return Ok(ExitCode::SUCCESS);
        }
        let cpu = run_bench(&config(batch, DeviceSpec::Cpu))?;
        writeln!(
            out,
            "batch={batch} cpu_steps_per_sec={:.2} device={} device_steps_per_sec={:.2}",
            cpu.steps_per_sec,
            dev.device.replace(' ', "_"),
            dev.steps_per_sec
        )?;
        rows.push((batch, cpu.steps_per_sec, dev.steps_per_sec));
    }
    if device.is_some() {
        let wins = ebm_workbench::bench::device_wins_from(&rows);
        writeln!(
            out,
            "device_wins_from_batch={}",
            wins.map_or_else(|| "none".to_string(), |b| b.to_string())
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

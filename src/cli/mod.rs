//! The command line: `train`, `bench` (and the window when no subcommand is given).

mod bench;
mod eval;
mod sweep;
mod train;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "ebm-workbench",
    version,
    about = "A workbench for energy-based models"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train the experiment a preset describes, headless.
    Train(TrainArgs),
    /// Run the reference workload and print steps per second.
    Bench(BenchArgs),
    /// Evaluate a model: log Z by quadrature (2-D) and AIS, and the held-out NLL.
    Eval(EvalArgs),
    /// List, run or collect the runs of a sweep (a base preset, axes, seeds).
    Sweep(SweepArgs),
    /// Open the workbench window (the default with no subcommand).
    Gui(GuiArgs),
}

#[derive(Debug, Default, clap::Args)]
pub struct GuiArgs {
    /// A preset (or model, data file, or sweep folder) to open instead of the last one.
    pub preset: Option<PathBuf>,
    /// Start training at once.
    #[arg(long)]
    pub train: bool,
}

#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// The preset (RON), e.g. presets/eight_gaussians.ron.
    pub preset: PathBuf,
    /// Override the number of training steps.
    #[arg(long)]
    pub steps: Option<usize>,
    /// Override the seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Train on the points of this file (CSV or NPY, any number of columns) instead of
    /// the preset's data set.
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,
    /// The columns of the data file used as features (numbered from 0), e.g.
    /// `--columns 0,2,5`; without it every column but the labels.
    #[arg(long, value_name = "A,B,...", value_delimiter = ',')]
    pub columns: Option<Vec<usize>>,
    /// The column of the data file that holds class labels (for JEM).
    #[arg(long, value_name = "COL")]
    pub labels: Option<usize>,
    /// Write one row of metrics per step to this CSV file.
    #[arg(long, value_name = "OUT.csv")]
    pub metrics: Option<PathBuf>,
    /// Export the trained model (safetensors, with the preset in its metadata).
    #[arg(long, value_name = "OUT.safetensors")]
    pub export: Option<PathBuf>,
    /// Print only the summary.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// A model exported by `train --export` or the window.
    pub model: PathBuf,
    /// Evaluate on other data: a preset (.ron), a data file (CSV, NPY) or a data set name.
    #[arg(long, value_name = "PRESET_OR_DATA")]
    pub data: Option<PathBuf>,
    /// AIS chains.
    #[arg(long, default_value_t = 256)]
    pub ais_chains: usize,
    /// AIS intermediate distributions.
    #[arg(long, default_value_t = 500)]
    pub ais_temps: usize,
    /// MALA steps per AIS temperature.
    #[arg(long, default_value_t = 2)]
    pub ais_steps: usize,
    /// Start AIS from a uniform box around the data instead of a fitted Gaussian.
    #[arg(long)]
    pub uniform_base: bool,
    /// Seed of the AIS chains.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Chains and data points per step.
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
    /// Width of the two hidden layers.
    #[arg(long, default_value_t = 128)]
    pub hidden: usize,
    /// Langevin steps per training step.
    #[arg(long, default_value_t = 20)]
    pub langevin_steps: usize,
    /// Timed steps (after 20 warm-up steps).
    #[arg(long, default_value_t = 200)]
    pub steps: usize,
    /// Also time the fast engine against candle autograd and check that they agree.
    #[arg(long)]
    pub compare_autograd: bool,
    /// The data's dimension: 2 is the reference workload (8 gaussians); any other runs
    /// the same network and sampler on a mixture of 8 gaussians in that dimension.
    #[arg(long, default_value_t = 2)]
    pub dim: usize,
}

#[derive(Debug, clap::Args)]
pub struct SweepArgs {
    /// The sweep file (RON): base preset, steps, seeds, axes (with `--collect DIR`, the
    /// copy the sweep left in DIR is used when it is not given).
    #[arg(required_unless_present = "collect")]
    pub sweep: Option<PathBuf>,
    /// Print the runs, numbered, and stop.
    #[arg(long)]
    pub list: bool,
    /// The folder of the run folders (`runs/NNNN/`) and `summary.csv`.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Runs at a time (default: one per core, each on one thread).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Run one run alone: its number, or `auto` for the scheduler's array index
    /// (`SLURM_ARRAY_TASK_ID`, `JOB_COMPLETION_INDEX`).
    #[arg(long, value_name = "I|auto")]
    pub index: Option<String>,
    /// Rebuild `DIR/summary.csv` from the run folders.
    #[arg(long, value_name = "DIR")]
    pub collect: Option<PathBuf>,
}

/// Runs the parsed command line.
///
/// # Errors
/// Whatever the subcommand reports; `main` prints it.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Some(Command::Train(a)) => train::run(&a),
        Some(Command::Bench(a)) => bench::run(&a),
        Some(Command::Eval(a)) => eval::run(&a),
        Some(Command::Sweep(a)) => sweep::run(&a),
        Some(Command::Gui(a)) => run_gui(a),
        None => run_gui(GuiArgs::default()),
    }
}

#[cfg(feature = "gui")]
fn run_gui(a: GuiArgs) -> anyhow::Result<ExitCode> {
    let start = ebm_workbench::gui::StartOptions {
        preset: a.preset,
        train: a.train,
    };
    ebm_workbench::gui::run(start).map_err(|e| anyhow::anyhow!("the window failed: {e}"))?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(not(feature = "gui"))]
fn run_gui(_: GuiArgs) -> anyhow::Result<ExitCode> {
    use clap::CommandFactory as _;
    Cli::command().print_help()?;
    Ok(ExitCode::from(2))
}

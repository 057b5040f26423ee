//! The command line: `train`, `bench` (and the window when no subcommand is given).

mod bench;
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
    /// Open the workbench window (the default with no subcommand).
    Gui(GuiArgs),
}

#[derive(Debug, Default, clap::Args)]
pub struct GuiArgs {
    /// A preset to open instead of the last one.
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
}

/// Runs the parsed command line.
///
/// # Errors
/// Whatever the subcommand reports; `main` prints it.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Some(Command::Train(a)) => train::run(&a),
        Some(Command::Bench(a)) => bench::run(&a),
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

//! Read-only views, a room each: the plane's heat map ([`heat`]) and samples
//! ([`plane`]), the vectors' projection ([`projection`]), the energies of the three
//! populations ([`energies`]), the curves ([`curves`]), the view as a PNG ([`png`]), and
//! the axes they share ([`axes`]). They share the imports below (`use super::*`).

use super::history::{MetricsHistory, Series};
use super::theme;
use crate::data::Dataset;
use crate::train::worker::{Chains, Heat, View};
use egui::{Color32, ColorImage, TextureHandle, Ui};
use egui_plot::{Bar, BarChart, HLine, Line, Plot, PlotImage, PlotPoint, PlotPoints, Points};

mod axes;
mod curves;
mod energies;
mod heat;
mod plane;
mod png;
mod projection;

pub use axes::*;
pub use curves::*;
pub use energies::*;
pub use heat::*;
pub use plane::*;
pub use png::*;
pub use projection::*;

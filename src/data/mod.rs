//! Data sets: the 2-D toy sets of the EBM literature, their held-out split, the data box
//! (the region the quadrature grid, the heat map and uniform sampler initialisation
//! cover) and, where known, the true log-density.

pub mod density;
pub mod digits;
pub mod file;
mod idx;
pub mod images;
mod npy;
pub mod projection;
pub mod space;
pub mod target;
pub mod toy2d;

use crate::error::DataError;
pub use space::{Allows, Space};
use std::path::PathBuf;

use rand::SeedableRng as _;
use rand::rngs::StdRng;
use rand::seq::SliceRandom as _;
use serde::{Deserialize, Serialize};

/// The 2-D toy data sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToySet {
    EightGaussians,
    TwentyFiveGaussians,
    TwoMoons,
    Circles,
    Rings,
    TwoSpirals,
    Checkerboard,
    Pinwheel,
    SwissRoll,
}

impl ToySet {
    pub const ALL: [Self; 9] = [
        Self::EightGaussians,
        Self::TwentyFiveGaussians,
        Self::TwoMoons,
        Self::Circles,
        Self::Rings,
        Self::TwoSpirals,
        Self::Checkerboard,
        Self::Pinwheel,
        Self::SwissRoll,
    ];

    /// The name used in presets.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::EightGaussians => "eight_gaussians",
            Self::TwentyFiveGaussians => "twenty_five_gaussians",
            Self::TwoMoons => "two_moons",
            Self::Circles => "circles",
            Self::Rings => "rings",
            Self::TwoSpirals => "two_spirals",
            Self::Checkerboard => "checkerboard",
            Self::Pinwheel => "pinwheel",
            Self::SwissRoll => "swiss_roll",
        }
    }

    /// The noise parameter of FFJORD's toy data (or of the set's original source).
    #[must_use]
    pub fn default_noise(self) -> f32 {
        match self {
            Self::EightGaussians => 0.5,
            Self::Pinwheel => 0.3,
            Self::TwentyFiveGaussians => 0.05,
            Self::TwoMoons | Self::TwoSpirals => 0.1,
            Self::Circles | Self::Rings => 0.08,
            Self::Checkerboard => 0.0,
            Self::SwissRoll => 1.0,
        }
    }

    /// Half the side of the square data box centred on the origin.
    #[must_use]
    pub fn half_width(self) -> f32 {
        match self {
            Self::TwentyFiveGaussians => 2.0,
            _ => 4.0,
        }
    }

    /// The number of labelled parts (classes) of the set's points.
    #[must_use]
    pub fn classes(self) -> usize {
        match self {
            Self::EightGaussians | Self::Checkerboard => 8,
            Self::TwentyFiveGaussians => 25,
            Self::TwoMoons | Self::Circles | Self::TwoSpirals | Self::SwissRoll => 2,
            Self::Rings => 4,
            Self::Pinwheel => 5,
        }
    }

    /// `n` points (row-major `n × 2`) and their labels.
    fn generate(self, n: usize, noise: f32, rng: &mut StdRng) -> (Vec<f32>, Vec<u32>) {
        let mut out = Vec::with_capacity(2 * n);
        let mut l = Vec::with_capacity(n);
        match self {
            Self::EightGaussians => toy2d::eight_gaussians(n, noise, rng, &mut out, &mut l),
            Self::TwentyFiveGaussians => {
                toy2d::twenty_five_gaussians(n, noise, rng, &mut out, &mut l);
            }
            Self::TwoMoons => toy2d::two_moons(n, noise, rng, &mut out, &mut l),
            Self::Circles => toy2d::circles(n, noise, rng, &mut out, &mut l),
            Self::Rings => toy2d::rings(n, noise, rng, &mut out, &mut l),
            Self::TwoSpirals => toy2d::two_spirals(n, noise, rng, &mut out, &mut l),
            Self::Checkerboard => toy2d::checkerboard(n, noise, rng, &mut out, &mut l),
            Self::Pinwheel => toy2d::pinwheel(n, noise, rng, &mut out, &mut l),
            Self::SwissRoll => toy2d::swiss_roll(n, noise, rng, &mut out, &mut l),
        }
        (out, l)
    }

    /// The true log-density at `x`, where it is known in closed form.
    #[must_use]
    pub fn log_density(self, x: [f64; 2], noise: f32) -> Option<f64> {
        let noise = f64::from(noise);
        match self {
            Self::EightGaussians if noise > 0.0 => Some(density::eight_gaussians(x, noise)),
            Self::TwentyFiveGaussians if noise > 0.0 => {
                Some(density::twenty_five_gaussians(x, noise))
            }
            Self::Checkerboard if noise == 0.0 => Some(density::checkerboard(x)),
            _ => None,
        }
    }

    /// All set names, for error messages.
    #[must_use]
    pub fn allowed() -> String {
        Self::ALL
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Where the data come from: a 2-D toy set, a synthetic target of any dimension with a
/// known density, a bundled image set, or the user's file (CSV or other delimited text,
/// NPY, or MNIST's IDX; a relative path in a preset file is relative to that file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DataSource {
    Toy(ToySet),
    Target(target::Target),
    Images(ImageSet),
    /// Binary data with a known distribution (DESIGN §8).
    Bits(BitSet),
    File(PathBuf),
}

/// Generated binary data sets whose distribution is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BitSet {
    /// n×n bars and stripes: every row on or off (stripes) or every column on or off
    /// (bars), drawn uniformly from the 2^(n+1) − 2 distinct patterns (all off and all
    /// on are both). Its true NLL is ln(2^(n+1) − 2) for every point. n from 2 to 4 (16
    /// bits: enumerable).
    BarsStripes(usize),
    /// The bundled 8×8 digits (1 797, labels 0–9), each pixel 1 where its grey level is
    /// at least half the range (or stochastically: `data.binarize`): 64 bits, too many to
    /// enumerate (an RBM's hidden layer can be).
    BinarizedDigits,
}

impl BitSet {
    /// `bars_stripes_4x4`.
    #[must_use]
    pub fn name(self) -> String {
        match self {
            Self::BarsStripes(n) => format!("bars_stripes_{n}x{n}"),
            Self::BinarizedDigits => "digits_binarized".into(),
        }
    }

    /// (rows, columns) of one pattern.
    #[must_use]
    pub fn shape(self) -> (usize, usize) {
        match self {
            Self::BarsStripes(n) => (n, n),
            Self::BinarizedDigits => (8, 8),
        }
    }

    /// Every pattern the set draws from, each once, row-major (none for a set of
    /// recorded images).
    #[must_use]
    pub fn patterns(self) -> Vec<Vec<f32>> {
        match self {
            Self::BinarizedDigits => Vec::new(),
            Self::BarsStripes(n) => {
                let mut out: Vec<Vec<f32>> = Vec::new();
                for stripes in [true, false] {
                    for mask in 0..(1_usize << n) {
                        let p: Vec<f32> = (0..n * n)
                            .map(|k| {
                                let line = if stripes { k / n } else { k % n };
                                if mask >> line & 1 == 1 { 1.0 } else { 0.0 }
                            })
                            .collect();
                        if !out.contains(&p) {
                            out.push(p);
                        }
                    }
                }
                out
            }
        }
    }

    /// Refuses sizes the workbench cannot evaluate exactly.
    ///
    /// # Errors
    /// What is wrong, in a sentence.
    pub fn check(self) -> Result<(), String> {
        match self {
            Self::BarsStripes(n) if (2..=4).contains(&n) => Ok(()),
            Self::BarsStripes(n) => Err(format!(
                "bars and stripes of {n}×{n}: from 2×2 to 4×4 (up to {} bits are enumerated exactly)",
                space::MAX_ENUMERATED_BITS
            )),
            Self::BinarizedDigits => Ok(()),
        }
    }
}

/// How grey images become bits (the bundled digits as bits, and one-channel image files
/// read as bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Binarize {
    /// 1 where the grey level is at least half the range.
    #[default]
    Threshold,
    /// 1 with probability the grey level (in [0, 1]), drawn once from this seed: the
    /// stochastic binarization of binarized MNIST (Salakhutdinov & Murray 2008).
    Stochastic(u64),
}

impl Binarize {
    /// Bits of grey `pixels` in [0, 1].
    #[must_use]
    pub fn apply(self, pixels: &[f32]) -> Vec<f32> {
        match self {
            Self::Threshold => pixels
                .iter()
                .map(|v| if *v >= 0.5 { 1.0 } else { 0.0 })
                .collect(),
            Self::Stochastic(seed) => {
                let mut rng = StdRng::seed_from_u64(seed);
                pixels
                    .iter()
                    .map(|v| {
                        if rand::Rng::random::<f32>(&mut rng) < *v {
                            1.0
                        } else {
                            0.0
                        }
                    })
                    .collect()
            }
        }
    }

    /// `at half the range` or `stochastic (seed 7)`.
    #[must_use]
    pub fn describe(self) -> String {
        match self {
            Self::Threshold => "at half the range".into(),
            Self::Stochastic(seed) => format!("stochastic (seed {seed})"),
        }
    }

    #[allow(clippy::trivially_copy_pass_by_ref)] // serde passes a reference
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// Which data, how much of it, and how it is split. Written to presets as
/// [`DataSpecFile`] (old presets' separate `set`, `file`, `target` and `images` still
/// load).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "DataSpecFile", into = "DataSpecFile")]
pub struct DataSpec {
    pub source: DataSource,
    /// The columns of the file to use as features (numbered from 0, in this order);
    /// `None`: every column but the labels.
    pub columns: Option<Vec<usize>>,
    /// The column of the file that holds class labels (whole numbers from 0), for JEM.
    pub labels: Option<usize>,
    /// Class labels from a file of their own (NPY of shape (N,) or an IDX labels file),
    /// one per row or image of the data file. Relative to the preset file, as it is.
    pub labels_file: Option<PathBuf>,
    /// The range pixels are scaled to (images: the bundled set and image files).
    pub pixels: PixelRange,
    /// How a 4-D NPY array stores its channels, where its shape leaves it open.
    pub layout: Option<images::ImageLayout>,
    /// The standard deviation of Gaussian noise added to every data batch as it is drawn
    /// (JEM and IGEBM use 0.03 on images); 0: none.
    pub batch_noise: f32,
    /// Points in all, held-out split included (a file gives all of its points).
    pub size: usize,
    /// The toy set's noise parameter; `None` takes the literature default.
    pub noise: Option<f32>,
    /// Seed of the data draw (independent of the training seed).
    pub seed: u64,
    /// Fraction of the points held out for evaluation.
    pub held_out: f32,
    /// The file holds bits: a table must hold only 0s and 1s (a row of bits a point);
    /// one-channel images are binarized as `binarize` says.
    pub bits: bool,
    /// How grey images become bits: at half their range, or stochastically.
    pub binarize: Binarize,
}

/// [`DataSpec`] as a preset file writes it, and as older presets wrote it: their source
/// was four fields (`set`, and `file`, `target` or `images` in that order of precedence
/// over it), read here into one [`DataSource`] and never written again.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataSpecFile {
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<DataSource>,
    #[serde(skip_serializing)]
    set: Option<ToySet>,
    #[serde(skip_serializing)]
    file: Option<PathBuf>,
    #[serde(skip_serializing)]
    target: Option<target::Target>,
    #[serde(skip_serializing)]
    images: Option<ImageSet>,
    /// Presets written with a pair, `(0, 3)`, still load.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "columns_list_or_pair",
        default
    )]
    columns: Option<Vec<usize>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    labels: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    labels_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "PixelRange::is_default")]
    pixels: PixelRange,
    #[serde(skip_serializing_if = "Option::is_none")]
    layout: Option<images::ImageLayout>,
    #[serde(skip_serializing_if = "is_zero")]
    batch_noise: f32,
    size: usize,
    noise: Option<f32>,
    seed: u64,
    held_out: f32,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    bits: bool,
    #[serde(skip_serializing_if = "Binarize::is_default")]
    binarize: Binarize,
}

impl Default for DataSpecFile {
    /// The defaults, with no source: an old preset's fields or the default toy set give
    /// it.
    fn default() -> Self {
        Self {
            source: None,
            ..DataSpec::default().into()
        }
    }
}

impl From<DataSpecFile> for DataSpec {
    fn from(f: DataSpecFile) -> Self {
        let source = f
            .source
            .unwrap_or_else(|| match (f.file, f.target, f.images) {
                (Some(p), _, _) => DataSource::File(p),
                (None, Some(t), _) => DataSource::Target(t),
                (None, None, Some(i)) => DataSource::Images(i),
                (None, None, None) => DataSource::Toy(f.set.unwrap_or(ToySet::EightGaussians)),
            });
        Self {
            source,
            columns: f.columns,
            labels: f.labels,
            labels_file: f.labels_file,
            pixels: f.pixels,
            layout: f.layout,
            batch_noise: f.batch_noise,
            size: f.size,
            noise: f.noise,
            seed: f.seed,
            held_out: f.held_out,
            bits: f.bits,
            binarize: f.binarize,
        }
    }
}

impl From<DataSpec> for DataSpecFile {
    fn from(d: DataSpec) -> Self {
        Self {
            source: Some(d.source),
            set: None,
            file: None,
            target: None,
            images: None,
            columns: d.columns,
            labels: d.labels,
            labels_file: d.labels_file,
            pixels: d.pixels,
            layout: d.layout,
            batch_noise: d.batch_noise,
            size: d.size,
            noise: d.noise,
            seed: d.seed,
            held_out: d.held_out,
            bits: d.bits,
            binarize: d.binarize,
        }
    }
}

impl Default for DataSpec {
    fn default() -> Self {
        Self {
            source: DataSource::Toy(ToySet::EightGaussians),
            columns: None,
            labels: None,
            labels_file: None,
            pixels: PixelRange::ZeroOne,
            layout: None,
            batch_noise: 0.0,
            size: 12_000,
            noise: None,
            seed: 0,
            held_out: 1.0 / 6.0,
            bits: false,
            binarize: Binarize::Threshold,
        }
    }
}

impl DataSpec {
    /// The noise in effect (of a toy set; others have none).
    #[must_use]
    pub fn noise(&self) -> f32 {
        match &self.source {
            DataSource::Toy(set) => self.noise.unwrap_or_else(|| set.default_noise()),
            _ => self.noise.unwrap_or(0.0),
        }
    }

    /// The data's name: the file's, the synthetic target's or the toy set's.
    #[must_use]
    pub fn name(&self) -> String {
        match &self.source {
            DataSource::File(f) => f.file_name().map_or_else(
                || f.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
            DataSource::Target(t) => t.name(),
            DataSource::Images(i) => i.name().to_string(),
            DataSource::Bits(b) => b.name(),
            DataSource::Toy(set) => set.name().to_string(),
        }
    }

    /// The user's file, if the data come from one.
    #[must_use]
    pub fn file(&self) -> Option<&std::path::Path> {
        match &self.source {
            DataSource::File(f) => Some(f),
            _ => None,
        }
    }

    /// The synthetic target, if the data come from one.
    #[must_use]
    pub fn target(&self) -> Option<&target::Target> {
        match &self.source {
            DataSource::Target(t) => Some(t),
            _ => None,
        }
    }

    /// The bundled image set, if the data are one.
    #[must_use]
    pub fn images(&self) -> Option<ImageSet> {
        match self.source {
            DataSource::Images(i) => Some(i),
            _ => None,
        }
    }

    /// The number of classes the labels name, where that is known before reading the
    /// data (toy sets and targets; a file's are known once it is read).
    #[must_use]
    pub fn classes(&self) -> Option<usize> {
        match &self.source {
            DataSource::File(_) => None,
            DataSource::Target(t) => Some(t.classes()),
            DataSource::Images(i) => Some(i.classes()),
            DataSource::Bits(BitSet::BinarizedDigits) => Some(10),
            DataSource::Bits(_) => Some(0),
            DataSource::Toy(set) => Some(set.classes()),
        }
    }
}

/// The bundled image sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageSet {
    /// 1 797 handwritten digits, 8×8, 17 grey levels, labels 0–9 (UCI optical
    /// recognition of handwritten digits, test split; see assets/digits).
    Digits,
}

impl ImageSet {
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Digits => "digits",
        }
    }

    #[must_use]
    pub fn classes(self) -> usize {
        match self {
            Self::Digits => 10,
        }
    }
}

/// The range image pixels are scaled to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum PixelRange {
    /// [0, 1].
    #[default]
    ZeroOne,
    /// [−1, 1] (JEM, IGEBM).
    MinusOneOne,
}

impl PixelRange {
    /// (lowest, highest).
    #[must_use]
    pub fn bounds(self) -> (f32, f32) {
        match self {
            Self::ZeroOne => (0.0, 1.0),
            Self::MinusOneOne => (-1.0, 1.0),
        }
    }

    /// Maps a pixel in [0, 1] into the range.
    #[must_use]
    pub fn scale(self, v: f32) -> f32 {
        let (lo, hi) = self.bounds();
        lo + (hi - lo) * v
    }

    #[allow(clippy::trivially_copy_pass_by_ref)] // serde passes a reference
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde passes a reference
fn is_zero(v: &f32) -> bool {
    *v == 0.0
}

/// `data.columns` as a list, `[0, 2, 5]`, or (as presets wrote it before) a pair, `(0, 3)`.
fn columns_list_or_pair<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<usize>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Columns {
        List(Vec<usize>),
        Pair((usize, usize)),
    }
    Ok(Option::<Columns>::deserialize(d)?.map(|c| match c {
        Columns::List(v) => v,
        Columns::Pair((a, b)) => vec![a, b],
    }))
}

/// An axis-aligned box `[lo, hi]` per dimension: where uniform starts are drawn and
/// chains are clamped, and in the plane the region of the quadrature grid and heat map.
#[derive(Debug, Clone, PartialEq)]
pub struct DataBox {
    pub lo: Vec<f32>,
    pub hi: Vec<f32>,
    /// The points are bits (the corners of the unit box): uniform starts are fair coin
    /// flips.
    pub bits: bool,
}

impl DataBox {
    /// The cell centres of a `g × g` grid over a 2-D box, row-major (x fastest): the
    /// quadrature grid, the heat maps and the network's unit responses.
    #[must_use]
    pub fn grid_points(&self, g: usize) -> Vec<f32> {
        let mut pts = Vec::with_capacity(2 * g * g);
        #[allow(clippy::cast_precision_loss)]
        let (dx, dy) = (
            (self.hi[0] - self.lo[0]) / g as f32,
            (self.hi[1] - self.lo[1]) / g as f32,
        );
        for j in 0..g {
            for i in 0..g {
                #[allow(clippy::cast_precision_loss)]
                {
                    pts.push(self.lo[0] + (i as f32 + 0.5) * dx);
                    pts.push(self.lo[1] + (j as f32 + 0.5) * dy);
                }
            }
        }
        pts
    }

    /// The square `[−half, half]²`.
    #[must_use]
    pub fn square(half: f32) -> Self {
        Self::cube(2, half)
    }

    /// The cube `[−half, half]^dim`.
    #[must_use]
    pub fn cube(dim: usize, half: f32) -> Self {
        Self {
            lo: vec![-half; dim],
            hi: vec![half; dim],
            bits: false,
        }
    }

    /// The unit cube of `dim` bits: its corners are the points.
    #[must_use]
    pub fn bits(dim: usize) -> Self {
        Self {
            lo: vec![0.0; dim],
            hi: vec![1.0; dim],
            bits: true,
        }
    }

    #[must_use]
    pub fn dim(&self) -> usize {
        self.lo.len()
    }

    /// The box's volume (its area in the plane).
    #[must_use]
    pub fn volume(&self) -> f64 {
        self.lo
            .iter()
            .zip(&self.hi)
            .map(|(l, h)| f64::from(h - l))
            .product()
    }

    /// Whether `row` lies in the box.
    #[must_use]
    pub fn contains(&self, row: &[f32]) -> bool {
        row.iter()
            .zip(self.lo.iter().zip(&self.hi))
            .all(|(v, (l, h))| (*l..=*h).contains(v))
    }
}

/// A data set: training and held-out points, row-major `n × dim`, with their labels
/// where the data has them.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub spec: DataSpec,
    /// Where the points live; `dim` is its dimension.
    pub space: Space,
    pub dim: usize,
    pub train: Vec<f32>,
    pub test: Vec<f32>,
    /// One label in `0..classes` per training point (empty without labels).
    pub train_labels: Vec<u32>,
    /// One label per held-out point (empty without labels).
    pub test_labels: Vec<u32>,
    /// The number of classes (0: unlabelled data).
    pub classes: usize,
    pub data_box: DataBox,
    /// Images: the grey levels of the source (17 for the digits, 256 for 8-bit files),
    /// for bits per dimension; `None` for continuous data.
    pub levels: Option<u32>,
}

impl Dataset {
    /// The data set that `spec` describes: read from its file, or generated
    /// (deterministic in `spec.seed`, which also shuffles a file's points before the split).
    ///
    /// # Errors
    /// A file that cannot be read or holds no valid table of points.
    pub fn load(spec: &DataSpec) -> Result<Self, DataError> {
        let mut rng = StdRng::seed_from_u64(spec.seed);
        let path = match &spec.source {
            DataSource::File(path) => existing(path, images::is_image_file)?,
            DataSource::Images(ImageSet::Digits) => {
                return Ok(Self::from_images(spec, images::digits(), &mut rng));
            }
            DataSource::Bits(set) => {
                set.check()
                    .map_err(|m| DataError::new(std::path::Path::new(&set.name()), None, m))?;
                return Ok(Self::of_bits(spec, *set, &mut rng));
            }
            DataSource::Toy(_) | DataSource::Target(_) => return Ok(Self::generate(spec)),
        };
        let path = path.as_path();
        // Labels files are read gzipped or not.
        let labels_file = spec
            .labels_file
            .as_deref()
            .map(|p| existing(p, |_| true))
            .transpose()?;
        if images::is_image_file(path) {
            let mut im = images::read_images(path, spec.layout)?;
            if let Some(lf) = labels_file.as_deref() {
                im.labels = Some(read_labels_for(lf, im.n, "images", path)?);
            }
            if spec.bits {
                return Self::of_bit_images(spec, path, im, &mut rng);
            }
            return Ok(Self::from_images(spec, im, &mut rng));
        }
        let mut t = file::read_table(path, spec.columns.as_deref(), spec.labels)?;
        if let Some(lf) = labels_file.as_deref() {
            if spec.labels.is_some() {
                return Err(DataError::new(
                    lf,
                    None,
                    "data.labels (a column) and data.labels_file are both given: choose one",
                ));
            }
            t.labels = Some(read_labels_for(
                lf,
                t.points.len() / t.dim.max(1),
                "rows",
                path,
            )?);
        }
        let labels = t.labels.map(|l| {
            let classes = l.iter().max().map_or(0, |m| *m as usize + 1);
            (l, classes)
        });
        if spec.bits {
            // Every value a bit: the first that is not is named, by its row and column.
            if let Some(k) = t.points.iter().position(|v| *v != 0.0 && *v != 1.0) {
                return Err(DataError::new(
                    path,
                    Some(format!("row {}, column {}", k / t.dim + 1, k % t.dim + 1)),
                    format!(
                        "{} is not a bit: these data are read as bits (data.bits, or an RBM's data), every value 0 or 1",
                        t.points[k]
                    ),
                ));
            }
            let dim = t.dim;
            let mut d = Self::split(spec, t.points, dim, labels, DataBox::bits(dim), &mut rng);
            d.space = Space::Bits { h: 1, w: dim };
            return Ok(d);
        }
        let b = padded_bounds(&t.points, t.dim);
        Ok(Self::split(spec, t.points, t.dim, labels, b, &mut rng))
    }

    /// Images (pixels in [0, 1]) as the data set of `spec`: scaled to its pixel range and
    /// split as a file's images are (shuffled by `spec.seed`).
    #[must_use]
    pub fn of_images(spec: &DataSpec, im: images::Images) -> Self {
        Self::from_images(spec, im, &mut StdRng::seed_from_u64(spec.seed))
    }

    /// Images scaled to the preset's pixel range, split; the data box is that range.
    fn from_images(spec: &DataSpec, im: images::Images, rng: &mut StdRng) -> Self {
        let (lo, hi) = spec.pixels.bounds();
        let dim = im.c * im.h * im.w;
        // Scaled in place: at MNIST size every copy of the pixels is 188 MB.
        let mut pixels = im.pixels;
        for v in &mut pixels {
            *v = spec.pixels.scale(*v);
        }
        let labels = im.labels.map(|l| {
            let classes = l.iter().max().map_or(0, |m| *m as usize + 1);
            (l, classes)
        });
        let mut d = Self::split(spec, pixels, dim, labels, DataBox::cube(dim, 1.0), rng);
        d.data_box = DataBox {
            lo: vec![lo; dim],
            hi: vec![hi; dim],
            bits: false,
        };
        d.space = Space::Image {
            c: im.c,
            h: im.h,
            w: im.w,
        };
        d.levels = im.levels;
        d
    }

    /// One-channel images binarized as `spec.binarize` says (pixels in [0, 1]), split.
    fn of_bit_images(
        spec: &DataSpec,
        path: &std::path::Path,
        im: images::Images,
        rng: &mut StdRng,
    ) -> Result<Self, DataError> {
        if im.c != 1 {
            return Err(DataError::new(
                path,
                None,
                format!(
                    "{} channels: bits are one-channel images (binarized at half their range)",
                    im.c
                ),
            ));
        }
        let (h, w) = (im.h, im.w);
        let pts = spec.binarize.apply(&im.pixels);
        let labels = im.labels.map(|l| {
            let classes = l.iter().max().map_or(0, |m| *m as usize + 1);
            (l, classes)
        });
        let mut d = Self::split(spec, pts, h * w, labels, DataBox::bits(h * w), rng);
        d.space = Space::Bits { h, w };
        Ok(d)
    }

    /// `spec.size` patterns of a bit set, drawn uniformly from its patterns, split.
    fn of_bits(spec: &DataSpec, set: BitSet, rng: &mut StdRng) -> Self {
        let (h, w) = set.shape();
        let dim = h * w;
        if set == BitSet::BinarizedDigits {
            let im = images::digits();
            let pts = spec.binarize.apply(&im.pixels);
            let labels = im.labels.map(|l| (l, 10));
            let mut d = Self::split(spec, pts, dim, labels, DataBox::bits(dim), rng);
            d.space = Space::Bits { h, w };
            return d;
        }
        let patterns = set.patterns();
        let mut pts = Vec::with_capacity(spec.size * dim);
        for _ in 0..spec.size {
            pts.extend_from_slice(&patterns[rand::Rng::random_range(rng, 0..patterns.len())]);
        }
        let mut d = Self::split(spec, pts, dim, None, DataBox::bits(dim), rng);
        d.space = Space::Bits { h, w };
        d
    }

    /// Stand-in data of `space` for a model that came without any (an RBM written by
    /// another program): `rows` points uniform in the space's box (coin flips on bits,
    /// [0, 1] pixels for images, ±3 for vectors), only so that chains have a box to
    /// start in. Not data to score a model on.
    #[must_use]
    pub fn stand_in(space: Space, rows: usize, seed: u64) -> Self {
        let dim = space.dim();
        let mut rng = StdRng::seed_from_u64(seed);
        let data_box = match space {
            Space::Bits { .. } => DataBox::bits(dim),
            Space::Image { .. } => DataBox {
                lo: vec![0.0; dim],
                hi: vec![1.0; dim],
                bits: false,
            },
            _ => DataBox::cube(dim, 3.0),
        };
        let mut pts = vec![0.0_f32; rows.max(2) * dim];
        crate::sampler::uniform_in_box(&data_box, &mut pts, &mut rng);
        let spec = DataSpec {
            size: rows.max(2),
            held_out: 0.5,
            ..DataSpec::default()
        };
        let mut d = Self::split(&spec, pts, dim, None, data_box, &mut rng);
        d.space = space;
        d
    }

    /// Generates a toy set or a synthetic target (a file or an image set is not
    /// generated: the default toy set stands in).
    #[must_use]
    pub fn generate(spec: &DataSpec) -> Self {
        let mut rng = StdRng::seed_from_u64(spec.seed);
        let mut spec = spec.clone();
        let set = match &spec.source {
            DataSource::Toy(set) => *set,
            DataSource::Target(_) => ToySet::EightGaussians,
            DataSource::File(_) | DataSource::Images(_) | DataSource::Bits(_) => {
                spec.source = DataSource::Toy(ToySet::EightGaussians);
                ToySet::EightGaussians
            }
        };
        if let DataSource::Target(t) = &spec.source {
            let (pts, labels) = t.sample(spec.size, &mut rng);
            // The target's box, widened to hold every drawn point (the funnel's x_i
            // reach far beyond any fixed box when v is large).
            let (mut lo, mut hi) = t.bounds();
            let drawn = padded_bounds(&pts, t.dim());
            for j in 0..t.dim() {
                lo[j] = lo[j].min(drawn.lo[j]);
                hi[j] = hi[j].max(drawn.hi[j]);
            }
            let classes = t.classes();
            let labels = (classes > 0).then_some((labels, classes));
            let b = DataBox {
                lo,
                hi,
                bits: false,
            };
            return Self::split(&spec, pts, t.dim(), labels, b, &mut rng);
        }
        let (pts, labels) = set.generate(spec.size, spec.noise(), &mut rng);
        let b = DataBox::square(set.half_width());
        let classes = set.classes();
        Self::split(&spec, pts, 2, Some((labels, classes)), b, &mut rng)
    }

    fn split(
        spec: &DataSpec,
        pts: Vec<f32>,
        dim: usize,
        labels: Option<(Vec<u32>, usize)>,
        data_box: DataBox,
        rng: &mut StdRng,
    ) -> Self {
        // Shuffle rows so that the split does not follow the generation order (moons,
        // circles and rings generate their parts one after another; files are often
        // sorted). Labels travel with their points.
        let (label_list, classes) = labels.unwrap_or_default();
        let n = pts.len() / dim.max(1);
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(rng);
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let n_test = ((n as f32) * spec.held_out).round() as usize;
        let n_test = n_test.min(n.saturating_sub(1));
        // The first n_test of the order are held out. The rows are gathered training
        // rows first, so that the held-out ones split off the end: one copy of the data
        // besides the input (dropped before the split), not three.
        let (held, kept) = order.split_at(n_test);
        let mut train: Vec<f32> = Vec::with_capacity(pts.len());
        for &i in kept.iter().chain(held) {
            train.extend_from_slice(&pts[i * dim..(i + 1) * dim]);
        }
        drop(pts);
        let test = train.split_off(dim * kept.len());
        train.shrink_to_fit();
        let pick = |rows: &[usize]| -> Vec<u32> {
            rows.iter()
                .map(|&i| label_list.get(i).copied().unwrap_or(0))
                .collect()
        };
        let (test_labels, train_labels) = if classes > 0 {
            (pick(held), pick(kept))
        } else {
            (Vec::new(), Vec::new())
        };
        Self {
            spec: spec.clone(),
            space: Space::of_dim(dim),
            dim,
            train,
            test,
            train_labels,
            test_labels,
            classes,
            data_box,
            levels: None,
        }
    }

    #[must_use]
    pub fn n_train(&self) -> usize {
        self.train.len() / self.dim
    }

    #[must_use]
    pub fn n_test(&self) -> usize {
        self.test.len() / self.dim
    }

    /// An out-of-distribution set with the data's pixel statistics and none of its
    /// structure: `n` held-out rows (cycling), each with its values in a random order of
    /// its own. Deterministic in `seed`.
    #[must_use]
    pub fn shuffled_rows(&self, n: usize, seed: u64) -> Vec<f32> {
        let d = self.dim;
        let m = self.n_test().max(1);
        let src = if self.test.is_empty() {
            &self.train
        } else {
            &self.test
        };
        let mut rng = StdRng::seed_from_u64(seed);
        let mut out = Vec::with_capacity(n * d);
        for i in 0..n {
            let k = i % m;
            let mut row = src[k * d..(k + 1) * d].to_vec();
            row.shuffle(&mut rng);
            out.extend_from_slice(&row);
        }
        out
    }

    /// Images: the held-out NLL (nats per image, of the continuous density over the
    /// pixel range) as bits per dimension of the discrete images, each pixel's level
    /// taken as a bin as wide as the step between levels, range/(levels − 1) (8-bit
    /// files: 256 levels).
    #[must_use]
    pub fn bits_per_dim(&self, nll: f64) -> Option<f64> {
        if matches!(self.space, Space::Bits { .. }) {
            // One bit a dimension: the NLL in bits over the dimensions.
            #[allow(clippy::cast_precision_loss)]
            return Some(nll / (self.dim as f64 * std::f64::consts::LN_2));
        }
        if !matches!(self.space, Space::Image { .. }) {
            return None;
        }
        // Levels 0..L−1 are scaled to lo + (hi − lo)·k/(L − 1): one level is a bin of
        // that width.
        let (lo, hi) = self.spec.pixels.bounds();
        let bin = f64::from(hi - lo) / f64::from(self.levels.unwrap_or(256).max(2) - 1);
        #[allow(clippy::cast_precision_loss)]
        let d = self.dim as f64;
        Some((nll / d - bin.ln()) / std::f64::consts::LN_2)
    }

    /// The true NLL (nats) of the held-out split, where the density is known.
    #[must_use]
    pub fn true_nll(&self) -> Option<f64> {
        let n = self.n_test().max(1) as f64;
        match &self.spec.source {
            DataSource::File(_) | DataSource::Images(_) => None,
            // Uniform over the set's patterns: ln(count) for every held-out point.
            #[allow(clippy::cast_precision_loss)]
            DataSource::Bits(BitSet::BarsStripes(n)) => {
                Some((BitSet::BarsStripes(*n).patterns().len() as f64).ln())
            }
            DataSource::Bits(BitSet::BinarizedDigits) => None,
            DataSource::Target(t) => {
                let mut row = vec![0.0_f64; self.dim];
                let sum: f64 = self
                    .test
                    .chunks_exact(self.dim)
                    .map(|r| {
                        for (o, v) in row.iter_mut().zip(r) {
                            *o = f64::from(*v);
                        }
                        -t.log_density(&row)
                    })
                    .sum();
                Some(sum / n)
            }
            DataSource::Toy(set) => {
                let noise = self.spec.noise();
                let mut sum = 0.0;
                for r in self.test.chunks_exact(2) {
                    sum -= set.log_density([f64::from(r[0]), f64::from(r[1])], noise)?;
                }
                Some(sum / n)
            }
        }
    }
}

/// The file a preset names, or its twin: `NAME` when `NAME.gz` is not there, or
/// `NAME.gz` when `NAME` is not and `readable_gz` says a gzipped file is read there
/// (image files and labels are; tables are not), as data sets are published either way.
///
/// # Errors
/// Neither is there: the message says where it looked (and, for MNIST's files, what to
/// put there).
pub fn existing(
    path: &std::path::Path,
    readable_gz: impl Fn(&std::path::Path) -> bool,
) -> Result<std::path::PathBuf, DataError> {
    if path.exists() {
        return Ok(path.to_path_buf());
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let twin = match name.strip_suffix(".gz") {
        Some(plain) => path.with_file_name(plain),
        None => path.with_file_name(format!("{name}.gz")),
    };
    let gz = name.ends_with(".gz");
    if twin.exists() {
        if gz || readable_gz(&twin) {
            return Ok(twin);
        }
        let twin_name = twin
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        return Err(DataError::new(
            path,
            None,
            format!(
                "no such file; {twin_name} is there, but a table is read uncompressed: \
                 gunzip it"
            ),
        ));
    }
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(
            || "the working folder".to_string(),
            |p| p.display().to_string(),
        );
    let mut msg = format!(
        "no such file: looked for {} and {} in {folder}",
        name,
        twin.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    let plain = name.trim_end_matches(".gz");
    if plain.ends_with("-idx3-ubyte") || plain.ends_with("-idx1-ubyte") {
        msg.push_str(&format!(
            "; this is one of MNIST's files: put train-images-idx3-ubyte and \
             train-labels-idx1-ubyte (plain or .gz, as published with the MNIST database) in \
             {folder}, or choose other data"
        ));
    } else {
        msg.push_str("; put the file there, or choose other data");
    }
    Err(DataError::new(path, None, msg))
}

/// Labels from `labels_file` for the `n` rows (`what`) of `data`: as many as there are.
fn read_labels_for(
    labels_file: &std::path::Path,
    n: usize,
    what: &str,
    data: &std::path::Path,
) -> Result<Vec<u32>, DataError> {
    let l = images::read_labels(labels_file)?;
    if l.len() != n {
        return Err(DataError::new(
            labels_file,
            None,
            format!(
                "{} labels, but {} holds {n} {what}: the label count must be the same",
                l.len(),
                data.display()
            ),
        ));
    }
    Ok(l)
}

/// The points' bounding box, widened by a tenth of its extent on every side (so that the
/// quadrature grid and the heat map cover the data's tails), at least 0.1 wide.
fn padded_bounds(pts: &[f32], dim: usize) -> DataBox {
    let mut lo = vec![f32::INFINITY; dim];
    let mut hi = vec![f32::NEG_INFINITY; dim];
    for r in pts.chunks_exact(dim) {
        for j in 0..dim {
            lo[j] = lo[j].min(r[j]);
            hi[j] = hi[j].max(r[j]);
        }
    }
    for j in 0..dim {
        let pad = ((hi[j] - lo[j]) * 0.1).max(0.05);
        lo[j] -= pad;
        hi[j] += pad;
    }
    DataBox {
        lo,
        hi,
        bits: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The split's definition: the rows in the order of a shuffle seeded by the spec,
    /// the first `round(n·held_out)` held out, the rest trained on, each row with its
    /// own label (rows that carry their index, so that a row's place says where it
    /// came from).
    #[test]
    fn the_first_rows_of_the_seeded_shuffle_are_held_out_with_their_labels() {
        let (n, dim) = (50, 3);
        let pts: Vec<f32> = (0..n * dim).map(|v| (v / dim) as f32).collect();
        let labels: Vec<u32> = (0..n as u32).map(|i| i % 7).collect();
        let spec = DataSpec {
            held_out: 0.2,
            ..DataSpec::default()
        };
        let d = Dataset::split(
            &spec,
            pts,
            dim,
            Some((labels, 7)),
            DataBox::cube(dim, 1.0),
            &mut StdRng::seed_from_u64(11),
        );
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut StdRng::seed_from_u64(11));
        let rows = |v: &[f32]| -> Vec<usize> {
            v.chunks_exact(dim)
                .map(|r| {
                    assert!(r.iter().all(|x| *x == r[0]), "a row broken up: {r:?}");
                    r[0] as usize
                })
                .collect()
        };
        assert_eq!(rows(&d.test), order[..10]);
        assert_eq!(rows(&d.train), order[10..]);
        let want = |rows: &[usize]| -> Vec<u32> { rows.iter().map(|i| *i as u32 % 7).collect() };
        assert_eq!(d.test_labels, want(&order[..10]));
        assert_eq!(d.train_labels, want(&order[10..]));
    }
}

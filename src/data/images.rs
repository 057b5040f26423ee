//! Images: NumPy `.npy` arrays ([`super::npy`]) and MNIST-style IDX files
//! ([`super::idx`]) from the user's disk (raw or gzip-compressed); the bundled digits are
//! [`super::digits`]. Pixels come out scaled to [0, 1] in N × C × H × W order. As with tables of points, every problem
//! is reported with the file and the place in it, and a file gives all its images or an
//! error.

pub use super::digits::{digits, digits_scaled};
pub use super::idx::write_idx;
use super::idx::{IDX_IMAGES, IDX_LABELS, idx_images, parse_idx};
use super::npy::{self, Dtype, Num, show};
use crate::data::file::MIN_POINTS;
use crate::error::DataError;
use flate2::read::GzDecoder;
use serde::{Deserialize, Serialize};
use std::io::Read as _;
use std::path::Path;

/// How a 4-D array stores its channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImageLayout {
    /// Channels first: (N, C, H, W).
    Nchw,
    /// Channels last: (N, H, W, C).
    Nhwc,
}

/// Images read from a file: pixels scaled to [0, 1], row-major N × C × H × W.
#[derive(Debug, Clone, PartialEq)]
pub struct Images {
    pub pixels: Vec<f32>,
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    /// Labels from the file itself (the bundled digits carry them), one per image.
    pub labels: Option<Vec<u32>>,
    /// The number of distinct pixel levels the source had (17 for the digits' 0–16,
    /// 256 for 8-bit files), when it was whole numbers; None for float data.
    pub levels: Option<u32>,
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const NPY_MAGIC: &[u8] = b"\x93NUMPY";
/// The largest label a file may hold.
const MAX_LABEL: u32 = 999;
/// How much of a file [`is_image_file`] reads: any version-1 NPY header.
const HEAD_BYTES: u64 = 12 + 65_536;

const PIXEL_RANGES: &str = "pixels must be integers from 0 to 255 (divided by 255), or \
     floats in [0, 1] (kept) or in [0, 255] (divided by 255)";

/// Whether `path` holds images rather than a table of points: an IDX file (by its magic
/// number 0x00000803, after gunzip when the file starts with the gzip magic 1f 8b), or an
/// .npy file whose array has 3 or 4 dimensions. Reads only the header. false when the
/// file cannot be read (the caller's own reader then reports it).
#[must_use]
pub fn is_image_file(path: &Path) -> bool {
    let Ok(head) = read_head(path, HEAD_BYTES) else {
        return false;
    };
    if head.starts_with(NPY_MAGIC) {
        npy::header(path, &head).is_ok_and(|h| matches!(h.shape.len(), 3 | 4))
    } else {
        head.get(..4)
            .is_some_and(|m| m == IDX_IMAGES.to_be_bytes().as_slice())
    }
}

/// Reads images: NumPy .npy of shape (N, H, W), (N, C, H, W) or (N, H, W, C), or an
/// MNIST IDX images file (magic 2051 = 0x00000803, u8, dims N, H, W), raw or gzip-compressed.
///
/// A 4-D array is read in `layout` when given, otherwise in the layout its shape makes
/// unambiguous (a channel axis of 1, 3 or 4 at one end and not at the other).
///
/// # Errors
/// The I/O error; or what is wrong and where: a magic number that is neither, a labels
/// file, an unsupported dtype or IDX type code, Fortran order, an ambiguous layout, a
/// file size that does not match the header, fewer than [`MIN_POINTS`] images, a
/// dimension of 0, or a pixel outside the allowed ranges (naming its image and pixel).
pub fn read_images(path: &Path, layout: Option<ImageLayout>) -> Result<Images, DataError> {
    let (bytes, gz) = load(path)?;
    if bytes.starts_with(NPY_MAGIC) {
        npy_images(path, &bytes, layout)
    } else {
        idx_images(path, &bytes, gz)
    }
}

/// Reads class labels: .npy of shape (N,) (any integer dtype, or floats that are whole
/// numbers) or an IDX labels file (magic 2049 = 0x00000801, u8, one dim), raw or gzip.
///
/// # Errors
/// As [`read_images`]; or a label that is not a whole number from 0 to 999, naming its
/// index.
pub fn read_labels(path: &Path) -> Result<Vec<u32>, DataError> {
    let (bytes, gz) = load(path)?;
    if bytes.starts_with(NPY_MAGIC) {
        npy_labels(path, &bytes)
    } else {
        let idx = parse_idx(path, &bytes, gz, IDX_LABELS)?;
        Ok(idx.data.iter().map(|&b| u32::from(b)).collect())
    }
}

/// The whole file, gunzipped when it starts with the gzip magic (and whether it did).
fn load(path: &Path) -> Result<(Vec<u8>, bool), DataError> {
    let bytes =
        std::fs::read(path).map_err(|e| DataError::new(path, None, format!("cannot read: {e}")))?;
    if !bytes.starts_with(&GZIP_MAGIC) {
        return Ok((bytes, false));
    }
    let mut out = Vec::new();
    GzDecoder::new(bytes.as_slice())
        .read_to_end(&mut out)
        .map_err(|e| {
            DataError::new(
                path,
                None,
                format!("the file starts like gzip data but does not decompress: {e}"),
            )
        })?;
    Ok((out, true))
}

/// At most `limit` bytes from the start of the file, gunzipped when it is gzip.
fn read_head(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    let mut f = std::fs::File::open(path)?;
    let mut raw = Vec::new();
    (&mut f).take(limit).read_to_end(&mut raw)?;
    if !raw.starts_with(&GZIP_MAGIC) {
        return Ok(raw);
    }
    let mut out = Vec::new();
    GzDecoder::new(raw.as_slice().chain(f))
        .take(limit)
        .read_to_end(&mut out)?;
    Ok(out)
}

pub(crate) fn too_few(path: &Path, n: usize) -> Result<(), DataError> {
    if n < MIN_POINTS {
        return Err(DataError::new(
            path,
            None,
            format!("{n} images is too few (at least {MIN_POINTS})"),
        ));
    }
    Ok(())
}

fn npy_images(path: &Path, bytes: &[u8], layout: Option<ImageLayout>) -> Result<Images, DataError> {
    let header = npy::header(path, bytes)?;
    let shape_err = |msg: String| DataError::new(path, Some("shape".into()), msg);
    let shape_text = &header.shape_text;
    let dtype = Dtype::parse(path, &header.descr)?;
    if header.fortran_order {
        return Err(DataError::new(
            path,
            Some("fortran_order".into()),
            "the array is stored in Fortran order (fortran_order: True); images must be in C \
             order (save numpy.ascontiguousarray(a))",
        ));
    }
    let (n, c, h, w, channels_last) = match header.shape[..] {
        [n, h, w] => (n, 1, h, w, false),
        [n, s1, s2, s3] => {
            let channels = |s: usize| matches!(s, 1 | 3 | 4);
            let layout = match layout {
                Some(l) => l,
                None if channels(s1) && !channels(s3) => ImageLayout::Nchw,
                None if channels(s3) && !channels(s1) => ImageLayout::Nhwc,
                None => {
                    return Err(shape_err(format!(
                        "the layout of shape ({shape_text}) is ambiguous: it could be channels \
                         first (N, C, H, W) or channels last (N, H, W, C); set \
                         `data.layout: Nchw` or `data.layout: Nhwc` in the preset"
                    )));
                }
            };
            match layout {
                ImageLayout::Nchw => (n, s1, s2, s3, false),
                ImageLayout::Nhwc => (n, s3, s1, s2, true),
            }
        }
        [_] => {
            return Err(shape_err(format!(
                "this looks like a labels file: the array is 1-D, shape ({shape_text}); images \
                 are (N, H, W), (N, C, H, W) or (N, H, W, C)"
            )));
        }
        _ => {
            return Err(shape_err(format!(
                "the array has shape ({shape_text}); images must be 3-D (N, H, W) or 4-D \
                 (N, C, H, W) or (N, H, W, C)"
            )));
        }
    };
    if header.shape.contains(&0) {
        return Err(shape_err(format!(
            "the array has a dimension of size 0: shape ({shape_text})"
        )));
    }
    too_few(path, n)?;
    let data = npy::npy_data(path, bytes, &header, dtype)?;
    let per_image = c * h * w;
    // Where pixel `p` of an image (in the file's order) is, in words.
    let at = |p: usize| {
        let (ch, y, x) = if channels_last {
            (p % c, p / (c * w), (p / c) % w)
        } else {
            (p / (h * w), (p / w) % h, p % w)
        };
        if c == 1 {
            format!("row {y}, column {x}")
        } else {
            format!("channel {ch}, row {y}, column {x}")
        }
    };
    let mut pixels = Vec::with_capacity(n * per_image);
    let mut max = 0.0_f64;
    let whole = !matches!(dtype, Dtype::F4 | Dtype::F8);
    for (k, chunk) in data.chunks_exact(dtype.size()).enumerate() {
        let bad = |shown: String| {
            let (i, p) = (k / per_image, k % per_image);
            DataError::new(
                path,
                Some(format!("image {i}, pixel {p}")),
                format!(
                    "the value {shown} ({}) is out of range: {PIXEL_RANGES}",
                    at(p)
                ),
            )
        };
        match dtype.decode(chunk) {
            Num::Int(v) => match u8::try_from(v) {
                Ok(b) => pixels.push(f32::from(b) / 255.0),
                Err(_) => return Err(bad(v.to_string())),
            },
            Num::Float(v) => {
                if !(0.0..=255.0).contains(&v) {
                    return Err(bad(show(dtype, v)));
                }
                max = max.max(v);
                #[allow(clippy::cast_possible_truncation)]
                pixels.push(v as f32);
            }
        }
    }
    if !whole && max > 1.0 {
        for p in &mut pixels {
            *p /= 255.0;
        }
    }
    if channels_last {
        let mut nchw = vec![0.0_f32; pixels.len()];
        for (k, &v) in pixels.iter().enumerate() {
            let (i, p) = (k / per_image, k % per_image);
            let (ch, x, y) = (p % c, (p / c) % w, p / (c * w));
            nchw[i * per_image + (ch * h + y) * w + x] = v;
        }
        pixels = nchw;
    }
    Ok(Images {
        pixels,
        n,
        c,
        h,
        w,
        labels: None,
        levels: whole.then_some(256),
    })
}

fn npy_labels(path: &Path, bytes: &[u8]) -> Result<Vec<u32>, DataError> {
    let header = npy::header(path, bytes)?;
    let shape_text = &header.shape_text;
    let dtype = Dtype::parse(path, &header.descr)?;
    // A 1-D array is the same in C and Fortran order.
    let n = match header.shape[..] {
        [n] => n,
        [_, _, _] | [_, _, _, _] => {
            return Err(DataError::new(
                path,
                Some("shape".into()),
                format!(
                    "this looks like an images file: the array has shape ({shape_text}); \
                     labels are a 1-D array (N,)"
                ),
            ));
        }
        _ => {
            return Err(DataError::new(
                path,
                Some("shape".into()),
                format!("the array has shape ({shape_text}); labels must be 1-D (N,)"),
            ));
        }
    };
    if n == 0 {
        return Err(DataError::new(
            path,
            Some("shape".into()),
            "the array holds no labels (shape (0,))",
        ));
    }
    let data = npy::npy_data(path, bytes, &header, dtype)?;
    let mut labels = Vec::with_capacity(n);
    for (i, chunk) in data.chunks_exact(dtype.size()).enumerate() {
        let label = match dtype.decode(chunk) {
            Num::Int(v) => u32::try_from(v)
                .ok()
                .filter(|&y| y <= MAX_LABEL)
                .ok_or(v.to_string()),
            Num::Float(v) if v.fract() == 0.0 && (0.0..=f64::from(MAX_LABEL)).contains(&v) =>
            {
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                Ok(v as u32)
            }
            Num::Float(v) => Err(show(dtype, v)),
        };
        match label {
            Ok(y) => labels.push(y),
            Err(shown) => {
                return Err(DataError::new(
                    path,
                    Some(format!("label {i}")),
                    format!("the label {shown} is not a whole number from 0 to {MAX_LABEL}"),
                ));
            }
        }
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;
    use std::path::PathBuf;

    /// An `.npy` file (version 1, C order unless `fortran`) of `descr`, `shape` and raw data.
    fn npy(descr: &str, shape: &str, fortran: bool, data: &[u8]) -> Vec<u8> {
        let order = if fortran { "True" } else { "False" };
        let mut header =
            format!("{{'descr': '{descr}', 'fortran_order': {order}, 'shape': ({shape}), }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend(u16::try_from(header.len()).unwrap().to_le_bytes());
        out.extend(header.as_bytes());
        out.extend(data);
        out
    }

    /// An IDX file: the magic number, big-endian dimensions, then the bytes.
    fn idx(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut out = magic.to_be_bytes().to_vec();
        for d in dims {
            out.extend(d.to_be_bytes());
        }
        out.extend(data);
        out
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn f32s(v: impl IntoIterator<Item = f32>) -> Vec<u8> {
        v.into_iter().flat_map(f32::to_le_bytes).collect()
    }

    fn err(r: Result<impl std::fmt::Debug, DataError>) -> DataError {
        r.expect_err("an error")
    }

    const N: usize = 20;

    /// Pixel (i, ch, y, x) of the test images: spread over 0–255, different in every
    /// coordinate.
    fn value(i: usize, ch: usize, y: usize, x: usize) -> u8 {
        u8::try_from((i * 7 + ch * 50 + y * 11 + x * 3 + 1) % 256).unwrap()
    }

    /// All pixels in N × C × H × W order, as bytes.
    fn nchw(c: usize, h: usize, w: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for i in 0..N {
            for ch in 0..c {
                for y in 0..h {
                    for x in 0..w {
                        out.push(value(i, ch, y, x));
                    }
                }
            }
        }
        out
    }

    /// All pixels in N × H × W × C order, as bytes.
    fn nhwc(c: usize, h: usize, w: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for i in 0..N {
            for y in 0..h {
                for x in 0..w {
                    for ch in 0..c {
                        out.push(value(i, ch, y, x));
                    }
                }
            }
        }
        out
    }

    fn scaled(bytes: &[u8]) -> Vec<f32> {
        bytes.iter().map(|&b| f32::from(b) / 255.0).collect()
    }

    #[test]
    fn npy_u8_and_f32_in_every_layout_read_to_the_same_pixels() {
        let dir = tempfile::tempdir().unwrap();
        let (h, w) = (2, 5);
        // One channel: (N, H, W) u8 and (N, 1, H, W) f32 in [0, 1].
        let one = nchw(1, h, w);
        let a = read_images(
            &write(dir.path(), "a.npy", &npy("|u1", "20, 2, 5", false, &one)),
            None,
        )
        .unwrap();
        let unit = f32s(one.iter().map(|&b| f32::from(b) / 255.0));
        let b = read_images(
            &write(
                dir.path(),
                "b.npy",
                &npy("<f4", "20, 1, 2, 5", false, &unit),
            ),
            None,
        )
        .unwrap();
        assert_eq!((a.n, a.c, a.h, a.w), (N, 1, h, w));
        assert_eq!(a.pixels, scaled(&one));
        assert_eq!(a.levels, Some(256));
        assert_eq!((b.n, b.c, b.h, b.w, b.levels), (N, 1, h, w, None));
        assert_eq!(b.pixels, a.pixels);

        // Three channels: (N, C, H, W) u8, (N, C, H, W) f32 in [0, 1] and (N, H, W, C)
        // f32 in [0, 255], each layout found from the shape.
        let want = scaled(&nchw(3, h, w));
        let u8_nchw = read_images(
            &write(
                dir.path(),
                "c.npy",
                &npy("|u1", "20, 3, 2, 5", false, &nchw(3, h, w)),
            ),
            None,
        )
        .unwrap();
        let f_nchw = read_images(
            &write(
                dir.path(),
                "d.npy",
                &npy("<f4", "20, 3, 2, 5", false, &f32s(want.iter().copied())),
            ),
            None,
        )
        .unwrap();
        let f_nhwc = read_images(
            &write(
                dir.path(),
                "e.npy",
                &npy(
                    "<f4",
                    "20, 2, 5, 3",
                    false,
                    &f32s(nhwc(3, h, w).into_iter().map(f32::from)),
                ),
            ),
            None,
        )
        .unwrap();
        for im in [&u8_nchw, &f_nchw, &f_nhwc] {
            assert_eq!((im.n, im.c, im.h, im.w), (N, 3, h, w));
            assert_eq!(im.pixels, want);
            assert_eq!(im.labels, None);
        }
        // The wider integer and float dtypes.
        let i2: Vec<u8> = nchw(1, h, w)
            .iter()
            .flat_map(|&b| i16::from(b).to_le_bytes())
            .collect();
        let f8: Vec<u8> = nchw(1, h, w)
            .iter()
            .flat_map(|&b| f64::from(b).to_le_bytes())
            .collect();
        for (name, bytes) in [
            ("i2.npy", npy("<i2", "20, 2, 5", false, &i2)),
            ("f8.npy", npy("<f8", "20, 2, 5", false, &f8)),
        ] {
            let im = read_images(&write(dir.path(), name, &bytes), None).unwrap();
            assert_eq!(im.pixels, scaled(&one), "{name}");
        }
    }

    #[test]
    fn an_ambiguous_4d_shape_errors_and_reads_with_a_layout() {
        let dir = tempfile::tempdir().unwrap();
        // (20, 3, 4, 3): channels first or last.
        let bytes = nchw(3, 4, 3);
        let p = write(
            dir.path(),
            "amb.npy",
            &npy("|u1", "20, 3, 4, 3", false, &bytes),
        );
        let e = err(read_images(&p, None));
        assert_eq!(e.place.as_deref(), Some("shape"));
        assert!(e.message.contains("ambiguous"), "{e}");
        assert!(e.message.contains("data.layout: Nchw"), "{e}");
        let first = read_images(&p, Some(ImageLayout::Nchw)).unwrap();
        assert_eq!((first.c, first.h, first.w), (3, 4, 3));
        assert_eq!(first.pixels, scaled(&bytes));
        // The same bytes read channels last: (N, H=3, W=4, C=3).
        let last = read_images(&p, Some(ImageLayout::Nhwc)).unwrap();
        assert_eq!((last.c, last.h, last.w), (3, 3, 4));
        let q = write(
            dir.path(),
            "last.npy",
            &npy("|u1", "20, 3, 4, 3", false, &nhwc(3, 3, 4)),
        );
        assert_eq!(
            read_images(&q, Some(ImageLayout::Nhwc)).unwrap().pixels,
            scaled(&nchw(3, 3, 4))
        );
        // Neither end a channel count: also ambiguous.
        let r = write(
            dir.path(),
            "five.npy",
            &npy("|u1", "20, 5, 2, 5", false, &nchw(5, 2, 5)),
        );
        assert!(err(read_images(&r, None)).message.contains("ambiguous"));
    }

    #[test]
    fn idx_images_raw_and_gzipped_read_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let pixels = nchw(1, 3, 4);
        let raw = idx(IDX_IMAGES, &[20, 3, 4], &pixels);
        // The names say the opposite of the contents: gzip is found by its magic bytes.
        let a = write(dir.path(), "raw.gz", &raw);
        let b = write(dir.path(), "packed-idx3-ubyte", &gzip(&raw));
        let ra = read_images(&a, None).unwrap();
        let rb = read_images(&b, None).unwrap();
        assert_eq!((ra.n, ra.c, ra.h, ra.w, ra.levels), (N, 1, 3, 4, Some(256)));
        assert_eq!(ra.pixels, scaled(&pixels));
        assert_eq!(ra, rb);
        assert!(is_image_file(&a) && is_image_file(&b));
    }

    #[test]
    fn labels_from_idx_and_npy() {
        let dir = tempfile::tempdir().unwrap();
        let ys: Vec<u8> = (0..25).map(|i| i % 10).collect();
        let want: Vec<u32> = ys.iter().map(|&y| u32::from(y)).collect();
        let raw = idx(IDX_LABELS, &[25], &ys);
        assert_eq!(read_labels(&write(dir.path(), "l", &raw)).unwrap(), want);
        assert_eq!(
            read_labels(&write(dir.path(), "l.gz", &gzip(&raw))).unwrap(),
            want
        );
        let i8s: Vec<u8> = want
            .iter()
            .flat_map(|&y| i64::from(y).to_le_bytes())
            .collect();
        let f8s: Vec<u8> = want
            .iter()
            .flat_map(|&y| f64::from(y).to_le_bytes())
            .collect();
        for (name, bytes) in [
            ("u1.npy", npy("|u1", "25,", false, &ys)),
            ("i8.npy", npy("<i8", "25,", false, &i8s)),
            ("f8.npy", npy("<f8", "25,", false, &f8s)),
        ] {
            assert_eq!(
                read_labels(&write(dir.path(), name, &bytes)).unwrap(),
                want,
                "{name}"
            );
        }
        // 999 is allowed.
        let big = f32s([999.0, 0.0]);
        assert_eq!(
            read_labels(&write(
                dir.path(),
                "big.npy",
                &npy("<f4", "2,", false, &big)
            ))
            .unwrap(),
            [999, 0]
        );
    }

    #[test]
    fn wrong_magic_and_swapped_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let csv = write(dir.path(), "x.csv", b"x,y\n1,2\n");
        let e = err(read_images(&csv, None));
        assert_eq!(e.place.as_deref(), Some("header"));
        assert!(
            e.message.contains("2051") && e.message.contains("NumPy"),
            "{e}"
        );
        assert!(
            e.message
                .contains(&u32::from_be_bytes(*b"x,y\n").to_string()),
            "{e}"
        );
        let e = err(read_labels(&csv));
        assert!(e.message.contains("2049"), "{e}");

        // A labels file given as images, and the reverse.
        let labels = write(dir.path(), "labels", &idx(IDX_LABELS, &[25], &[1; 25]));
        let e = err(read_images(&labels, None));
        assert!(e.message.contains("looks like an IDX labels file"), "{e}");
        assert!(e.message.contains("2051"), "{e}");
        let images = write(
            dir.path(),
            "images",
            &idx(IDX_IMAGES, &[20, 2, 2], &[1; 80]),
        );
        let e = err(read_labels(&images));
        assert!(e.message.contains("looks like an IDX images file"), "{e}");
        let npy_labels = write(dir.path(), "y.npy", &npy("|u1", "25,", false, &[1; 25]));
        let e = err(read_images(&npy_labels, None));
        assert!(e.message.contains("looks like a labels file"), "{e}");
        let npy_images = write(
            dir.path(),
            "x.npy",
            &npy("|u1", "20, 2, 2", false, &[1; 80]),
        );
        let e = err(read_labels(&npy_images));
        assert!(e.message.contains("looks like an images file"), "{e}");

        // An IDX type other than unsigned bytes.
        let floats = write(dir.path(), "f", &idx(0x0000_0D03, &[20, 2, 2], &[0; 320]));
        let e = err(read_images(&floats, None));
        assert!(
            e.message.contains("0x0d") && e.message.contains("32-bit floats"),
            "{e}"
        );
        // Unsupported NPY dtype, Fortran order, a 2-D table.
        let e = err(read_images(
            &write(
                dir.path(),
                "b.npy",
                &npy(">f4", "20, 2, 2", false, &[0; 320]),
            ),
            None,
        ));
        assert_eq!(e.place.as_deref(), Some("descr"));
        assert!(e.message.contains("big-endian"), "{e}");
        let e = err(read_images(
            &write(dir.path(), "f.npy", &npy("|u1", "20, 2, 2", true, &[0; 80])),
            None,
        ));
        assert_eq!(e.place.as_deref(), Some("fortran_order"));
        let e = err(read_images(
            &write(dir.path(), "t.npy", &npy("|u1", "20, 4", false, &[0; 80])),
            None,
        ));
        assert!(e.message.contains("3-D"), "{e}");
    }

    #[test]
    fn sizes_that_do_not_match_the_header_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let good = idx(IDX_IMAGES, &[20, 2, 2], &[7; 80]);
        let short = write(dir.path(), "short", &good[..good.len() - 1]);
        let e = err(read_images(&short, None));
        assert!(
            e.message.contains("truncated")
                && e.message.contains("needs 96 bytes")
                && e.message.contains("has 95"),
            "{e}"
        );
        let e = err(read_images(
            &write(dir.path(), "short.gz", &gzip(&good[..50])),
            None,
        ));
        assert!(
            e.message.contains("truncated") && e.message.contains("after decompression"),
            "{e}"
        );
        let mut long = good.clone();
        long.push(0);
        let e = err(read_images(&write(dir.path(), "long", &long), None));
        assert!(
            e.message.contains("too long") && e.message.contains("has 97"),
            "{e}"
        );
        let e = err(read_images(&write(dir.path(), "hdr", &good[..9]), None));
        assert!(e.message.contains("header is truncated"), "{e}");
        let e = err(read_labels(&write(
            dir.path(),
            "ls",
            &idx(IDX_LABELS, &[25], &[1; 24]),
        )));
        assert!(e.message.contains("truncated"), "{e}");

        let e = err(read_images(
            &write(
                dir.path(),
                "t.npy",
                &npy("<f4", "20, 2, 2", false, &[0; 319]),
            ),
            None,
        ));
        assert!(
            e.message.contains("truncated")
                && e.message.contains("needs 320 bytes")
                && e.message.contains("has 319"),
            "{e}"
        );
        let e = err(read_images(
            &write(
                dir.path(),
                "l.npy",
                &npy("|u1", "20, 2, 2", false, &[0; 81]),
            ),
            None,
        ));
        assert!(e.message.contains("too long"), "{e}");

        // Too few images, a zero dimension.
        let e = err(read_images(
            &write(dir.path(), "few", &idx(IDX_IMAGES, &[19, 2, 2], &[0; 76])),
            None,
        ));
        assert!(e.message.contains("19 images is too few"), "{e}");
        let e = err(read_images(
            &write(
                dir.path(),
                "few.npy",
                &npy("|u1", "19, 2, 2", false, &[0; 76]),
            ),
            None,
        ));
        assert!(e.message.contains("19 images is too few"), "{e}");
        let e = err(read_images(
            &write(dir.path(), "zero", &idx(IDX_IMAGES, &[20, 0, 2], &[])),
            None,
        ));
        assert!(e.message.contains("dimension 1 is 0"), "{e}");
        let e = err(read_images(
            &write(dir.path(), "zero.npy", &npy("|u1", "20, 0, 2", false, &[])),
            None,
        ));
        assert!(e.message.contains("size 0"), "{e}");
    }

    #[test]
    fn pixels_and_labels_out_of_range_name_their_place() {
        let dir = tempfile::tempdir().unwrap();
        // A pixel of 300: image 3, pixel 7 of 2 × 5.
        let mut v: Vec<i16> = vec![10; 20 * 10];
        v[3 * 10 + 7] = 300;
        v[5 * 10] = -1; // later: not the one reported
        let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        let e = err(read_images(
            &write(dir.path(), "i2.npy", &npy("<i2", "20, 2, 5", false, &bytes)),
            None,
        ));
        assert_eq!(e.place.as_deref(), Some("image 3, pixel 7"), "{e}");
        assert!(
            e.message.contains("300") && e.message.contains("row 1, column 2"),
            "{e}"
        );
        assert!(
            e.message.contains("0 to 255") && e.message.contains("[0, 1]"),
            "{e}"
        );

        // A negative float, in a channels-last file: image 2, the file's pixel 4 is
        // row 0, column 1, channel 1.
        let mut f = vec![0.5_f32; 20 * 2 * 2 * 3];
        f[2 * 12 + 4] = -0.25;
        let e = err(read_images(
            &write(
                dir.path(),
                "neg.npy",
                &npy("<f4", "20, 2, 2, 3", false, &f32s(f)),
            ),
            None,
        ));
        assert_eq!(e.place.as_deref(), Some("image 2, pixel 4"), "{e}");
        assert!(
            e.message.contains("-0.25") && e.message.contains("channel 1, row 0, column 1"),
            "{e}"
        );
        // Above 255 and NaN.
        for (bad, shown) in [
            (255.5_f32, "255.5"),
            (f32::NAN, "NaN"),
            (f32::INFINITY, "inf"),
        ] {
            let mut f = vec![0.5_f32; 80];
            f[41] = bad;
            let e = err(read_images(
                &write(
                    dir.path(),
                    "bad.npy",
                    &npy("<f4", "20, 2, 2", false, &f32s(f)),
                ),
                None,
            ));
            assert_eq!(e.place.as_deref(), Some("image 10, pixel 1"), "{e}");
            assert!(e.message.contains(shown), "{e}");
        }
        // Floats in [0, 255] above 1 are divided by 255; those in [0, 1] are kept.
        let mut f = vec![0.5_f32; 80];
        f[0] = 255.0;
        let im = read_images(
            &write(
                dir.path(),
                "big.npy",
                &npy("<f4", "20, 2, 2", false, &f32s(f)),
            ),
            None,
        )
        .unwrap();
        assert_eq!((im.pixels[0], im.pixels[1]), (1.0, 0.5 / 255.0));
        let im = read_images(
            &write(
                dir.path(),
                "unit.npy",
                &npy("<f4", "20, 2, 2", false, &f32s(vec![0.5; 80])),
            ),
            None,
        )
        .unwrap();
        assert!(im.pixels.iter().all(|&p| p == 0.5));

        // A label of 1.5 (index 4), of 1000, of -1.
        let mut ys = [1.0_f64; 25];
        ys[4] = 1.5;
        let bytes: Vec<u8> = ys.iter().flat_map(|y| y.to_le_bytes()).collect();
        let e = err(read_labels(&write(
            dir.path(),
            "y.npy",
            &npy("<f8", "25,", false, &bytes),
        )));
        assert_eq!(e.place.as_deref(), Some("label 4"));
        assert!(
            e.message
                .contains("1.5 is not a whole number from 0 to 999"),
            "{e}"
        );
        for bad in [1000_i32, -1] {
            let mut ys = [1_i32; 25];
            ys[7] = bad;
            let bytes: Vec<u8> = ys.iter().flat_map(|y| y.to_le_bytes()).collect();
            let e = err(read_labels(&write(
                dir.path(),
                "y.npy",
                &npy("<i4", "25,", false, &bytes),
            )));
            assert_eq!(e.place.as_deref(), Some("label 7"));
            assert!(
                e.message.contains(&format!("the label {bad} is not")),
                "{e}"
            );
        }
    }

    #[test]
    fn is_image_file_reads_the_header() {
        let dir = tempfile::tempdir().unwrap();
        let yes = [
            write(
                dir.path(),
                "3.npy",
                &npy("|u1", "20, 2, 2", false, &[0; 80]),
            ),
            write(
                dir.path(),
                "4.npy",
                &npy("<f4", "20, 1, 2, 2", false, &[0; 320]),
            ),
            write(dir.path(), "i", &idx(IDX_IMAGES, &[20, 2, 2], &[0; 80])),
            write(
                dir.path(),
                "i.gz",
                &gzip(&idx(IDX_IMAGES, &[20, 2, 2], &[0; 80])),
            ),
            // Only the header is looked at: a truncated file still says images.
            write(dir.path(), "cut", &idx(IDX_IMAGES, &[20, 2, 2], &[0; 3])),
        ];
        for p in &yes {
            assert!(is_image_file(p), "{}", p.display());
        }
        let no = [
            write(dir.path(), "2.npy", &npy("<f4", "25, 2", false, &[0; 200])),
            write(dir.path(), "1.npy", &npy("|u1", "25,", false, &[0; 25])),
            write(dir.path(), "l", &idx(IDX_LABELS, &[25], &[0; 25])),
            write(dir.path(), "x.csv", b"x,y\n1,2\n"),
            write(dir.path(), "empty", b""),
            dir.path().join("missing"),
        ];
        for p in &no {
            assert!(!is_image_file(p), "{}", p.display());
        }
    }
}

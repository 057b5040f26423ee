//! MNIST-style IDX files (unsigned bytes): the magic number, the dimensions and the
//! size they imply, checked before a byte of data is used.

use super::images::{Images, too_few};
use crate::error::DataError;
use std::path::Path;

/// IDX magic numbers: two zero bytes, the type code (0x08: unsigned bytes), the number
/// of dimensions.
pub(crate) const IDX_IMAGES: u32 = 0x0000_0803;
pub(crate) const IDX_LABELS: u32 = 0x0000_0801;
/// An IDX file whose header was checked against its size.
pub(crate) struct Idx<'a> {
    pub dims: Vec<usize>,
    pub data: &'a [u8],
}

fn idx_type_name(code: u8) -> &'static str {
    match code {
        0x08 => "unsigned bytes",
        0x09 => "signed bytes",
        0x0B => "16-bit integers",
        0x0C => "32-bit integers",
        0x0D => "32-bit floats",
        0x0E => "64-bit floats",
        _ => "not an IDX type",
    }
}

/// Checks the magic number (`want`: [`IDX_IMAGES`] or [`IDX_LABELS`]), reads the
/// dimensions and checks that the data have exactly the size they say.
pub(crate) fn parse_idx<'a>(
    path: &Path,
    bytes: &'a [u8],
    gz: bool,
    want: u32,
) -> Result<Idx<'a>, DataError> {
    let header = |msg: String| DataError::new(path, Some("header".into()), msg);
    let (what, other, other_what) = if want == IDX_IMAGES {
        ("images", IDX_LABELS, "labels")
    } else {
        ("labels", IDX_IMAGES, "images")
    };
    let Some(&[b0, b1, code, ndims]) = bytes.get(..4) else {
        return Err(header(format!(
            "the file has {} bytes, too few for an IDX {what} file (the magic number alone is 4)",
            bytes.len()
        )));
    };
    let magic = u32::from_be_bytes([b0, b1, code, ndims]);
    if magic == other {
        return Err(header(format!(
            "this looks like an IDX {other_what} file (magic number {other}), not {what}: \
             an IDX {what} file starts with {want} (0x{want:08x})"
        )));
    }
    if magic != want {
        if b0 == 0 && b1 == 0 && code != 0x08 {
            return Err(header(format!(
                "IDX data type 0x{code:02x} ({}) is not supported: only unsigned bytes (0x08)",
                idx_type_name(code)
            )));
        }
        return Err(header(format!(
            "the file starts with the magic number {magic} (0x{magic:08x}); expected {want} \
             (0x{want:08x}) for an IDX {what} file, or a NumPy .npy array \
             (an IDX {other_what} file has {other})"
        )));
    }
    let dims_end = 4 + 4 * usize::from(ndims);
    let Some(dim_bytes) = bytes.get(4..dims_end) else {
        return Err(header(format!(
            "the header is truncated: {ndims} dimensions need {dims_end} bytes, the file has {}",
            bytes.len()
        )));
    };
    let dims: Vec<usize> = dim_bytes
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();
    if let Some(k) = dims.iter().position(|&d| d == 0) {
        return Err(header(format!(
            "dimension {k} is 0: the file holds no {what}"
        )));
    }
    let shape = dims
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" × ");
    let expected = dims
        .iter()
        .try_fold(1_usize, |acc, &d| acc.checked_mul(d))
        .and_then(|count| count.checked_add(dims_end))
        .ok_or_else(|| header(format!("the dimensions {shape} are too large")))?;
    if bytes.len() != expected {
        let after = if gz { " after decompression" } else { "" };
        let how = if bytes.len() < expected {
            "truncated"
        } else {
            "too long"
        };
        return Err(DataError::new(
            path,
            None,
            format!(
                "the file is {how}: its header says {shape} {what}, which needs {expected} bytes \
                 (header and data), but it has {}{after}",
                bytes.len()
            ),
        ));
    }
    Ok(Idx {
        dims,
        data: &bytes[dims_end..],
    })
}

pub(crate) fn idx_images(path: &Path, bytes: &[u8], gz: bool) -> Result<Images, DataError> {
    let idx = parse_idx(path, bytes, gz, IDX_IMAGES)?;
    let [n, h, w] = idx.dims[..] else {
        // The magic number says 3 dimensions.
        return Err(DataError::new(
            path,
            Some("header".into()),
            "an IDX images file must have 3 dimensions",
        ));
    };
    too_few(path, n)?;
    Ok(Images {
        pixels: idx.data.iter().map(|&b| f32::from(b) / 255.0).collect(),
        n,
        c: 1,
        h,
        w,
        labels: None,
        levels: Some(256),
    })
}

/// Writes `images` (one channel; pixels in [0, 1], rounded to 8 bits) as an MNIST-format
/// IDX images file at `images_path` and, when they have labels, an IDX labels file at
/// `labels_path`; each written atomically.
///
/// # Errors
/// A file that cannot be written; images of more than one channel, or labels over 255.
pub fn write_idx(
    images: &Images,
    images_path: &Path,
    labels_path: Option<&Path>,
) -> std::io::Result<()> {
    let invalid = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, m);
    if images.c != 1 {
        return Err(invalid(format!(
            "IDX images have one channel; these have {}",
            images.c
        )));
    }
    let dim = |v: usize| {
        u32::try_from(v)
            .map(u32::to_be_bytes)
            .map_err(|_| invalid(format!("{v} does not fit an IDX dimension")))
    };
    let mut bytes = Vec::with_capacity(16 + images.pixels.len());
    bytes.extend_from_slice(&IDX_IMAGES.to_be_bytes());
    for v in [images.n, images.h, images.w] {
        bytes.extend_from_slice(&dim(v)?);
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    bytes.extend(
        images
            .pixels
            .iter()
            .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8),
    );
    crate::fs_util::write_atomic(images_path, &bytes)?;
    if let (Some(path), Some(labels)) = (labels_path, images.labels.as_deref()) {
        let mut bytes = Vec::with_capacity(8 + labels.len());
        bytes.extend_from_slice(&IDX_LABELS.to_be_bytes());
        bytes.extend_from_slice(&dim(labels.len())?);
        for &l in labels {
            bytes.push(u8::try_from(l).map_err(|_| invalid(format!("label {l} is over 255")))?);
        }
        crate::fs_util::write_atomic(path, &bytes)?;
    }
    Ok(())
}

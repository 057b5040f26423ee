//! NumPy `.npy` files, read once for tables of points and for images: the header
//! (versions 1 to 3), the little-endian element types, and the data checked against the
//! shape. Every problem names the file and the header field or the element.

use crate::error::DataError;
use std::path::Path;

/// The header of a NumPy `.npy` file: what [`header`] read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    /// The dtype as written, e.g. `<f4` or `|u1`.
    pub descr: String,
    pub fortran_order: bool,
    pub shape: Vec<usize>,
    /// The shape as written between the parentheses, e.g. `25, 2` (for messages).
    pub shape_text: String,
    /// The offset of the first byte of data.
    pub data_start: usize,
}

/// Reads the magic string, the version and the header dictionary of a NumPy `.npy` file
/// (versions 1 to 3). Needs only the bytes up to the end of the header.
///
/// # Errors
/// A missing magic string, an unsupported version, or a header that is truncated, not
/// text, or lacks `descr`, `fortran_order` or a `shape` tuple of sizes.
pub(crate) fn header(path: &Path, bytes: &[u8]) -> Result<Header, DataError> {
    let err = |place: &str, msg: String| DataError::new(path, Some(place.to_string()), msg);
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(DataError::new(
            path,
            None,
            "not a NumPy .npy file (the magic string \\x93NUMPY is missing)",
        ));
    }
    let major = bytes[6];
    let (header_len, start) = match major {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => {
            return Err(err(
                "header",
                format!("format version {v} is not supported (1 to 3)"),
            ));
        }
    };
    let end = start + header_len;
    let header = bytes
        .get(start..end)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or_else(|| err("header", "the header is truncated or not text".into()))?;
    let field = |key: &str| -> Result<&str, DataError> {
        let at = header
            .find(&format!("'{key}'"))
            .ok_or_else(|| err("header", format!("the header has no '{key}'")))?;
        let rest = &header[at + key.len() + 2..];
        let colon = rest
            .find(':')
            .ok_or_else(|| err("header", format!("'{key}' has no value")))?;
        Ok(rest[colon + 1..].trim_start())
    };
    let descr = field("descr")?;
    let descr = descr
        .strip_prefix('\'')
        .and_then(|d| d.split('\'').next())
        .ok_or_else(|| err("header", "'descr' is not a string".into()))?;
    let fortran_order = field("fortran_order")?.starts_with("True");
    let shape_text = field("shape")?;
    let shape_text = shape_text
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| err("header", "'shape' is not a tuple".into()))?;
    let shape: Vec<usize> = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|_| {
            err(
                "header",
                format!("'shape' ({shape_text}) is not a tuple of sizes"),
            )
        })?;
    Ok(Header {
        descr: descr.to_string(),
        fortran_order,
        shape,
        shape_text: shape_text.to_string(),
        data_start: end,
    })
}

/// The element types read from `.npy` files (all little-endian).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dtype {
    U1,
    I1,
    U2,
    I2,
    U4,
    I4,
    U8,
    I8,
    F4,
    F8,
}

impl Dtype {
    pub(crate) fn size(self) -> usize {
        match self {
            Self::U1 | Self::I1 => 1,
            Self::U2 | Self::I2 => 2,
            Self::U4 | Self::I4 | Self::F4 => 4,
            Self::U8 | Self::I8 | Self::F8 => 8,
        }
    }

    pub(crate) fn parse(path: &Path, descr: &str) -> Result<Self, DataError> {
        let err = |why: &str| {
            DataError::new(
                path,
                Some("descr".into()),
                format!(
                    "dtype '{descr}' is not supported{why} (little-endian |u1, |i1, <u2, <i2, \
                     <u4, <i4, <u8, <i8, <f4 or <f8)"
                ),
            )
        };
        let (order, code) = descr.split_at_checked(1).ok_or_else(|| err(""))?;
        let dtype = match code {
            "u1" => Self::U1,
            "i1" => Self::I1,
            "u2" => Self::U2,
            "i2" => Self::I2,
            "u4" => Self::U4,
            "i4" => Self::I4,
            "u8" => Self::U8,
            "i8" => Self::I8,
            "f4" => Self::F4,
            "f8" => Self::F8,
            _ => return Err(err("")),
        };
        match order {
            "<" | "=" => Ok(dtype),
            "|" | ">" if dtype.size() == 1 => Ok(dtype),
            ">" => Err(err(": it is big-endian")),
            _ => Err(err("")),
        }
    }

    /// One element (`b` holds exactly [`Self::size`] bytes).
    pub(crate) fn decode(self, b: &[u8]) -> Num {
        match self {
            Self::U1 => Num::Int(i128::from(b[0])),
            Self::I1 => Num::Int(i128::from(i8::from_le_bytes([b[0]]))),
            Self::U2 => Num::Int(i128::from(u16::from_le_bytes(le(b)))),
            Self::I2 => Num::Int(i128::from(i16::from_le_bytes(le(b)))),
            Self::U4 => Num::Int(i128::from(u32::from_le_bytes(le(b)))),
            Self::I4 => Num::Int(i128::from(i32::from_le_bytes(le(b)))),
            Self::U8 => Num::Int(i128::from(u64::from_le_bytes(le(b)))),
            Self::I8 => Num::Int(i128::from(i64::from_le_bytes(le(b)))),
            Self::F4 => Num::Float(f64::from(f32::from_le_bytes(le(b)))),
            Self::F8 => Num::Float(f64::from_le_bytes(le(b))),
        }
    }
}

/// The first `N` bytes of `b` as an array.
fn le<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut a = [0; N];
    a.copy_from_slice(&b[..N]);
    a
}

/// A float element as the file wrote it (a float32 without float64 digits).
pub(crate) fn show(dtype: Dtype, v: f64) -> String {
    if dtype == Dtype::F4 {
        #[allow(clippy::cast_possible_truncation)]
        let x = v as f32;
        x.to_string()
    } else {
        v.to_string()
    }
}

/// An element of an `.npy` array.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Num {
    Int(i128),
    Float(f64),
}

/// The header, its dtype and the data, checked to be exactly `count` elements.
pub(crate) fn npy_data<'a>(
    path: &Path,
    bytes: &'a [u8],
    header: &Header,
    dtype: Dtype,
) -> Result<&'a [u8], DataError> {
    let data = bytes.get(header.data_start..).unwrap_or_default();
    let shape = &header.shape_text;
    let need = header
        .shape
        .iter()
        .try_fold(dtype.size(), |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| {
            DataError::new(
                path,
                Some("shape".into()),
                format!("the shape ({shape}) is too large"),
            )
        })?;
    if data.len() != need {
        let how = if data.len() < need {
            "truncated"
        } else {
            "too long"
        };
        return Err(DataError::new(
            path,
            None,
            format!(
                "the file is {how}: shape ({shape}) of '{}' needs {need} bytes of data after \
                 the header, it has {}",
                header.descr,
                data.len()
            ),
        ));
    }
    Ok(data)
}

/// A NumPy `.npy` array of shape `(n, d)` as a table of points (`(n,)` is refused): any
/// element type [`Dtype`] reads (integers are converted), C or Fortran order, every
/// value a finite 32-bit number.
///
/// # Errors
/// The header's, the dtype's and the size's errors of this module; a value that is not a
/// finite 32-bit number, naming its row and column.
pub(crate) fn table(path: &Path, bytes: &[u8]) -> Result<(Vec<f32>, usize), DataError> {
    let header = header(path, bytes)?;
    let [n, d] = header.shape[..] else {
        return Err(DataError::new(
            path,
            Some("shape".into()),
            format!(
                "the array has shape ({}); it must be 2-D: (points, columns)",
                header.shape_text
            ),
        ));
    };
    let dtype = Dtype::parse(path, &header.descr)?;
    let data = npy_data(path, bytes, &header, dtype)?;
    let mut values = vec![0.0_f32; n * d];
    for (k, chunk) in data.chunks_exact(dtype.size()).enumerate() {
        // C order: k = row·d + col; Fortran order: k = col·n + row.
        let (row, col) = if header.fortran_order {
            (k % n, k / n)
        } else {
            (k / d, k % d)
        };
        #[allow(clippy::cast_precision_loss)]
        let v = match dtype.decode(chunk) {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        };
        #[allow(clippy::cast_possible_truncation)]
        let x = v as f32;
        if !x.is_finite() {
            return Err(DataError::new(
                path,
                Some(format!("row {row}, column {col}")),
                format!("{} is not a finite 32-bit number", show(dtype, v)),
            ));
        }
        values[row * d + col] = x;
    }
    Ok((values, d))
}

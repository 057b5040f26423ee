//! Points from the user's own files: CSV (or other delimited text) and NumPy `.npy`.
//! Every problem is reported with the file and the place in it (line and column, or the
//! header field), and nothing is half-read: a file either gives all its points or an
//! error.

use crate::error::DataError;
use std::path::Path;

/// The fewest points a file must hold (training and held-out split together).
pub const MIN_POINTS: usize = 20;

/// A table read from a file: row-major `rows × dim` points and, when asked for, a class
/// label per row.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub points: Vec<f32>,
    pub dim: usize,
    pub labels: Option<Vec<u32>>,
}

/// Reads the points of a CSV or NPY file (chosen by the extension `.npy`) as a row-major
/// `n × d` array. `columns` picks columns of the table (in that order); without it every
/// column is a feature.
///
/// # Errors
/// The I/O error, or what is wrong and where (line and column, header field).
pub fn read_points(path: &Path, columns: Option<&[usize]>) -> Result<Vec<f32>, DataError> {
    read_table(path, columns, None).map(|t| t.points)
}

/// As [`read_points`], with class labels from column `label_column` when given: whole
/// numbers from 0 (the classes are 0 to the largest label). Without `columns`, every
/// column that is not the labels is a feature.
///
/// # Errors
/// As [`read_points`]; or a label that is not a whole number from 0 to 999, naming its
/// line (row in an NPY file).
pub fn read_table(
    path: &Path,
    columns: Option<&[usize]>,
    label_column: Option<usize>,
) -> Result<Table, DataError> {
    let bytes =
        std::fs::read(path).map_err(|e| DataError::new(path, None, format!("cannot read: {e}")))?;
    let is_npy = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
    let (values, width, lines) = if is_npy {
        let (v, w) = super::npy::table(path, &bytes)?;
        (v, w, Vec::new())
    } else {
        parse_delimited(path, &bytes)?
    };
    let rows = values.len() / width.max(1);
    let outside = |c: usize, what: &str| {
        DataError::new(
            path,
            None,
            format!("{what} asks for column {c}, but the table has {width} (numbered from 0)"),
        )
    };
    if let Some(l) = label_column
        && l >= width
    {
        return Err(outside(l, "data.labels"));
    }
    let chosen: Vec<usize> = match columns {
        Some(cols) => {
            for &c in cols {
                if c >= width {
                    return Err(outside(c, "data.columns"));
                }
                if Some(c) == label_column {
                    return Err(DataError::new(
                        path,
                        None,
                        format!(
                            "column {c} is both a feature (data.columns) and the labels (data.labels)"
                        ),
                    ));
                }
            }
            cols.to_vec()
        }
        None => (0..width).filter(|c| Some(*c) != label_column).collect(),
    };
    if chosen.is_empty() {
        return Err(DataError::new(
            path,
            None,
            "the table has no column left for the points (only the labels)",
        ));
    }
    if rows < MIN_POINTS {
        return Err(DataError::new(
            path,
            None,
            format!("{rows} points is too few (at least {MIN_POINTS})"),
        ));
    }
    let mut out = Vec::with_capacity(chosen.len() * rows);
    for r in values.chunks_exact(width) {
        out.extend(chosen.iter().map(|&c| r[c]));
    }
    let labels = match label_column {
        None => None,
        Some(l) => {
            let mut ys = Vec::with_capacity(rows);
            for (i, r) in values.chunks_exact(width).enumerate() {
                let v = r[l];
                if v.fract() != 0.0 || !(0.0..1000.0).contains(&v) {
                    let place = lines.get(i).map_or_else(
                        || format!("row {i}, column {l}"),
                        |line| format!("line {line}, column {}", l + 1),
                    );
                    return Err(DataError::new(
                        path,
                        Some(place),
                        format!("the label {v} is not a whole number from 0 to 999"),
                    ));
                }
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                ys.push(v as u32);
            }
            Some(ys)
        }
    };
    Ok(Table {
        points: out,
        dim: chosen.len(),
        labels,
    })
}

/// The column of a delimited text file whose header names it as class labels (`label`,
/// `labels`, `class` or `target`, in any case, quoted or not; not `y`, which is as often
/// a coordinate), if the file has a header and one such column. Reads the first line
/// only.
#[must_use]
pub fn label_column(path: &Path) -> Option<usize> {
    use std::io::BufRead as _;
    let f = std::fs::File::open(path).ok()?;
    let line = std::io::BufReader::new(f)
        .lines()
        .take(100)
        .map_while(Result::ok)
        .map(|l| l.trim().to_string())
        .find(|l| !l.is_empty() && !l.starts_with('#'))?;
    let fields = split_fields(&line);
    if fields.iter().any(|f| f.parse::<f64>().is_ok()) {
        return None;
    }
    let named: Vec<usize> = fields
        .iter()
        .enumerate()
        .filter(|(_, f)| {
            let name = f
                .trim_matches(|c| c == '"' || c == '\'')
                .to_ascii_lowercase();
            matches!(name.as_str(), "label" | "labels" | "class" | "target")
        })
        .map(|(i, _)| i)
        .collect();
    match named[..] {
        [one] if fields.len() > 1 => Some(one),
        _ => None,
    }
}

/// Delimited text: commas, semicolons, tabs or spaces between fields; an optional
/// header line of names; blank lines and lines starting with `#` are skipped.
/// Returns the values, the number of columns and the line of each row.
fn parse_delimited(path: &Path, bytes: &[u8]) -> Result<(Vec<f32>, usize, Vec<usize>), DataError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        DataError::new(
            path,
            None,
            format!(
                "not a text file (invalid UTF-8 at byte {}); a NumPy array needs the extension .npy",
                e.valid_up_to()
            ),
        )
    })?;
    let mut values = Vec::new();
    let mut lines = Vec::new();
    let mut width: Option<(usize, usize)> = None; // (columns, line that set them)
    let mut first = true;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields = split_fields(line);
        let parsed: Vec<Result<f32, String>> = fields.iter().map(|f| parse_value(f)).collect();
        if first {
            first = false;
            if parsed.iter().any(Result::is_err) && fields.iter().all(|f| f.parse::<f64>().is_err())
            {
                // A header of column names.
                width = Some((fields.len(), line_no));
                continue;
            }
        }
        match width {
            Some((w, at)) if w != fields.len() => {
                return Err(DataError::new(
                    path,
                    Some(format!("line {line_no}")),
                    format!(
                        "{}, but line {at} has {w}",
                        match fields.len() {
                            1 => "1 field".to_string(),
                            n => format!("{n} fields"),
                        }
                    ),
                ));
            }
            None => width = Some((fields.len(), line_no)),
            _ => {}
        }
        lines.push(line_no);
        for (c, (v, f)) in parsed.into_iter().zip(&fields).enumerate() {
            let v = v.map_err(|why| {
                DataError::new(
                    path,
                    Some(format!("line {line_no}, column {}", c + 1)),
                    format!("`{f}` {why}"),
                )
            })?;
            values.push(v);
        }
    }
    match width {
        Some((w, _)) if !values.is_empty() => Ok((values, w, lines)),
        _ => Err(DataError::new(
            path,
            None,
            "the file holds no rows of numbers",
        )),
    }
}

fn split_fields(line: &str) -> Vec<&str> {
    let parts: Vec<&str> = if line.contains(',') {
        line.split(',').collect()
    } else if line.contains(';') {
        line.split(';').collect()
    } else if line.contains('\t') {
        line.split('\t').collect()
    } else {
        line.split_whitespace().collect()
    };
    parts
        .into_iter()
        .map(|f| f.trim().trim_matches('"'))
        .collect()
}

fn parse_value(f: &str) -> Result<f32, String> {
    let v: f64 = f.parse().map_err(|_| "is not a number".to_string())?;
    if !v.is_finite() {
        return Err("is not a finite number".into());
    }
    #[allow(clippy::cast_possible_truncation)]
    let x = v as f32;
    if x.is_finite() {
        Ok(x)
    } else {
        Err("is too large for a 32-bit float".into())
    }
}

//! The 8×8 handwritten digits bundled with the program (the scikit-learn copy of the
//! UCI test split), decoded from the compressed CSV compiled in.

use super::images::Images;
use flate2::read::GzDecoder;
use std::io::Read as _;

/// The scikit-learn copy of the UCI test split: 1 797 lines of 64 pixels (0–16) and a
/// label (see assets/digits/README.md).
const DIGITS_CSV_GZ: &[u8] = include_bytes!("../../assets/digits/digits.csv.gz");

/// The 1 797 bundled digits (1×8×8, values 0–16 divided by 16, labels 0–9), decoded from
/// `include_bytes!("../../assets/digits/digits.csv.gz")`.
#[must_use]
pub fn digits() -> Images {
    match parse_digits(DIGITS_CSV_GZ) {
        Ok(images) => images,
        // The file is compiled into the program and the unit tests decode it: failing
        // here means a broken build, not a bad input.
        Err(e) => unreachable!("the bundled digits do not decode: {e}"),
    }
}

/// Gzip-compressed lines of 64 comma-separated pixels (0–16) and a label (0–9).
pub(crate) fn parse_digits(gz: &[u8]) -> Result<Images, String> {
    let mut text = String::new();
    GzDecoder::new(gz)
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())?;
    let mut pixels = Vec::with_capacity(1797 * 64);
    let mut labels = Vec::with_capacity(1797);
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<u8> = line
            .split(',')
            .map(|f| f.trim().parse::<u8>())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("line {}: {e}", i + 1))?;
        let [px @ .., label] = &fields[..] else {
            return Err(format!("line {}: empty", i + 1));
        };
        if px.len() != 64 || *label > 9 || px.iter().any(|&v| v > 16) {
            return Err(format!(
                "line {}: not 64 pixels from 0 to 16 and a label from 0 to 9",
                i + 1
            ));
        }
        pixels.extend(px.iter().map(|&v| f32::from(v) / 16.0));
        labels.push(u32::from(*label));
    }
    Ok(Images {
        pixels,
        n: labels.len(),
        c: 1,
        h: 8,
        w: 8,
        labels: Some(labels),
        levels: Some(17),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_decode_to_1797_labelled_8x8_images() {
        let d = digits();
        assert_eq!((d.n, d.c, d.h, d.w), (1797, 1, 8, 8));
        assert_eq!(d.pixels.len(), 1797 * 64);
        assert_eq!(d.levels, Some(17));
        let labels = d.labels.as_ref().unwrap();
        assert_eq!(labels.len(), 1797);
        let mut counts = [0_usize; 10];
        for &y in labels {
            counts[usize::try_from(y).unwrap()] += 1;
        }
        // The class counts of the UCI test split.
        assert_eq!(counts, [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
        for &p in &d.pixels {
            assert!((0.0..=1.0).contains(&p), "{p}");
            assert_eq!((p * 16.0).fract(), 0.0, "{p} is not a multiple of 1/16");
        }
        assert!(d.pixels.contains(&1.0) && d.pixels.contains(&0.0));
        // The file's first line, read independently of the decoder: its 64 pixels are the
        // first image, row by row, and its last field the first label.
        let mut text = String::new();
        GzDecoder::new(DIGITS_CSV_GZ)
            .read_to_string(&mut text)
            .unwrap();
        let first: Vec<f32> = text
            .lines()
            .next()
            .unwrap()
            .split(',')
            .map(|f| f.parse::<f32>().unwrap())
            .collect();
        assert_eq!(first.len(), 65);
        let want: Vec<f32> = first[..64].iter().map(|v| v / 16.0).collect();
        assert_eq!(&d.pixels[..64], &want[..]);
        assert_eq!(labels[0], 0);
        // And the literal first row (a zero) and last label (an eight) of the file.
        let row0 = [0.0, 0.0, 5.0, 13.0, 9.0, 1.0, 0.0, 0.0].map(|v: f32| v / 16.0);
        assert_eq!(&d.pixels[..8], &row0);
        assert_eq!(labels[1796], 8);
    }
}

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

/// An MNIST-shaped set made from the bundled digits: `n` images of `size`×`size` (1
/// channel, 256 grey levels, labels 0–9), each a bundled digit (cycling through the
/// 1 797) scaled up bilinearly (corners aligned: output pixel i reads the source at
/// i·7/(size−1)), rounded to 8 bits, and, past the first 1 797, shifted by up to two
/// pixels each way (zeros shifted in), the shift drawn from `seed`. For benchmarks and
/// tests that need 28×28 data without a download; `n = 1797, size = 28` is exactly the
/// digits scaled up, which the JAX peer (bench/peer_digits_jax.py) computes the same way.
#[must_use]
pub fn digits_scaled(n: usize, size: usize, seed: u64) -> Images {
    use rand::{Rng as _, SeedableRng as _};
    let src = digits();
    let labels_src = src.labels.as_deref().unwrap_or_default();
    let scaled = scale_up(&src.pixels, src.n, 8, size);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let plane = size * size;
    let mut pixels = vec![0.0_f32; n * plane];
    let mut labels = Vec::with_capacity(n);
    for (i, out) in pixels.chunks_exact_mut(plane).enumerate() {
        let j = i % src.n;
        labels.push(labels_src.get(j).copied().unwrap_or(0));
        let img = &scaled[j * plane..(j + 1) * plane];
        let (dy, dx): (isize, isize) = if i < src.n {
            (0, 0)
        } else {
            let mut shift = || isize::from(rng.random_range(-2_i8..=2));
            (shift(), shift())
        };
        for y in 0..size {
            for x in 0..size {
                #[allow(clippy::cast_possible_wrap, clippy::cast_sign_loss)]
                let (sy, sx) = (y as isize - dy, x as isize - dx);
                #[allow(clippy::cast_possible_wrap, clippy::cast_sign_loss)]
                if (0..size as isize).contains(&sy) && (0..size as isize).contains(&sx) {
                    out[y * size + x] = img[sy as usize * size + sx as usize];
                }
            }
        }
    }
    Images {
        pixels,
        n,
        c: 1,
        h: size,
        w: size,
        labels: Some(labels),
        levels: Some(256),
    }
}

/// `n` square images of side `from` scaled up bilinearly to side `to` (corners
/// aligned), rounded to multiples of 1/255.
fn scale_up(pixels: &[f32], n: usize, from: usize, to: usize) -> Vec<f32> {
    #[allow(clippy::cast_precision_loss)]
    let ratio = (from - 1) as f32 / (to.max(2) - 1) as f32;
    // For each output coordinate: the source index below it and the weight of the one
    // above.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let taps: Vec<(usize, f32)> = (0..to)
        .map(|i| {
            let s = i as f32 * ratio;
            let lo = (s.floor() as usize).min(from - 2);
            (lo, s - lo as f32)
        })
        .collect();
    let mut out = Vec::with_capacity(n * to * to);
    for img in pixels.chunks_exact(from * from).take(n) {
        for &(y0, fy) in &taps {
            for &(x0, fx) in &taps {
                let at = |y: usize, x: usize| img[y * from + x];
                let top = at(y0, x0) * (1.0 - fx) + at(y0, x0 + 1) * fx;
                let bottom = at(y0 + 1, x0) * (1.0 - fx) + at(y0 + 1, x0 + 1) * fx;
                let v = top * (1.0 - fy) + bottom * fy;
                out.push((v * 255.0).round() / 255.0);
            }
        }
    }
    out
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

    /// The scaling against its closed form: from 8 to 15 pixels the source step is half
    /// an output step, so even outputs are source pixels and odd ones the mean of two
    /// neighbours (rows and columns alike), to within the 8-bit rounding; past the first
    /// 1 797 images, each is a shifted copy with zeros shifted in.
    #[test]
    fn digits_scale_up_bilinearly_with_corners_aligned() {
        let src = digits();
        let up = digits_scaled(1797 + 40, 15, 3);
        assert_eq!((up.n, up.h, up.w), (1797 + 40, 15, 15));
        let at = |img: &[f32], w: usize, y: usize, x: usize| img[y * w + x];
        for i in [0, 7, 1796] {
            let s = &src.pixels[i * 64..(i + 1) * 64];
            let u = &up.pixels[i * 225..(i + 1) * 225];
            for y in 0..15_usize {
                for x in 0..15_usize {
                    let (y0, y1) = (y / 2, y.div_ceil(2));
                    let (x0, x1) = (x / 2, x.div_ceil(2));
                    let want =
                        (at(s, 8, y0, x0) + at(s, 8, y0, x1) + at(s, 8, y1, x0) + at(s, 8, y1, x1))
                            / 4.0;
                    let got = at(u, 15, y, x);
                    assert!(
                        (got - want).abs() <= 0.5 / 255.0 + 1e-6,
                        "image {i} ({y}, {x}): {got} against {want}"
                    );
                }
            }
        }
        let labels = up.labels.as_deref().unwrap_or_default();
        let base = &up.pixels[..1797 * 225];
        for i in 1797..up.n {
            let j = i - 1797;
            assert_eq!(labels[i], labels[j]);
            let img = &up.pixels[i * 225..(i + 1) * 225];
            let orig = &base[j * 225..(j + 1) * 225];
            // Some shift of at most two pixels each way maps the original onto it.
            let fits = (-2_isize..=2).any(|dy| {
                (-2_isize..=2).any(|dx| {
                    (0..15_isize).all(|y| {
                        (0..15_isize).all(|x| {
                            let (sy, sx) = (y - dy, x - dx);
                            let want = if (0..15).contains(&sy) && (0..15).contains(&sx) {
                                orig[(sy * 15 + sx) as usize]
                            } else {
                                0.0
                            };
                            img[(y * 15 + x) as usize] == want
                        })
                    })
                })
            });
            assert!(fits, "image {i} is not a shift of image {j}");
        }
    }
}

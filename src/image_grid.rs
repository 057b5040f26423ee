//! Rows of images as one picture: the window's image views, the PNG it exports, and the
//! grids `eval --long-run` writes. Images are row-major C×H×W with pixels in a known
//! range; one channel is drawn grey, three as RGB (others: the first channel, grey).

/// An RGB picture, row-major, 3 bytes a pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picture {
    pub width: usize,
    pub height: usize,
    pub rgb: Vec<u8>,
}

/// The colour between tiles.
const GAP: [u8; 3] = [40, 40, 48];

impl Picture {
    /// A picture of one colour.
    #[must_use]
    pub fn filled(width: usize, height: usize, c: [u8; 3]) -> Self {
        Self {
            width,
            height,
            rgb: c.repeat(width * height),
        }
    }

    /// Copies `other` with its top-left corner at (x, y) (clipped).
    pub fn paste(&mut self, other: &Self, x: usize, y: usize) {
        for r in 0..other.height.min(self.height.saturating_sub(y)) {
            let n = other.width.min(self.width.saturating_sub(x)) * 3;
            let dst = ((y + r) * self.width + x) * 3;
            let src = r * other.width * 3;
            self.rgb[dst..dst + n].copy_from_slice(&other.rgb[src..src + n]);
        }
    }

    /// The picture as PNG bytes.
    ///
    /// # Errors
    /// An encoding error, as text.
    pub fn png(&self) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        let w = u32::try_from(self.width).map_err(|e| e.to_string())?;
        let h = u32::try_from(self.height).map_err(|e| e.to_string())?;
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(|e| e.to_string())?;
        writer
            .write_image_data(&self.rgb)
            .map_err(|e| e.to_string())?;
        writer.finish().map_err(|e| e.to_string())?;
        Ok(out)
    }
}

/// `images` (row-major C×H×W each, `shape` = [C, H, W]) in rows of `cols`, each pixel
/// `scale`×`scale`, one gap pixel between tiles and around them. Pixels map linearly
/// from `range` to black..white, clamped.
#[must_use]
pub fn grid(
    images: &[f32],
    shape: [usize; 3],
    range: (f32, f32),
    cols: usize,
    scale: usize,
) -> Picture {
    let [c, h, w] = shape;
    let d = (c * h * w).max(1);
    let n = images.len() / d;
    let cols = cols.max(1).min(n.max(1));
    let rows = n.div_ceil(cols).max(1);
    let s = scale.max(1);
    let (tw, th) = (w * s, h * s);
    let mut pic = Picture::filled(cols * (tw + 1) + 1, rows * (th + 1) + 1, GAP);
    let (lo, hi) = range;
    let span = (hi - lo).max(1e-12);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let byte = |v: f32| (((v - lo) / span).clamp(0.0, 1.0) * 255.0).round() as u8;
    for (k, img) in images.chunks_exact(d).enumerate() {
        let (x0, y0) = (1 + (k % cols) * (tw + 1), 1 + (k / cols) * (th + 1));
        for y in 0..th {
            for x in 0..tw {
                let p = (y / s) * w + x / s;
                let px = if c == 3 {
                    [byte(img[p]), byte(img[h * w + p]), byte(img[2 * h * w + p])]
                } else {
                    let g = byte(img[p]);
                    [g, g, g]
                };
                let at = ((y0 + y) * pic.width + x0 + x) * 3;
                pic.rgb[at..at + 3].copy_from_slice(&px);
            }
        }
    }
    pic
}

/// Pictures side by side (tops aligned), `gap` pixels apart.
#[must_use]
pub fn side_by_side(parts: &[Picture], gap: usize) -> Picture {
    let width = parts.iter().map(|p| p.width).sum::<usize>() + gap * parts.len().saturating_sub(1);
    let height = parts.iter().map(|p| p.height).max().unwrap_or(0);
    let mut out = Picture::filled(width, height, [20, 20, 24]);
    let mut x = 0;
    for p in parts {
        out.paste(p, x, 0);
        x += p.width + gap;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_land_where_they_belong_and_pixels_map_from_the_range() {
        // Three 1×2×2 images in [−1, 1], two a row, scale 2.
        let imgs = [
            -1.0, 1.0, 0.0, 1.0, // image 0
            1.0, 1.0, 1.0, 1.0, // image 1
            -1.0, -1.0, -1.0, 2.0, // image 2 (2 clamps to white)
        ];
        let p = grid(&imgs, [1, 2, 2], (-1.0, 1.0), 2, 2);
        assert_eq!((p.width, p.height), (2 * 5 + 1, 2 * 5 + 1));
        let at = |x: usize, y: usize| p.rgb[(y * p.width + x) * 3];
        assert_eq!(at(0, 0), GAP[0], "the border");
        assert_eq!(at(1, 1), 0, "image 0, pixel (0, 0) is −1: black");
        assert_eq!(at(3, 1), 255, "image 0, pixel (0, 1) is 1: white");
        assert_eq!(at(1, 3), 128, "image 0, pixel (1, 0) is 0: mid grey");
        assert_eq!(
            at(6, 1),
            255,
            "image 1 starts one tile and a gap to the right"
        );
        assert_eq!(at(1, 6), 0, "image 2 starts a row below");
        assert_eq!(at(4, 9), 255, "image 2's last pixel, clamped");
        assert_eq!(at(7, 7), GAP[0], "the second slot of row 2 is empty");
        let bytes = p.png().expect("png");
        assert_eq!(&bytes[1..4], b"PNG");
    }

    #[test]
    fn three_channels_are_colour() {
        let img = [1.0, 0.0, 0.0]; // 3×1×1: red
        let p = grid(&img, [3, 1, 1], (0.0, 1.0), 1, 1);
        assert_eq!(
            &p.rgb[(p.width + 1) * 3..(p.width + 1) * 3 + 3],
            &[255, 0, 0]
        );
    }
}

//! The view as a PNG drawn without a renderer (Export view PNG where no screenshot of the
//! window can be taken).

use super::*;

/// The samples view as a PNG image (`size` pixels square): the heat map, the data, the
/// buffer, the samples and the chain paths as shown, in the window's colours (where no
/// renderer can take a screenshot of the window).
///
/// # Errors
/// A PNG encoding error, as text.
pub fn view_png(
    view: &View,
    data: &Dataset,
    opts: &SamplesOptions,
    size: u32,
) -> Result<Vec<u8>, String> {
    let Some(chains) = view.chains() else {
        return Err("an image view has no plot to draw".into());
    };
    let g = view.heat().map_or(0, |h| h.grid);
    let mut img = image::RgbaImage::new(size, size);
    if let Some(heat) = view.heat() {
        let heat = heat_image(heat, opts.heat);
        for (px, py, p) in img.enumerate_pixels_mut() {
            #[allow(clippy::cast_possible_truncation)]
            let i = ((u64::from(px) * g as u64) / u64::from(size)) as usize;
            #[allow(clippy::cast_possible_truncation)]
            let j = ((u64::from(py) * g as u64) / u64::from(size)) as usize;
            let c = heat.pixels[j.min(g - 1) * g + i.min(g - 1)];
            *p = image::Rgba([c.r(), c.g(), c.b(), 255]);
        }
    } else {
        for p in img.pixels_mut() {
            *p = image::Rgba([20, 20, 24, 255]);
        }
    }
    // The plane's data box, or outside the plane the projected points' bounding box.
    let data_pts: &[f32] = match view.projection() {
        Some(pd) => &pd.data,
        None => &data.train,
    };
    let (lo, hi) = if g > 0 {
        (data.data_box.lo.clone(), data.data_box.hi.clone())
    } else {
        let mut lo = [f32::INFINITY; 2];
        let mut hi = [f32::NEG_INFINITY; 2];
        for r in data_pts
            .chunks_exact(2)
            .chain(chains.samples.chunks_exact(2))
        {
            for j in 0..2 {
                lo[j] = lo[j].min(r[j]);
                hi[j] = hi[j].max(r[j]);
            }
        }
        let pad = (hi[0] - lo[0]).max(hi[1] - lo[1]).max(1e-3) * 0.05;
        (
            lo.iter().map(|v| v - pad).collect(),
            hi.iter().map(|v| v + pad).collect(),
        )
    };
    let mut dot = |x: f32, y: f32, c: Color32, r: i64| {
        let fx = (x - lo[0]) / (hi[0] - lo[0]);
        let fy = (hi[1] - y) / (hi[1] - lo[1]);
        #[allow(clippy::cast_possible_truncation)]
        let (cx, cy) = ((fx * size as f32) as i64, (fy * size as f32) as i64);
        for dy in -r..=r {
            for dx in -r..=r {
                let (x, y) = (cx + dx, cy + dy);
                if dx * dx + dy * dy <= r * r
                    && (0..i64::from(size)).contains(&x)
                    && (0..i64::from(size)).contains(&y)
                {
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    img.put_pixel(x as u32, y as u32, image::Rgba([c.r(), c.g(), c.b(), 255]));
                }
            }
        }
    };
    if opts.show_data {
        let n = data_pts.len() / 2;
        for r in data_pts.chunks_exact(2).step_by((n / 1500).max(1)) {
            dot(r[0], r[1], theme::DATA, 1);
        }
    }
    if opts.show_buffer
        && let Some((buf, _)) = &chains.buffer
    {
        let n = buf.len() / 2;
        for r in buf.chunks_exact(2).step_by((n / 1500).max(1)) {
            dot(r[0], r[1], theme::BUFFER, 1);
        }
    }
    if opts.show_samples {
        for r in chains.samples.chunks_exact(2) {
            dot(r[0], r[1], theme::SAMPLES, 2);
        }
    }
    if opts.show_paths
        && let Some((chains, path)) = &chains.paths
    {
        // Each chain's moves as short runs of dots.
        let chains = (*chains).max(1);
        let steps = path.len() / (2 * chains);
        for c in 0..chains.min(8) {
            for s in 1..steps {
                let (a, b) = ((s - 1) * chains + c, s * chains + c);
                let (p, q) = (&path[2 * a..2 * a + 2], &path[2 * b..2 * b + 2]);
                for k in 0..=8 {
                    #[allow(clippy::cast_precision_loss)]
                    let t = k as f32 / 8.0;
                    dot(
                        p[0] + t * (q[0] - p[0]),
                        p[1] + t * (q[1] - p[1]),
                        theme::PATH,
                        1,
                    );
                }
            }
        }
    }
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| e.to_string())?;
    Ok(out.into_inner())
}

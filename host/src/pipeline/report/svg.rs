//! Drawing one plot into an SVG string with plotters, tagged with an id and
//! class the page and its tests find it by; the shared palette and fonts.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::ReportError;

/// What a plot draws on.
pub type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// What drawing code returns.
pub type Drawn = Result<(), Box<dyn std::error::Error>>;

/// Draws `draw` on a `size` canvas; the `<svg>` gets `id` and `class`.
pub fn render(
    plot: &'static str,
    id: &str,
    class: &str,
    size: (u32, u32),
    draw: impl FnOnce(&Area) -> Drawn,
) -> Result<String, ReportError> {
    let mut buf = String::new();
    {
        let area = SVGBackend::with_string(&mut buf, size).into_drawing_area();
        draw(&area)
            .and_then(|()| Ok(area.present()?))
            .map_err(|e| ReportError::Plot {
                plot,
                message: e.to_string(),
            })?;
    }
    let attrs = format!(
        "<svg id=\"{}\" class=\"{}\" role=\"img\" ",
        super::escape(id),
        super::escape(class)
    );
    Ok(buf.replacen("<svg ", &attrs, 1))
}

/// The `i`th colour of a ten-colour palette (Tableau 10).
pub fn color(i: usize) -> RGBColor {
    const PALETTE: [(u8, u8, u8); 10] = [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
    ];
    let (r, g, b) = PALETTE[i % PALETTE.len()];
    RGBColor(r, g, b)
}

/// The report's font at `size` pixels.
pub fn font(size: u32) -> FontDesc<'static> {
    ("sans-serif", size).into_font()
}

/// A range `lo..hi` padded by 5 % (1 around a single value).
pub fn padded(lo: f64, hi: f64) -> std::ops::Range<f64> {
    if !(lo.is_finite() && hi.is_finite()) {
        return 0.0..1.0;
    }
    let pad = if hi > lo { (hi - lo) * 0.05 } else { 1.0 };
    (lo - pad)..(hi + pad)
}

/// The smallest and largest of `values` (`(0, 0)` when empty).
pub fn bounds(values: impl IntoIterator<Item = f64>) -> (f64, f64) {
    values
        .into_iter()
        .fold(None, |acc: Option<(f64, f64)>, v| {
            Some(acc.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))))
        })
        .unwrap_or((0.0, 0.0))
}

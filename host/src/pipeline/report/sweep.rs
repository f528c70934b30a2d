//! Sweep plots: a metric over one axis (a line per value of the other axes)
//! and over the first axis × the rest (a heatmap, one cell per combination),
//! the best combination marked in both and named in the text.

use std::collections::BTreeSet;
use std::fmt::Write;

use plotters::prelude::*;
use serde_json::Value;

use super::data::{Direction, ReportData};
use super::svg::{self, Area, Drawn};
use super::{ReportError, ReportOptions, html};
use crate::pipeline::results::Row;

/// Most metrics plotted, samples plotted, and lines in one plot.
const MAX_METRICS: usize = 6;
const MAX_SAMPLES: usize = 4;
const MAX_LINES: usize = 10;

/// One combination's value of a metric, placed on the axes.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub combination: String,
    /// Index into [`Grid::xs`].
    pub x: usize,
    /// Index into [`Grid::series`].
    pub series: usize,
    pub y: f64,
}

/// A metric over the sweep's axes for one sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    pub metric: String,
    /// The first axis (`stage.param`) and its values, in order.
    pub axis: String,
    pub xs: Vec<String>,
    /// The other axes' values of each line / heatmap column (`a=1, b=2`).
    pub series: Vec<String>,
    pub points: Vec<Point>,
    /// Index into `points` of the best value.
    pub best: Option<usize>,
}

/// The axes that vary, the one with the most values first.
pub fn axes(rows: &[Row]) -> Vec<String> {
    let names: BTreeSet<&String> = rows.iter().flat_map(|r| r.params.keys()).collect();
    let mut axes: Vec<(usize, String)> = names
        .into_iter()
        .map(|n| (distinct(rows, n).len(), n.clone()))
        .filter(|(count, _)| *count > 1)
        .collect();
    axes.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    axes.into_iter().map(|(_, n)| n).collect()
}

/// The distinct values of param `name`, numbers in numeric order.
fn distinct(rows: &[Row], name: &str) -> Vec<Value> {
    let mut values: Vec<Value> = Vec::new();
    for v in rows.iter().filter_map(|r| r.params.get(name)) {
        if !values.contains(v) {
            values.push(v.clone());
        }
    }
    values.sort_by(|a, b| match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        _ => text(a).cmp(&text(b)),
    });
    values
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The numeric metrics that differ between rows, those with the most
/// distinct values first (or the chosen ones, as given).
pub fn metrics(rows: &[Row], chosen: &[String]) -> Vec<String> {
    if !chosen.is_empty() {
        return chosen.to_vec();
    }
    let names: BTreeSet<&String> = rows.iter().flat_map(|r| r.metrics.keys()).collect();
    let mut varying: Vec<(usize, String)> = names
        .into_iter()
        .map(|n| {
            let mut values: Vec<f64> = rows
                .iter()
                .filter_map(|r| r.metrics.get(n)?.as_f64())
                .collect();
            values.sort_by(f64::total_cmp);
            values.dedup();
            (values.len(), n.clone())
        })
        .filter(|(count, _)| *count > 1)
        .collect();
    varying.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    varying.into_iter().map(|(_, n)| n).collect()
}

impl Grid {
    /// `metric` over `axes` (at least one) in `rows` (one sample's).
    pub fn new(rows: &[Row], axes: &[String], metric: &str, best: Direction) -> Grid {
        let axis = axes.first().cloned().unwrap_or_default();
        let xs = distinct(rows, &axis);
        let others = &axes[axes.len().min(1)..];
        let label = |r: &Row| {
            others
                .iter()
                .map(|a| format!("{a}={}", r.params.get(a).map(text).unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut series: Vec<String> = Vec::new();
        let mut points = Vec::new();
        for r in rows {
            let (Some(x), Some(y)) = (
                r.params
                    .get(&axis)
                    .and_then(|v| xs.iter().position(|x| x == v)),
                r.metrics.get(metric).and_then(Value::as_f64),
            ) else {
                continue;
            };
            let l = label(r);
            let s = series.iter().position(|s| *s == l).unwrap_or_else(|| {
                series.push(l);
                series.len() - 1
            });
            points.push(Point {
                combination: r.combination.clone(),
                x,
                series: s,
                y,
            });
        }
        let best = best_of(&points, best);
        Grid {
            metric: metric.to_owned(),
            axis,
            xs: xs.iter().map(text).collect(),
            series,
            points,
            best,
        }
    }
}

fn best_of(points: &[Point], direction: Direction) -> Option<usize> {
    let better = |a: f64, b: f64| match direction {
        Direction::Higher => a > b,
        Direction::Lower => a < b,
    };
    (0..points.len()).reduce(|best, i| {
        if better(points[i].y, points[best].y) {
            i
        } else {
            best
        }
    })
}

/// The sweep section: per sample and metric, the best combination, the lines and the heatmap.
pub fn section(data: &ReportData, options: &ReportOptions) -> Result<String, ReportError> {
    let rows = &data.rows;
    let axes = axes(rows);
    let mut out = html::note(&format!(
        "{} combination(s); axes that vary: {}.",
        data.run.combinations.len(),
        if axes.is_empty() {
            "none".to_owned()
        } else {
            axes.join(", ")
        }
    ));
    let mut metrics = metrics(rows, &options.metrics);
    if axes.is_empty() || metrics.is_empty() {
        out.push_str(&html::note(
            "Nothing to plot: no axis varies, or no numeric metric differs between combinations.",
        ));
        return Ok(out);
    }
    if metrics.len() > MAX_METRICS {
        out.push_str(&html::note(&format!(
            "Plotting the first {MAX_METRICS} of {} metrics (choose with --metric).",
            metrics.len()
        )));
        metrics.truncate(MAX_METRICS);
    }
    let samples: Vec<&str> = data.run.sample_info.iter().map(|s| s.id.as_str()).collect();
    if samples.len() > MAX_SAMPLES {
        out.push_str(&html::note(&format!(
            "Plotting the first {MAX_SAMPLES} of {} samples.",
            samples.len()
        )));
    }
    for (si, sample) in samples.iter().take(MAX_SAMPLES).enumerate() {
        let mine: Vec<Row> = rows
            .iter()
            .filter(|r| r.sample == *sample)
            .cloned()
            .collect();
        for (mi, metric) in metrics.iter().enumerate() {
            let grid = Grid::new(&mine, &axes, metric, options.best);
            out.push_str(&html::heading(&format!("{metric} — sample {sample}")));
            out.push_str(&html::note(&best_text(&grid, &mine)));
            let id = format!("sweep-{si}-{mi}");
            out.push_str(&lines(&grid, &format!("{id}-lines"))?);
            if axes.len() > 1 {
                out.push_str(&heatmap(&grid, &format!("{id}-heatmap"))?);
            }
        }
    }
    Ok(out)
}

fn best_text(grid: &Grid, rows: &[Row]) -> String {
    let Some(best) = grid.best.map(|b| &grid.points[b]) else {
        return format!("No combination reports {}.", grid.metric);
    };
    let params = rows
        .iter()
        .find(|r| r.combination == best.combination)
        .map(|r| {
            r.params
                .iter()
                .map(|(k, v)| format!("{k} = {}", text(v)))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    format!(
        "Best: combination {} ({params}) with {} = {}.",
        best.combination, grid.metric, best.y
    )
}

/// The metric over the first axis, one line per value of the others; the best point ringed.
pub fn lines(grid: &Grid, id: &str) -> Result<String, ReportError> {
    let mut out = String::new();
    if grid.series.len() > MAX_LINES {
        out = html::note(&format!(
            "Showing {MAX_LINES} of {} lines.",
            grid.series.len()
        ));
    }
    let svg = svg::render("sweep lines", id, "plot sweep-lines", (900, 420), |area| {
        draw_lines(grid, area)
    })?;
    Ok(out + &svg)
}

fn draw_lines(grid: &Grid, area: &Area) -> Drawn {
    area.fill(&WHITE)?;
    let (lo, hi) = svg::bounds(grid.points.iter().map(|p| p.y));
    let last = grid.xs.len().saturating_sub(1) as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(&grid.metric, svg::font(18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.3..last + 0.3, svg::padded(lo, hi))?;
    let xs = &grid.xs;
    chart
        .configure_mesh()
        .x_desc(&grid.axis)
        .y_desc(&grid.metric)
        .x_labels(xs.len().clamp(2, 20))
        .x_label_formatter(&|v| position_label(xs, *v))
        .draw()?;
    for (s, name) in grid.series.iter().enumerate().take(MAX_LINES) {
        let color = svg::color(s);
        let mut pts: Vec<(f64, f64)> = grid
            .points
            .iter()
            .filter(|p| p.series == s)
            .map(|p| (p.x as f64, p.y))
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let label = if name.is_empty() {
            grid.metric.clone()
        } else {
            name.clone()
        };
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2)));
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
    }
    if let Some(b) = grid.best.map(|b| &grid.points[b]) {
        let at = (b.x as f64, b.y);
        chart.draw_series([Circle::new(at, 9, RED.stroke_width(3))])?;
        chart.draw_series([Text::new("best", at, svg::font(14).color(&RED))])?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(svg::font(13))
        .draw()?;
    Ok(())
}

/// The axis value at tick `v`, blank between values.
fn position_label(xs: &[String], v: f64) -> String {
    let i = v.round();
    if (v - i).abs() > 1e-6 || i < 0.0 {
        return String::new();
    }
    xs.get(i as usize).cloned().unwrap_or_default()
}

/// Rows = the first axis's values, columns = the other axes' values: one cell per combination.
pub fn heatmap(grid: &Grid, id: &str) -> Result<String, ReportError> {
    let cols = grid.series.len().max(1);
    let width = (220 + cols * 70).clamp(500, 1150) as u32;
    let height = (140 + grid.xs.len() * 36).clamp(220, 900) as u32;
    let (lo, hi) = svg::bounds(grid.points.iter().map(|p| p.y));
    let mut out = svg::render(
        "sweep heatmap",
        id,
        "plot sweep-heatmap",
        (width, height),
        |area| draw_heatmap(grid, area),
    )?;
    let mut legend = format!(
        "Rows: {}; columns: {}. Light = {lo}, dark = {hi}; the best cell is outlined in red.",
        grid.axis,
        grid.series
            .first()
            .map_or("", |s| s.split('=').next().unwrap_or_default())
    );
    if cols > 24 {
        let _ = write!(legend, " Column labels omitted ({cols} columns).");
    }
    out.push_str(&html::note(&legend));
    Ok(out)
}

fn draw_heatmap(grid: &Grid, area: &Area) -> Drawn {
    area.fill(&WHITE)?;
    let (w, h) = area.dim_in_pixel();
    let (left, top, bottom) = (150i32, 34i32, 110i32);
    let cols = grid.series.len().max(1) as i32;
    let rows = grid.xs.len().max(1) as i32;
    let cw = ((w as i32 - left - 10) / cols).max(1);
    let ch = ((h as i32 - top - bottom) / rows).max(1);
    area.draw(&Text::new(grid.metric.clone(), (left, 8), svg::font(18)))?;
    let (lo, hi) = svg::bounds(grid.points.iter().map(|p| p.y));
    let cell = |p: &super::sweep::Point| {
        let (x, y) = (left + p.series as i32 * cw, top + p.x as i32 * ch);
        [(x, y), (x + cw - 1, y + ch - 1)]
    };
    for p in &grid.points {
        let t = if hi > lo { (p.y - lo) / (hi - lo) } else { 0.5 };
        area.draw(&Rectangle::new(cell(p), shade(t).filled()))?;
        if cw >= 44 && ch >= 18 {
            let ink = if t > 0.5 { WHITE } else { BLACK };
            let [(x, y), _] = cell(p);
            area.draw(&Text::new(
                short(p.y),
                (x + 4, y + ch / 2 - 6),
                svg::font(12).color(&ink),
            ))?;
        }
    }
    // A label every `step` rows, so that labels never overlap.
    let step = (14 / ch + 1) as usize;
    for (i, x) in grid.xs.iter().enumerate().step_by(step) {
        let y = top + i as i32 * ch + ch / 2 - 6;
        area.draw(&Text::new(
            format!("{}={x}", grid.axis),
            (4, y),
            svg::font(12),
        ))?;
    }
    if cols <= 24 {
        for (i, s) in grid.series.iter().enumerate() {
            let at = (left + i as i32 * cw + cw / 2, top + rows * ch + 6);
            let style = svg::font(11).transform(FontTransform::Rotate90);
            area.draw(&Text::new(s.clone(), at, style))?;
        }
    }
    if let Some(b) = grid.best.map(|b| &grid.points[b]) {
        area.draw(&Rectangle::new(cell(b), RED.stroke_width(3)))?;
    }
    Ok(())
}

/// White-blue shade for `t` in 0..=1.
fn shade(t: f64) -> RGBColor {
    let lerp =
        |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * t.clamp(0.0, 1.0)) as u8;
    RGBColor(lerp(239, 8), lerp(243, 48), lerp(255, 107))
}

/// A number short enough for a cell.
fn short(y: f64) -> String {
    if y.fract() == 0.0 && y.abs() < 1e9 {
        format!("{y:.0}")
    } else {
        format!("{y:.3}")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::pipeline::results::RowStatus;

    fn row(combination: &str, a: i64, b: &str, y: f64) -> Row {
        Row {
            sample: "s".into(),
            combination: combination.into(),
            status: RowStatus::Completed,
            params: BTreeMap::from([
                ("qc.cut<off>".to_owned(), Value::from(a)),
                ("call.mode".to_owned(), Value::from(b)),
            ]),
            metrics: BTreeMap::from([("call.pass".to_owned(), Value::from(y))]),
            outputs: BTreeMap::new(),
            fuel: 1,
            seconds: 0.0,
        }
    }

    fn rows() -> Vec<Row> {
        let mut rows = Vec::new();
        for (i, a) in [10, 20, 30].into_iter().enumerate() {
            for (j, b) in ["x", "y"].into_iter().enumerate() {
                let c = format!("c{}", i * 2 + j + 1);
                rows.push(row(&c, a, b, (a as f64) * if j == 0 { 1.0 } else { -1.0 }));
            }
        }
        rows
    }

    #[test]
    fn the_grid_has_every_combination_and_its_best() {
        let rows = rows();
        let axes = axes(&rows);
        assert_eq!(axes, ["qc.cut<off>", "call.mode"]);
        assert_eq!(metrics(&rows, &[]), ["call.pass"]);
        let grid = Grid::new(&rows, &axes, "call.pass", Direction::Higher);
        assert_eq!(grid.xs, ["10", "20", "30"]);
        assert_eq!(grid.series, ["call.mode=x", "call.mode=y"]);
        assert_eq!(grid.points.len(), 6);
        assert_eq!(grid.points[grid.best.unwrap()].combination, "c5");
        let low = Grid::new(&rows, &axes, "call.pass", Direction::Lower);
        assert_eq!(low.points[low.best.unwrap()].combination, "c6");
    }

    #[test]
    fn the_lines_plot_has_a_series_per_other_axis_value() {
        let rows = rows();
        let grid = Grid::new(&rows, &axes(&rows), "call.pass", Direction::Higher);
        let svg = lines(&grid, "l").unwrap();
        assert!(
            svg.contains("<svg id=\"l\" class=\"plot sweep-lines\""),
            "{svg}"
        );
        // Each series' colour strokes its line and its legend mark; no third series.
        let stroked = |c: RGBColor| {
            let colour = format!("stroke=\"#{:02X}{:02X}{:02X}\"", c.0, c.1, c.2);
            svg.split("<polyline")
                .skip(1)
                .filter_map(|p| p.split('>').next())
                .filter(|tag| tag.contains(&colour))
                .count()
        };
        assert_eq!(
            [0, 1, 2].map(|i| stroked(svg::color(i))),
            [2, 2, 0],
            "{svg}"
        );
        assert!(svg.contains("call.mode=x") && svg.contains("call.mode=y"));
        assert!(svg.contains("best"));
        // Param names are escaped in the SVG text.
        assert!(
            svg.contains("qc.cut&lt;off&gt;") && !svg.contains("cut<off>"),
            "{svg}"
        );
    }

    #[test]
    fn the_heatmap_has_a_cell_per_combination() {
        let rows = rows();
        let grid = Grid::new(&rows, &axes(&rows), "call.pass", Direction::Higher);
        let svg = heatmap(&grid, "h").unwrap();
        assert!(svg.contains("class=\"plot sweep-heatmap\""));
        // The background, one cell per combination, the best cell's outline.
        assert_eq!(svg.matches("<rect").count(), 1 + rows.len() + 1, "{svg}");
    }
}

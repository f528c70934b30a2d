//! Per-position mean base quality before and after QC, from each distinct
//! `fastq-qc` summary (`before`/`after.per_position_quality`).

use plotters::prelude::*;
use serde_json::Value;

use super::data::ReportData;
use super::svg::{self, Area, Drawn};
use super::{ReportError, html};
use crate::store::blobs::BlobStore;

/// Most QC summaries plotted.
const MAX_PLOTS: usize = 4;

/// The quality plots, or nothing when the run has no `fastq-qc` stage.
pub fn section(data: &ReportData, blobs: &BlobStore) -> Result<String, ReportError> {
    let (found, total) = data.outputs("fastq-qc", "summary", MAX_PLOTS);
    if found.is_empty() {
        return Ok(String::new());
    }
    let mut out = html::heading("Base quality per position, before and after QC");
    if total > found.len() {
        out.push_str(&html::note(&format!(
            "{} of {total} distinct QC summaries.",
            found.len()
        )));
    }
    for (i, f) in found.iter().enumerate() {
        let curves = blobs
            .read(&f.digest)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice::<Value>(&b).map_err(|e| e.to_string()))
            .map(|v| [curve(&v, "before"), curve(&v, "after")]);
        match curves {
            Ok(curves) if curves.iter().any(|c| !c.is_empty()) => {
                out.push_str(&html::note(&format!(
                    "{} (summary {})",
                    f.label,
                    f.digest.to_hex()
                )));
                let id = format!("quality-{i}");
                out.push_str(&svg::render(
                    "quality",
                    &id,
                    "plot quality",
                    (900, 360),
                    |a| draw(&f.label, &curves, a),
                )?);
            }
            Ok(_) => out.push_str(&html::note(&format!(
                "{}: the summary holds no per-position quality.",
                f.label
            ))),
            Err(e) => out.push_str(&html::note(&format!(
                "{}: summary not readable: {e}",
                f.label
            ))),
        }
    }
    Ok(out)
}

/// `(position, mean quality)` of `summary[side].per_position_quality`, 1-based.
pub fn curve(summary: &Value, side: &str) -> Vec<(f64, f64)> {
    summary[side]["per_position_quality"]
        .as_array()
        .map(|q| {
            q.iter()
                .enumerate()
                .filter_map(|(i, v)| Some((i as f64 + 1.0, v.as_f64()?)))
                .collect()
        })
        .unwrap_or_default()
}

fn draw(title: &str, curves: &[Vec<(f64, f64)>; 2], area: &Area) -> Drawn {
    area.fill(&WHITE)?;
    let xmax = curves.iter().flatten().map(|p| p.0).fold(1.0, f64::max);
    let ymax = curves.iter().flatten().map(|p| p.1).fold(0.0, f64::max);
    let mut chart = ChartBuilder::on(area)
        .caption(title, svg::font(16))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..xmax + 1.0, 0.0..(ymax + 5.0).max(42.0))?;
    chart
        .configure_mesh()
        .x_desc("position in read")
        .y_desc("mean Phred quality")
        .draw()?;
    for (i, (name, points)) in ["before QC", "after QC"].iter().zip(curves).enumerate() {
        let color = svg::color(i);
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
            .label(*name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

//! Depth along the genome from each distinct `coverage` depth TSV
//! (`contig\tposition\tdepth`, every position), averaged into bins.

use plotters::prelude::*;

use super::data::ReportData;
use super::svg::{self, Area, Drawn};
use super::{ReportError, html};
use crate::store::blobs::BlobStore;

/// Most depth tables plotted, and the bins of one plot.
const MAX_PLOTS: usize = 2;
const BINS: usize = 600;

/// One contig's binned depth: (start position, mean depth over the bin).
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    pub contig: String,
    pub bins: Vec<(f64, f64)>,
}

/// The coverage plots, or nothing when the run has no `coverage` stage.
pub fn section(data: &ReportData, blobs: &BlobStore) -> Result<String, ReportError> {
    let (found, total) = data.outputs("coverage", "depth", MAX_PLOTS);
    if found.is_empty() {
        return Ok(String::new());
    }
    let mut out = html::heading("Coverage along the genome");
    if total > found.len() {
        out.push_str(&html::note(&format!(
            "{} of {total} distinct depth tables.",
            found.len()
        )));
    }
    for (i, f) in found.iter().enumerate() {
        let tracks = blobs
            .read(&f.digest)
            .map_err(|e| e.to_string())
            .and_then(|b| tracks(&String::from_utf8_lossy(&b)));
        match tracks {
            Ok(tracks) if !tracks.is_empty() => {
                let binned = tracks.iter().map(|t| t.bins.len()).sum::<usize>();
                out.push_str(&html::note(&format!(
                    "{} (depth {}): mean depth in {binned} bins.",
                    f.label,
                    f.digest.to_hex()
                )));
                let id = format!("coverage-{i}");
                out.push_str(&svg::render(
                    "coverage",
                    &id,
                    "plot coverage",
                    (1000, 320),
                    |a| draw(&f.label, &tracks, a),
                )?);
            }
            Ok(_) => out.push_str(&html::note(&format!(
                "{}: the depth table is empty.",
                f.label
            ))),
            Err(e) => out.push_str(&html::note(&format!(
                "{}: depth table not readable: {e}",
                f.label
            ))),
        }
    }
    Ok(out)
}

/// The contigs of a depth table, each averaged into bins (about [`BINS`] in all).
pub fn tracks(tsv: &str) -> Result<Vec<Track>, String> {
    let lines = tsv.lines().skip(1).filter(|l| !l.is_empty());
    let width = (lines.clone().count() / BINS).max(1);
    let mut out: Vec<Track> = Vec::new();
    let mut acc = (0.0, 0.0, 0usize); // start, sum, count
    for (n, line) in lines.enumerate() {
        let mut f = line.split('\t');
        let (Some(contig), Some(pos), Some(depth)) = (f.next(), f.next(), f.next()) else {
            return Err(format!("line {}: expected contig, position, depth", n + 2));
        };
        let parse = |s: &str| {
            s.trim()
                .parse::<f64>()
                .map_err(|e| format!("line {}: {e}", n + 2))
        };
        let (pos, depth) = (parse(pos)?, parse(depth)?);
        if out.last().is_none_or(|t| t.contig != contig) {
            flush(&mut out, &mut acc);
            out.push(Track {
                contig: contig.to_owned(),
                bins: Vec::new(),
            });
        }
        if acc.2 == 0 {
            acc.0 = pos;
        }
        acc.1 += depth;
        acc.2 += 1;
        if acc.2 == width {
            flush(&mut out, &mut acc);
        }
    }
    flush(&mut out, &mut acc);
    Ok(out)
}

fn flush(out: &mut [Track], acc: &mut (f64, f64, usize)) {
    if let (Some(t), true) = (out.last_mut(), acc.2 > 0) {
        t.bins.push((acc.0, acc.1 / acc.2 as f64));
    }
    *acc = (0.0, 0.0, 0);
}

fn draw(title: &str, tracks: &[Track], area: &Area) -> Drawn {
    area.fill(&WHITE)?;
    let xmax = tracks
        .iter()
        .flat_map(|t| &t.bins)
        .map(|b| b.0)
        .fold(1.0, f64::max);
    let ymax = tracks
        .iter()
        .flat_map(|t| &t.bins)
        .map(|b| b.1)
        .fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(area)
        .caption(title, svg::font(16))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..xmax, 0.0..ymax * 1.1)?;
    chart
        .configure_mesh()
        .x_desc("position")
        .y_desc("mean depth")
        .draw()?;
    for (i, t) in tracks.iter().enumerate().take(10) {
        let color = svg::color(i);
        chart
            .draw_series(LineSeries::new(t.bins.clone(), color.stroke_width(1)))?
            .label(t.contig.clone())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_is_averaged_per_contig() {
        let tsv = "contig\tposition\tdepth\nc1\t1\t2\nc1\t2\t4\nc2\t1\t7\n";
        let t = tracks(tsv).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].bins, [(1.0, 2.0), (2.0, 4.0)]);
        assert_eq!(t[1].contig, "c2");
        assert!(tracks("h\nc1\tx\t1\n").unwrap_err().contains("line 2"));
    }
}

//! Insert sizes: a histogram of the template lengths of each distinct
//! `align` SAM output (properly paired, first-in-template, positive TLEN):
//! the aligner's JSON summary holds only their mean and bounds.

use plotters::prelude::*;

use super::data::ReportData;
use super::svg::{self, Area, Drawn};
use super::{ReportError, html};
use crate::store::blobs::BlobStore;

const MAX_PLOTS: usize = 2;
const BINS: usize = 60;

/// The insert-size histograms, or nothing when the run has no paired `align` output.
pub fn section(data: &ReportData, blobs: &BlobStore) -> Result<String, ReportError> {
    let (found, total) = data.outputs("align", "alignments", MAX_PLOTS);
    let mut out = String::new();
    for (i, f) in found.iter().enumerate() {
        let sizes = match blobs.read(&f.digest) {
            Ok(bytes) => template_lengths(&String::from_utf8_lossy(&bytes)),
            Err(e) => {
                out.push_str(&html::note(&format!("{}: SAM not readable: {e}", f.label)));
                continue;
            }
        };
        if sizes.is_empty() {
            continue; // single-end reads: no insert sizes
        }
        let hist = histogram(&sizes, BINS);
        out.push_str(&html::note(&format!(
            "{} (SAM {}): {} properly paired templates.",
            f.label,
            f.digest.to_hex(),
            sizes.len()
        )));
        let id = format!("inserts-{i}");
        out.push_str(&svg::render(
            "insert sizes",
            &id,
            "plot inserts",
            (900, 340),
            |a| draw(&f.label, &hist, a),
        )?);
    }
    if out.is_empty() {
        return Ok(out);
    }
    let mut head = html::heading("Insert-size distribution");
    if total > found.len() {
        head.push_str(&html::note(&format!(
            "{} of {total} distinct alignments.",
            found.len()
        )));
    }
    Ok(head + &out)
}

/// TLEN of every properly paired first mate with a positive TLEN (each pair once).
pub fn template_lengths(sam: &str) -> Vec<u64> {
    sam.lines()
        .filter(|l| !l.starts_with('@'))
        .filter_map(|l| {
            let mut f = l.split('\t');
            let flag: u16 = f.nth(1)?.parse().ok()?;
            let tlen: i64 = f.nth(6)?.parse().ok()?;
            (flag & 0x2 != 0 && flag & 0x40 != 0 && tlen > 0).then_some(tlen.unsigned_abs())
        })
        .collect()
}

/// `bins` equal bins over the range of `sizes`: (bin start, bin width, count).
pub fn histogram(sizes: &[u64], bins: usize) -> Vec<(u64, u64, u64)> {
    let (lo, hi) = (
        sizes.iter().copied().min().unwrap_or(0),
        sizes.iter().copied().max().unwrap_or(0),
    );
    let width = ((hi - lo) / bins as u64 + 1).max(1);
    let mut counts = vec![0u64; ((hi - lo) / width + 1) as usize];
    for s in sizes {
        counts[((s - lo) / width) as usize] += 1;
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(i, c)| (lo + i as u64 * width, width, c))
        .collect()
}

fn draw(title: &str, hist: &[(u64, u64, u64)], area: &Area) -> Drawn {
    area.fill(&WHITE)?;
    let x0 = hist.first().map_or(0, |h| h.0) as f64;
    let x1 = hist.last().map_or(1, |h| h.0 + h.1) as f64;
    let ymax = hist.iter().map(|h| h.2).max().unwrap_or(1) as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(title, svg::font(16))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x0..x1, 0.0..ymax * 1.1)?;
    chart
        .configure_mesh()
        .x_desc("insert size (TLEN, bases)")
        .y_desc("templates")
        .draw()?;
    chart.draw_series(hist.iter().map(|&(start, width, count)| {
        Rectangle::new(
            [(start as f64, 0.0), ((start + width) as f64, count as f64)],
            svg::color(0).filled(),
        )
    }))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_proper_pair_counts_once() {
        let sam = "@HD\tVN:1.6\n\
                   r1\t99\tc\t1\t60\t10M\t=\t50\t300\tA\tI\n\
                   r1\t147\tc\t50\t60\t10M\t=\t1\t-300\tA\tI\n\
                   r2\t65\tc\t1\t60\t10M\t=\t50\t200\tA\tI\n";
        assert_eq!(template_lengths(sam), [300]);
        let h = histogram(&[100, 100, 200], 2);
        assert_eq!(h.iter().map(|b| b.2).sum::<u64>(), 3);
        assert_eq!(h[0], (100, 51, 2));
    }
}

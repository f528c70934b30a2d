//! `petri report`: one self-contained HTML page about a run — provenance, the
//! stage table, sweep plots, the timeline, the genomics stages' own plots and
//! where the time went — every plot inline SVG, no script, nothing fetched.

mod coverage;
mod data;
mod html;
mod inserts;
mod overhead;
mod provenance;
mod quality;
mod svg;
mod sweep;
mod timeline;
mod variants;

use crate::store::blobs::BlobStore;
use crate::store::records::RecordStore;

use super::record::RunRecord;
pub use data::Direction;
use data::ReportData;
pub use html::{escape, html_table};

/// What went wrong drawing a plot (reading the run never fails the report:
/// what cannot be read is said on the page).
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("drawing the {plot} plot: {message}")]
    Plot { plot: &'static str, message: String },
}

/// Choices about the sweep plots.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    /// Plot these `stage.metric` columns (default: every numeric metric that
    /// differs between combinations).
    pub metrics: Vec<String>,
    /// Which end of a metric is best.
    pub best: Direction,
}

/// The report of `run` as one HTML document.
pub fn report(
    run: &RunRecord,
    blobs: &BlobStore,
    records: &RecordStore,
    options: &ReportOptions,
) -> Result<String, ReportError> {
    let data = ReportData::gather(run, records);
    let mut page = html::Page::new(&format!("petri report — run {}", run.id));
    page.section("provenance", "Provenance", &provenance::summary(&data));
    page.section("stages", "Stages", &provenance::stage_table(&data));
    if !run.combinations.is_empty() {
        page.section("sweep", "Sweep", &sweep::section(&data, options)?);
    }
    page.section("timeline", "Timeline", &timeline::section(&data)?);
    let domain = [
        quality::section(&data, blobs)?,
        coverage::section(&data, blobs)?,
        variants::section(&data, blobs),
        inserts::section(&data, blobs)?,
    ]
    .concat();
    if !domain.is_empty() {
        page.section("genomics", "Genomics", &domain);
    }
    page.section(
        "overhead",
        "Compute and coordination",
        &overhead::section(&data),
    );
    Ok(page.finish())
}

//! The variant table: the records of each distinct `call-variants` VCF
//! (CHROM to INFO, as written), at most [`MAX_ROWS`] per file.

use super::data::ReportData;
use super::html;
use crate::store::blobs::BlobStore;

const MAX_TABLES: usize = 4;
const MAX_ROWS: usize = 200;
const COLUMNS: [&str; 8] = ["CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"];

/// The variant tables, or nothing when the run has no `call-variants` stage.
pub fn section(data: &ReportData, blobs: &BlobStore) -> String {
    let (found, total) = data.outputs("call-variants", "variants", MAX_TABLES);
    if found.is_empty() {
        return String::new();
    }
    let mut out = html::heading("Variants");
    if total > found.len() {
        out.push_str(&html::note(&format!(
            "{} of {total} distinct VCF files.",
            found.len()
        )));
    }
    for (i, f) in found.iter().enumerate() {
        match blobs.read(&f.digest) {
            Ok(bytes) => {
                let (rows, count) = records(&String::from_utf8_lossy(&bytes));
                let shown = if count > rows.len() {
                    format!("the first {} of {count} records", rows.len())
                } else {
                    format!("{count} record(s)")
                };
                out.push_str(&html::note(&format!(
                    "{} (VCF {}): {shown}.",
                    f.label,
                    f.digest.to_hex()
                )));
                out.push_str(&html::table(&format!("variants-{i}"), &COLUMNS, &rows));
            }
            Err(e) => out.push_str(&html::note(&format!("{}: VCF not readable: {e}", f.label))),
        }
    }
    out
}

/// The first [`MAX_ROWS`] records' eight fixed columns, and the number of records.
pub fn records(vcf: &str) -> (Vec<Vec<String>>, usize) {
    let data = vcf
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty());
    let rows = data
        .clone()
        .take(MAX_ROWS)
        .map(|l| {
            let mut cols: Vec<String> = l
                .split('\t')
                .take(COLUMNS.len())
                .map(str::to_owned)
                .collect();
            cols.resize(COLUMNS.len(), String::new());
            cols
        })
        .collect();
    (rows, data.count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_skip_the_header() {
        let vcf = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n\
                   J02459.1\t10\t.\tA\tG\t50\tPASS\tDP=9\nJ02459.1\t20\t.\tC\tT\n";
        let (rows, n) = records(vcf);
        assert_eq!(n, 2);
        assert_eq!(rows[0][1], "10");
        assert_eq!(rows[1][7], "");
    }
}

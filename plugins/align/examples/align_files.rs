//! Runs the aligner natively on files: `align_files REF.fa[.gz] R1.fq[.gz] [R2.fq[.gz]] OUT.sam`.

use std::fs::File;
use std::time::Instant;

use petri_plugin_align::{AlignParams, align};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (reference, reads, mates, out) = match args.as_slice() {
        [r, a, o] => (r, a, None, o),
        [r, a, b, o] => (r, a, Some(b), o),
        _ => return Err("usage: align_files REF R1 [R2] OUT.sam".into()),
    };
    let start = Instant::now();
    let mates = match mates {
        Some(m) => Some(File::open(m)?),
        None => None,
    };
    let summary = align(
        &AlignParams::default(),
        File::open(reference)?,
        File::open(reads)?,
        mates,
        std::io::BufWriter::new(File::create(out)?),
    )?;
    eprintln!("wall time: {:.3} s", start.elapsed().as_secs_f64());
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}

//! Runs the caller natively on files: `call_file REF.fa ALN.sam OUT.vcf [diploid]`;
//! prints the summary and the wall time.

use std::fs::File;
use std::io::BufWriter;
use std::time::Instant;

use petri_plugin_call_variants::{CallParams, Ploidy, call_variants};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        return Err("usage: call_file REF.fa ALN.sam OUT.vcf [diploid]".into());
    }
    let mut params = CallParams::default();
    if args.get(4).is_some_and(|a| a == "diploid") {
        params.ploidy = Ploidy::Diploid;
    }
    let started = Instant::now();
    let summary = call_variants(
        &params,
        File::open(&args[1])?,
        File::open(&args[2])?,
        BufWriter::new(File::create(&args[3])?),
    )?;
    let elapsed = started.elapsed();
    println!("{}", serde_json::to_string_pretty(&summary)?);
    println!("wall time: {:.3} s", elapsed.as_secs_f64());
    Ok(())
}

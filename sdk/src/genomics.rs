//! Helpers for genomics stages (feature `genomics`): gzip-transparent inputs
//! and reference FASTA loading whose errors name the port and record.

mod gzip;
mod reference;

pub use gzip::{LIMIT_MESSAGE, decompressed};
pub use reference::{Contig, Reference, ReferenceError};

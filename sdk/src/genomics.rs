//! Helpers for genomics stages (feature `genomics`): gzip-transparent inputs,
//! reference FASTA loading, and errors that name the port and record.

mod gzip;
mod input_error;
mod reference;

pub use gzip::{LIMIT_MESSAGE, decompressed};
pub use input_error::InputError;
pub use reference::{Contig, Reference, ReferenceError, is_nucleotide};

//! Sniffing a file's first record to check it is in the format a pipeline declares.

use std::io::{BufRead, BufReader, Read};

/// Bytes of (decompressed) text looked at.
const SNIFF_BYTES: u64 = 64 * 1024;

/// Reads the start of `source`, gunzipping if it is gzip.
fn head(source: impl Read) -> std::io::Result<Vec<u8>> {
    let mut file = BufReader::new(source);
    let gz = file.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    let mut out = Vec::new();
    if gz {
        let mut dec = flate2::bufread::MultiGzDecoder::new(file).take(SNIFF_BYTES);
        // A truncated or damaged stream still yields what it decoded.
        let _ = dec.read_to_end(&mut out);
    } else {
        file.take(SNIFF_BYTES).read_to_end(&mut out)?;
    }
    Ok(out)
}

/// Checks that `source` starts like `format`. Unknown formats pass; the error
/// says what the file looks like instead.
pub fn check_format(source: impl Read, format: &str) -> Result<(), String> {
    let bytes = head(source).map_err(|e| format!("it cannot be read: {e}"))?;
    let text = String::from_utf8_lossy(&bytes);
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let first = lines.next().unwrap_or("");
    let ok = match format {
        "fastq" => {
            let rec: Vec<&str> = std::iter::once(first).chain(lines.take(3)).collect();
            first.starts_with('@')
                && rec.len() == 4
                && rec[2].starts_with('+')
                && (rec[1].len() == rec[3].len() || bytes.len() as u64 >= SNIFF_BYTES)
        }
        "fasta" => first.starts_with('>'),
        "vcf" => first.starts_with("##fileformat=VCF"),
        "sam" => {
            first.starts_with('@') && first.len() > 3 && first.as_bytes()[3] == b'\t'
                || first.split('\t').count() >= 11
        }
        "json" => matches!(first.trim_start().chars().next(), Some('{' | '[')),
        "tsv" => first.contains('\t'),
        _ => true,
    };
    if ok {
        return Ok(());
    }
    let looks = if bytes.is_empty() {
        "it is empty".to_owned()
    } else {
        format!(
            "it starts with `{}`",
            first.chars().take(30).collect::<String>()
        )
    };
    Err(looks)
}

/// A format guessed from the first bytes, for inputs that do not declare one.
pub fn guess_format(
    mut open: impl FnMut() -> Option<Box<dyn Read + Send>>,
) -> Option<&'static str> {
    ["fastq", "fasta", "vcf", "sam", "json"]
        .into_iter()
        .find(|f| open().is_some_and(|r| check_format(r, f).is_ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsv_unknown_and_empty_files() {
        assert_eq!(check_format(&b"a\tb\n"[..], "tsv"), Ok(()));
        assert_eq!(
            check_format(&b"a,b\n"[..], "tsv"),
            Err("it starts with `a,b`".to_owned())
        );
        assert_eq!(
            check_format(&b"anything"[..], "bam"),
            Ok(()),
            "unknown format"
        );
        assert_eq!(
            check_format(&b""[..], "fasta"),
            Err("it is empty".to_owned())
        );
        assert_eq!(
            check_format(&b"\n  \n"[..], "fasta"),
            Err("it starts with ``".to_owned()),
            "blank lines are not empty bytes"
        );
    }
}

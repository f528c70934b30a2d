//! The page: HTML escaping of every piece of text, tables, sections, and the
//! document with its inline style (no script, no external resource).

use std::fmt::Write;

/// `text` safe inside HTML text and double-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A table with id `id`; every header and cell is escaped.
pub fn table<R: AsRef<[String]>>(id: &str, headers: &[&str], rows: &[R]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.as_ref().iter().map(|c| escape(c)).collect())
        .collect();
    html_table(id, headers, &rows)
}

/// A table with id `id` whose cells are HTML already escaped (links,
/// badges); the headers are escaped.
pub fn html_table<R: AsRef<[String]>>(id: &str, headers: &[&str], rows: &[R]) -> String {
    let mut out = format!("<table id=\"{}\"><thead><tr>", escape(id));
    for h in headers {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row.as_ref() {
            let _ = write!(out, "<td>{cell}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

/// A paragraph of escaped text.
pub fn note(text: &str) -> String {
    format!("<p class=\"note\">{}</p>", escape(text))
}

/// A sub-heading of escaped text.
pub fn heading(text: &str) -> String {
    format!("<h3>{}</h3>", escape(text))
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222;max-width:1200px}\
h1{font-size:1.5em}h2{border-bottom:1px solid #ccc;margin-top:2em}\
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}\
th,td{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top}\
th{background:#f0f0f0}td{font-family:monospace}\
.note{color:#555;font-size:.9em}figure{margin:1em 0}svg{max-width:100%;height:auto}\
dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dt{font-weight:bold}\
dd{margin:0;font-family:monospace;word-break:break-all}";

/// The document being built.
#[derive(Debug)]
pub struct Page {
    body: String,
}

impl Page {
    pub fn new(title: &str) -> Page {
        let title = escape(title);
        Page {
            body: format!(
                "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
                 <title>{title}</title><style>{STYLE}</style></head><body><h1>{title}</h1>"
            ),
        }
    }

    /// A `<section id=…>` headed `title`; `content` is HTML already escaped.
    pub fn section(&mut self, id: &str, title: &str, content: &str) {
        let _ = write!(
            self.body,
            "<section id=\"{}\"><h2>{}</h2>{content}</section>",
            escape(id),
            escape(title)
        );
    }

    pub fn finish(mut self) -> String {
        self.body.push_str("</body></html>\n");
        self.body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_attributes_are_escaped() {
        assert_eq!(
            escape(r#"<script>"a"&'b'</script>"#),
            "&lt;script&gt;&quot;a&quot;&amp;&#39;b&#39;&lt;/script&gt;"
        );
        let t = table("t<", &["h<"], &[vec!["<img src=x>".to_owned()]]);
        assert!(!t.contains("<img"), "{t}");
        assert!(
            t.contains("id=\"t&lt;\"") && t.contains("<th>h&lt;</th>"),
            "{t}"
        );
    }
}

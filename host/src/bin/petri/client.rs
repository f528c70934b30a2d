//! `petri submit | status | list | cancel | logs`: the daemon's CLI client (`--url`, `--token`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::run::printable;
use petri_host::pipeline::{Layout, Output, Placement, PublishError, Published, write_new};
use petri_host::server::{
    Accepted, BlobView, ErrorBody, LogPage, OutputsView, RunPage, RunStatus, RunView, SheetFormat,
    SubmitRun,
};
use serde::de::DeserializeOwned;

/// Where the daemon is and who is asking.
#[derive(clap::Args)]
pub struct Connection {
    /// The daemon's base URL.
    #[arg(long, env = "PETRI_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// An API token (`petri token create`).
    #[arg(long, env = "PETRI_TOKEN", hide_env_values = true)]
    token: String,
}

#[derive(clap::Args)]
pub struct SubmitArgs {
    #[command(flatten)]
    conn: Connection,
    /// The pipeline file; the files it names are uploaded first.
    pipeline: PathBuf,
    /// A sample sheet (TSV, or CSV by extension); its files are uploaded too.
    #[arg(long, value_name = "SHEET")]
    samples: Option<PathBuf>,
    #[arg(long, default_value = "")]
    description: String,
    /// normal, urgent or clinical.
    #[arg(long, default_value = "normal")]
    priority: String,
    /// Wait until the run finishes (exit 0 completed, 1 failed or cancelled).
    #[arg(long)]
    wait: bool,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    conn: Connection,
    /// The run id.
    id: String,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    conn: Connection,
    #[arg(long)]
    group: Option<String>,
    #[arg(long)]
    status: Option<String>,
    #[arg(long)]
    pipeline: Option<String>,
    #[arg(long, default_value_t = 50)]
    limit: u32,
    #[arg(long)]
    cursor: Option<String>,
    #[arg(long)]
    json: bool,
}

struct Client {
    agent: ureq::Agent,
    url: String,
    auth: String,
}

impl Client {
    fn new(c: &Connection) -> Client {
        Client::with(&c.url, &c.token)
    }

    fn with(url: &str, token: &str) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(600)))
            .build()
            .into();
        Client {
            agent,
            url: url.trim_end_matches('/').to_owned(),
            auth: format!("Bearer {token}"),
        }
    }

    /// The JSON answer, or the daemon's error (with every problem) as an error.
    fn answer<T: DeserializeOwned>(
        &self,
        what: &str,
        r: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> anyhow::Result<T> {
        let text = self.text(what, r)?;
        serde_json::from_str(&text).with_context(|| format!("{what}: unexpected answer: {text}"))
    }

    /// The answer's text, or the daemon's error (with every problem) as an error.
    fn text(
        &self,
        what: &str,
        r: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> anyhow::Result<String> {
        let mut r = r.with_context(|| format!("{what}: cannot reach {}", self.url))?;
        let status = r.status();
        let text = r
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_string()
            .with_context(|| format!("{what}: reading the answer"))?;
        if status.is_success() {
            return Ok(text);
        }
        match serde_json::from_str::<ErrorBody>(&text) {
            Ok(e) => {
                let mut msg = format!("{what}: {} ({})", e.error.message, status.as_u16());
                for p in &e.error.problems {
                    if p.line > 0 {
                        msg.push_str(&format!(
                            "\n  {}:{}:{}: {}",
                            p.file, p.line, p.column, p.message
                        ));
                    } else {
                        msg.push_str(&format!("\n  {}: {}", p.file, p.message));
                    }
                    if let Some(h) = &p.hint {
                        msg.push_str(&format!("\n      hint: {h}"));
                    }
                }
                bail!(msg)
            }
            Err(_) => bail!("{what}: HTTP {status}: {text}"),
        }
    }

    fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<T> {
        self.answer(&format!("GET {path}"), self.request(path, query).call())
    }

    fn get_text(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<String> {
        self.text(&format!("GET {path}"), self.request(path, query).call())
    }

    fn request(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> ureq::RequestBuilder<ureq::typestate::WithoutBody> {
        let mut req = self
            .agent
            .get(format!("{}{path}", self.url))
            .header("Authorization", &self.auth);
        for (k, v) in query {
            req = req.query(*k, v);
        }
        req
    }

    fn post_json<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl serde::Serialize,
    ) -> anyhow::Result<T> {
        let r = self
            .agent
            .post(format!("{}{path}", self.url))
            .header("Authorization", &self.auth)
            .send_json(body);
        self.answer(&format!("POST {path}"), r)
    }

    fn upload(&self, file: &Path) -> anyhow::Result<BlobView> {
        let f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
        let r = self
            .agent
            .post(format!("{}/v1/blobs", self.url))
            .header("Authorization", &self.auth)
            .header("Content-Type", "application/octet-stream")
            .send(f);
        self.answer(&format!("uploading {}", file.display()), r)
    }
}

/// `petri report --url`: the daemon's report page of run `id` (`metrics`
/// and `lower_is_better` as for a local report).
pub fn report(
    url: &str,
    token: &str,
    id: &str,
    metrics: &[String],
    lower_is_better: bool,
) -> anyhow::Result<String> {
    let mut query = vec![("lower-is-better", lower_is_better.to_string())];
    if !metrics.is_empty() {
        query.push(("metrics", metrics.join(",")));
    }
    Client::with(url, token).get_text(&format!("/v1/runs/{id}/report"), &query)
}

/// `petri export --url`: the outputs of a daemon's run into `dir`, each
/// downloaded, hashed on the way and checked against its digest before it
/// appears (the same layout and refusals as a local export).
pub fn export(url: &str, token: &str, id: &str, dir: &Path) -> anyhow::Result<Vec<Published>> {
    let client = Client::with(url, token);
    let list: OutputsView = client.get(&format!("/v1/runs/{id}/outputs"), &[])?;
    let published = Layout::plan(dir, list.outputs)
        .and_then(|layout| layout.write(|o, target| client.download(o, target)))
        .with_context(|| format!("exporting run {id} to {}", dir.display()))?;
    Ok(published)
}

impl Client {
    /// Writes the artifact of `o` to `target`, verified.
    fn download(&self, o: &Output, target: &Path) -> Result<Placement, PublishError> {
        let failed = |message: String| PublishError::Io {
            path: target.to_owned(),
            source: std::io::Error::other(message),
        };
        let r = self
            .agent
            .get(format!("{}/v1/artifacts/{}", self.url, o.sha256))
            .header("Authorization", &self.auth)
            .call()
            .map_err(|e| failed(format!("GET artifact {}: {e}", o.sha256)))?;
        if !r.status().is_success() {
            let status = r.status();
            let text = r.into_body().read_to_string().unwrap_or_default();
            return Err(failed(format!(
                "GET artifact {}: HTTP {status}: {text}",
                o.sha256
            )));
        }
        let mut body = r.into_body().into_reader();
        write_new(target, &o.sha256, |w| std::io::copy(&mut body, w).map(drop)).map_err(|e| {
            e.or_integrity(|| PublishError::Integrity {
                sample: o.sample.clone(),
                stage: o.stage.clone(),
                port: o.port.clone(),
                digest: o.sha256,
            })
        })?;
        Ok(Placement::Copied)
    }
}

/// The relative paths a pipeline's inputs name (relative to `base`) and a
/// sheet's input columns name (relative to `sheet_dir`), with the local file of each.
fn named_files(
    text: &str,
    base: &Path,
    sheet: Option<(&str, SheetFormat, &Path)>,
) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let table: toml::Table = toml::from_str(text).context("the pipeline is not valid TOML")?;
    let mut paths = Vec::new();
    let mut names = Vec::new();
    if let Some(inputs) = table.get("inputs").and_then(|i| i.as_table()) {
        for (name, decl) in inputs {
            names.push(name.clone());
            if let Some(p) = decl.get("path").and_then(|p| p.as_str()) {
                paths.push((p.to_owned(), base.join(p)));
            }
        }
    }
    if let Some((sheet, format, sheet_dir)) = sheet {
        let delimiter = if format == SheetFormat::Csv {
            b','
        } else {
            b'\t'
        };
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .comment(Some(b'#'))
            .flexible(true)
            .from_reader(sheet.as_bytes());
        let headers = reader
            .headers()
            .context("reading the sheet's header")?
            .clone();
        let cols: Vec<usize> = headers
            .iter()
            .enumerate()
            .filter(|(_, h)| names.iter().any(|n| n == h.trim()))
            .map(|(i, _)| i)
            .collect();
        for row in reader.records() {
            let row = row.context("reading the sheet")?;
            for &c in &cols {
                if let Some(v) = row.get(c).map(str::trim).filter(|v| !v.is_empty()) {
                    paths.push((v.to_owned(), sheet_dir.join(v)));
                }
            }
        }
    }
    paths.sort();
    paths.dedup_by(|a, b| a.0 == b.0);
    Ok(paths)
}

pub fn submit(args: SubmitArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.conn);
    let text = std::fs::read_to_string(&args.pipeline)
        .with_context(|| format!("reading {}", args.pipeline.display()))?;
    let base = args.pipeline.parent().unwrap_or(Path::new("."));
    let (sheet, format) = match &args.samples {
        Some(p) => {
            let format = if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) {
                SheetFormat::Csv
            } else {
                SheetFormat::Tsv
            };
            let t =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            (Some(t), format)
        }
        None => (None, SheetFormat::Tsv),
    };
    let mut files = BTreeMap::new();
    // The daemon puts the sheet beside the pipeline file: its paths map to the same names.
    let sheet_dir = args
        .samples
        .as_deref()
        .and_then(Path::parent)
        .unwrap_or(Path::new("."));
    for (rel, local) in named_files(
        &text,
        base,
        sheet.as_deref().map(|s| (s, format, sheet_dir)),
    )? {
        let blob = client.upload(&local)?;
        files.insert(rel, blob.sha256);
    }
    let priority = serde_json::from_value(serde_json::Value::String(args.priority.clone()))
        .with_context(|| {
            format!(
                "--priority {}: one of normal, urgent, clinical",
                args.priority
            )
        })?;
    let request = SubmitRun {
        pipeline: Some(text),
        pipeline_sha256: None,
        samples: sheet,
        samples_format: format,
        files,
        description: args.description.clone(),
        priority,
    };
    let accepted: Accepted = client.post_json("/v1/runs", &request)?;
    if !args.wait {
        if args.json {
            println!("{}", serde_json::to_string_pretty(&accepted)?);
        } else {
            println!("{}", accepted.id);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let run = wait(&client, &accepted.id)?;
    show(&run, args.json)?;
    Ok(exit(&run))
}

fn wait(client: &Client, id: &str) -> anyhow::Result<RunView> {
    loop {
        let run: RunView = client.get(&format!("/v1/runs/{id}"), &[])?;
        if run.summary.status.is_final() {
            return Ok(run);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn exit(run: &RunView) -> ExitCode {
    if run.summary.status == RunStatus::Completed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn show(run: &RunView, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(run)?);
        return Ok(());
    }
    let s = &run.summary;
    println!(
        "run {}  {}  {}  (group {}, {})",
        s.id, s.pipeline, s.status, s.group, s.priority
    );
    if let Some(root) = &s.root {
        println!("  root    sha256:{root}");
    }
    for st in &run.stages {
        println!(
            "  {:<10} {:<16} {:<9} cache {:<4} fuel {}",
            st.sample, st.stage, st.status, st.cache, st.fuel_used
        );
        for o in &st.outputs {
            println!("      {:<16} sha256:{}  {} bytes", o.port, o.sha256, o.size);
        }
        for a in &st.attempts {
            if let Some(d) = &a.decision {
                let (outcome, d) = (printable(&a.outcome), printable(d));
                println!("      attempt {}: {outcome} → {d}", a.record_id);
            }
        }
        if let Some(r) = &st.reason {
            println!("      {}", printable(r));
        }
    }
    if let Some(e) = &run.error {
        println!("  error   {}", printable(&e.message));
        for p in &e.problems {
            let (file, message) = (printable(&p.file), printable(&p.message));
            println!("    {file}:{}:{}: {message}", p.line, p.column);
        }
    }
    Ok(())
}

pub fn status(args: RunArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.conn);
    let run: RunView = client.get(&format!("/v1/runs/{}", args.id), &[])?;
    show(&run, args.json)?;
    Ok(ExitCode::SUCCESS)
}

pub fn cancel(args: RunArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.conn);
    let run: RunView = client.post_json(
        &format!("/v1/runs/{}/cancel", args.id),
        &serde_json::json!({}),
    )?;
    show(&run, args.json)?;
    Ok(ExitCode::SUCCESS)
}

/// A daemon run's logs and events (`petri logs --url`; `logs.rs` reads local records).
pub fn logs(url: &str, token: &str, id: &str, json: bool) -> anyhow::Result<ExitCode> {
    let client = Client::with(url, token);
    let page: LogPage = client.get(&format!("/v1/runs/{id}/logs"), &[])?;
    if json {
        println!("{}", serde_json::to_string_pretty(&page)?);
        return Ok(ExitCode::SUCCESS);
    }
    // Stage-provided text: escaped, so it cannot drive the terminal.
    use crate::run::printable;
    for e in &page.events {
        println!("{}  {:<12} {}", e.at, e.kind, printable(&e.detail));
    }
    for l in &page.lines {
        println!(
            "{}/{}  {}",
            printable(&l.sample),
            printable(&l.stage),
            printable(&l.line.to_string())
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.conn);
    let mut query = vec![("limit", args.limit.to_string())];
    for (k, v) in [
        ("group", &args.group),
        ("status", &args.status),
        ("pipeline", &args.pipeline),
        ("cursor", &args.cursor),
    ] {
        if let Some(v) = v {
            query.push((k, v.clone()));
        }
    }
    let page: RunPage = client.get("/v1/runs", &query)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&page)?);
        return Ok(ExitCode::SUCCESS);
    }
    for r in &page.runs {
        println!(
            "{}  {:<10} {:<16} {:<10} {}  {}",
            r.id, r.status, r.pipeline, r.group, r.submitted_at, r.description
        );
    }
    if let Some(c) = &page.next_cursor {
        println!("more: --cursor {c}");
    }
    Ok(ExitCode::SUCCESS)
}

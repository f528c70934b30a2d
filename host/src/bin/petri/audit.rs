//! `petri audit list | verify`: read the daemon's audit log and check its hash chain.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use petri_host::server::{self, ServerStore, Verdict};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Print entries, oldest first.
    List {
        /// Entries after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: i64,
        /// At most this many.
        #[arg(long, default_value_t = 1000)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// Walk the hash chain and check it against the newest head anchored
    /// outside the database: exit 0 with the head hash when every entry is
    /// intact, 1 naming the first edited or removed entry otherwise.
    Verify {
        /// The anchor file (the daemon's `audit-anchor`). Default: the data
        /// dir's `audit-anchor.log`, when there is one.
        #[arg(long)]
        anchor: Option<PathBuf>,
    },
}

pub async fn main(
    data_dir: &Path,
    database: Option<&str>,
    cmd: Command,
) -> anyhow::Result<ExitCode> {
    let store = server::open_store(data_dir, database).await?;
    match cmd {
        Command::List { after, limit, json } => {
            let entries = server::audit_list(&store, after, limit).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&entries)?);
                return Ok(ExitCode::SUCCESS);
            }
            for e in &entries {
                let why = if e.reason.is_empty() {
                    String::new()
                } else {
                    format!("  reason: {}", e.reason)
                };
                println!(
                    "{:>6}  {}  {} [{}]  {} {}  {}{why}",
                    e.seq, e.at, e.actor, e.group, e.action, e.target, e.detail
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify { anchor } => verify(&store, data_dir, anchor).await,
    }
}

async fn verify(
    store: &ServerStore,
    data_dir: &Path,
    anchor: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let (entries, head) = match server::audit_verify(store).await? {
        Verdict::Intact { entries, head } => (entries, head),
        Verdict::Broken { seq, problem } => return Ok(broken(seq, &problem)),
    };
    let default = data_dir.join(server::AUDIT_ANCHOR_FILE);
    let anchor = anchor.or_else(|| default.exists().then_some(default));
    let anchored = match &anchor {
        None => "no anchor file to check the newest entries against".to_owned(),
        Some(file) => match server::audit_check_anchor(store, file).await? {
            Verdict::Broken { seq, problem } => return Ok(broken(seq, &problem)),
            Verdict::Intact { entries: seq, .. } => {
                format!("{} anchors entry {seq}, present", file.display())
            }
        },
    };
    println!("audit log intact: {entries} entries, head {head}; {anchored}");
    Ok(ExitCode::SUCCESS)
}

fn broken(seq: i64, problem: &str) -> ExitCode {
    eprintln!("audit log broken at entry {seq}: {problem}");
    ExitCode::from(1)
}

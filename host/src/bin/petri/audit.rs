//! `petri audit list | verify`: read the daemon's audit log and check its hash chain.

use std::path::Path;
use std::process::ExitCode;

use petri_host::server::{self, Verdict};

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
    /// Walk the hash chain: exit 0 with the head hash when every entry is
    /// intact, 1 naming the first edited or removed entry otherwise.
    Verify,
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
        Command::Verify => match server::audit_verify(&store).await? {
            Verdict::Intact { entries, head } => {
                println!("audit log intact: {entries} entries, head {head}");
                Ok(ExitCode::SUCCESS)
            }
            Verdict::Broken { seq, problem } => {
                eprintln!("audit log broken at entry {seq}: {problem}");
                Ok(ExitCode::from(1))
            }
        },
    }
}

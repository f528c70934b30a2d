//! `petri token create`: issue an API token bound to a research group (only its SHA-256 is kept).

use std::path::Path;
use std::process::ExitCode;

use petri_host::server;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Create a token and print it (once: it cannot be shown again).
    Create {
        /// The research group whose runs and artifacts the token sees.
        #[arg(long)]
        group: String,
        /// May see every group's runs and register module names.
        #[arg(long)]
        admin: bool,
        /// A note on who holds it.
        #[arg(long, default_value = "")]
        name: String,
    },
}

pub async fn main(data_dir: &Path, cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Create { group, admin, name } => {
            let store = server::open_store(data_dir).await?;
            let token = server::create_token(&store, &name, &group, admin).await?;
            println!("{token}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

//! `petri key generate|show`: the data dir's ed25519 key that signs bundles.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Make the signing key (`<data-dir>/keys/bundle.pem`); an existing one is kept.
    Generate,
    /// Print the key's fingerprint and public key.
    Show,
}

pub fn main(data_dir: &Path, cmd: Command) -> anyhow::Result<ExitCode> {
    let key = match cmd {
        Command::Generate => petri_host::generate_key(data_dir).context("making a signing key")?,
        Command::Show => petri_host::load_key(data_dir).context("loading the signing key")?,
    };
    let public = key.verifying_key();
    println!("fingerprint  {}", petri_host::key_fingerprint(&public));
    println!("public key   {}", hex::encode(public.as_bytes()));
    println!("file         {}", petri_host::key_path(data_dir).display());
    Ok(ExitCode::SUCCESS)
}

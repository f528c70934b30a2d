//! `petri token create | list | revoke`: API tokens bound to a research group (only their
//! SHA-256 is kept). Creating and revoking are written to the audit log.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use petri_host::server::{self, NewAuditEntry, Priority, Revocation, ServerStore, TokenSpec};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Create a token and print it (once: it cannot be shown again).
    Create {
        /// The research group whose runs and artifacts the token sees.
        #[arg(long)]
        group: String,
        /// May see every group's runs, register module names, change
        /// instruments, list and revoke tokens and read the audit log.
        #[arg(long)]
        admin: bool,
        /// A note on who holds it (`revoke` accepts it).
        #[arg(long, default_value = "")]
        name: String,
        /// Let it submit runs (or samples) with this priority; repeat for both.
        #[arg(long = "allow-priority", value_enum)]
        allow_priority: Vec<Grant>,
        /// It stops working this long after now (`30d`, `12h`, `90min`).
        #[arg(long, value_parser = humantime::parse_duration)]
        expires_in: Option<Duration>,
        /// Why (kept in the audit log).
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// List every token: id, name, group, admin, grants, created, expiry, state.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by its id (from `list`) or its name; a running daemon
    /// refuses it within seconds, without a restart.
    Revoke {
        /// The token's id (at least 8 hex digits) or name.
        token: String,
        /// Why (kept in the audit log).
        #[arg(long, default_value = "")]
        reason: String,
    },
}

/// A priority an admin can grant.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Grant {
    Urgent,
    Clinical,
}

impl From<Grant> for Priority {
    fn from(g: Grant) -> Priority {
        match g {
            Grant::Urgent => Priority::Urgent,
            Grant::Clinical => Priority::Clinical,
        }
    }
}

pub async fn main(
    data_dir: &Path,
    database: Option<&str>,
    cmd: Command,
) -> anyhow::Result<ExitCode> {
    let store = server::open_store(data_dir, database).await?;
    match cmd {
        Command::Create {
            group,
            admin,
            name,
            allow_priority,
            expires_in,
            reason,
        } => {
            let expires_at = expires_in
                .map(|d| SystemTime::now() + d)
                .map(|t| humantime::format_rfc3339_micros(t).to_string());
            let spec = TokenSpec {
                name,
                group,
                admin,
                priorities: allow_priority.into_iter().map(Priority::from).collect(),
                expires_at,
            };
            let token = server::create_token_with(&store, &spec).await?;
            let id: String = server::token_digest(&token)
                .chars()
                .take(server::TOKEN_ID_LEN)
                .collect();
            audit(
                &store,
                data_dir,
                "token create",
                &id,
                &reason,
                &describe(&spec),
            )
            .await?;
            println!("{token}");
        }
        Command::List { json } => list(&store, json).await?,
        Command::Revoke { token, reason } => {
            return revoke(&store, data_dir, &token, &reason).await;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn describe(spec: &TokenSpec) -> String {
    let grants: Vec<&str> = spec.priorities.iter().map(|p| p.as_str()).collect();
    format!(
        "name `{}`, group {}, admin {}, priorities [{}], expires {}",
        spec.name,
        spec.group,
        spec.admin,
        grants.join(","),
        spec.expires_at.as_deref().unwrap_or("never")
    )
}

/// Records a local command in the audit log, as `cli:$USER`.
pub async fn audit(
    store: &ServerStore,
    data_dir: &Path,
    action: &str,
    target: &str,
    reason: &str,
    detail: &str,
) -> anyhow::Result<()> {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let entry = NewAuditEntry {
        actor: format!("cli:{user}"),
        group: "-".into(),
        action: format!("cli {action}"),
        target: target.into(),
        reason: reason.into(),
        detail: detail.into(),
    };
    server::audit_append(store, &entry, &data_dir.join(server::AUDIT_ANCHOR_FILE))
        .await
        .context("writing the audit log")?;
    Ok(())
}

async fn list(store: &ServerStore, json: bool) -> anyhow::Result<()> {
    let now = SystemTime::now();
    let views: Vec<_> = store.tokens().await?.iter().map(|t| t.view(now)).collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&views)?);
        return Ok(());
    }
    println!(
        "{:<12}  {:<16} {:<12} {:<5} {:<15} {:<8} {:<27} EXPIRES",
        "ID", "NAME", "GROUP", "ADMIN", "PRIORITIES", "STATE", "CREATED"
    );
    for t in views {
        let grants: Vec<&str> = t.priorities.iter().map(|p| p.as_str()).collect();
        let state = serde_json::to_value(t.state)?;
        println!(
            "{:<12}  {:<16} {:<12} {:<5} {:<15} {:<8} {:<27} {}",
            t.id,
            t.name,
            t.group,
            t.admin,
            grants.join(","),
            state.as_str().unwrap_or_default(),
            t.created_at,
            t.expires_at.as_deref().unwrap_or("never")
        );
    }
    Ok(())
}

async fn revoke(
    store: &ServerStore,
    data_dir: &Path,
    which: &str,
    reason: &str,
) -> anyhow::Result<ExitCode> {
    match store.revoke_token(which, &humantime_now(), None).await? {
        Revocation::Revoked(row) => {
            let detail = format!("name `{}`, group {}", row.name, row.group);
            audit(store, data_dir, "token revoke", &row.id, reason, &detail).await?;
            println!("revoked {} ({})", row.id, row.name);
            Ok(ExitCode::SUCCESS)
        }
        Revocation::AlreadyRevoked(row) => {
            println!(
                "{} ({}) was already revoked at {}",
                row.id,
                row.name,
                row.revoked_at.unwrap_or_default()
            );
            Ok(ExitCode::SUCCESS)
        }
        Revocation::NotFound => anyhow::bail!("no token with the id or name `{which}`"),
        Revocation::Ambiguous(n) => {
            anyhow::bail!("{n} tokens are named `{which}`: give the id (`petri token list`)")
        }
        // Nothing is spared from the command line.
        Revocation::Spared(row) => anyhow::bail!("token {} was not revoked", row.id),
    }
}

fn humantime_now() -> String {
    humantime::format_rfc3339_micros(SystemTime::now()).to_string()
}

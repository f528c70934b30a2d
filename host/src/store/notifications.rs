//! Notification subscriptions and their durable outbox (`notification_subscriptions`,
//! `notification_deliveries`): which group wants which run events POSTed where, and the state
//! of each delivery, written in the very transaction of the run's state change.
//!
//! [`enqueue`] is called by `daemon.rs` right after it records a run event,
//! inside the same write transaction: the state change and its deliveries
//! commit together or not at all, so a crash loses none and, the change being
//! conditional on the run's previous status, none is written twice. The
//! delivery loop (`server/notify.rs`) then [`Notifications::claim_due`]s rows
//! under a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite's write lock
//! serialises claimers), so daemons sharing a database never send one row at
//! once, and [`Notifications::record`]s each attempt only if it still holds
//! the lease.

use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sqlx::{Any, Transaction};
use utoipa::ToSchema;

use super::db::Backend;
use super::lease::epoch_ms;
use super::state::{StateError, StateStore};

/// What a subscription may ask to hear about.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum NotifyEvent {
    /// The run completed.
    Completed,
    /// The run failed (before or during its stages).
    Failed,
    /// The run needs an operator's eye: see [`AttentionKind`] (the payload's `kind`).
    Attention,
}

impl NotifyEvent {
    pub const ALL: [NotifyEvent; 3] = [
        NotifyEvent::Completed,
        NotifyEvent::Failed,
        NotifyEvent::Attention,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotifyEvent::Completed => "completed",
            NotifyEvent::Failed => "failed",
            NotifyEvent::Attention => "attention",
        }
    }

    pub fn parse(text: &str) -> Option<NotifyEvent> {
        NotifyEvent::ALL.into_iter().find(|e| e.as_str() == text)
    }

    /// The notification a run event of `kind` (as in `api_run_events`) raises.
    pub fn of_run_event(kind: &str) -> Option<NotifyEvent> {
        match kind {
            "completed" => Some(NotifyEvent::Completed),
            "failed" => Some(NotifyEvent::Failed),
            _ => AttentionKind::parse(kind).map(|_| NotifyEvent::Attention),
        }
    }
}

/// Where a delivery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Not delivered yet: due at its next attempt.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Every attempt failed (or its host is no longer allowed): failed for good.
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    fn parse(text: &str) -> DeliveryState {
        match text {
            "pending" => DeliveryState::Pending,
            "delivered" => DeliveryState::Delivered,
            // Only this code writes the column; anything else reads as failed.
            _ => DeliveryState::Failed,
        }
    }
}

/// One group's subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: String,
    pub group: String,
    pub url: String,
    /// The HMAC-SHA256 key deliveries are signed with.
    pub secret: String,
    pub events: Vec<NotifyEvent>,
    pub created_at: String,
}

type SubscriptionTuple = (String, String, String, String, String, String);

fn subscription(t: SubscriptionTuple) -> Subscription {
    Subscription {
        id: t.0,
        group: t.1,
        url: t.2,
        secret: t.3,
        events: t.4.split(',').filter_map(NotifyEvent::parse).collect(),
        created_at: t.5,
    }
}

/// One delivery as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    pub id: i64,
    pub event_id: String,
    pub event: NotifyEvent,
    pub run_id: String,
    pub state: DeliveryState,
    pub attempts: i64,
    /// The HTTP status of the last attempt, if it got an answer.
    pub last_status: Option<i64>,
    /// Why the last attempt failed without an answer (or was not made).
    pub last_error: Option<String>,
    /// When a pending delivery is tried next (ms since the epoch).
    pub next_attempt_ms: i64,
    pub created_at: String,
    pub delivered_at: Option<String>,
    /// The JSON body every attempt sends.
    pub payload: String,
}

type DeliveryTuple = (
    i64,
    String,
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<String>,
    i64,
    String,
    Option<String>,
    String,
);

fn delivery(t: DeliveryTuple) -> DeliveryRow {
    DeliveryRow {
        id: t.0,
        event_id: t.1,
        // Only this code writes the column.
        event: NotifyEvent::parse(&t.2).unwrap_or(NotifyEvent::Attention),
        run_id: t.3,
        state: DeliveryState::parse(&t.4),
        attempts: t.5,
        last_status: t.6,
        last_error: t.7,
        next_attempt_ms: t.8,
        created_at: t.9,
        delivered_at: t.10,
        payload: t.11,
    }
}

/// A delivery claimed for one attempt, with where and how to send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub id: i64,
    pub event: NotifyEvent,
    pub payload: String,
    /// Attempts made before this one.
    pub attempts: i64,
    pub url: String,
    pub secret: String,
    /// The claim: who holds it, until when (ms since the epoch).
    pub claimed_by: String,
    pub lease_until_ms: i64,
}

/// What became of one attempt and what comes next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempted {
    /// The receiver's HTTP status, if it answered.
    pub status: Option<u16>,
    /// Why there was no (good) answer.
    pub error: Option<String>,
    pub next: Next,
}

/// What a delivery does after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Delivered,
    /// Try again at this time (ms since the epoch).
    RetryAt(i64),
    GiveUp,
}

/// Writes a delivery of the run event `kind` (with `detail`, at `now`) for
/// each of the run's group's subscriptions that wants it, inside `tx`: the
/// transaction that changes the run. A kind that raises no notification
/// writes nothing.
pub async fn enqueue(
    tx: &mut Transaction<'static, Any>,
    run_id: &str,
    kind: &str,
    detail: &str,
    now: &str,
) -> Result<(), StateError> {
    let Some(event) = NotifyEvent::of_run_event(kind) else {
        return Ok(());
    };
    let run: Option<(String, String, String)> =
        sqlx::query_as("SELECT grp, pipeline, CAST(status AS TEXT) FROM api_runs WHERE id = $1")
            .bind(run_id)
            .fetch_optional(&mut **tx)
            .await?;
    let Some((group, pipeline, status)) = run else {
        return Ok(());
    };
    let event_id = uuid::Uuid::now_v7().to_string();
    let payload = serde_json::json!({
        "id": event_id,
        "event": event.as_str(),
        "kind": kind,
        "run_id": run_id,
        "group": group,
        "pipeline": pipeline,
        "status": status,
        "detail": detail,
        "at": now,
        "link": format!("/v1/runs/{run_id}"),
    });
    let due_ms = humantime::parse_rfc3339_weak(now).map_or(0, epoch_ms);
    sqlx::query(Backend::of(tx).sql(
        "INSERT INTO notification_deliveries
             (subscription_id, event_id, event, run_id, payload, state, attempts,
              next_attempt_ms, created_at)
         SELECT s.id, $1, $2::notify_event, $3, $4, 'pending', 0, $5, $6::timestamptz
         FROM notification_subscriptions s
         WHERE s.grp = $7 AND s.events LIKE $8",
    ))
    .bind(&event_id)
    .bind(event.as_str())
    .bind(run_id)
    .bind(payload.to_string())
    .bind(due_ms)
    .bind(now)
    .bind(&group)
    .bind(format!("%,{},%", event.as_str()))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The due deliveries (`$1`: now in ms, `$2`: how many), oldest first.
const DUE: &str = "SELECT d.id, CAST(d.event AS TEXT), d.payload, d.attempts, s.url, s.secret
     FROM notification_deliveries d
     JOIN notification_subscriptions s ON s.id = d.subscription_id
     WHERE d.state = 'pending' AND d.next_attempt_ms <= $1
       AND (d.lease_until_ms IS NULL OR d.lease_until_ms < $1)
     ORDER BY d.id LIMIT $2";

/// The subscriptions and deliveries of a state database.
#[derive(Debug, Clone)]
pub struct Notifications {
    state: StateStore,
}

impl Notifications {
    pub fn new(state: StateStore) -> Notifications {
        Notifications { state }
    }

    /// Stores a new subscription.
    pub async fn subscribe(&self, s: &Subscription) -> Result<(), StateError> {
        let events: Vec<&str> = s.events.iter().map(|e| e.as_str()).collect();
        sqlx::query(self.state.db().sql(
            "INSERT INTO notification_subscriptions (id, grp, url, secret, events, created_at)
             VALUES ($1, $2, $3, $4, $5, $6::timestamptz)",
        ))
        .bind(&s.id)
        .bind(&s.group)
        .bind(&s.url)
        .bind(&s.secret)
        .bind(format!(",{},", events.join(",")))
        .bind(&s.created_at)
        .execute(self.state.pool())
        .await?;
        Ok(())
    }

    /// `group`'s subscriptions, oldest first.
    pub async fn subscriptions(&self, group: &str) -> Result<Vec<Subscription>, StateError> {
        let rows: Vec<SubscriptionTuple> = sqlx::query_as(self.state.db().sql(
            "SELECT id, grp, url, secret, events, rfc3339_micros(created_at)
             FROM notification_subscriptions
             WHERE grp = $1 ORDER BY created_at, id",
        ))
        .bind(group)
        .fetch_all(self.state.pool())
        .await?;
        Ok(rows.into_iter().map(subscription).collect())
    }

    /// `group`'s subscription `id` (another group's is as unknown as a missing one).
    pub async fn subscription(
        &self,
        group: &str,
        id: &str,
    ) -> Result<Option<Subscription>, StateError> {
        let row: Option<SubscriptionTuple> = sqlx::query_as(self.state.db().sql(
            "SELECT id, grp, url, secret, events, rfc3339_micros(created_at)
             FROM notification_subscriptions
             WHERE grp = $1 AND id = $2",
        ))
        .bind(group)
        .bind(id)
        .fetch_optional(self.state.pool())
        .await?;
        Ok(row.map(subscription))
    }

    /// Deletes `group`'s subscription `id` and its deliveries (pending ones
    /// are not sent); false if the group has no such subscription.
    pub async fn unsubscribe(&self, group: &str, id: &str) -> Result<bool, StateError> {
        let mut tx = self.state.db().begin_write().await?;
        let gone = sqlx::query("DELETE FROM notification_subscriptions WHERE grp = $1 AND id = $2")
            .bind(group)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            > 0;
        if gone {
            sqlx::query("DELETE FROM notification_deliveries WHERE subscription_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(gone)
    }

    /// Up to `limit` deliveries of subscription `id`, newest first.
    pub async fn deliveries(&self, id: &str, limit: i64) -> Result<Vec<DeliveryRow>, StateError> {
        let rows: Vec<DeliveryTuple> = sqlx::query_as(self.state.db().sql(
            "SELECT id, event_id, event::text, run_id, state::text, attempts, last_status, last_error,
                    next_attempt_ms, rfc3339_micros(created_at), rfc3339_micros(delivered_at), payload
             FROM notification_deliveries WHERE subscription_id = $1
             ORDER BY id DESC LIMIT $2",
        ))
        .bind(id)
        .bind(limit)
        .fetch_all(self.state.pool())
        .await?;
        Ok(rows.into_iter().map(delivery).collect())
    }

    /// Claims up to `limit` deliveries due at `now_ms` for `owner` until
    /// `lease_until_ms`: one write transaction (`FOR UPDATE SKIP LOCKED` on
    /// PostgreSQL), so two daemons never claim one delivery; a claim whose
    /// lease ran out (its daemon died mid-attempt) is due again.
    pub async fn claim_due(
        &self,
        owner: &str,
        now_ms: i64,
        lease_until_ms: i64,
        limit: i64,
    ) -> Result<Vec<Due>, StateError> {
        // A read first: an idle outbox takes no write lock at every poll.
        let any: Option<(i64,)> = sqlx::query_as(
            "SELECT id FROM notification_deliveries
             WHERE state = 'pending' AND next_attempt_ms <= $1 LIMIT 1",
        )
        .bind(now_ms)
        .fetch_optional(self.state.pool())
        .await?;
        if any.is_none() {
            return Ok(Vec::new());
        }
        let db = self.state.db();
        let mut tx = db.begin_write().await?;
        let sql = match db.backend() {
            Backend::Postgres => format!("{DUE} FOR UPDATE OF d SKIP LOCKED"),
            Backend::Sqlite => DUE.to_owned(),
        };
        let rows: Vec<(i64, String, String, i64, String, String)> =
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(now_ms)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
        for row in &rows {
            sqlx::query(
                "UPDATE notification_deliveries SET claimed_by = $1, lease_until_ms = $2 WHERE id = $3",
            )
            .bind(owner)
            .bind(lease_until_ms)
            .bind(row.0)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(rows
            .into_iter()
            .map(|(id, event, payload, attempts, url, secret)| Due {
                id,
                event: NotifyEvent::parse(&event).unwrap_or(NotifyEvent::Attention),
                payload,
                attempts,
                url,
                secret,
                claimed_by: owner.to_owned(),
                lease_until_ms,
            })
            .collect())
    }

    /// Records an attempt at `due` (made at `now`), if its claim still
    /// holds; false if another daemon has taken the delivery over since.
    pub async fn record(
        &self,
        due: &Due,
        attempted: &Attempted,
        now: &str,
    ) -> Result<bool, StateError> {
        let (state, next_ms, delivered_at) = match attempted.next {
            Next::Delivered => (DeliveryState::Delivered, 0, Some(now)),
            Next::RetryAt(ms) => (DeliveryState::Pending, ms, None),
            Next::GiveUp => (DeliveryState::Failed, 0, None),
        };
        let r = sqlx::query(self.state.db().sql(
            "UPDATE notification_deliveries
             SET attempts = attempts + 1, state = $1::delivery_state, last_status = $2,
                 last_error = $3, next_attempt_ms = $4, delivered_at = $5::timestamptz,
                 claimed_by = NULL, lease_until_ms = NULL
             WHERE id = $6 AND claimed_by = $7 AND lease_until_ms = $8",
        ))
        .bind(state.as_str())
        .bind(attempted.status.map(i64::from))
        .bind(&attempted.error)
        .bind(next_ms)
        .bind(delivered_at)
        .bind(due.id)
        .bind(&due.claimed_by)
        .bind(due.lease_until_ms)
        .execute(self.state.pool())
        .await?;
        Ok(r.rows_affected() > 0)
    }
}

/// `ms` since the epoch as RFC 3339 text.
pub fn rfc3339_ms(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_millis(t).to_string()
}

/// Why a run needs an operator's eye: the run event `kind` of an `attention`
/// notification, and of an `attention` event on `/v1/events`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AttentionKind {
    /// Its daemon stopped while it ran; it resumed on the restart.
    Recovered,
    /// Its daemon's lease ran out; another daemon took it up.
    Rescued,
    /// One of its stages was stopped and re-queued: its instrument went down
    /// or into maintenance.
    Preempted,
    /// One of its stages failed after its policy retried it: every allowed
    /// attempt was used (or the last decision was refused).
    RetriesExhausted,
}

impl AttentionKind {
    pub const ALL: [AttentionKind; 4] = [
        AttentionKind::Recovered,
        AttentionKind::Rescued,
        AttentionKind::Preempted,
        AttentionKind::RetriesExhausted,
    ];

    /// The run event's `kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            AttentionKind::Recovered => "recovered",
            AttentionKind::Rescued => "rescued",
            AttentionKind::Preempted => "preempted",
            AttentionKind::RetriesExhausted => "retries-exhausted",
        }
    }

    pub fn parse(kind: &str) -> Option<AttentionKind> {
        AttentionKind::ALL.into_iter().find(|k| k.as_str() == kind)
    }
}

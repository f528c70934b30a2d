//! The notification outbox on both backends: a run's state change writes one delivery per
//! subscription that wants its event, in its own transaction (a change that does not happen
//! writes none), the rows outlive the store, and claims by several daemons never overlap.

use petri_host::server::{RunEnd, RunStatus, ServerStore};
use petri_host::{Attempted, DeliveryState, Next, NotifyEvent, StateStore, Subscription};

use super::{claim, on_both_urls, row};

fn subscription(id: &str, group: &str, events: &[NotifyEvent]) -> Subscription {
    Subscription {
        id: id.into(),
        group: group.into(),
        url: format!("http://127.0.0.1/{id}"),
        secret: format!("secret of {id}"),
        events: events.to_vec(),
        created_at: "2026-11-28T00:00:00.000000Z".into(),
    }
}

async fn open(url: &str) -> ServerStore {
    ServerStore::open(StateStore::open_url(url).await.unwrap())
}

fn completed(now: &str) -> RunEnd<'_> {
    RunEnd {
        status: RunStatus::Completed,
        record_id: None,
        root: None,
        error: None,
        detail: "done",
        now,
    }
}

#[test]
fn a_state_change_writes_its_deliveries_with_it_and_claims_never_overlap() {
    on_both_urls(|url| async move {
        let store = open(&url).await;
        let outbox = store.state().notifications();
        let (done, attention) = (
            subscription("s-done", "g", &[NotifyEvent::Completed]),
            subscription("s-att", "g", &[NotifyEvent::Failed, NotifyEvent::Attention]),
        );
        for s in [
            &done,
            &attention,
            &subscription("s-h", "h", &NotifyEvent::ALL),
        ] {
            outbox.subscribe(s).await.unwrap();
        }
        store
            .insert_run(&row("r1", "g", "normal"), 0, "")
            .await
            .unwrap();
        // Claimed (VALIDATING), then ended: `completed` for s-done only.
        let fence = claim(&store, "a", 0).await.unwrap().fence;
        let now = "2026-11-28T00:00:01.000000Z";
        assert!(
            store
                .finish("r1", RunStatus::Validating, completed(now), Some(&fence))
                .await
                .unwrap()
        );
        // Ending it again changes nothing, so writes nothing.
        assert!(
            !store
                .finish("r1", RunStatus::Validating, completed(now), None)
                .await
                .unwrap()
        );
        store
            .event("r1", "preempted", "s/x on `gpu`: down", now, None)
            .await
            .unwrap();
        store
            .event("r1", "validating", "node", now, None)
            .await
            .unwrap();
        drop((store, outbox));

        // A restarted daemon finds them.
        let store = open(&url).await;
        let outbox = store.state().notifications();
        let rows = outbox.deliveries("s-done", 10).await.unwrap();
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(
            (rows[0].event, rows[0].state),
            (NotifyEvent::Completed, DeliveryState::Pending)
        );
        let payload: serde_json::Value = serde_json::from_str(&rows[0].payload).unwrap();
        assert_eq!(payload["status"], "COMPLETED");
        assert_eq!(payload["group"], "g");
        let rows = outbox.deliveries("s-att", 10).await.unwrap();
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0].event, NotifyEvent::Attention);
        assert!(outbox.deliveries("s-h", 10).await.unwrap().is_empty());

        // Two daemons claiming at once share the two rows, never one twice.
        let now_ms = store.state().now_ms().await.unwrap();
        let (a, b) = tokio::join!(
            outbox.claim_due("a", now_ms, now_ms + 1_000, 10),
            outbox.claim_due("b", now_ms, now_ms + 1_000, 10),
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        let mut ids: Vec<i64> = a.iter().chain(&b).map(|d| d.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!((ids.len(), a.len() + b.len()), (2, 2), "{a:?} {b:?}");
        // Nothing is due while claimed.
        assert!(
            outbox
                .claim_due("c", now_ms + 500, now_ms + 1_500, 10)
                .await
                .unwrap()
                .is_empty()
        );
        // A claim that lapsed is taken over; its old holder records nothing.
        let stale = a.iter().chain(&b).next().unwrap().clone();
        let again = outbox
            .claim_due("c", now_ms + 2_000, now_ms + 3_000, 10)
            .await
            .unwrap();
        assert_eq!(again.len(), 2);
        let retry = Attempted {
            status: Some(503),
            error: None,
            next: Next::RetryAt(now_ms + 60_000),
        };
        assert!(!outbox.record(&stale, &retry, now).await.unwrap());
        let taken = again.iter().find(|d| d.id == stale.id).unwrap();
        assert!(outbox.record(taken, &retry, now).await.unwrap());
        let delivered = Attempted {
            status: Some(204),
            error: None,
            next: Next::Delivered,
        };
        let other = again.iter().find(|d| d.id != stale.id).unwrap();
        assert!(outbox.record(other, &delivered, now).await.unwrap());
        // The retried one waits for its time; the delivered one is done.
        assert!(
            outbox
                .claim_due("c", now_ms + 59_000, now_ms + 60_000, 10)
                .await
                .unwrap()
                .is_empty()
        );
        let due = outbox
            .claim_due("c", now_ms + 61_000, now_ms + 62_000, 10)
            .await
            .unwrap();
        assert_eq!((due.len(), due[0].id, due[0].attempts), (1, stale.id, 1));

        // Unsubscribing is the group's own, and drops the deliveries.
        assert!(!outbox.unsubscribe("h", "s-done").await.unwrap());
        assert!(outbox.unsubscribe("g", "s-done").await.unwrap());
        assert!(outbox.deliveries("s-done", 10).await.unwrap().is_empty());
        assert_eq!(outbox.subscriptions("g").await.unwrap(), vec![attention]);
    });
}

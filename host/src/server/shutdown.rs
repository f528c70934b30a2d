//! Graceful shutdown: the signal (SIGTERM or Ctrl-C) and the drain that follows it.
//!
//! On the signal the daemon stops accepting connections and stops taking runs
//! from the queue; running runs get `drain-timeout-secs` to finish. Whatever
//! still runs then is checkpointed: its stages are stopped (completed stages are
//! already committed to the stage cache) and the run goes back to PENDING, to
//! resume from its completed stages on the next start.

use std::time::Duration;

use tokio::task::JoinSet;

/// Resolves on SIGTERM or Ctrl-C. The SIGTERM handler is installed by this
/// call, not when the future is first polled: a daemon that calls it before
/// it announces its address never loses a SIGTERM sent right after (it would
/// otherwise die of the signal, without draining). Call it inside the runtime.
pub fn signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        #[cfg(unix)]
        if let Some(mut term) = term {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Waits up to `timeout` for `tasks`; then calls `checkpoint` (which stops
/// what still runs) and waits for the rest. Returns how many were checkpointed.
pub async fn drain(mut tasks: JoinSet<()>, timeout: Duration, checkpoint: impl FnOnce()) -> usize {
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            joined = tasks.join_next() => {
                if joined.is_none() {
                    return 0;
                }
            }
            _ = &mut deadline => break,
        }
    }
    let left = tasks.len();
    checkpoint();
    while tasks.join_next().await.is_some() {}
    left
}

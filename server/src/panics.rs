//! Keeping a panic to the work that raised it. A panic in a long-lived task (a socket's
//! serving loop, a committer shard) would end the task: a socket's slot and presence were
//! never released, and a shard's conversations could not send until a restart, while
//! `/readyz` still said ready. [`contained`] catches the unwind so that the task goes on
//! (or cleans up), logs it, and counts it in `ferry_panics_total`.

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use prometheus_client::metrics::counter::Counter;

/// Runs `work`; a panic in it is logged with `what`, counted, and becomes `None`.
pub async fn contained<T>(
    what: &str,
    panics: &Counter,
    work: impl Future<Output = T>,
) -> Option<T> {
    match AssertUnwindSafe(work).catch_unwind().await {
        Ok(done) => Some(done),
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            panics.inc();
            tracing::error!(panic = %message, "{what} panicked; carrying on");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_is_kept_to_its_work_and_counted() {
        let panics = Counter::default();
        let mut done = Vec::new();
        for n in 0..3 {
            let result = contained("a test batch", &panics, async move {
                assert!(n != 1, "batch {n} is broken");
                n
            })
            .await;
            done.push(result);
        }
        assert_eq!(
            done,
            [Some(0), None, Some(2)],
            "the loop went on past the panic"
        );
        assert_eq!(panics.get(), 1);
    }
}

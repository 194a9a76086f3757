//! Running several borrowed futures at once, at most `limit` of them in flight, without
//! spawning: results come back in input order, so concurrent evaluation yields exactly what
//! sequential evaluation would.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A boxed future that may borrow from the evaluator.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Polls the futures, at most `limit` at a time (started in order), and returns their
/// outputs in input order.
pub fn join_bounded<'a, T: Send + 'a>(futures: Vec<BoxFuture<'a, T>>, limit: usize) -> JoinBounded<'a, T> {
    let n = futures.len();
    JoinBounded {
        pending: futures.into_iter().map(Some).collect(),
        results: (0..n).map(|_| None).collect(),
        next: 0,
        running: Vec::new(),
        limit: limit.max(1),
    }
}

pub struct JoinBounded<'a, T> {
    pending: Vec<Option<BoxFuture<'a, T>>>,
    results: Vec<Option<T>>,
    /// Index of the next future to start.
    next: usize,
    /// Indices of the futures in flight.
    running: Vec<usize>,
    limit: usize,
}

impl<T> Unpin for JoinBounded<'_, T> {}

impl<T> Future for JoinBounded<'_, T> {
    type Output = Vec<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Vec<T>> {
        let this = self.get_mut();
        loop {
            while this.running.len() < this.limit && this.next < this.pending.len() {
                this.running.push(this.next);
                this.next += 1;
            }
            let mut finished_any = false;
            let mut i = 0;
            while i < this.running.len() {
                let index = this.running[i];
                let done = match this.pending.get_mut(index).and_then(Option::as_mut) {
                    Some(fut) => match fut.as_mut().poll(cx) {
                        Poll::Ready(value) => {
                            if let Some(slot) = this.results.get_mut(index) {
                                *slot = Some(value);
                            }
                            true
                        }
                        Poll::Pending => false,
                    },
                    None => true,
                };
                if done {
                    if let Some(slot) = this.pending.get_mut(index) {
                        *slot = None;
                    }
                    this.running.swap_remove(i);
                    finished_any = true;
                } else {
                    i += 1;
                }
            }
            if this.running.is_empty() && this.next >= this.pending.len() {
                let results = std::mem::take(&mut this.results);
                return Poll::Ready(results.into_iter().flatten().collect());
            }
            // Start the next futures only when some finished; else wait for a wake-up.
            if !finished_any {
                return Poll::Pending;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keeps_order_and_bounds_concurrency() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let in_flight = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let futures: Vec<BoxFuture<'_, usize>> = (0..10usize)
            .map(|i| {
                let in_flight = &in_flight;
                let peak = &peak;
                Box::pin(async move {
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(std::time::Duration::from_millis((10 - i as u64) * 2)).await;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    i * 10
                }) as BoxFuture<'_, usize>
            })
            .collect();
        let out = join_bounded(futures, 3).await;
        assert_eq!(out, (0..10).map(|i| i * 10).collect::<Vec<_>>());
        assert_eq!(peak.load(Ordering::SeqCst), 3);
    }
}

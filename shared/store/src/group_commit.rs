//! Group commit: concurrent writers hand their item to one task, which writes every item
//! waiting at that moment in ONE transaction (one fsync) and answers each writer with its own
//! outcome. No timer: while one commit is on its way to disk the next batch gathers, so an
//! idle system commits each item at once and a busy one amortises the fsync over the batch.
//! A writer is answered only after the commit returned: nothing is acknowledged before it is
//! durable.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use tokio::sync::{mpsc, oneshot};

use crate::StoreError;

type Job<T, R> = (T, oneshot::Sender<Result<R, StoreError>>);

/// Submits items to a commit task shared by all clones. The task stops when the last clone
/// is dropped.
#[derive(Debug)]
pub struct GroupCommit<T, R> {
    jobs: mpsc::Sender<Job<T, R>>,
    counters: Arc<Counters>,
}

impl<T, R> Clone for GroupCommit<T, R> {
    fn clone(&self) -> Self {
        Self {
            jobs: self.jobs.clone(),
            counters: self.counters.clone(),
        }
    }
}

/// How many commits were made for how many items (their ratio is the fsyncs per item).
#[derive(Debug, Default)]
struct Counters {
    commits: AtomicU64,
    items: AtomicU64,
}

impl<T: Send + 'static, R: Send + 'static> GroupCommit<T, R> {
    /// Starts the commit task: `commit` writes a batch of at most `max_batch` items in one
    /// transaction and returns one outcome per item, in order. An error fails every item of
    /// the batch (the transaction rolled back).
    pub fn spawn<F, Fut>(max_batch: usize, mut commit: F) -> Self
    where
        F: FnMut(Vec<T>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Vec<R>, StoreError>> + Send,
    {
        let max_batch = max_batch.max(1);
        let (jobs, mut queue) = mpsc::channel::<Job<T, R>>(max_batch * 4);
        let counters = Arc::new(Counters::default());
        let task_counters = counters.clone();
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(max_batch);
            while queue.recv_many(&mut batch, max_batch).await > 0 {
                let (items, replies): (Vec<T>, Vec<_>) = batch.drain(..).unzip();
                let count = items.len();
                let outcome = commit(items).await;
                task_counters.commits.fetch_add(1, Ordering::Relaxed);
                task_counters
                    .items
                    .fetch_add(count as u64, Ordering::Relaxed);
                match outcome {
                    Ok(results) if results.len() == count => {
                        for (reply, result) in replies.into_iter().zip(results) {
                            // A writer that went away no longer needs its answer.
                            let _ = reply.send(Ok(result));
                        }
                    }
                    Ok(results) => {
                        let error = Arc::new(StoreError::Corrupt(format!(
                            "a commit of {count} items returned {} outcomes",
                            results.len()
                        )));
                        fail_all(replies, &error);
                    }
                    Err(error) => fail_all(replies, &Arc::new(error)),
                }
            }
        });
        Self { jobs, counters }
    }

    /// Hands `item` to the next commit and waits for its outcome.
    pub async fn submit(&self, item: T) -> Result<R, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send((item, reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// `(commits, items)` written so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.counters.commits.load(Ordering::Relaxed),
            self.counters.items.load(Ordering::Relaxed),
        )
    }
}

fn fail_all<R>(replies: Vec<oneshot::Sender<Result<R, StoreError>>>, error: &Arc<StoreError>) {
    for reply in replies {
        let _ = reply.send(Err(StoreError::Shared(error.clone())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn concurrent_writers_share_commits_and_each_gets_its_own_outcome() {
        // On the test's single-threaded runtime the twenty writers all queue before the
        // commit task runs again, so they share one or two commits.
        let commits = GroupCommit::spawn(64, |items: Vec<u32>| async move {
            Ok(items.into_iter().map(|i| i * 10).collect())
        });
        let writers: Vec<_> = (0..20)
            .map(|i| {
                let commits = commits.clone();
                tokio::spawn(async move { commits.submit(i).await })
            })
            .collect();
        for (i, writer) in (0u32..).zip(writers) {
            assert_eq!(writer.await.unwrap().unwrap(), i * 10);
        }
        let (batches, items) = commits.counts();
        assert_eq!(items, 20);
        assert!(batches <= 2, "20 writers took {batches} commits");
    }

    #[tokio::test]
    async fn a_failed_commit_fails_every_writer_of_its_batch_with_the_class_kept() {
        let commits = GroupCommit::<u32, u32>::spawn(8, |_| async {
            Err(StoreError::from(sqlx::Error::PoolTimedOut))
        });
        let error = commits.submit(1).await.unwrap_err();
        assert!(error.is_transient(), "{error}");
    }
}

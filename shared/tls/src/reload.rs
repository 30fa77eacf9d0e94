//! A value built from files and rebuilt when their contents change: how a renewed
//! certificate, key or CA takes effect without a restart.
//!
//! [`Reloading::run`] re-reads the files every interval and compares their bytes with what the
//! current value was built from (contents, not timestamps: a rewrite within the same second,
//! or a Kubernetes Secret volume swapping its symlink, is still seen). A set of files that
//! does not build (a certificate written before its key) keeps the current value and is
//! tried again at the next check.

use std::{
    fmt,
    path::PathBuf,
    sync::{Arc, PoisonError, RwLock},
    time::Duration,
};

use crate::TlsError;

type Build<T> = Box<dyn Fn(&[Vec<u8>]) -> Result<T, TlsError> + Send + Sync>;

/// A value built from `files` by a build function, rebuilt when they change. Shared as an
/// `Arc`; readers take [`Reloading::current`] per use (a new connection, a handshake).
pub struct Reloading<T> {
    what: &'static str,
    files: Vec<PathBuf>,
    build: Build<T>,
    state: RwLock<State<T>>,
}

struct State<T> {
    value: Arc<T>,
    contents: Vec<Vec<u8>>,
}

impl<T> fmt::Debug for Reloading<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reloading")
            .field("what", &self.what)
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

fn read_all(files: &[PathBuf]) -> Result<Vec<Vec<u8>>, TlsError> {
    files
        .iter()
        .map(|path| {
            std::fs::read(path).map_err(|source| TlsError::Read {
                path: path.clone(),
                source,
            })
        })
        .collect()
}

impl<T: Send + Sync + 'static> Reloading<T> {
    /// Reads `files` and builds the first value from their contents (in the same order);
    /// `what` names it in logs (e.g. `server certificate`).
    pub fn load(
        what: &'static str,
        files: Vec<PathBuf>,
        build: impl Fn(&[Vec<u8>]) -> Result<T, TlsError> + Send + Sync + 'static,
    ) -> Result<Arc<Self>, TlsError> {
        let contents = read_all(&files)?;
        let value = Arc::new(build(&contents)?);
        Ok(Arc::new(Self {
            what,
            files,
            build: Box::new(build),
            state: RwLock::new(State { value, contents }),
        }))
    }

    /// The current value.
    pub fn current(&self) -> Arc<T> {
        // A panic while holding the lock cannot leave the state half-replaced (one
        // assignment), so a poisoned lock is still usable.
        self.state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .value
            .clone()
    }

    /// Re-reads the files; rebuilds and swaps the value when their contents changed. `Ok(true)`
    /// when a new value is in place; on an error the current value stays.
    pub fn reload(&self) -> Result<bool, TlsError> {
        let contents = read_all(&self.files)?;
        let unchanged = self
            .state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contents
            == contents;
        if unchanged {
            return Ok(false);
        }
        let value = Arc::new((self.build)(&contents)?);
        *self.state.write().unwrap_or_else(PoisonError::into_inner) = State { value, contents };
        Ok(true)
    }

    /// Checks the files every `every` and reloads what changed, until dropped (run it as a
    /// task of the service's shutdown). Failures are logged and retried at the next check.
    pub async fn run(self: Arc<Self>, every: Duration) {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await; // immediate: the value was just loaded
        loop {
            ticks.tick().await;
            let this = self.clone();
            match tokio::task::spawn_blocking(move || this.reload()).await {
                Ok(Ok(true)) => {
                    tracing::info!(what = self.what, files = ?self.files, "reloaded from disk")
                }
                Ok(Ok(false)) => {}
                Ok(Err(error)) => tracing::warn!(
                    what = self.what,
                    %error,
                    "reloading failed; keeping the current one"
                ),
                Err(error) => tracing::warn!(what = self.what, %error, "reload task failed"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn length_of_both(contents: &[Vec<u8>]) -> Result<usize, TlsError> {
        if contents[1].is_empty() {
            return Err(TlsError::ClientCa("second file empty".into()));
        }
        Ok(contents.iter().map(Vec::len).sum())
    }

    #[test]
    fn a_changed_file_is_rebuilt_and_a_broken_set_keeps_the_current_value() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, "12").unwrap();
        std::fs::write(&b, "3").unwrap();
        let value = Reloading::load("test", vec![a.clone(), b.clone()], length_of_both).unwrap();
        assert_eq!(*value.current(), 3);
        assert!(!value.reload().unwrap(), "nothing changed");

        // Same length, same second: only the bytes differ.
        std::fs::write(&a, "21").unwrap();
        assert!(value.reload().unwrap());
        std::fs::write(&a, "12345").unwrap();
        assert!(value.reload().unwrap());
        assert_eq!(*value.current(), 6);

        std::fs::write(&b, "").unwrap();
        assert!(value.reload().is_err());
        assert_eq!(
            *value.current(),
            6,
            "a set that does not build is not taken"
        );
        std::fs::remove_file(&a).unwrap();
        assert!(matches!(value.reload(), Err(TlsError::Read { .. })));
        assert_eq!(*value.current(), 6);
    }
}

//! The LLM response cache: an answer received once is never paid for again, across runs and
//! pipelines.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use rusqlite::{Connection, OptionalExtension, params};

use super::db;
use crate::Result;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS responses (
    key BLOB PRIMARY KEY,
    checksum BLOB NOT NULL,
    value BLOB NOT NULL
) WITHOUT ROWID;";

/// One answer to store, and who waits for its commit.
struct Put {
    key: [u8; 32],
    value: Vec<u8>,
    committed: tokio::sync::oneshot::Sender<bool>,
}

struct Shared {
    path: PathBuf,
    reader: Mutex<Connection>,
    writer: Mutex<Option<mpsc::Sender<Put>>>,
    hits: AtomicU64,
    stored: AtomicU64,
}

/// A store of LLM answers by request key. Clones share it. Writes go to one thread that
/// commits everything waiting in one transaction, so many answers arriving together cost
/// one commit, and [`put`](Self::put) returns once its answer is durable.
#[derive(Clone)]
pub struct ResponseCache {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache")
            .field("path", &self.shared.path)
            .finish_non_exhaustive()
    }
}

impl ResponseCache {
    /// The cache shared by every pipeline: `<cache>/llm-responses.sqlite`.
    pub fn shared() -> Result<(Self, Option<String>)> {
        Self::open(&super::root().join("llm-responses.sqlite"))
    }

    /// Opens the cache at `path`; the warning says when a damaged file was replaced.
    pub fn open(path: &Path) -> Result<(Self, Option<String>)> {
        let (reader, warning) = db::open(path, SCHEMA)?;
        let (writer_connection, _) = db::open(path, SCHEMA)?;
        let (sender, receiver) = mpsc::channel::<Put>();
        let thread_path = path.to_owned();
        std::thread::Builder::new()
            .name("distil-responses".into())
            .spawn(move || write_loop(writer_connection, receiver, &thread_path))
            .map_err(|e| crate::Error::io(path, e))?;
        Ok((
            ResponseCache {
                shared: Arc::new(Shared {
                    path: path.to_owned(),
                    reader: Mutex::new(reader),
                    writer: Mutex::new(Some(sender)),
                    hits: AtomicU64::new(0),
                    stored: AtomicU64::new(0),
                }),
            },
            warning,
        ))
    }

    /// The answer stored under `key`; `None` when there is none or its bytes no longer match
    /// their checksum (the entry is then dropped, and the request sent again).
    pub fn get(&self, key: &[u8; 32]) -> Option<Vec<u8>> {
        let reader = self.shared.reader.lock().unwrap_or_else(|p| p.into_inner());
        let found: Option<(Vec<u8>, Vec<u8>)> = reader
            .query_row(
                "SELECT checksum, value FROM responses WHERE key = ?1",
                params![&key[..]],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .unwrap_or_else(|e| {
                tracing::warn!("cache {}: {e}", self.shared.path.display());
                None
            });
        let (checksum, value) = found?;
        if checksum != super::sha256(&value) {
            tracing::warn!(
                "cache {}: an entry's checksum does not match its bytes; it is dropped",
                self.shared.path.display()
            );
            let _ = reader.execute("DELETE FROM responses WHERE key = ?1", params![&key[..]]);
            return None;
        }
        self.shared.hits.fetch_add(1, Ordering::Relaxed);
        Some(value)
    }

    /// Stores `value` under `key` and waits until it is committed; `false` if it could not be.
    pub async fn put(&self, key: [u8; 32], value: Vec<u8>) -> bool {
        let (committed, done) = tokio::sync::oneshot::channel();
        let sent = {
            let writer = self.shared.writer.lock().unwrap_or_else(|p| p.into_inner());
            writer.as_ref().is_some_and(|w| {
                w.send(Put {
                    key,
                    value,
                    committed,
                })
                .is_ok()
            })
        };
        let stored = sent && done.await.unwrap_or(false);
        if stored {
            self.shared.stored.fetch_add(1, Ordering::Relaxed);
        }
        stored
    }

    /// Answers found so far by this handle and its clones.
    pub fn hits(&self) -> u64 {
        self.shared.hits.load(Ordering::Relaxed)
    }

    /// Answers stored so far by this handle and its clones.
    pub fn stored(&self) -> u64 {
        self.shared.stored.load(Ordering::Relaxed)
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Ends the writer thread once it has committed what it holds.
        self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

fn write_loop(mut connection: Connection, receiver: mpsc::Receiver<Put>, path: &Path) {
    while let Ok(first) = receiver.recv() {
        let mut group = vec![first];
        group.extend(receiver.try_iter());
        let result = (|| -> rusqlite::Result<()> {
            let transaction = connection.transaction()?;
            {
                let mut insert = transaction.prepare_cached(
                    "INSERT OR REPLACE INTO responses (key, checksum, value) VALUES (?1, ?2, ?3)",
                )?;
                for put in &group {
                    insert.execute(params![
                        &put.key[..],
                        &super::sha256(&put.value)[..],
                        &put.value
                    ])?;
                }
            }
            transaction.commit()
        })();
        if let Err(e) = &result {
            tracing::warn!("cache {}: answers not stored: {e}", path.display());
        }
        for put in group {
            let _ = put.committed.send(result.is_ok());
        }
    }
}

//! The LLM response cache: an answer received once is never paid for again, across runs and
//! pipelines.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, params};

use super::db;
use crate::Result;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS responses (
    key BLOB PRIMARY KEY,
    checksum BLOB NOT NULL,
    value BLOB NOT NULL
) WITHOUT ROWID;";

/// One answer to store, and who waits for its commit when the queue was long.
struct Put {
    key: [u8; 32],
    value: Vec<u8>,
    committed: Option<tokio::sync::oneshot::Sender<bool>>,
}

/// What the writer thread is sent.
enum ToWriter {
    Put(Put),
    /// Commit what is queued now, then say so.
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// Answers queued for the writer beyond which [`ResponseCache::put`] waits for its commit:
/// the queue's memory stays bounded when answers arrive faster than the disk takes them.
const QUEUE_BOUND: usize = 4096;

struct Shared {
    path: PathBuf,
    reader: Mutex<Connection>,
    /// The cache held no answer when opened: lookups are skipped, as a run's requests are
    /// distinct from each other (answers other processes store meanwhile are found by the
    /// next run).
    empty_at_open: bool,
    writer: Mutex<Option<mpsc::Sender<ToWriter>>>,
    /// The writer thread, joined when the last handle goes: every queued answer is committed
    /// before the cache is gone.
    writer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Answers sent to the writer and not committed yet.
    queued: Arc<AtomicUsize>,
    hits: AtomicU64,
    stored: AtomicU64,
}

/// A store of LLM answers by request key. Clones share it. Writes go to one thread that
/// gathers answers for 10 ms (up to 50 ms while fewer than 16 have come) and commits them in
/// one transaction, so many answers cost one commit, and a row never waits for the disk (a
/// killed process loses at most the answers of that window, which a rerun asks again).
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
        let any: bool = reader
            .query_row("SELECT EXISTS (SELECT 1 FROM responses)", [], |row| {
                row.get(0)
            })
            .map_err(|e| db::cache_error(path, e))?;
        let (writer_connection, _) = db::open(path, SCHEMA)?;
        let (sender, receiver) = mpsc::channel::<ToWriter>();
        let thread_path = path.to_owned();
        let queued = Arc::new(AtomicUsize::new(0));
        let writer_queued = queued.clone();
        let writer_thread = std::thread::Builder::new()
            .name("distil-responses".into())
            .spawn(move || write_loop(writer_connection, receiver, &thread_path, &writer_queued))
            .map_err(|e| crate::Error::io(path, e))?;
        Ok((
            ResponseCache {
                shared: Arc::new(Shared {
                    path: path.to_owned(),
                    reader: Mutex::new(reader),
                    empty_at_open: !any,
                    writer: Mutex::new(Some(sender)),
                    writer_thread: Mutex::new(Some(writer_thread)),
                    queued,
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
        if self.shared.empty_at_open {
            return None;
        }
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

    /// Stores `value` under `key`: queued for the writer's next commit, waiting for that
    /// commit only when the queue is long. `false` if it could not be (the writer is gone, or
    /// the commit it waited for failed; a failed commit is logged either way).
    pub async fn put(&self, key: [u8; 32], value: Vec<u8>) -> bool {
        let long = self.shared.queued.fetch_add(1, Ordering::Relaxed) >= QUEUE_BOUND;
        let (committed, done) = if long {
            let (committed, done) = tokio::sync::oneshot::channel();
            (Some(committed), Some(done))
        } else {
            (None, None)
        };
        let sent = {
            let writer = self.shared.writer.lock().unwrap_or_else(|p| p.into_inner());
            writer.as_ref().is_some_and(|w| {
                w.send(ToWriter::Put(Put {
                    key,
                    value,
                    committed,
                }))
                .is_ok()
            })
        };
        if !sent {
            self.shared.queued.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        let stored = match done {
            Some(done) => done.await.unwrap_or(false),
            None => true,
        };
        if stored {
            self.shared.stored.fetch_add(1, Ordering::Relaxed);
        }
        stored
    }

    /// Waits until every answer handed to the writer so far is committed: a run returns only
    /// then, so that the next one, in this process or another, finds them.
    pub async fn flush(&self) {
        let (done, flushed) = tokio::sync::oneshot::channel();
        let sent = {
            let writer = self.shared.writer.lock().unwrap_or_else(|p| p.into_inner());
            writer
                .as_ref()
                .is_some_and(|w| w.send(ToWriter::Flush(done)).is_ok())
        };
        if !sent {
            return;
        }
        // Out of the group's pause, to commit at once.
        if let Some(thread) = &*self
            .shared
            .writer_thread
            .lock()
            .unwrap_or_else(|p| p.into_inner())
        {
            thread.thread().unpark();
        }
        let _ = flushed.await;
    }

    /// Answers found so far by this handle and its clones.
    pub fn hits(&self) -> u64 {
        self.shared.hits.load(Ordering::Relaxed)
    }

    /// Answers handed to the writer so far by this handle and its clones (a commit that
    /// fails is logged in `pipeline.log`).
    pub fn stored(&self) -> u64 {
        self.shared.stored.load(Ordering::Relaxed)
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Ends the writer thread once it has committed what it holds, waking it if it is
        // gathering answers.
        self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        let thread = self
            .writer_thread
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(thread) = thread {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

/// How long the writer gathers answers after the first of a group before committing them
/// together: a commit costs far more than a row, and rows do not wait for it.
const GROUP_WINDOW: Duration = Duration::from_millis(10);

/// While a group holds fewer answers than this, the writer gathers for longer, up to
/// [`GROUP_WINDOW_SLOW`]: when answers come slowly, a commit each would cost more than the
/// answers themselves, and what a killed process can lose stays this many answers (or the
/// answers of [`GROUP_WINDOW`] when they come fast).
const GROUP_FEW: usize = 16;
const GROUP_WINDOW_SLOW: Duration = Duration::from_millis(50);

/// Answers committed together at most.
const GROUP_MAX: usize = 1024;

/// A group of answers to commit together, and who waits for its commit.
#[derive(Default)]
struct Group {
    puts: Vec<Put>,
    flushes: Vec<tokio::sync::oneshot::Sender<()>>,
    /// Every handle is gone.
    closed: bool,
}

impl Group {
    fn add(&mut self, message: ToWriter) {
        match message {
            ToWriter::Put(put) => self.puts.push(put),
            ToWriter::Flush(done) => self.flushes.push(done),
        }
    }

    /// Moves the queued messages in (up to [`GROUP_MAX`] answers).
    fn gather(&mut self, receiver: &mpsc::Receiver<ToWriter>) {
        while self.puts.len() < GROUP_MAX {
            match receiver.try_recv() {
                Ok(message) => self.add(message),
                Err(mpsc::TryRecvError::Empty) => return,
                Err(mpsc::TryRecvError::Disconnected) => {
                    self.closed = true;
                    return;
                }
            }
        }
    }

    /// Whether to commit now rather than gather more.
    fn is_due(&self) -> bool {
        self.closed || !self.flushes.is_empty() || self.puts.len() >= GROUP_MAX
    }
}

fn write_loop(
    mut connection: Connection,
    receiver: mpsc::Receiver<ToWriter>,
    path: &Path,
    queued: &AtomicUsize,
) {
    while let Ok(first) = receiver.recv() {
        let started = Instant::now();
        let mut group = Group::default();
        group.add(first);
        // Asleep rather than waiting on the channel: the answers of the window queue up
        // without waking this thread (and their senders) once each.
        let mut pause = GROUP_WINDOW;
        while !group.is_due() {
            // Woken early by a flush and when the last handle goes.
            std::thread::park_timeout(pause);
            group.gather(&receiver);
            let gathered = started.elapsed();
            if group.is_due() {
                break;
            }
            if gathered < GROUP_WINDOW {
                pause = GROUP_WINDOW - gathered;
                continue;
            }
            let answers = group.puts.len();
            if answers >= GROUP_FEW || gathered >= GROUP_WINDOW_SLOW {
                break;
            }
            // Until GROUP_FEW answers are expected at the rate seen so far, within the slow
            // window.
            let expected = gathered.mul_f64((GROUP_FEW - answers) as f64 / answers.max(1) as f64);
            pause = expected
                .min(GROUP_WINDOW_SLOW - gathered)
                .max(Duration::from_millis(1));
        }
        let Group { puts, flushes, .. } = group;
        let result = if puts.is_empty() {
            Ok(())
        } else {
            commit(&mut connection, &puts)
        };
        if let Err(e) = &result {
            tracing::warn!("cache {}: answers not stored: {e}", path.display());
        }
        queued.fetch_sub(puts.len(), Ordering::Relaxed);
        for put in puts {
            if let Some(committed) = put.committed {
                let _ = committed.send(result.is_ok());
            }
        }
        for flushed in flushes {
            let _ = flushed.send(());
        }
    }
}

/// Stores `puts` in one transaction.
fn commit(connection: &mut Connection, puts: &[Put]) -> rusqlite::Result<()> {
    let transaction = connection.transaction()?;
    {
        let mut insert = transaction.prepare_cached(
            "INSERT OR REPLACE INTO responses (key, checksum, value) VALUES (?1, ?2, ?3)",
        )?;
        for put in puts {
            insert.execute(params![
                &put.key[..],
                &super::sha256(&put.value)[..],
                &put.value
            ])?;
        }
    }
    transaction.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run flushes before it returns: the next one, which opens the cache anew, finds every
    /// answer, however slowly they came (the writer may be pausing to gather more).
    #[tokio::test]
    async fn flushed_answers_are_found_by_the_next_opening() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("distil-responses-{}-{nanos}", std::process::id()));
        let path = dir.join("responses.sqlite");
        let (cache, _) = ResponseCache::open(&path).unwrap();
        assert!(cache.put([7; 32], b"an answer".to_vec()).await);
        cache.flush().await;
        let (next, _) = ResponseCache::open(&path).unwrap();
        assert_eq!(next.get(&[7; 32]).as_deref(), Some(&b"an answer"[..]));
        drop((cache, next));
        let _ = std::fs::remove_dir_all(dir);
    }
}

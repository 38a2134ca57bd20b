//! The batch store: each persisted step's finished output batches, in order, keyed by the
//! step's signature. A batch records how many input rows it came from and their hash, so a
//! rerun replays it only for the very same input.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, params};

use super::db;
use super::signature::Signature;
use crate::Result;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS batches (
    signature BLOB NOT NULL,
    seq INTEGER NOT NULL,
    consumed INTEGER NOT NULL,
    input_hash BLOB NOT NULL,
    checksum BLOB NOT NULL,
    payload BLOB NOT NULL,
    PRIMARY KEY (signature, seq)
) WITHOUT ROWID;";

/// One finished output batch of a step.
#[derive(Clone, Debug)]
pub(crate) struct CachedBatch {
    /// Input rows the batch came from.
    pub(crate) consumed: usize,
    /// Their [content hash](crate::batch::Batch::content_hash).
    pub(crate) input_hash: [u8; 32],
    /// The encoded output batch.
    pub(crate) payload: Vec<u8>,
}

/// A pipeline's batch store; clones share one connection.
#[derive(Clone)]
pub(crate) struct BatchStore {
    path: PathBuf,
    connection: Arc<Mutex<Connection>>,
}

impl BatchStore {
    /// Opens `<dir>/batches.sqlite`; the warning says when a damaged file was replaced.
    pub(crate) fn open(dir: &Path) -> Result<(Self, Option<String>)> {
        let path = dir.join("batches.sqlite");
        let (connection, warning) = db::open(&path, SCHEMA)?;
        Ok((
            BatchStore {
                path,
                connection: Arc::new(Mutex::new(connection)),
            },
            warning,
        ))
    }

    /// The store's file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.connection.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The step's batches in order, up to the first gap or damaged entry (which is removed
    /// with everything after it: the step computes those again).
    pub(crate) fn load(&self, signature: &Signature) -> Result<Vec<CachedBatch>> {
        let connection = self.lock();
        let mut statement = connection
            .prepare_cached(
                "SELECT seq, consumed, input_hash, checksum, payload FROM batches \
                 WHERE signature = ?1 ORDER BY seq",
            )
            .map_err(|e| db::cache_error(&self.path, e))?;
        let rows = statement
            .query_map(params![&signature.0[..]], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, Vec<u8>>(2)?,
                    row.get::<_, Vec<u8>>(3)?,
                    row.get::<_, Vec<u8>>(4)?,
                ))
            })
            .map_err(|e| db::cache_error(&self.path, e))?;
        let mut batches = Vec::new();
        let mut damaged = None;
        for row in rows {
            let (seq, consumed, input_hash, checksum, payload) =
                row.map_err(|e| db::cache_error(&self.path, e))?;
            let sound = seq as u64 == batches.len() as u64
                && checksum == super::sha256(&payload)
                && input_hash.len() == 32;
            if !sound {
                damaged = Some(batches.len() as u64);
                break;
            }
            batches.push(CachedBatch {
                consumed: consumed as usize,
                input_hash: input_hash.try_into().expect("32 bytes"),
                payload,
            });
        }
        drop(statement);
        drop(connection);
        if let Some(from) = damaged {
            tracing::warn!(
                "cache {}: a batch of step {signature:?} is damaged; it and the ones after it \
                 are computed again",
                self.path.display()
            );
            self.truncate(signature, from)?;
        }
        Ok(batches)
    }

    /// Stores the step's batch `seq`; committed when this returns.
    pub(crate) fn append(
        &self,
        signature: &Signature,
        seq: u64,
        consumed: usize,
        input_hash: &[u8; 32],
        payload: &[u8],
    ) -> Result<()> {
        self.lock()
            .prepare_cached(
                "INSERT OR REPLACE INTO batches \
                 (signature, seq, consumed, input_hash, checksum, payload) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .and_then(|mut insert| {
                insert.execute(params![
                    &signature.0[..],
                    seq as i64,
                    consumed as i64,
                    &input_hash[..],
                    &super::sha256(payload)[..],
                    payload
                ])
            })
            .map(|_| ())
            .map_err(|e| db::cache_error(&self.path, e))
    }

    /// Removes the step's batches from `seq` on.
    pub(crate) fn truncate(&self, signature: &Signature, seq: u64) -> Result<()> {
        self.lock()
            .execute(
                "DELETE FROM batches WHERE signature = ?1 AND seq >= ?2",
                params![&signature.0[..], seq as i64],
            )
            .map(|_| ())
            .map_err(|e| db::cache_error(&self.path, e))
    }
}

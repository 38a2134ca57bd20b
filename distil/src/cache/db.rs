//! Opening a cache database: WAL mode (readers never wait for the writer), a busy timeout for
//! other processes, and recovery from a file that is no longer a sound database.

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use crate::{Error, Result};

/// Opens (or creates) the database at `path` with `schema`; a damaged file is moved aside and
/// replaced by a fresh one, and the returned warning says so.
pub(super) fn open(path: &Path, schema: &str) -> Result<(Connection, Option<String>)> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let mut attempt = try_open(path, schema);
    // Another connection creating the file or switching it to WAL holds a lock for a moment.
    for _ in 0..100 {
        let busy = matches!(
            attempt
                .as_ref()
                .err()
                .and_then(rusqlite::Error::sqlite_error_code),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        );
        if !busy {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
        attempt = try_open(path, schema);
    }
    match attempt {
        Ok(connection) => Ok((connection, None)),
        // Only a file that is not a sound database is replaced: any other failure (another
        // process holding a lock, a full disk) is reported, never taken for damage.
        Err(e) if !is_damage(&e) => Err(cache_error(path, e)),
        Err(damage) => {
            let aside = path.with_extension(format!(
                "corrupt-{}",
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs()
            ));
            std::fs::rename(path, &aside).map_err(|e| Error::io(path, e))?;
            for suffix in ["-wal", "-shm"] {
                let mut side = path.as_os_str().to_owned();
                side.push(suffix);
                let _ = std::fs::remove_file(side);
            }
            let connection = try_open(path, schema).map_err(|e| cache_error(path, e))?;
            Ok((
                connection,
                Some(format!(
                    "the cache {} was damaged ({damage}); it was moved to {} and started afresh: \
                     what it held is computed again",
                    path.display(),
                    aside.display()
                )),
            ))
        }
    }
}

/// Whether the error says the file is not a sound database.
fn is_damage(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
    )
}

fn try_open(path: &Path, schema: &str) -> rusqlite::Result<Connection> {
    let connection = Connection::open(path)?;
    connection.busy_timeout(Duration::from_secs(30))?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    // A commit survives the process being killed (it is in the WAL file); only a power cut
    // can take the last commits, never consistency.
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    let check: String = connection.query_row("PRAGMA quick_check", [], |row| row.get(0))?;
    if check != "ok" {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
            Some(check),
        ));
    }
    connection.execute_batch(schema)?;
    Ok(connection)
}

/// A cache error naming the file.
pub(super) fn cache_error(path: &Path, error: rusqlite::Error) -> Error {
    Error::Cache {
        path: path.display().to_string(),
        message: error.to_string(),
    }
}

//! The schema, as an ordered list of migrations: `PRAGMA user_version` says how many ran, and
//! opening a store runs the rest in one transaction. A migration is never edited once released;
//! a change is a new entry at the end.

use std::path::Path;

use rusqlite::Connection;

use super::StateError;

/// Migration `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: pins. A server is "seen" once its tools were first recorded (even when it had none):
    // after that, every tool it adds is a new tool of a pinned server.
    "CREATE TABLE servers_seen (
        tenant TEXT NOT NULL,
        server TEXT NOT NULL,
        first_seen INTEGER NOT NULL,
        PRIMARY KEY (tenant, server)
    );
    CREATE TABLE pins (
        tenant TEXT NOT NULL,
        server TEXT NOT NULL,
        tool TEXT NOT NULL,
        digest TEXT NOT NULL,
        definition TEXT NOT NULL,
        pinned_at INTEGER NOT NULL,
        PRIMARY KEY (tenant, server, tool)
    );",
];

/// The schema version this build writes.
pub fn latest() -> i64 {
    MIGRATIONS.len() as i64
}

fn version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// Brings the database up to [`latest`]; refuses one written by a newer build.
pub fn run(conn: &mut Connection, path: &Path) -> Result<(), StateError> {
    let sql = |source| StateError::Sql {
        path: path.to_path_buf(),
        source,
    };
    let found = version(conn).map_err(sql)?;
    if found > latest() {
        return Err(StateError::TooNew {
            path: path.to_path_buf(),
            found,
            known: latest(),
        });
    }
    let tx = conn.transaction().map_err(sql)?;
    for (i, m) in MIGRATIONS.iter().enumerate().skip(found.max(0) as usize) {
        tx.execute_batch(m).map_err(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)
            .map_err(sql)?;
    }
    tx.commit().map_err(sql)
}

/// For a read-only connection: an empty (in-memory) database gets the schema; a file must not
/// be newer than this build, nor older (the hub that holds it migrates it when it opens it).
pub fn check(conn: &mut Connection, path: &Path) -> Result<(), StateError> {
    let sql = |source| StateError::Sql {
        path: path.to_path_buf(),
        source,
    };
    let found = version(conn).map_err(sql)?;
    if found == 0 && conn.path().is_none_or(str::is_empty) {
        return run(conn, path);
    }
    if found < latest() {
        return Err(StateError::Outdated {
            path: path.to_path_buf(),
            found,
            known: latest(),
        });
    }
    if found > latest() {
        return Err(StateError::TooNew {
            path: path.to_path_buf(),
            found,
            known: latest(),
        });
    }
    Ok(())
}

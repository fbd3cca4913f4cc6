//! The rows of pinning: which servers of a tenant were seen, and each pinned tool's digest and
//! definition (kept whole, so a change can be shown as a diff).

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension};

/// One pinned tool.
#[derive(Clone, Debug, PartialEq)]
pub struct PinRow {
    pub server: String,
    pub tool: String,
    pub digest: String,
    /// The definition as pinned (canonical JSON text).
    pub definition: String,
    /// Seconds since the Unix epoch.
    pub pinned_at: i64,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Whether `server` of `tenant` was seen before, and its pins by tool name.
pub fn load(
    conn: &Connection,
    tenant: &str,
    server: &str,
) -> rusqlite::Result<(bool, BTreeMap<String, PinRow>)> {
    let seen = conn
        .query_row(
            "SELECT 1 FROM servers_seen WHERE tenant = ?1 AND server = ?2",
            params![tenant, server],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    let mut stmt = conn.prepare(
        "SELECT server, tool, digest, definition, pinned_at FROM pins WHERE tenant = ?1 AND server = ?2",
    )?;
    let rows = stmt.query_map(params![tenant, server], row)?;
    let mut pins = BTreeMap::new();
    for r in rows {
        let r = r?;
        pins.insert(r.tool.clone(), r);
    }
    Ok((seen, pins))
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PinRow> {
    Ok(PinRow {
        server: r.get(0)?,
        tool: r.get(1)?,
        digest: r.get(2)?,
        definition: r.get(3)?,
        pinned_at: r.get(4)?,
    })
}

/// Every pin of `tenant`, by server then tool.
pub fn list(conn: &Connection, tenant: &str) -> rusqlite::Result<Vec<PinRow>> {
    let mut stmt = conn.prepare(
        "SELECT server, tool, digest, definition, pinned_at FROM pins WHERE tenant = ?1 ORDER BY server, tool",
    )?;
    let rows = stmt.query_map(params![tenant], row)?;
    rows.collect()
}

/// Marks `server` seen and pins `(tool, digest, definition)` for each entry, in one transaction.
pub fn record(
    conn: &mut Connection,
    tenant: &str,
    server: &str,
    pins: &[(String, String, String)],
) -> rusqlite::Result<()> {
    let at = now();
    let tx = conn.transaction()?;
    tx.execute(
        "INSERT OR IGNORE INTO servers_seen (tenant, server, first_seen) VALUES (?1, ?2, ?3)",
        params![tenant, server, at],
    )?;
    {
        let mut stmt = tx.prepare(
            "INSERT INTO pins (tenant, server, tool, digest, definition, pinned_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (tenant, server, tool) DO UPDATE SET digest = excluded.digest, definition = excluded.definition, pinned_at = excluded.pinned_at",
        )?;
        for (tool, digest, definition) in pins {
            stmt.execute(params![tenant, server, tool, digest, definition, at])?;
        }
    }
    tx.commit()
}

// BookChat stream snapshot: what the `snapshot` event that opens every stream means for
// the messages on screen after the page was away (asleep, offline, reconnecting).

// The snapshot lists unsynced ids among this many of the newest messages (the server's
// SNAPSHOT_WINDOW); older marks are not covered by it.
const WINDOW = 500;

// `shown` is the page's Map of id -> { msg }. Returns the ids to remove (deleted while
// away) and whether a mark shown as unsynced may have turned synced meanwhile.
export function readSnapshot(snapshot, shown) {
  const remove = (snapshot.deleted || []).filter((id) => shown.has(id));
  const unsynced = new Set(snapshot.unsynced || []);
  const lowest = (snapshot.newest_id || 0) - WINDOW;
  let stale = false;
  for (const [id, entry] of shown) {
    if (!entry.msg.synced && id > lowest && !unsynced.has(id)) stale = true;
  }
  return { remove, stale };
}

//! The `settings` table: values the server keeps for itself, such as the session key.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

/// The name of the key that signs session cookies.
pub const SESSION_KEY: &str = "session_key";
/// Bytes of a session key: HMAC-SHA256's block of strength.
pub const SESSION_KEY_LEN: usize = 32;

/// The session key, created from the operating system's random source on first start. A
/// stored value of the wrong length (written by hand) is replaced, which ends every session.
pub fn session_key(conn: &mut Connection) -> Result<[u8; SESSION_KEY_LEN], super::DbError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let stored: Option<Vec<u8>> = tx
        .query_row(
            "SELECT value FROM settings WHERE name = ?1",
            [SESSION_KEY],
            |row| row.get(0),
        )
        .optional()?;
    let replacing = stored.is_some();
    if let Some(key) = stored.and_then(|bytes| <[u8; SESSION_KEY_LEN]>::try_from(bytes).ok()) {
        return Ok(key);
    }
    let mut key = [0; SESSION_KEY_LEN];
    getrandom::getrandom(&mut key).map_err(|err| {
        super::DbError::Task(format!(
            "cannot create a session key: no random source: {err}"
        ))
    })?;
    tx.execute(
        "INSERT OR REPLACE INTO settings (name, value) VALUES (?1, ?2)",
        (SESSION_KEY, key.as_slice()),
    )?;
    tx.commit()?;
    if replacing {
        log::warn!("the stored session key was unusable; made a new one, which ends every sign-in");
    } else {
        log::debug!("made the key that signs session cookies");
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::in_memory as migrated;

    #[test]
    fn the_key_is_made_once_then_kept() {
        let mut conn = migrated();
        let first = session_key(&mut conn).unwrap();
        assert_ne!(first, [0; SESSION_KEY_LEN], "random, not zeroed");
        assert_eq!(session_key(&mut conn).unwrap(), first);
        let other = session_key(&mut migrated()).unwrap();
        assert_ne!(other, first, "each database has its own");
    }

    #[test]
    fn a_mangled_key_is_replaced() {
        let mut conn = migrated();
        let first = session_key(&mut conn).unwrap();
        conn.execute(
            "UPDATE settings SET value = x'00' WHERE name = ?1",
            [SESSION_KEY],
        )
        .unwrap();
        let second = session_key(&mut conn).unwrap();
        assert_ne!(second, first);
        assert_eq!(session_key(&mut conn).unwrap(), second);
    }
}

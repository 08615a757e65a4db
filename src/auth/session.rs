//! Signed sessions: what a sign-in cookie holds, and the HMAC that makes it unforgeable.
//! Time is a parameter, so tests move it instead of waiting 30 days.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::{Credentials, Role};

/// The cookie's name.
pub const COOKIE: &str = "bookchat_session";
/// How long a sign-in lasts: 30 days.
pub const LIFETIME_SECS: i64 = 30 * 24 * 3600;
/// The format of the cookie's value; a new one would start at `2`.
const VERSION: &str = "1";

/// A signed-in person: their role, the display name they gave, and when it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub role: Role,
    pub name: Option<String>,
    /// Unix seconds.
    pub expires_at: i64,
}

/// Signs and checks session cookies with the database's key, bound to the current
/// secrets: a cookie is valid only while the access code and the admin token are the ones
/// it was signed under, so rotating either ends every session.
pub struct Sessions {
    key: [u8; 32],
    credentials: Credentials,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sessions([redacted])")
    }
}

impl Sessions {
    pub fn new(key: [u8; 32], credentials: Credentials) -> Sessions {
        Sessions { key, credentials }
    }

    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// A new session for `role`, starting at `now` (Unix seconds).
    pub fn start(role: Role, name: Option<String>, now: i64) -> Session {
        Session {
            role,
            name,
            expires_at: now.saturating_add(LIFETIME_SECS),
        }
    }

    /// The cookie value of `session`: `1.<role>.<expiry>.<name>.<mac>`, in characters a
    /// cookie may hold. `None` when the role's secret is not set.
    pub fn sign(&self, session: &Session) -> Option<String> {
        let payload = payload(session);
        let mac = self.mac(session.role, &payload)?.finalize().into_bytes();
        Some(format!("{payload}.{}", URL_SAFE_NO_PAD.encode(mac)))
    }

    /// The session a cookie value holds, if its signature is ours (checked in constant
    /// time), its role's secret is unchanged, and it has not expired by `now`.
    pub fn verify(&self, value: &str, now: i64) -> Option<Session> {
        let (payload, mac) = value.rsplit_once('.')?;
        let mut parts = payload.split('.');
        let (Some(VERSION), Some(role), Some(expires), Some(name), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        let role = match role {
            "m" => Role::Member,
            "a" => Role::Moderator,
            _ => return None,
        };
        let mac = URL_SAFE_NO_PAD.decode(mac).ok()?;
        self.mac(role, payload)?.verify_slice(&mac).ok()?;
        let expires_at: i64 = expires.parse().ok()?;
        if expires_at <= now {
            return None;
        }
        let name = if name.is_empty() {
            None
        } else {
            Some(String::from_utf8(URL_SAFE_NO_PAD.decode(name).ok()?).ok()?)
        };
        Some(Session {
            role,
            name,
            expires_at,
        })
    }

    fn mac(&self, role: Role, payload: &str) -> Option<Hmac<Sha256>> {
        if !self.credentials.grants(role) {
            return None;
        }
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key).ok()?;
        mac.update(payload.as_bytes());
        mac.update(b"\n");
        mac.update(&self.credentials.binding());
        Some(mac)
    }
}

fn payload(session: &Session) -> String {
    let role = match session.role {
        Role::Member => "m",
        Role::Moderator => "a",
    };
    let name = session
        .name
        .as_deref()
        .map(|name| URL_SAFE_NO_PAD.encode(name))
        .unwrap_or_default();
    format!("{VERSION}.{role}.{}.{name}", session.expires_at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    const NOW: i64 = 1_780_000_000;

    fn credentials(code: &str) -> Credentials {
        Credentials::new(
            Some(Secret::new("moderator-token-0123")),
            Some(Secret::new(code)),
        )
    }

    fn sessions(key: u8, code: &str) -> Sessions {
        Sessions::new([key; 32], credentials(code))
    }

    #[test]
    fn a_signed_session_reads_back_until_it_expires() {
        let sessions = sessions(7, "book club");
        let session = Sessions::start(Role::Member, Some("Ann Ö.".into()), NOW);
        let cookie = sessions.sign(&session).unwrap();
        assert!(cookie
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
        assert_eq!(sessions.verify(&cookie, NOW), Some(session.clone()));
        let last = NOW + LIFETIME_SECS - 1;
        assert_eq!(sessions.verify(&cookie, last), Some(session));
        assert_eq!(
            sessions.verify(&cookie, NOW + LIFETIME_SECS),
            None,
            "expired"
        );
        let anonymous = Sessions::start(Role::Moderator, None, NOW);
        let cookie = sessions.sign(&anonymous).unwrap();
        assert_eq!(sessions.verify(&cookie, NOW), Some(anonymous));
    }

    #[test]
    fn a_changed_key_or_secret_ends_sessions() {
        let member = Sessions::start(Role::Member, None, NOW);
        let moderator = Sessions::start(Role::Moderator, None, NOW);
        let (m, a) = {
            let s = sessions(7, "book club");
            (s.sign(&member).unwrap(), s.sign(&moderator).unwrap())
        };
        assert_eq!(sessions(8, "book club").verify(&m, NOW), None, "new key");
        assert_eq!(sessions(8, "book club").verify(&a, NOW), None, "new key");
        let new_code = sessions(7, "reading group");
        assert_eq!(new_code.verify(&m, NOW), None, "new access code");
        assert_eq!(new_code.verify(&a, NOW), None, "every session ends");
        let new_token = Sessions::new(
            [7; 32],
            Credentials::new(
                Some(Secret::new("another-token-0123")),
                Some(Secret::new("book club")),
            ),
        );
        assert_eq!(new_token.verify(&m, NOW), None, "new admin token");
        let same = sessions(7, "book club");
        assert_eq!(same.verify(&a, NOW), Some(moderator), "nothing changed");
        let no_code = Sessions::new([7; 32], Credentials::new(None, None));
        assert_eq!(no_code.verify(&m, NOW), None);
        assert_eq!(no_code.sign(&member), None, "nothing to sign for");
    }

    #[test]
    fn tampering_is_refused() {
        let sessions = sessions(7, "book club");
        let cookie = sessions
            .sign(&Sessions::start(Role::Member, None, NOW))
            .unwrap();
        let promoted = cookie.replacen(".m.", ".a.", 1);
        let extended = cookie.replacen(&(NOW + LIFETIME_SECS).to_string(), "99999999999", 1);
        for bad in [
            promoted.as_str(),
            extended.as_str(),
            "",
            ".",
            "1.m.1.",
            "1.m.99999999999..AAAA",
            "2.m.99999999999..AAAA",
            &cookie[..cookie.len() - 1],
            &format!("{cookie}x"),
        ] {
            assert_eq!(sessions.verify(bad, NOW), None, "{bad:?}");
        }
    }

    proptest::proptest! {
        #![proptest_config(crate::fuzz_config())]

        /// Whatever a client sends as its cookie, checking it never panics and never
        /// yields a session.
        #[test]
        fn arbitrary_cookies_are_refused(value in ".{0,200}") {
            proptest::prop_assert_eq!(sessions(7, "book club").verify(&value, NOW), None);
        }
    }
}

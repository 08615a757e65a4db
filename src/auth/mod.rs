//! Who may do what: the moderator's token and the access code, checked in constant time,
//! and the signed sessions a sign-in hands out (`session`).

pub mod session;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::secret::Secret;

pub use session::{Session, Sessions, COOKIE, LIFETIME_SECS};

/// The shortest admin token accepted: long enough that guessing it is hopeless.
pub const MIN_ADMIN_TOKEN: usize = 16;

/// What a credential lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Showed the access code: may read and write a members-only chat.
    Member,
    /// Showed the admin token: may also delete messages and read `/api/stats` and `/metrics`.
    Moderator,
}

/// The two secrets of the server, each kept also as a SHA-256 digest: a code is compared
/// digest to digest, in constant time, so neither its content nor its length leaks
/// through timing.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    admin: Option<(Secret, [u8; 32])>,
    access: Option<(Secret, [u8; 32])>,
}

impl Credentials {
    pub fn new(admin_token: Option<Secret>, access_code: Option<Secret>) -> Credentials {
        let with_digest = |secret: Secret| {
            let digest = digest(secret.expose());
            (secret, digest)
        };
        Credentials {
            admin: admin_token.map(with_digest),
            access: access_code.map(with_digest),
        }
    }

    /// True when an admin token is set: moderation is on, and the figures need it.
    pub fn moderation(&self) -> bool {
        self.admin.is_some()
    }

    /// True when an access code is set: the chat is members-only.
    pub fn members_only(&self) -> bool {
        self.access.is_some()
    }

    /// The role `code` grants, if any. Both secrets are always compared, so the time taken
    /// does not tell which one (if either) is set.
    pub fn check(&self, code: &str) -> Option<Role> {
        let given = digest(code);
        let matches = |secret: &Option<(Secret, [u8; 32])>| {
            secret
                .as_ref()
                .is_some_and(|(_, digest)| bool::from(digest.ct_eq(&given)))
        };
        let admin = matches(&self.admin);
        let access = matches(&self.access);
        if admin {
            Some(Role::Moderator)
        } else if access {
            Some(Role::Member)
        } else {
            None
        }
    }

    /// True when `role`'s secret is set: a session for it can be signed and stay valid.
    fn grants(&self, role: Role) -> bool {
        match role {
            Role::Member => self.access.is_some(),
            Role::Moderator => self.admin.is_some(),
        }
    }

    /// What every session is bound to: both secrets' digests (or their absence). Changing
    /// the code or the token, or setting or removing either, ends every session.
    fn binding(&self) -> [u8; 66] {
        let mut bound = [0; 66];
        for (at, secret) in [(0, &self.admin), (33, &self.access)] {
            if let Some((_, digest)) = secret {
                bound[at] = 1;
                bound[at + 1..at + 33].copy_from_slice(digest);
            }
        }
        bound
    }

    /// The admin token, for a client built into the same program (a test's scraper).
    pub fn admin_token(&self) -> Option<&Secret> {
        self.admin.as_ref().map(|(secret, _)| secret)
    }
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both() -> Credentials {
        Credentials::new(
            Some(Secret::new("moderator-token-0123")),
            Some(Secret::new("book club")),
        )
    }

    #[test]
    fn each_secret_grants_its_role() {
        let credentials = both();
        assert_eq!(
            credentials.check("moderator-token-0123"),
            Some(Role::Moderator)
        );
        assert_eq!(credentials.check("book club"), Some(Role::Member));
        assert_eq!(credentials.check("book club "), None);
        assert_eq!(credentials.check(""), None);
        assert!(credentials.moderation() && credentials.members_only());
    }

    #[test]
    fn nothing_set_grants_nothing() {
        let credentials = Credentials::default();
        assert_eq!(credentials.check(""), None);
        assert_eq!(credentials.check("anything"), None);
        assert!(!credentials.moderation() && !credentials.members_only());
    }

    #[test]
    fn debug_never_shows_a_secret() {
        let shown = format!("{:?}", both());
        assert!(
            !shown.contains("book club") && !shown.contains("0123"),
            "{shown}"
        );
        assert_eq!(
            both().admin_token().map(Secret::expose),
            Some("moderator-token-0123")
        );
    }
}

//! The read-only half of the user-directory suite, run against a directory tokenauth
//! may only read: an application's own `members`, like README's (here in memory), with
//! its own user type and a `disabled` flag instead of an active one.

use std::sync::{Arc, RwLock};

use tokenauth_conformance::{SEEDED_USERS, Seeded, fast_hasher};
use tokenauth_core::store::{LoginRecord, UserDirectory};
use tokenauth_core::{AuthUser, UserId};

#[derive(Debug, Clone)]
struct Member {
    id: i64,
    email: String,
    disabled: bool,
}

impl AuthUser for Member {
    fn id(&self) -> UserId {
        UserId::from(self.id)
    }

    fn username(&self) -> &str {
        &self.email
    }

    fn is_active(&self) -> bool {
        !self.disabled
    }
}

/// The app's table: members and their password hashes, written by the app alone.
#[derive(Debug, Default, Clone)]
struct Members(Arc<RwLock<Vec<(Member, String)>>>);

impl UserDirectory for Members {
    type User = Member;
    type Error = std::convert::Infallible;

    async fn find_user(&self, id: &UserId) -> Result<Option<Member>, Self::Error> {
        let rows = self.0.read().unwrap_or_else(|e| e.into_inner());
        Ok(rows.iter().map(|(m, _)| m).find(|m| m.id() == *id).cloned())
    }

    async fn find_login(&self, email: &str) -> Result<Option<LoginRecord<Member>>, Self::Error> {
        let rows = self.0.read().unwrap_or_else(|e| e.into_inner());
        let row = rows.iter().find(|(m, _)| m.email == email);
        Ok(row.map(|(user, hash)| LoginRecord {
            user: user.clone(),
            password_hash: hash.clone(),
        }))
    }
}

/// The members the suite expects, added as the app would add them.
async fn seeded() -> Seeded<Members> {
    let (members, hasher) = (Members::default(), fast_hasher());
    for (id, user) in (1..).zip(SEEDED_USERS) {
        let hash = hasher.hash(user.password).await.expect("hash");
        let member = Member {
            id,
            email: user.username.to_owned(),
            disabled: !user.active,
        };
        members
            .0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push((member, hash));
    }
    Seeded {
        directory: members,
        hasher,
    }
}

tokenauth_conformance::read_only_directory_conformance!(seeded());

// A token store over a `Vec` behind a lock: the example of `TokenStore` and
// `TokenImport`, compiled by their docs and run through the conformance suites.

use std::sync::Mutex;

use tokenauth_core::store::{
    Change, Committed, Ended, PurgeBounds, TokenDigest, TokenRecord, TokenSet, TokenStore, Usage,
};
use tokenauth_core::{TokenId, UserId};

/// Records, and each user's set version.
type Rows = (Vec<TokenRecord>, Vec<(UserId, u64)>);

#[derive(Default)]
struct VecStore {
    inner: Mutex<Rows>,
}

#[derive(Debug, thiserror::Error)]
#[error("duplicate token")]
struct Duplicate;

impl TokenStore for VecStore {
    type Error = Duplicate;

    async fn token_set(&self, user: &UserId) -> Result<TokenSet, Duplicate> {
        let inner = self.inner.lock().unwrap();
        let version = inner.1.iter().find(|(u, _)| u == user).map_or(0, |(_, v)| *v);
        let mut records: Vec<TokenRecord> =
            inner.0.iter().filter(|r| &r.user_id == user).cloned().collect();
        records.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        Ok(TokenSet { version, records })
    }

    async fn commit(&self, user: &UserId, expected: u64, change: Change) -> Result<Committed, Duplicate> {
        let mut inner = self.inner.lock().unwrap();
        let (records, versions) = &mut *inner;
        let version = versions.iter().find(|(u, _)| u == user).map_or(0, |(_, v)| *v);
        if version != expected {
            return Ok(Committed::Conflict);
        }
        if let Some(new) = &change.insert
            && records.iter().any(|r| r.id == new.id || r.digest == new.digest)
        {
            return Err(Duplicate);
        }
        let (gone, kept): (Vec<_>, Vec<_>) = records
            .drain(..)
            .partition(|r| &r.user_id == user && change.delete.contains(&r.id));
        *records = kept;
        records.extend(change.insert);
        versions.retain(|(u, _)| u != user);
        versions.push((user.clone(), version + 1));
        Ok(Committed::Applied { ended: gone.iter().map(Ended::from).collect() })
    }

    async fn find_by_digest(&self, digest: &TokenDigest) -> Result<Option<TokenRecord>, Duplicate> {
        Ok(self.inner.lock().unwrap().0.iter().find(|r| &r.digest == digest).cloned())
    }

    async fn find_by_id(&self, id: &TokenId) -> Result<Option<TokenRecord>, Duplicate> {
        Ok(self.inner.lock().unwrap().0.iter().find(|r| &r.id == id).cloned())
    }

    async fn list(&self, user: Option<&UserId>) -> Result<Vec<TokenRecord>, Duplicate> {
        let inner = self.inner.lock().unwrap();
        let mut records: Vec<TokenRecord> =
            inner.0.iter().filter(|r| user.is_none_or(|u| &r.user_id == u)).cloned().collect();
        records.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        Ok(records)
    }

    async fn delete(&self, id: &TokenId) -> Result<Option<Ended>, Duplicate> {
        let records = &mut self.inner.lock().unwrap().0;
        let at = records.iter().position(|r| &r.id == id);
        Ok(at.map(|i| Ended::from(&records.remove(i))))
    }

    async fn delete_for_user(&self, user: &UserId, keep: Option<&TokenId>) -> Result<Vec<Ended>, Duplicate> {
        let records = &mut self.inner.lock().unwrap().0;
        let (mut gone, kept): (Vec<_>, Vec<_>) = records
            .drain(..)
            .partition(|r| &r.user_id == user && Some(&r.id) != keep);
        *records = kept;
        gone.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        Ok(gone.iter().map(Ended::from).collect())
    }

    async fn record_usage(&self, uses: &[Usage]) -> Result<(), Duplicate> {
        let records = &mut self.inner.lock().unwrap().0;
        for usage in uses {
            if let Some(r) = records.iter_mut().find(|r| r.id == usage.id)
                && r.last_used.is_none_or(|last| usage.at >= last)
            {
                r.last_used = Some(usage.at);
                r.last_ip = usage.ip.or(r.last_ip);
            }
        }
        Ok(())
    }

    async fn purge(&self, bounds: &PurgeBounds, limit: usize) -> Result<Vec<Ended>, Duplicate> {
        let records = &mut self.inner.lock().unwrap().0;
        let mut ended = Vec::new();
        records.retain(|r| {
            let doomed = ended.len() < limit && bounds.matches(r);
            if doomed {
                ended.push(Ended::from(r));
            }
            !doomed
        });
        Ok(ended)
    }
}

// The bulk import, one record at a time through the compare-and-swap (the trait's
// default); a store whose engine has a bulk insert overrides `import_tokens`.
impl tokenauth_core::store::TokenImport for VecStore {}

// In the store crate's tests/conformance.rs (tokenauth-conformance runs both on this
// very file):
// tokenauth_conformance::token_store_conformance!(async { VecStore::default() });
// tokenauth_conformance::bulk_import_conformance!(tokens: async { VecStore::default() });

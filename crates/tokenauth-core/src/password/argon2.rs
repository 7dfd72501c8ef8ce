//! argon2 PHC strings: verified in pooled working memory, within the caps
//! ([`limits`](super::limits)).

use argon2::password_hash::{self, PasswordHash};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq;

use super::{Inner, PasswordError, limits};

/// The parameters of a parsed argon2 PHC string: [`PasswordError::OverLimit`] if they
/// exceed the caps.
pub(super) fn params(hash: &PasswordHash<'_>) -> Result<Params, PasswordError> {
    let params = Params::try_from(hash).map_err(PasswordError::Malformed)?;
    limits::argon2(&params).map_err(PasswordError::OverLimit)?;
    Ok(params)
}

/// The working memory, in KiB, that verifying `phc` takes, if it is an argon2 PHC
/// string within the caps.
pub(super) fn memory_kib(phc: &str) -> Option<u32> {
    let parsed = PasswordHash::new(phc).ok()?;
    params(&parsed).ok().map(|p| p.m_cost())
}

impl Inner {
    /// Whether `password` matches `hash`, computed in pooled working memory and
    /// compared in constant time. A hash over the caps (and over the hasher's own
    /// parameters) is [`PasswordError::OverLimit`], before any work.
    pub(super) fn verify(&self, password: &[u8], hash: &PasswordHash<'_>) -> Result<bool, PasswordError> {
        let malformed = PasswordError::Malformed;
        let algorithm = Algorithm::try_from(hash.algorithm).map_err(malformed)?;
        let version = hash
            .version
            .map(Version::try_from)
            .transpose()
            .map_err(|error| malformed(error.into()))?
            .unwrap_or_default();
        let params = Params::try_from(hash).map_err(malformed)?;
        if !self.within_own(&params) {
            limits::argon2(&params).map_err(PasswordError::OverLimit)?;
        }
        let expected = hash.hash.ok_or(malformed(password_hash::Error::PhcStringField))?;
        let salt = hash.salt.ok_or(malformed(password_hash::Error::PhcStringField))?;
        let mut salt_bytes = [0u8; password_hash::Salt::MAX_LENGTH];
        let salt = salt.decode_b64(&mut salt_bytes).map_err(malformed)?;
        let mut output = vec![0u8; expected.len()];
        let mut memory = self.take_memory(params.block_count())?;
        let computed = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
            password,
            salt,
            &mut output,
            &mut memory,
        );
        self.return_memory(memory);
        // A password argon2 refuses (too long, say) matches nothing.
        Ok(computed.is_ok() && bool::from(output.as_slice().ct_eq(expected.as_bytes())))
    }

    /// Whether `params` ask for no more than the hasher's own: its own hashes verify
    /// whatever the caps.
    fn within_own(&self, params: &Params) -> bool {
        let own = &self.params;
        params.m_cost() <= own.m_cost() && params.t_cost() <= own.t_cost() && params.p_cost() <= own.p_cost()
    }

    /// Working memory of at least `blocks` blocks: a pooled buffer if the hasher's own
    /// size is enough, else a new one (counted in the budget of larger hashes, and
    /// freed after). An allocation the system refuses is [`PasswordError::Busy`].
    fn take_memory(&self, blocks: usize) -> Result<Vec<Block>, PasswordError> {
        let mut memory = if blocks <= self.params.block_count() {
            self.memory.lock().unwrap_or_else(|e| e.into_inner()).pop()
        } else {
            None
        }
        .unwrap_or_default();
        if memory.len() < blocks {
            let busy = PasswordError::Busy {
                retry_after: self.max_wait.max(std::time::Duration::from_secs(1)),
            };
            memory
                .try_reserve_exact(blocks - memory.len())
                .map_err(|_| busy)?;
            memory.resize(blocks, Block::default());
        }
        Ok(memory)
    }

    /// Keeps `memory` for the next verification if it is the size this hasher's own
    /// hashes need; a larger one (an outdated hash) is freed.
    fn return_memory(&self, memory: Vec<Block>) {
        if memory.len() <= self.params.block_count() {
            let mut pool = self.memory.lock().unwrap_or_else(|e| e.into_inner());
            if pool.len() < self.slots {
                pool.push(memory);
            }
        }
    }

    /// Whether `hash` was made otherwise than this hasher would make it now.
    pub(super) fn is_outdated(&self, hash: &PasswordHash<'_>) -> bool {
        let current = Params::try_from(hash).ok();
        hash.algorithm != Algorithm::Argon2id.ident()
            || hash.version != Some(Version::V0x13.into())
            || current.is_none_or(|p| {
                (p.m_cost(), p.t_cost(), p.p_cost())
                    != (self.params.m_cost(), self.params.t_cost(), self.params.p_cost())
            })
    }
}

#[cfg(test)]
mod tests {
    use argon2::PasswordHasher as _;
    use argon2::password_hash::SaltString;
    use argon2::password_hash::rand_core::OsRng;

    use super::*;
    use crate::PasswordHasher;

    /// A PHC hash of `password` made by the argon2 crate's own (allocating) path.
    fn reference(password: &str, algorithm: Algorithm, version: Version, m_cost: u32) -> String {
        let params = Params::new(m_cost, 1, 1, None).unwrap();
        let salt = SaltString::generate(&mut OsRng);
        Argon2::new(algorithm, version, params)
            .hash_password(password.as_bytes(), &salt)
            .unwrap()
            .to_string()
    }

    /// The pooled-memory verification agrees with the argon2 crate on every algorithm,
    /// version and cost, and keeps at most one buffer per slot, of its own size.
    #[tokio::test]
    async fn verification_in_pooled_memory_agrees_with_argon2() {
        let hasher = PasswordHasher::with_params(Params::new(64, 1, 1, None).unwrap()).with_slots(2);
        for algorithm in [Algorithm::Argon2id, Algorithm::Argon2i, Algorithm::Argon2d] {
            for version in [Version::V0x13, Version::V0x10] {
                for m_cost in [32, 64, 256] {
                    let hash = reference("pw", algorithm, version, m_cost);
                    assert!(hasher.verify("pw", Some(&hash)).await.unwrap(), "{hash}");
                    assert!(!hasher.verify("pW", Some(&hash)).await.unwrap(), "{hash}");
                }
            }
        }
        let own = hasher.hash("pw").await.unwrap();
        assert!(hasher.verify("pw", Some(&own)).await.unwrap());
        let pool = hasher.inner.memory.lock().unwrap();
        assert!(pool.len() <= 2, "{} buffers kept", pool.len());
        assert!(
            pool.iter().all(|m| m.len() <= 64),
            "only buffers of the hasher's own size are kept"
        );
    }

    /// A hash claiming 4 TiB (or too many passes or lanes) is refused before any
    /// allocation: the process would abort on it. The hasher's own parameters verify
    /// even over the caps.
    #[tokio::test]
    async fn a_hash_over_the_caps_is_refused_before_any_work() {
        let hasher = PasswordHasher::with_params(Params::new(8, 1, 1, None).unwrap());
        for params in [
            "m=4294967295,t=1,p=1",
            "m=65536,t=1000000,p=1",
            "m=262144,t=1,p=255",
        ] {
            let hash =
                format!("$argon2id$v=19${params}$c2FsdHNhbHQ$pcCMu9kmCy7Ix5MQrJhQdCf5fBRDe4dDbApDLaqGpMg");
            let error = hasher.check("pw", Some(&hash)).await.unwrap_err();
            assert!(matches!(error, PasswordError::OverLimit(_)), "{error:?}");
            assert!(error.is_unusable());
            assert!(!PasswordHasher::is_supported_hash(&hash), "{hash}");
            assert!(!error.to_string().contains("c2FsdHNhbHQ"), "{error}");
        }
        let own = PasswordHasher::with_params(Params::new(8, 11, 1, None).unwrap());
        let hash = own.hash("pw").await.unwrap();
        assert!(own.verify("pw", Some(&hash)).await.unwrap());
    }
}

//! Django's password hashes (`hashers`), checked against hashes made by Django 5.2.19
//! itself (the fixtures' users: `tests/fixtures`), through core's hasher: the Django
//! one (`django_hasher`) and the argon2id one that reads them (`upgrading_hasher`).

use tokenauth_core::{PasswordHasher, Verification};
use tokenauth_django::hashers::{
    DJANGO_PBKDF2_ITERATIONS, DjangoHash, DjangoHashers, django_hasher, upgrading_hasher,
};

/// What `PasswordHasher::django_with_iterations` was: Django's hasher writing
/// `pbkdf2_sha256` with `iterations`.
fn django_with_iterations(iterations: u32) -> PasswordHasher {
    PasswordHasher::default().hashing_with(DjangoHashers::with_iterations(iterations))
}

/// (password, hash, re-hashed by Django on a correct login), one per hasher.
const DJANGO_HASHES: [(&str, &str, bool); 7] = [
    (
        "alice-password",
        "pbkdf2_sha256$1000000$GFwPxN19r3r8XNRFcHemmr$1HneijTUSsOJWWd8TdrN+esbZ5dd1X9UodWBkpiFuO4=",
        false,
    ),
    (
        "bob-password",
        "pbkdf2_sha256$600000$sB3FO2nLpheFYSRn2xJhyC$y/CU9XIRMOlinOqIF1UeCGdBwJr4khicVge5eHrHAms=",
        true,
    ),
    (
        "carol-password",
        "argon2$argon2id$v=19$m=102400,t=2,p=8$dGtGSzBpWmE5Q2RPTFRna0JNRDNaSw$LcVQznKXGO0MwXrgqgvlNYaALB1+rEDs30K9G2Fl4Qs",
        true,
    ),
    (
        "dave-password",
        "bcrypt_sha256$$2b$12$M.axf4ayQ2PS7qdcZBP26.3OAjdmC3SbBTH8XSfWJa8EnSzuTnfne",
        true,
    ),
    (
        "erin-password",
        "pbkdf2_sha1$1000000$RQmhLuiWXhRwEPBHMhSRbt$pZ45sH5HDgQuamnBaQkRG1lz4eM=",
        true,
    ),
    (
        "frank-password",
        "scrypt$16384$Cxd6EnW1XPERkoHQ4CPIbK$8$5$egstnDX6SsRy6pvz7jj+XFbGiS4qe1W29DE2sh/gR/+zikS2nFBxiMYXFTV3DoeMC1NZQvpEQlWGBmd37GxJaQ==",
        true,
    ),
    (
        "pässwörd with spaces ",
        "pbkdf2_sha256$1000000$KJ3aNp4pPCqYPrA3ZES2zG$xceq4aXLJz1NLVnMufINbh+vk69RVjv1Jh8Nxnkh3EY=",
        false,
    ),
];

const UNUSABLE: &str = "!9zBPrA0NHtY6zSkWJ78R5vvbMlNOUSVXDfJUQy32";

fn verification(matches: bool, outdated: bool) -> Verification {
    Verification { matches, outdated }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_django_hasher_verifies_every_django_format_and_flags_what_django_rehashes() {
    let hasher = django_hasher();
    for (password, hash, rehashed) in DJANGO_HASHES {
        let right = hasher.check(password, Some(hash)).await.unwrap();
        assert_eq!(right, verification(true, rehashed), "{hash}");
        let wrong = hasher.check(&format!("{password}x"), Some(hash)).await.unwrap();
        assert_eq!(wrong, verification(false, false), "{hash}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_argon2id_hasher_verifies_django_hashes_as_outdated() {
    let hasher = upgrading_hasher();
    for (password, hash, _) in DJANGO_HASHES {
        let right = hasher.check(password, Some(hash)).await.unwrap();
        assert_eq!(right, verification(true, true), "{hash}");
        assert!(!hasher.verify("wrong", Some(hash)).await.unwrap(), "{hash}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unusable_passwords_never_match_yet_cost_one_verification() {
    for hasher in [django_hasher(), upgrading_hasher()] {
        let before = hasher.verifications();
        for password in ["", "!", UNUSABLE, &UNUSABLE[1..]] {
            let checked = hasher.check(password, Some(UNUSABLE)).await.unwrap();
            assert_eq!(checked, verification(false, false));
        }
        assert_eq!(hasher.verifications() - before, 4);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn new_hashes_are_what_django_writes_and_verify_as_current() {
    let hasher = django_hasher();
    let hash = hasher.hash("pässwörd with spaces ").await.unwrap();
    let parts: Vec<&str> = hash.split('$').collect();
    assert_eq!(parts[..2], ["pbkdf2_sha256", "1000000"]);
    assert_eq!(parts[2].len(), 22);
    assert!(parts[2].bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_eq!(parts[3].len(), 44, "base64 of 32 bytes, padded");
    assert_eq!(
        hasher.check("pässwörd with spaces ", Some(&hash)).await.unwrap(),
        verification(true, false)
    );
    let parsed = DjangoHash::parse(&hash).unwrap().unwrap();
    assert!(parsed.is_preferred(DJANGO_PBKDF2_ITERATIONS));
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_users_cost_one_verification_and_never_match() {
    let hasher = django_with_iterations(1_000);
    assert_eq!(hasher.check("", None).await.unwrap(), verification(false, false));
    assert_eq!(hasher.verifications(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn another_iteration_count_makes_1_000_000_outdated() {
    let hasher = django_with_iterations(1_000);
    let (password, hash, _) = DJANGO_HASHES[0];
    assert_eq!(
        hasher.check(password, Some(hash)).await.unwrap(),
        verification(true, true)
    );
    let own = hasher.hash(password).await.unwrap();
    assert!(own.starts_with("pbkdf2_sha256$1000$"));
    assert_eq!(
        hasher.check(password, Some(&own)).await.unwrap(),
        verification(true, false)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_django_hash_is_malformed_not_a_mismatch() {
    let hasher = django_hasher();
    let error = hasher
        .check("pw", Some("pbkdf2_sha256$many$salt$aGFzaA=="))
        .await
        .unwrap_err();
    assert!(error.is_malformed(), "{error:?}");
    assert!(!error.to_string().contains("aGFzaA"), "{error}");
}

/// A hash over the caps is never computed, so it reserves none of the memory budget:
/// an scrypt hash claiming 1 TiB fails at once as over the caps, not as busy after
/// waiting for memory it could never get.
#[tokio::test(flavor = "multi_thread")]
async fn an_scrypt_hash_over_the_caps_is_refused_not_queued_for_memory() {
    let hasher = upgrading_hasher().with_queue(8, std::time::Duration::from_millis(100));
    let error = hasher
        .check("pw", Some("scrypt$1073741824$salt$8$1$aGFzaA=="))
        .await
        .unwrap_err();
    assert!(
        matches!(error, tokenauth_core::PasswordError::OverLimit(_)),
        "{error:?}"
    );
    assert_eq!(hasher.dummy_verifications(), 1);
}

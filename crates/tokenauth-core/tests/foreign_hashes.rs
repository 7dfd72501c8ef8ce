//! The plain hasher reads only argon2 PHC strings, in every build: a Django hash (or
//! any other foreign format) is verified only by a hasher given its scheme
//! (`PasswordHasher::with_scheme`; Django's is in `tokenauth-django`). Here such a
//! hash is malformed, after the dummy's work, like any hash nobody can use.

use tokenauth_core::PasswordHasher;

/// One hash per format of Django's default hashers, and an unusable password.
const DJANGO_HASHES: [&str; 6] = [
    "pbkdf2_sha256$1000000$GFwPxN19r3r8XNRFcHemmr$1HneijTUSsOJWWd8TdrN+esbZ5dd1X9UodWBkpiFuO4=",
    "pbkdf2_sha1$1000000$RQmhLuiWXhRwEPBHMhSRbt$pZ45sH5HDgQuamnBaQkRG1lz4eM=",
    "argon2$argon2id$v=19$m=102400,t=2,p=8$dGtGSzBpWmE5Q2RPTFRna0JNRDNaSw$LcVQznKXGO0MwXrgqgvlNYaALB1+rEDs30K9G2Fl4Qs",
    "bcrypt_sha256$$2b$12$M.axf4ayQ2PS7qdcZBP26.3OAjdmC3SbBTH8XSfWJa8EnSzuTnfne",
    "scrypt$16384$Cxd6EnW1XPERkoHQ4CPIbK$8$5$egstnDX6SsRy6pvz7jj+XFbGiS4qe1W29DE2sh/gR/+zikS2nFBxiMYXFTV3DoeMC1NZQvpEQlWGBmd37GxJaQ==",
    "!9zBPrA0NHtY6zSkWJ78R5vvbMlNOUSVXDfJUQy32",
];

#[tokio::test(flavor = "multi_thread")]
async fn the_plain_hasher_reads_no_django_hash() {
    let hasher = PasswordHasher::new();
    for (checked, stored) in (1..).zip(DJANGO_HASHES) {
        let error = hasher.check("pw", Some(stored)).await.unwrap_err();
        assert!(error.is_malformed(), "{stored}: {error:?}");
        assert_eq!(hasher.dummy_verifications(), checked, "{stored}");
        assert!(!PasswordHasher::is_supported_hash(stored), "{stored}");
    }
    // A Django hash over Django's caps is not read, so not capped either.
    assert_eq!(
        hasher.exceeded_limit("pbkdf2_sha256$20000000$salt$aGFzaA=="),
        None
    );
}

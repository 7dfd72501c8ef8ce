//! django-rest-knox's tables as knox 5.0.2 made them (`tests/fixtures/knox`, described
//! by its `manifest.json`): the export reads every row as knox wrote it, and the
//! schema checks tell a knox database from a DRF one. On PostgreSQL, the server's
//! `import_knox` tests read the dump through the same export.
#![cfg(feature = "sqlite")]

use serde_json::Value;
use time::OffsetDateTime;
use tokenauth_core::TokenFormat;
use tokenauth_core::store::TokenDigest;
use tokenauth_django::Error;
use tokenauth_django::sqlite::{connect, connect_knox};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn manifest() -> Value {
    let text = std::fs::read_to_string(format!("{FIXTURES}/knox/manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A copy of `file` in `dir` (connecting never writes, but the fixture stays
/// untouched even so); its URL.
fn copy(dir: &tempfile::TempDir, file: &str) -> String {
    let path = dir.path().join("db.sqlite3");
    std::fs::copy(format!("{FIXTURES}/{file}"), &path).unwrap();
    format!("sqlite://{}", path.display())
}

fn micros(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1000).unwrap()
}

#[tokio::test]
async fn every_knox_row_is_read_as_knox_wrote_it() {
    let dir = tempfile::tempdir().unwrap();
    let pool = connect_knox(&copy(&dir, "knox/knox.sqlite3")).await.unwrap();
    let (users, tokens) = tokenauth_django::knox::export(&pool).await.unwrap();
    let manifest = manifest();

    let expected_users = manifest["users"].as_array().unwrap();
    assert_eq!(users.len(), expected_users.len());
    for (user, expected) in users.iter().zip(expected_users) {
        assert_eq!(user.id.as_str(), expected["id"].as_i64().unwrap().to_string());
        assert_eq!(user.username, expected["username"].as_str().unwrap());
        assert_eq!(user.is_active, expected["is_active"].as_bool().unwrap());
        assert!(user.password.starts_with("pbkdf2_sha256$"));
    }

    let expected_tokens = manifest["tokens"]["sqlite"].as_array().unwrap();
    assert_eq!(tokens.len(), expected_tokens.len());
    let format = TokenFormat::default().with_imported_knox_tokens(true);
    for expected in expected_tokens {
        let row = tokens
            .iter()
            .find(|t| t.digest == expected["digest"].as_str().unwrap())
            .expect("every manifest token has its row");
        let owner = users.iter().find(|u| u.id == row.user_id).unwrap();
        assert_eq!(owner.username, expected["user"].as_str().unwrap());
        assert_eq!(
            micros(row.created),
            expected["created_unix_micros"].as_i64().unwrap()
        );
        assert_eq!(row.expiry.map(micros), expected["expiry_unix_micros"].as_i64());
        // The token the client holds meets the digest its row is imported with.
        let token = expected["token"].as_str().unwrap();
        assert_eq!(
            format.digest_if_well_formed(token),
            TokenDigest::from_knox_digest(&row.digest),
            "{}",
            expected["label"]
        );
        assert!(format.digest_if_well_formed(token).is_some());
    }
}

#[tokio::test]
async fn the_schema_checks_tell_knox_from_drf() {
    let dir = tempfile::tempdir().unwrap();
    let knox = copy(&dir, "knox/knox.sqlite3");
    match connect(&knox).await {
        Err(Error::Schema { missing }) => assert_eq!(missing, ["table authtoken_token"]),
        other => panic!("DRF's check passed a knox database: {other:?}"),
    }
    let other = tempfile::tempdir().unwrap();
    let drf = copy(&other, "django.sqlite3");
    let refused = connect_knox(&drf).await.unwrap_err();
    assert!(matches!(
        refused,
        Error::KnoxSchema {
            table: "knox_authtoken",
            ..
        }
    ));
    assert!(
        refused
            .to_string()
            .starts_with("not a Django database with django-rest-knox: knox_authtoken"),
        "{refused}"
    );
}

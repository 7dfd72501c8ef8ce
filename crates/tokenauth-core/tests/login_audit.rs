//! Logins leave an audit trail (success and failure events with the client's address,
//! never the password), and what does not depend on the user is checked before the
//! password, so that a refused request tells nothing about the password.

mod common;

use tokenauth_core::{AuthEvent, IssueError, ObtainError, Scopes, TokenRequest};

use common::{IP1, PASSWORD, add_user, recording, service, span};

fn from(ip: std::net::IpAddr) -> TokenRequest {
    TokenRequest {
        client_ip: Some(ip),
        ..TokenRequest::default()
    }
}

#[tokio::test]
async fn logins_are_events_with_the_address_and_no_password() {
    let (auth, _clock) = service();
    let (auth, events) = recording(auth);
    let alice = add_user(&auth, "alice").await;
    auth.users().add_user("bob", PASSWORD, false).await.unwrap();

    let issued = auth.obtain("alice", PASSWORD, from(IP1)).await.unwrap();
    for (username, password) in [
        ("alice", "wrong"),
        ("bob", PASSWORD),
        // An unknown username may be a password typed into the wrong field.
        ("correct horse", "alice"),
    ] {
        let refused = auth.obtain(username, password, from(IP1)).await.unwrap_err();
        assert!(matches!(refused, ObtainError::InvalidCredentials), "{refused:?}");
    }
    let failed = |username: Option<&str>| AuthEvent::LoginFailed {
        username: username.map(str::to_owned),
        ip: Some(IP1),
    };
    let events = std::mem::take(&mut *events.lock().unwrap());
    assert_eq!(
        events,
        [
            AuthEvent::Issued {
                token_id: issued.info.id.clone(),
                user_id: alice.clone(),
                name: None,
            },
            AuthEvent::LoginSucceeded {
                user_id: alice,
                ip: Some(IP1),
            },
            failed(Some("alice")),
            failed(Some("bob")),
            failed(None),
        ]
    );
    let printed = format!("{events:?}");
    assert!(
        !printed.contains("wrong") && !printed.contains("correct horse"),
        "{printed}"
    );
}

/// A bad scope or lifespan gets the same answer with the right and the wrong password,
/// and costs no password check.
#[tokio::test]
async fn requests_are_checked_before_the_password() {
    let (auth, _clock) = service();
    let (auth, events) = recording(
        auth.with_scopes(Scopes::parse("read").unwrap())
            .with_lifespan(span("1d")),
    );
    add_user(&auth, "alice").await;
    let hashes = auth.password_hasher().verifications();
    let bad_scope = || TokenRequest {
        scopes: Some(Scopes::parse("admin").unwrap()),
        ..TokenRequest::default()
    };
    let too_long = || TokenRequest {
        lifespan: Some(span("2d")),
        ..TokenRequest::default()
    };
    for password in [PASSWORD, "wrong"] {
        let err = auth.obtain("alice", password, bad_scope()).await.unwrap_err();
        assert!(
            matches!(&err, ObtainError::Issue(IssueError::ScopeNotGrantable { scope }) if scope == "admin"),
            "{password}: {err:?}"
        );
        let err = auth.obtain("alice", password, too_long()).await.unwrap_err();
        assert!(
            matches!(&err, ObtainError::Issue(IssueError::LifespanTooLong { .. })),
            "{password}: {err:?}"
        );
    }
    assert_eq!(auth.password_hasher().verifications(), hashes);
    assert_eq!(*events.lock().unwrap(), []);
}

//! Scopes: tokens are granted scopes within the configured set, and a scope no longer
//! granted stops working on the tokens that carry it.

mod common;

use tokenauth_core::{IssueError, ObtainError, Scopes, TokenRequest, UserId};

use common::{PASSWORD, add_user, issue, service, stored, stored_ids};

fn scopes(list: &str) -> Scopes {
    Scopes::parse(list).unwrap()
}

fn scope_request(list: &str) -> TokenRequest {
    TokenRequest {
        scopes: Some(scopes(list)),
        ..TokenRequest::default()
    }
}

#[tokio::test]
async fn scopes_are_granted_within_the_configured_set() {
    let (auth, _clock) = service();
    let auth = auth.with_scopes(scopes("read write"));
    // With the session scope, which the session routes require.
    assert_eq!(auth.grantable_scopes(), &scopes("write read sessions"));
    let alice = add_user(&auth, "alice").await;

    let all = issue(&auth, &alice).await;
    assert_eq!(all.info.scopes, scopes("read sessions write"));
    let verified = auth.authenticate(all.token.expose_secret(), None).await.unwrap();
    assert!(verified.token.scopes.contains("read") && verified.token.scopes.contains("write"));

    let read = auth.issue(&alice, scope_request("read")).await.unwrap();
    assert_eq!(read.info.scopes, scopes("read"));
    let verified = auth.authenticate(read.token.expose_secret(), None).await.unwrap();
    assert_eq!(verified.token.scopes.to_string(), "read");
    assert!(!verified.token.scopes.contains("write"));
    assert_eq!(stored(&auth, &read.info.id).await.scopes, scopes("read"));

    let err = auth.issue(&alice, scope_request("admin")).await.unwrap_err();
    assert!(
        matches!(&err, IssueError::ScopeNotGrantable { scope } if scope == "admin"),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "Scope \"admin\" cannot be granted.");
    let err = auth
        .obtain("alice", PASSWORD, scope_request("read admin"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ObtainError::Issue(IssueError::ScopeNotGrantable { scope }) if scope == "admin"),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "Scope \"admin\" cannot be granted.");
    // Refused requests store nothing.
    assert_eq!(stored_ids(&auth, &alice).await.len(), 2);
}

#[tokio::test]
async fn without_configured_scopes_none_can_be_requested() {
    let (auth, _clock) = service();
    assert!(auth.grantable_scopes().is_empty());
    let alice = UserId::from(1);

    let err = auth.issue(&alice, scope_request("read")).await.unwrap_err();
    assert!(
        matches!(&err, IssueError::ScopeNotGrantable { scope } if scope == "read"),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "Scope \"read\" cannot be granted.");
    let plain = issue(&auth, &alice).await;
    assert!(plain.info.scopes.is_empty());
    let none = auth.issue(&alice, scope_request("")).await.unwrap();
    assert!(none.info.scopes.is_empty());
}

/// A scope the service no longer grants stops working on tokens that carry it, as a
/// lowered lifespan does; granting it again brings it back.
#[tokio::test]
async fn scopes_no_longer_granted_stop_working() {
    let (auth, _clock) = service();
    let wide = auth.with_scopes(scopes("read write admin"));
    let alice = add_user(&wide, "alice").await;
    let issued = issue(&wide, &alice).await;
    assert_eq!(issued.info.scopes, scopes("admin read sessions write"));
    let narrow = wide.clone().with_scopes(scopes("read write"));
    let verified = narrow
        .authenticate(issued.token.expose_secret(), None)
        .await
        .unwrap();
    assert_eq!(verified.token.scopes, scopes("read sessions write"));
    assert_eq!(
        narrow.list(Some(&alice)).await.unwrap()[0].scopes,
        scopes("read sessions write")
    );
    let verified = wide
        .authenticate(issued.token.expose_secret(), None)
        .await
        .unwrap();
    assert_eq!(verified.token.scopes, scopes("admin read sessions write"));
}

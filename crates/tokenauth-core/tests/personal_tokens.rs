//! Personal tokens (`issue_personal`): a token asks for another for its user, no
//! broader than itself, under the credential version it was authenticated with.

mod common;

use tokenauth_core::{IssueError, Scopes, TokenRequest};

use common::{add_user, assert_err, change_alices_password, login, service, span, stored_ids};

fn request(scope: Option<&str>) -> TokenRequest {
    TokenRequest {
        name: Some("ci".to_owned()),
        scopes: scope.map(|s| Scopes::parse(s).unwrap()),
        ..TokenRequest::default()
    }
}

#[tokio::test]
async fn a_token_mints_one_within_its_own_scopes() {
    let (auth, _clock) = service();
    let auth = auth.with_scopes(Scopes::parse("read write").unwrap());
    let alice = add_user(&auth, "alice").await;
    let read = auth.issue(&alice, request(Some("read sessions"))).await.unwrap();
    let caller = auth.authenticate(read.token.expose_secret(), None).await.unwrap();

    // Without a scope: the caller's own.
    let same = auth
        .issue_personal(&caller.user, &caller.token, request(None))
        .await
        .unwrap();
    assert_eq!(same.info.scopes, Scopes::parse("read sessions").unwrap());
    assert_eq!(same.info.name.as_deref(), Some("ci"));
    let narrower = auth
        .issue_personal(&caller.user, &caller.token, request(Some("read")))
        .await
        .unwrap();
    let verified = auth
        .authenticate(narrower.token.expose_secret(), None)
        .await
        .unwrap();
    assert_eq!(verified.token.scopes.to_string(), "read");

    assert_err!(
        auth.issue_personal(&caller.user, &caller.token, request(Some("read write")))
            .await,
        IssueError::ScopeNotHeld { .. },
        "A token cannot grant a scope it does not carry: \"write\"."
    );
    // A scope the service does not grant is refused as a login's is, first.
    assert_err!(
        auth.issue_personal(&caller.user, &caller.token, request(Some("admin")))
            .await,
        IssueError::ScopeNotGrantable { .. },
        "Scope \"admin\" cannot be granted."
    );
    let long = TokenRequest {
        lifespan: Some(span("31d")),
        ..request(None)
    };
    assert_err!(
        auth.issue_personal(&caller.user, &caller.token, long).await,
        IssueError::LifespanTooLong { .. },
        "Ensure the lifespan is at most 30d (2592000 seconds)."
    );
    // The refusals stored nothing.
    assert_eq!(stored_ids(&auth, &alice).await.len(), 3);
}

#[tokio::test]
async fn a_token_ended_by_a_password_change_mints_nothing() {
    let (auth, _clock) = service();
    let alice = add_user(&auth, "alice").await;
    let issued = login(&auth, "alice").await;
    let caller = auth
        .authenticate(issued.token.expose_secret(), None)
        .await
        .unwrap();
    // The password changes after the request authenticated, before the issue.
    change_alices_password(&auth).await;
    assert_err!(
        auth.issue_personal(&caller.user, &caller.token, request(None))
            .await,
        IssueError::CredentialsChanged,
        "Unable to log in with provided credentials."
    );
    assert!(stored_ids(&auth, &alice).await.is_empty());
}

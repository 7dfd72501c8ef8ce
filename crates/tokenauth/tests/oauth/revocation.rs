//! Revocation (RFC 7009): anyone holding a token may end it, and learns nothing else.

use super::*;

#[tokio::test]
async fn revocation_ends_a_token_and_tells_nobody_whether_it_existed() {
    let fx = fixture().await;
    let app = oauth_app(&fx, false);
    let leaked = fx.obtain(ALICE).await;
    let other = fx.obtain(ALICE).await;
    let leaked_id = fx.record(&leaked).await.id;
    fx.take_events();

    // Anyone holding the token: no Authorization needed.
    let response = send(&app, form("/auth/revoke", None, &token_form(&leaked))).await;
    response.assert(200, "");
    assert_eq!(response.header(header::CONTENT_TYPE), None);
    let events = fx.take_events();
    assert!(
        matches!(
            events.as_slice(),
            [AuthEvent::Revoked { token_id, reason: RevokeReason::ByValue, .. }] if *token_id == leaked_id
        ),
        "{events:?}"
    );
    assert!(!fx.is_stored(&leaked).await);
    send(&app, get_token("/protected", &leaked))
        .await
        .assert(401, INVALID_TOKEN);
    send(&app, get_token("/protected", &other))
        .await
        .assert_user(ALICE);

    // Again, unknown, malformed, with a hint: the same 200, nothing else revoked.
    for token in [leaked.clone(), unknown_token(), "garbage".to_owned()] {
        for body in [
            token_form(&token),
            format!("{}&token_type_hint=refresh_token", token_form(&token)),
        ] {
            send(&app, form("/auth/revoke", None, &body))
                .await
                .assert(200, "");
        }
    }
    assert_eq!(fx.take_events(), []);
    send(&app, get_token("/protected", &other))
        .await
        .assert_user(ALICE);

    // An Authorization header is not read, even a failing one.
    let dead = format!("Token {}", unknown_token());
    send(&app, form("/auth/revoke", Some(&dead), &token_form(&other)))
        .await
        .assert(200, "");
    send(&app, get_token("/protected", &other))
        .await
        .assert(401, INVALID_TOKEN);

    // An expired token is revoked too.
    let expired = fx.expired_token().await;
    send(&app, form("/auth/revoke", None, &token_form(&expired)))
        .await
        .assert(200, "");
    assert!(!fx.is_stored(&expired).await);
}

#[tokio::test]
async fn a_revoked_token_is_inactive_at_once() {
    let fx = fixture().await;
    let app = oauth_app(&fx, true);
    let token = fx.obtain(ALICE).await;
    let ask = || form("/auth/introspect", Some(&client_basic()), &token_form(&token));
    assert_eq!(send(&app, ask()).await.json()["active"], true);
    send(&app, form("/auth/revoke", None, &token_form(&token)))
        .await
        .assert(200, "");
    assert_inactive(&send(&app, ask()).await, "revoked");
}

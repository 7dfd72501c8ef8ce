//! Listing tokens: per user or all, oldest first.

mod common;

use time::Duration;
use tokenauth_core::{TokenRequest, UserId};

use common::drf::service_with_alice;

#[tokio::test]
async fn list_is_per_user_oldest_first() {
    let (auth, clock, alice) = service_with_alice().await;
    let bob = UserId::new("bob-id");
    let mut alices = Vec::new();
    let mut all = Vec::new();
    for minute in 0..5 {
        let issued = auth
            .issue(
                &alice,
                TokenRequest {
                    name: Some(format!("a{minute}")),
                    ..TokenRequest::default()
                },
            )
            .await
            .unwrap();
        alices.push(issued.info.clone());
        all.push(issued.info);
        clock.advance(Duration::minutes(1));
        let issued = auth.issue(&bob, TokenRequest::default()).await.unwrap();
        all.push(issued.info);
        clock.advance(Duration::seconds(1));
    }
    assert_eq!(auth.list(Some(&alice)).await.unwrap(), alices);
    assert_eq!(auth.list(None).await.unwrap(), all);
    assert_eq!(auth.list(Some(&UserId::new("nobody"))).await.unwrap(), vec![]);
    let names: Vec<_> = alices.iter().map(|i| i.name.clone().unwrap()).collect();
    assert_eq!(names, ["a0", "a1", "a2", "a3", "a4"]);
}

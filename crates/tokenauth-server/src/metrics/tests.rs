use super::*;

#[derive(Debug, thiserror::Error)]
#[error("down")]
struct Down;

fn errors(metrics: &Metrics, kind: &'static str) -> u64 {
    let error = CallError {
        backend: "()",
        verb: "find",
        kind,
    };
    metrics.inner.errors.get_or_create(&error).get()
}

#[tokio::test]
async fn a_failed_call_and_an_abandoned_one_are_counted_as_errors() {
    let metrics = Metrics::new();
    let backend = Metrics::measure(Some(&metrics), Arc::new(()));
    let failed = backend.timed("find", |_: &Down| false, async { Err::<(), _>(Down) });
    assert!(failed.await.is_err());
    let down = backend.timed("find", |_: &Down| true, async { Err::<(), _>(Down) });
    assert!(down.await.is_err());
    // Abandoned before it answered, as the backend timeout drops a call.
    let hanging = backend.timed(
        "find",
        |_: &Down| false,
        std::future::pending::<Result<(), Down>>(),
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(1), hanging)
            .await
            .is_err()
    );
    assert_eq!(
        (errors(&metrics, "failed"), errors(&metrics, "unavailable")),
        (1, 2)
    );
    let body = axum::body::to_bytes(metrics.text().into_body(), usize::MAX)
        .await
        .unwrap();
    let text = String::from_utf8(body.to_vec()).unwrap();
    let count = "tokenauth_backend_call_duration_seconds_count{backend=\"()\",verb=\"find\"} 3\n";
    assert!(text.contains(count), "{text}");
}

#[test]
fn a_backend_is_named_by_its_type_without_paths() {
    assert_eq!(backend_name::<tokenauth_core::MemoryStore>(), "MemoryStore");
    assert_eq!(
        backend_name::<tokenauth_sqlx::sqlite::SqliteStore>(),
        "SqlStore<Sqlite>"
    );
}

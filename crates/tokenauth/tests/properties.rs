//! Properties over arbitrary client input: the header parser, the token decoder and the
//! obtain endpoint's body parser never panic, and the endpoint never answers 5xx.

mod common;

use axum::body::Body;
use common::*;
use http::{Method, Request, header};
use proptest::prelude::*;
use tokenauth::core::TokenFormat;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 128,
        // No regression files written into the source tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// DRF's header rules: a token comes back only as the single word after a keyword.
    #[test]
    fn the_header_parser_never_panics(header in prop::collection::vec(any::<u8>(), 0..200)) {
        let auth = tokenauth::core::TokenAuth::new(
            tokenauth::core::MemoryStore::new(),
            tokenauth::core::MemoryUserDirectory::new(),
        );
        if let Ok(Some(token)) = auth.token_from_header(Some(&header)) {
            prop_assert!(!token.is_empty());
            prop_assert!(!token.bytes().any(|b| b.is_ascii_whitespace() || b == 0x0b));
        }
    }

    #[test]
    fn the_header_parser_finds_the_token_after_either_keyword(
        keyword in "[tT][oO][kK][eE][nN]|[bB][eE][aA][rR][eE][rR]",
        space in "[ \t]{1,3}",
        token in "[!-~]{1,80}",
    ) {
        let auth = tokenauth::core::TokenAuth::new(
            tokenauth::core::MemoryStore::new(),
            tokenauth::core::MemoryUserDirectory::new(),
        );
        let header = format!("{keyword}{space}{token}{space}");
        prop_assert_eq!(auth.token_from_header(Some(header.as_bytes())).ok().flatten(), Some(token.as_str()));
    }

    /// The decoder accepts exactly what the format generates (checksum and all).
    #[test]
    fn the_token_decoder_never_panics(text in ".{0,80}", tail in "[0-9A-Za-z]{0,60}") {
        let format = TokenFormat::default();
        let _ = format.digest_if_well_formed(&text);
        let _ = format.digest_if_well_formed(&format!("tka_{tail}"));
        let token = format.generate();
        prop_assert!(format.digest_if_well_formed(token.expose_secret()).is_some());
    }
}

/// Any body of any common type: a 4xx with a JSON body (checked by `send`), never a 5xx
/// or a panic.
#[test]
fn the_obtain_body_parser_never_fails_the_server() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let app = runtime.block_on(async { Fixture::new().await.app() });
    let content_types = prop::sample::select(vec![
        "application/json",
        "application/json; charset=utf-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=b",
        "multipart/form-data",
        "text/plain",
        "",
    ]);
    let bodies = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        "\\{(\"[a-z]{1,8}\": ?(null|true|[0-9]{1,3}|\"[^\"]{0,20}\"|\\[\\]|\\{\\}),? ?){0,6}\\}"
            .prop_map(String::into_bytes),
        "(--b\r\nContent-Disposition: form-data; name=\"[a-z]{1,8}\"(; filename=\"f\")?\r\n\r\n[a-z]{0,9}\r\n){0,4}(--b--\r\n)?"
            .prop_map(String::into_bytes),
        "([a-z%]{0,6}=[a-z%+]{0,6}&?){0,8}".prop_map(String::into_bytes),
    ];
    let mut runner = proptest::test_runner::TestRunner::new(config());
    runner
        .run(&(content_types, bodies), |(content_type, body)| {
            let mut request = Request::builder().method(Method::POST).uri("/api-token-auth/");
            if !content_type.is_empty() {
                request = request.header(header::CONTENT_TYPE, content_type);
            }
            let response = runtime.block_on(send(&app, request.body(Body::from(body)).unwrap()));
            prop_assert!(
                response.status.is_client_error(),
                "{} {}",
                response.status,
                response.body
            );
            Ok(())
        })
        .unwrap();
}

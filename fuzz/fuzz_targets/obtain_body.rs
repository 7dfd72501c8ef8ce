//! The obtain endpoint's body parser, through the router: the first byte picks a
//! content type, the rest is the body. Never a panic, never a 5xx.
#![no_main]

use std::sync::OnceLock;

use axum::Router;
use axum::body::Body;
use http::{Method, Request, header};
use libfuzzer_sys::fuzz_target;
use tokenauth_core::{MemoryStore, MemoryUserDirectory, TokenAuth};
use tower::ServiceExt;

const CONTENT_TYPES: [&str; 6] = [
    "application/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=b",
    "multipart/form-data",
    "text/plain",
    "",
];

fn app() -> &'static (tokio::runtime::Runtime, Router) {
    static APP: OnceLock<(tokio::runtime::Runtime, Router)> = OnceLock::new();
    APP.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let auth = TokenAuth::new(MemoryStore::new(), MemoryUserDirectory::new());
        (runtime, tokenauth::routes::obtain_router(auth))
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else { return };
    let content_type = CONTENT_TYPES[usize::from(pick) % CONTENT_TYPES.len()];
    let mut request = Request::builder().method(Method::POST).uri("/api-token-auth/");
    if !content_type.is_empty() {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    let request = request.body(Body::from(body.to_vec())).unwrap();
    let (runtime, app) = app();
    let response = runtime.block_on(app.clone().oneshot(request)).unwrap();
    assert!(!response.status().is_server_error(), "{}", response.status());
});

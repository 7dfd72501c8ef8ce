//! `GET /openapi.json`: the OpenAPI 3.1 description of every route this server answers,
//! the library's ([`Routes::openapi`]) and the server's own, generated once at start
//! from the handlers' annotations and the options in force.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokenauth::routes::Routes;
use tokenauth::routes::openapi::{Detail, MethodNotAllowed, readiness_at};
use tokenauth_core::store::{TokenStore, UserDirectory};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, RefOr, ResponseBuilder};
use utoipa::{OpenApi, ToResponse, ToSchema};

/// Where the document is served.
pub const OPENAPI_PATH: &str = "/openapi.json";

/// The server's own routes.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "tokenauth",
        description = "Expiring API tokens, wire-compatible with Django REST Framework's token authentication.",
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0"),
    ),
    paths(crate::app::me, crate::app::healthz, crate::metrics::render, openapi_json),
    components(responses(HeaderTooLarge))
)]
struct Server;

/// The document itself.
#[utoipa::path(
    get, path = "/openapi.json", tag = "probes",
    responses(
        (status = 200, description = "This OpenAPI 3.1 document.", content_type = "application/json", body = Object),
        (status = 405, response = MethodNotAllowed),
    ),
)]
async fn openapi_json(axum::extract::State(body): axum::extract::State<bytes::Bytes>) -> Response {
    let json = HeaderValue::from_static("application/json");
    ([(header::CONTENT_TYPE, json)], body).into_response()
}

/// 431, which any route answers ([`crate::app::MAX_HEADER_LINE`]).
#[derive(Debug)]
struct HeaderTooLarge;

impl<'r> ToResponse<'r> for HeaderTooLarge {
    fn response() -> (&'r str, RefOr<utoipa::openapi::Response>) {
        let body = ContentBuilder::new()
            .schema(Some(Ref::from_schema_name(Detail::name())))
            .build();
        let response = ResponseBuilder::new()
            .description("A header line over 8190 bytes.")
            .content("application/json", body)
            .build();
        ("HeaderTooLarge", response.into())
    }
}

/// The document of the routes `routes` serve, with `/metrics` if it is served here.
pub fn document<S: TokenStore, D: UserDirectory>(routes: &Routes<S, D>, metrics: bool) -> Document {
    let mut document = Server::openapi();
    document.merge(routes.openapi());
    document.merge(readiness_at("/readyz"));
    if let Some(ready) = document
        .paths
        .paths
        .get_mut("/readyz")
        .and_then(|item| item.get.as_mut())
    {
        ready.description = Some("503 too while the server drains before shutting down.".to_owned());
    }
    if !metrics {
        document.paths.paths.remove("/metrics");
    }
    for item in document.paths.paths.values_mut() {
        for operation in tokenauth::routes::openapi::operations(item) {
            let too_large = Ref::from_response_name("HeaderTooLarge");
            operation
                .responses
                .responses
                .insert("431".to_owned(), too_large.into());
        }
    }
    document
}

/// `GET /openapi.json`, serving `document`.
pub fn router(document: &Document) -> Router {
    let body = serde_json::to_vec(document).expect("an OpenAPI document serializes");
    Router::new()
        .route(OPENAPI_PATH, get(openapi_json))
        .with_state(bytes::Bytes::from(body))
}

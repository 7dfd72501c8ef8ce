//! The refusals the routes share, as OpenAPI response components: each a JSON body
//! (DRF's `detail`, or its field errors) and the headers that come with it.

use utoipa::openapi::header::Header;
use utoipa::openapi::response::Response;
use utoipa::openapi::schema::{AnyOfBuilder, Type};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder, Schema};
use utoipa::{ToResponse, ToSchema};

use super::schemas::Detail;
use crate::routes::oauth::OAuthError;
use crate::routes::validate::FieldErrors;

/// A JSON response described by `description`, its body `body`, with `headers`.
fn json(description: &str, body: RefOr<Schema>, headers: &[(&str, &str)]) -> Response {
    let content = ContentBuilder::new().schema(Some(body)).build();
    headers
        .iter()
        .fold(
            ResponseBuilder::new()
                .description(description)
                .content("application/json", content),
            |response, (name, about)| {
                let header = Header::builder()
                    .schema(Some(
                        utoipa::openapi::ObjectBuilder::new().schema_type(Type::String),
                    ))
                    .description(Some(*about))
                    .build();
                response.header(*name, header)
            },
        )
        .build()
}

fn schema_ref<T: ToSchema>() -> RefOr<Schema> {
    Ref::from_schema_name(T::name()).into()
}

fn either<A: ToSchema, B: ToSchema>() -> RefOr<Schema> {
    AnyOfBuilder::new()
        .item(schema_ref::<A>())
        .item(schema_ref::<B>())
        .into()
}

const CHALLENGE: (&str, &str) = (
    "WWW-Authenticate",
    "The challenge: `Token` (DRF), or RFC 6750's `Bearer realm=...` with its `error` for a `Bearer` client.",
);
const RETRY_AFTER: (&str, &str) = ("Retry-After", "Seconds to wait before trying again.");

/// Declares response components: `Name(status description): body, [headers];`.
macro_rules! responses {
    ($($(#[$doc:meta])* $name:ident => $description:literal, $body:expr, [$($header:expr),*];)*) => {$(
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name;

        impl<'r> ToResponse<'r> for $name {
            fn response() -> (&'r str, RefOr<Response>) {
                (stringify!($name), json($description, $body, &[$($header),*]).into())
            }
        }
    )*};
}

responses! {
    /// 401: no credentials, or credentials that failed.
    Unauthorized => "No credentials, or credentials that failed (unknown, expired or revoked token, inactive user): DRF's message, and a challenge.",
        schema_ref::<Detail>(), [CHALLENGE];
    /// 400 on an authenticated route without a body: malformed credentials from a
    /// `Bearer` client.
    MalformedCredentials => "Malformed or repeated credentials from a `Bearer` client (RFC 6750 `invalid_request`, with its challenge).",
        schema_ref::<Detail>(), [CHALLENGE];
    /// 400 on a route with a body: a body that cannot be read, or fields refused.
    InvalidBody => "A body that cannot be parsed or has too many fields (`detail`), or fields refused (each field's messages); or malformed `Bearer` credentials.",
        either::<FieldErrors, Detail>(), [CHALLENGE];
    /// 400 on the OAuth endpoints.
    InvalidRequest => "The form lacks its one `token` (RFC 6749 `invalid_request`), or has too many fields (`detail`).",
        either::<OAuthError<'static>, Detail>(), [];
    /// 401 at the introspection endpoint.
    ClientUnauthorized => "No credentials (`detail`, challenging for a token and, with a client configured, `Basic`), or a wrong client credential (RFC 6749 `invalid_client`).",
        either::<Detail, OAuthError<'static>>(), [CHALLENGE];
    /// 403: the token lacks a scope the route requires.
    Forbidden => "The token lacks a scope this needs (`insufficient_scope`, with its challenge), or the request is refused for what it asks.",
        schema_ref::<Detail>(), [CHALLENGE];
    /// 404.
    NotFound => "No such resource: `{\"detail\": \"Not found.\"}`.", schema_ref::<Detail>(), [];
    /// 405, with `Allow`.
    MethodNotAllowed => "A method the route does not serve (after authentication, on routes that require it).",
        schema_ref::<Detail>(), [("Allow", "The methods the route serves.")];
    /// 413.
    PayloadTooLarge => "A body over 8 KiB.", schema_ref::<Detail>(), [];
    /// 415.
    UnsupportedMediaType => "A body of a type the route does not read.", schema_ref::<Detail>(), [];
    /// 429, with `Retry-After`.
    Throttled => "Too many logins for this username or from this address.", schema_ref::<Detail>(), [RETRY_AFTER];
    /// 503, with `Retry-After`.
    Unavailable => "The token store or the user directory does not answer, or password hashing is saturated.",
        schema_ref::<Detail>(), [RETRY_AFTER];
}

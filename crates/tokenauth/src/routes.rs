//! The HTTP endpoints: the obtain-token endpoint (a username and password in, a token
//! out) and the session routes (logout, the user's tokens, revoking one).
//!
//! The obtain endpoint speaks DRF's `obtain_auth_token` protocol: JSON, urlencoded or
//! multipart bodies, DRF's validation messages, `{"token": ...}` on success (plus
//! `"expiry"`). Unlike DRF it ignores the `Authorization` header, so a client holding a
//! dead token can log in again; keep it outside [`TokenAuthLayer`](crate::TokenAuthLayer).
//! The session routes act on the presented token and its user, so they go behind the
//! layer.

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post};
use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use tokenauth_core::{
    AuthUser, InvalidLifespan, IssueError, Lifespan, ObtainError, RevokeReason, Scopes, TokenAuth, TokenId,
    TokenRequest, TokenStore, UserDirectory,
};

use crate::extract::Authenticated;
use crate::rejection::{detail_response, json_response};

/// The two paths the obtain endpoint is served at by [`obtain_router`]: DRF's and
/// tokenauth's own.
pub const OBTAIN_PATHS: [&str; 2] = ["/api-token-auth/", "/auth/token"];

/// The longest token `name` accepted, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// A router serving the obtain endpoint at `POST /api-token-auth/` (DRF's path) and
/// `POST /auth/token`. Other methods get DRF's 405 with an `Allow` header.
///
/// The body takes DRF's `username` and `password`, and optionally:
///
/// - `name`: a label for the token (the device or client), at most
///   [`MAX_NAME_CHARS`] characters;
/// - `lifespan`: a lifespan shorter than the configured one, as seconds (a number or a
///   string) or text such as `"7d"` or `"12h"` (see [`Lifespan`]); a longer one is
///   refused with 400 `{"lifespan": ["Ensure the lifespan is at most 30d (2592000
///   seconds)."]}`;
/// - `scope`: the scopes wanted, space-separated as in OAuth 2 (`"read write"`), each
///   one the service grants ([`TokenAuth::with_scopes`]); without it the token gets
///   every grantable scope, and an empty string asks for none.
///
/// A user at the per-user token limit with [`OnLimit::Reject`] gets 403 with a
/// `detail` saying so.
///
/// [`OnLimit::Reject`]: tokenauth_core::OnLimit::Reject
///
/// ```no_run
/// use axum::Router;
/// use tokenauth::{TokenAuth, routes::obtain_router};
/// use tokenauth::core::{MemoryStore, MemoryUserDirectory};
///
/// let auth = TokenAuth::new(MemoryStore::new(), MemoryUserDirectory::new());
/// let app: Router = Router::new().merge(obtain_router(auth));
/// ```
pub fn obtain_router<S: TokenStore, D: UserDirectory>(auth: TokenAuth<S, D>) -> Router {
    OBTAIN_PATHS.iter().fold(Router::new(), |router, path| {
        router.route(path, obtain(auth.clone()))
    })
}

/// The obtain endpoint as a method router, to mount at a path of your choice.
pub fn obtain<S: TokenStore, D: UserDirectory>(auth: TokenAuth<S, D>) -> MethodRouter {
    post(obtain_token::<S, D>)
        .fallback(method_not_allowed)
        .with_state(auth)
}

/// A router serving the session routes, for the user of the presented token:
///
/// - `POST /auth/logout`: revokes the presented token; 204, empty body.
/// - `POST /auth/logoutall`: revokes every token of the user; 204.
/// - `GET /auth/tokens`: the user's live tokens, oldest first, as a JSON list of
///   `{"id", "name", "scopes", "created", "expiry", "last_used", "current"}`
///   (`scopes` a list of strings, times RFC 3339, `last_used` `null` if never written,
///   `current` true for the presented token). Never a secret or a digest.
/// - `DELETE /auth/tokens/{id}`: revokes one of the user's tokens; 204, or 404
///   `{"detail":"Not found."}` for an id that is unknown, malformed or another user's.
///
/// Revocation takes effect on the very next request. Other methods get DRF's 405 (after
/// authentication: without valid credentials, the 401 comes first, as in DRF).
///
/// Mount it **behind** [`TokenAuthLayer`](crate::TokenAuthLayer), which authenticates
/// the requests (anonymous ones get 401 `Authentication credentials were not
/// provided.`), with the same `auth`:
///
/// ```no_run
/// use axum::Router;
/// use tokenauth::{TokenAuth, TokenAuthLayer};
/// use tokenauth::core::{MemoryStore, MemoryUserDirectory};
/// use tokenauth::routes::{obtain_router, session_router};
///
/// let auth = TokenAuth::new(MemoryStore::new(), MemoryUserDirectory::new());
/// let app: Router = Router::new()
///     .merge(session_router(auth.clone()))
///     .layer(TokenAuthLayer::new(auth.clone()))
///     // Outside the layer: logging in ignores the Authorization header.
///     .merge(obtain_router(auth));
/// ```
pub fn session_router<S: TokenStore, D: UserDirectory>(auth: TokenAuth<S, D>) -> Router {
    Router::new()
        .route(
            "/auth/logout",
            post(logout::<S, D>).fallback(method_not_allowed_authenticated::<D::User>),
        )
        .route(
            "/auth/logoutall",
            post(logout_all::<S, D>).fallback(method_not_allowed_authenticated::<D::User>),
        )
        .route(
            "/auth/tokens",
            get(list_tokens::<S, D>).fallback(method_not_allowed_authenticated::<D::User>),
        )
        .route(
            "/auth/tokens/{id}",
            delete(revoke_token::<S, D>).fallback(method_not_allowed_authenticated::<D::User>),
        )
        .with_state(auth)
}

/// DRF's 405: `{"detail": "Method \"GET\" not allowed."}`. Axum adds the `Allow`
/// header naming the methods the route serves.
///
/// Install it on your own public routes with `Router::method_not_allowed_fallback`,
/// before adding [`TokenAuthLayer`](crate::TokenAuthLayer), so that a wrong method with
/// bad credentials is a 401 as in DRF (which authenticates before looking at the
/// method). On routes that require authentication use
/// [`method_not_allowed_authenticated`], which answers anonymous requests with the 401
/// too:
///
/// ```no_run
/// use axum::{Router, routing::get};
/// use tokenauth::{Authenticated, TokenAuth, TokenAuthLayer, routes::method_not_allowed};
/// use tokenauth::core::{MemoryStore, MemoryUserDirectory};
///
/// let auth = TokenAuth::new(MemoryStore::new(), MemoryUserDirectory::new());
/// let app: Router = Router::new()
///     .route("/", get(|auth: Option<Authenticated>| async move { auth.is_some().to_string() }))
///     .method_not_allowed_fallback(method_not_allowed)
///     .layer(TokenAuthLayer::new(auth));
/// ```
pub async fn method_not_allowed(method: Method) -> Response {
    detail_response(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("Method \"{method}\" not allowed."),
    )
}

/// [`method_not_allowed`] for routes that require authentication: a request without
/// valid credentials gets the 401 first, as a DRF view with `IsAuthenticated` answers
/// (it checks permissions before looking at the method). `U` is your user type.
///
/// ```no_run
/// use axum::{Router, routing::get};
/// use tokenauth::routes::method_not_allowed_authenticated;
/// use tokenauth::{Authenticated, TokenAuth, TokenAuthLayer, User};
/// use tokenauth::core::{MemoryStore, MemoryUserDirectory};
///
/// let auth = TokenAuth::new(MemoryStore::new(), MemoryUserDirectory::new());
/// let app: Router = Router::new()
///     .route("/me", get(|auth: Authenticated| async move { auth.user.username }))
///     .method_not_allowed_fallback(method_not_allowed_authenticated::<User>)
///     .layer(TokenAuthLayer::new(auth));
/// ```
pub async fn method_not_allowed_authenticated<U: Clone + Send + Sync + 'static>(
    _: Authenticated<U>,
    method: Method,
) -> Response {
    method_not_allowed(method).await
}

/// DRF's 500, after logging the cause.
fn server_error(error: &(dyn std::error::Error + 'static), what: &str) -> Response {
    tracing::error!(error, "{what}");
    detail_response(StatusCode::INTERNAL_SERVER_ERROR, "A server error occurred.")
}

fn not_found() -> Response {
    detail_response(StatusCode::NOT_FOUND, "Not found.")
}

async fn logout<S: TokenStore, D: UserDirectory>(
    State(auth): State<TokenAuth<S, D>>,
    who: Authenticated<D::User>,
) -> Response {
    match auth.logout(&who.token).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => server_error(&error, "logout failed"),
    }
}

async fn logout_all<S: TokenStore, D: UserDirectory>(
    State(auth): State<TokenAuth<S, D>>,
    who: Authenticated<D::User>,
) -> Response {
    match auth
        .revoke_user_tokens(&who.user.id(), RevokeReason::LogoutAll)
        .await
    {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => server_error(&error, "logout of every token failed"),
    }
}

/// One entry of `GET /auth/tokens`: what its owner may see of a token.
#[derive(serde::Serialize)]
struct Session<'a> {
    id: &'a TokenId,
    name: Option<&'a str>,
    scopes: &'a Scopes,
    #[serde(with = "time::serde::rfc3339")]
    created: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    expiry: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    last_used: Option<OffsetDateTime>,
    current: bool,
}

async fn list_tokens<S: TokenStore, D: UserDirectory>(
    State(auth): State<TokenAuth<S, D>>,
    who: Authenticated<D::User>,
) -> Response {
    let tokens = match auth.sessions(&who.user).await {
        Ok(tokens) => tokens,
        Err(error) => return server_error(&error, "listing tokens failed"),
    };
    let sessions: Vec<Session<'_>> = tokens
        .iter()
        .map(|info| Session {
            id: &info.id,
            name: info.name.as_deref(),
            scopes: &info.scopes,
            created: info.created,
            expiry: info.expires,
            last_used: info.last_used,
            current: info.id == who.token.id,
        })
        .collect();
    let body = serde_json::to_value(&sessions).expect("a token list always serializes");
    json_response(StatusCode::OK, &body)
}

async fn revoke_token<S: TokenStore, D: UserDirectory>(
    State(auth): State<TokenAuth<S, D>>,
    who: Authenticated<D::User>,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    // A malformed id names no token, like an unknown one.
    let Some(id) = id.ok().and_then(|Path(id)| id.parse::<TokenId>().ok()) else {
        return not_found();
    };
    match auth.revoke_own(&who.user.id(), &id).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        // Another user's token is as unknown as a missing one: ids do not leak.
        Ok(false) => not_found(),
        Err(error) => server_error(&error, "revoking a token failed"),
    }
}

#[derive(serde::Serialize)]
struct TokenResponse<'a> {
    token: &'a str,
    #[serde(with = "time::serde::rfc3339")]
    expiry: time::OffsetDateTime,
}

async fn obtain_token<S: TokenStore, D: UserDirectory>(
    State(auth): State<TokenAuth<S, D>>,
    request: Request,
) -> Response {
    let data = match read_body(request).await {
        Ok(data) => data,
        Err(response) => return response,
    };
    let credentials = match validate(&data, auth.policy().lifespan()) {
        Ok(credentials) => credentials,
        Err(errors) => return json_response(StatusCode::BAD_REQUEST, &Value::Object(errors)),
    };
    match auth
        .obtain(&credentials.username, &credentials.password, credentials.request)
        .await
    {
        Ok(issued) => {
            let body = TokenResponse {
                token: issued.token.expose_secret(),
                expiry: issued.info.expires,
            };
            let body = serde_json::to_value(&body).expect("a token response always serializes");
            let mut response = json_response(StatusCode::OK, &body);
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(ObtainError::InvalidCredentials) => json_response(
            StatusCode::BAD_REQUEST,
            &json!({ "non_field_errors": [ObtainError::InvalidCredentials.to_string()] }),
        ),
        Err(ObtainError::Issue(error)) => issue_error(&error),
        Err(error) => server_error(&error, "obtain failed"),
    }
}

/// The response to a token that cannot be issued.
fn issue_error(error: &IssueError) -> Response {
    match error {
        IssueError::LifespanTooLong { .. } => json_response(
            StatusCode::BAD_REQUEST,
            &json!({ "lifespan": [error.to_string()] }),
        ),
        IssueError::ScopeNotGrantable { .. } => {
            json_response(StatusCode::BAD_REQUEST, &json!({ "scope": [error.to_string()] }))
        }
        IssueError::LimitReached { .. } => detail_response(StatusCode::FORBIDDEN, &error.to_string()),
        _ => server_error(error, "obtain failed"),
    }
}

/// A submitted field before validation.
#[derive(Debug, PartialEq)]
enum Field {
    Missing,
    Null,
    /// A string, or a number coerced to one (DRF's `CharField` accepts both).
    Text(String),
    /// Booleans, lists, objects, uploaded files.
    NotAString,
}

/// The submitted fields, or the top-level error DRF gives for a body that is not a
/// dictionary.
enum Data {
    Fields(Map<String, Value>),
    Form(Vec<(String, Field)>),
}

/// Reads the body as DRF's parsers would: JSON, urlencoded or multipart; an empty body
/// is no data whatever its type; a body of any other type, or of none, is a 415.
async fn read_body(request: Request) -> Result<Data, Response> {
    // DRF reads no data from a body of length 0, whatever its declared type.
    let declared_empty = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .is_some_and(|length| length.as_bytes() == b"0");
    if declared_empty {
        return Ok(Data::Fields(Map::new()));
    }
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let Some(content_type) = content_type else {
        // DRF reads a missing Content-Type as "" and finds no parser for it.
        let body = read_bytes(request).await?;
        return if body.is_empty() {
            Ok(Data::Fields(Map::new()))
        } else {
            Err(unsupported_media_type(""))
        };
    };
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match media_type.as_str() {
        "application/json" => {
            let body = read_bytes(request).await?;
            if body.is_empty() {
                return Ok(Data::Fields(Map::new()));
            }
            match serde_json::from_slice::<Value>(&body) {
                Ok(Value::Object(map)) => Ok(Data::Fields(map)),
                Ok(Value::Null) => Err(non_field_error("No data provided")),
                Ok(other) => Err(non_field_error(&format!(
                    "Invalid data. Expected a dictionary, but got {}.",
                    python_type_name(&other)
                ))),
                Err(error) => Err(detail_response(
                    StatusCode::BAD_REQUEST,
                    &format!("JSON parse error - {error}"),
                )),
            }
        }
        "application/x-www-form-urlencoded" => {
            let body = read_bytes(request).await?;
            let fields = form_urlencoded::parse(&body)
                .map(|(k, v)| (k.into_owned(), Field::Text(v.into_owned())))
                .collect();
            Ok(Data::Form(fields))
        }
        "multipart/form-data" => read_multipart(request).await.map(Data::Form),
        _ => Err(unsupported_media_type(&content_type)),
    }
}

fn unsupported_media_type(content_type: &str) -> Response {
    detail_response(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        &format!("Unsupported media type \"{content_type}\" in request."),
    )
}

async fn read_bytes(request: Request) -> Result<Bytes, Response> {
    Bytes::from_request(request, &()).await.map_err(|rejection| {
        let message = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            "Request body is too large."
        } else {
            "Could not read the request body."
        };
        detail_response(rejection.status(), message)
    })
}

async fn read_multipart(request: Request) -> Result<Vec<(String, Field)>, Response> {
    let parse_error = |error: &dyn std::fmt::Display| {
        detail_response(
            StatusCode::BAD_REQUEST,
            &format!("Multipart form parse error - {error}"),
        )
    };
    let mut multipart = Multipart::from_request(request, &())
        .await
        .map_err(|rejection| parse_error(&rejection.body_text()))?;
    let mut fields = Vec::new();
    while let Some(part) = multipart
        .next_field()
        .await
        .map_err(|e| parse_error(&e.body_text()))?
    {
        let Some(name) = part.name().map(str::to_owned) else {
            continue;
        };
        let field = if part.file_name().is_some() {
            // Drain the upload so the next part can be read; a file is never a string.
            part.bytes().await.map_err(|e| parse_error(&e.body_text()))?;
            Field::NotAString
        } else {
            Field::Text(part.text().await.map_err(|e| parse_error(&e.body_text()))?)
        };
        fields.push((name, field));
    }
    Ok(fields)
}

fn non_field_error(message: &str) -> Response {
    json_response(StatusCode::BAD_REQUEST, &json!({ "non_field_errors": [message] }))
}

/// The name Python gives the type of a parsed JSON value, for DRF's messages.
fn python_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

impl Data {
    /// The field `name` as submitted. For forms, the last value wins (Django's
    /// `QueryDict.get`).
    fn field(&self, name: &str) -> Field {
        match self {
            Self::Fields(map) => match map.get(name) {
                None => Field::Missing,
                Some(Value::Null) => Field::Null,
                Some(Value::String(s)) => Field::Text(s.clone()),
                Some(Value::Number(n)) => Field::Text(n.to_string()),
                Some(_) => Field::NotAString,
            },
            Self::Form(fields) => {
                fields
                    .iter()
                    .rev()
                    .find(|(key, _)| key == name)
                    .map_or(Field::Missing, |(_, field)| match field {
                        Field::Text(s) => Field::Text(s.clone()),
                        _ => Field::NotAString,
                    })
            }
        }
    }
}

struct Credentials {
    username: String,
    password: String,
    request: TokenRequest,
}

/// DRF's `AuthTokenSerializer` field validation: `username` is trimmed, `password` is
/// not; both are required, non-null, non-blank strings. tokenauth's optional fields:
/// `name` (a label), `lifespan` and `scope`; absent, null or (but for `scope`) blank
/// means not given. Every field's errors are reported at once, in field order.
fn validate(data: &Data, max_lifespan: Lifespan) -> Result<Credentials, Map<String, Value>> {
    let mut errors = Map::new();
    let mut check = |key: &str, result: Result<Option<String>, String>| {
        result.unwrap_or_else(|message| {
            errors.insert(key.to_owned(), json!([message]));
            None
        })
    };
    let username = check("username", char_field(data.field("username"), true, true));
    let password = check("password", char_field(data.field("password"), false, true));
    let name = check("name", char_field(data.field("name"), true, false));
    let lifespan = lifespan_field(data.field("lifespan"), max_lifespan).unwrap_or_else(|message| {
        errors.insert("lifespan".to_owned(), json!([message]));
        None
    });
    let scopes = scope_field(data.field("scope")).unwrap_or_else(|message| {
        errors.insert("scope".to_owned(), json!([message]));
        None
    });
    match (username, password) {
        (Some(username), Some(password)) if errors.is_empty() => Ok(Credentials {
            username,
            password,
            request: TokenRequest {
                name,
                lifespan,
                scopes,
            },
        }),
        _ => Err(errors),
    }
}

/// A DRF `CharField`: the text, `None` for an optional field that is absent, null or
/// blank, or the error message.
fn char_field(field: Field, trim: bool, required: bool) -> Result<Option<String>, String> {
    let message = match field {
        Field::Missing if required => "This field is required.",
        Field::Null if required => "This field may not be null.",
        Field::Missing | Field::Null => return Ok(None),
        Field::NotAString => "Not a valid string.",
        Field::Text(text) => {
            let text = if trim { text.trim().to_owned() } else { text };
            if text.is_empty() {
                if !required {
                    return Ok(None);
                }
                "This field may not be blank."
            } else if text.contains('\0') {
                "Null characters are not allowed."
            } else if !required && text.chars().count() > MAX_NAME_CHARS {
                return Err(format!(
                    "Ensure this field has no more than {MAX_NAME_CHARS} characters."
                ));
            } else {
                return Ok(Some(text));
            }
        }
    };
    Err(message.to_owned())
}

const INVALID_DURATION: &str =
    "Invalid duration. Use a number of seconds or a number with a unit, such as 7d, 12h or 90m.";

/// `lifespan`: seconds (a JSON number or a string) or a duration such as `7d`. Whether
/// it is within the configured lifespan is the core's decision, but one over the
/// 100-year ceiling of [`Lifespan`] gets the same message.
fn lifespan_field(field: Field, max: Lifespan) -> Result<Option<Lifespan>, String> {
    let text = match field {
        Field::Missing | Field::Null => return Ok(None),
        Field::NotAString => return Err(INVALID_DURATION.to_owned()),
        Field::Text(text) => text,
    };
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<Lifespan>().map(Some).map_err(|error| match error {
        InvalidLifespan::NotPositive => "Ensure the lifespan is longer than zero.".to_owned(),
        InvalidLifespan::TooLong => IssueError::LifespanTooLong { max }.to_string(),
        InvalidLifespan::NotWholeSeconds => "Ensure the lifespan is a whole number of seconds.".to_owned(),
        _ => INVALID_DURATION.to_owned(),
    })
}

/// `scope`: a space-separated list of scope names. An empty list asks for no scopes
/// (leave the field out to get every grantable one).
fn scope_field(field: Field) -> Result<Option<Scopes>, String> {
    match field {
        Field::Missing | Field::Null => Ok(None),
        Field::NotAString => Err("Not a valid string.".to_owned()),
        Field::Text(text) => Scopes::parse(&text)
            .map(Some)
            .map_err(|invalid| format!("\"{}\" is not a valid scope.", invalid.0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_data(value: Value) -> Data {
        match value {
            Value::Object(map) => Data::Fields(map),
            _ => unreachable!("tests pass objects"),
        }
    }

    fn errors(value: Value) -> Value {
        Value::Object(
            validate(&json_data(value), Lifespan::DEFAULT)
                .err()
                .expect("validation should fail"),
        )
    }

    #[test]
    fn drf_field_errors() {
        assert_eq!(
            errors(json!({})),
            json!({"username": ["This field is required."], "password": ["This field is required."]})
        );
        assert_eq!(
            errors(json!({"username": " ", "password": ""})),
            json!({"username": ["This field may not be blank."], "password": ["This field may not be blank."]})
        );
        assert_eq!(
            errors(json!({"username": 123, "password": true})),
            json!({"password": ["Not a valid string."]})
        );
        assert_eq!(
            errors(json!({"username": "a\u{0}b", "password": "x"})),
            json!({"username": ["Null characters are not allowed."]})
        );
        assert_eq!(
            errors(json!({"username": "a", "password": "x", "name": [1]})),
            json!({"name": ["Not a valid string."]})
        );
        assert_eq!(
            errors(json!({"username": "a", "password": "x", "name": "n".repeat(201)})),
            json!({"name": ["Ensure this field has no more than 200 characters."]})
        );
    }

    #[test]
    fn username_is_trimmed_password_is_not_and_numbers_are_text() {
        let ok = validate(
            &json_data(json!({"username": " 12 ", "password": " p ", "name": null})),
            Lifespan::DEFAULT,
        )
        .ok()
        .unwrap();
        assert_eq!(ok.username, "12");
        assert_eq!(ok.password, " p ");
        assert_eq!(ok.request, TokenRequest::default());
        let ok = validate(
            &json_data(json!({"username": 1.5, "password": 7, "name": " phone "})),
            Lifespan::DEFAULT,
        )
        .ok()
        .unwrap();
        assert_eq!((ok.username.as_str(), ok.password.as_str()), ("1.5", "7"));
        assert_eq!(ok.request.name.as_deref(), Some("phone"));
    }

    fn request(extra: Value) -> TokenRequest {
        let mut body = json!({"username": "a", "password": "x"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        validate(&json_data(body), Lifespan::DEFAULT)
            .expect("validation should pass")
            .request
    }

    fn lifespan(text: &str) -> Option<Lifespan> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn lifespans_are_seconds_or_durations_and_blank_is_absent() {
        assert_eq!(request(json!({"lifespan": "7d"})).lifespan, lifespan("7d"));
        assert_eq!(request(json!({"lifespan": " 12h "})).lifespan, lifespan("12h"));
        assert_eq!(request(json!({"lifespan": 3600})).lifespan, lifespan("1h"));
        assert_eq!(request(json!({"lifespan": "90"})).lifespan, lifespan("90s"));
        assert_eq!(request(json!({"lifespan": null})).lifespan, None);
        assert_eq!(request(json!({"lifespan": ""})).lifespan, None);
        // The configured maximum is the core's check, not the validator's.
        assert_eq!(request(json!({"lifespan": "60d"})).lifespan, lifespan("60d"));
    }

    #[test]
    fn lifespan_errors() {
        let invalid = json!({"lifespan": [INVALID_DURATION]});
        for bad in [
            json!("soon"),
            json!("7 fortnights"),
            json!(-5),
            json!(1.5),
            json!(true),
            json!(["7d"]),
        ] {
            assert_eq!(
                errors(json!({"username": "a", "password": "x", "lifespan": bad})),
                invalid
            );
        }
        assert_eq!(
            errors(json!({"username": "a", "password": "x", "lifespan": "0s"})),
            json!({"lifespan": ["Ensure the lifespan is longer than zero."]})
        );
        assert_eq!(
            errors(json!({"username": "a", "password": "x", "lifespan": "1000y"})),
            json!({"lifespan": ["Ensure the lifespan is at most 30d (2592000 seconds)."]})
        );
        for fraction in ["1ns", "1500ms", "0.5s"] {
            assert_eq!(
                errors(json!({"username": "a", "password": "x", "lifespan": fraction})),
                json!({"lifespan": ["Ensure the lifespan is a whole number of seconds."]}),
                "{fraction}"
            );
        }
    }

    #[test]
    fn scopes_are_space_separated_and_empty_asks_for_none() {
        assert_eq!(
            request(json!({"scope": "write  read"})).scopes,
            Some(Scopes::parse("read write").unwrap())
        );
        assert_eq!(request(json!({"scope": ""})).scopes, Some(Scopes::none()));
        assert_eq!(request(json!({"scope": null})).scopes, None);
        assert_eq!(request(json!({})).scopes, None);
        assert_eq!(
            errors(json!({"username": "a", "password": "x", "scope": "read wr\"ite"})),
            json!({"scope": ["\"wr\"ite\" is not a valid scope."]})
        );
        assert_eq!(
            errors(json!({"username": "a", "password": "x", "scope": ["read"]})),
            json!({"scope": ["Not a valid string."]})
        );
    }

    #[test]
    fn every_field_error_is_reported_at_once_in_field_order() {
        assert_eq!(
            serde_json::to_string(&errors(
                json!({"scope": "ok n\u{0}", "lifespan": "x", "name": [], "password": ""})
            ))
            .unwrap(),
            r#"{"username":["This field is required."],"password":["This field may not be blank."],"name":["Not a valid string."],"lifespan":["Invalid duration. Use a number of seconds or a number with a unit, such as 7d, 12h or 90m."],"scope":["\"n\u0000\" is not a valid scope."]}"#
        );
    }

    #[test]
    fn python_type_names() {
        assert_eq!(python_type_name(&json!([1])), "list");
        assert_eq!(python_type_name(&json!("s")), "str");
        assert_eq!(python_type_name(&json!(1)), "int");
        assert_eq!(python_type_name(&json!(1.5)), "float");
        assert_eq!(python_type_name(&json!(true)), "bool");
    }
}

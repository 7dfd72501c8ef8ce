//! The obtain-token endpoint: a username and password in, a token out.
//!
//! It speaks DRF's `obtain_auth_token` protocol: JSON, urlencoded or multipart bodies,
//! DRF's validation messages, `{"token": ...}` on success (plus `"expiry"`). Unlike
//! DRF it ignores the `Authorization` header, so a client holding a dead token can log
//! in again; keep it outside [`TokenAuthLayer`](crate::TokenAuthLayer).

use axum::Router;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::response::Response;
use axum::routing::{MethodRouter, post};
use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};
use serde_json::{Map, Value, json};
use tokenauth_core::{ObtainError, TokenAuth, TokenStore, UserDirectory};

use crate::rejection::{detail_response, json_response};

/// The two paths the obtain endpoint is served at by [`obtain_router`]: DRF's and
/// tokenauth's own.
pub const OBTAIN_PATHS: [&str; 2] = ["/api-token-auth/", "/auth/token"];

/// The longest token `name` accepted, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// A router serving the obtain endpoint at `POST /api-token-auth/` (DRF's path) and
/// `POST /auth/token`. Other methods get DRF's 405 with an `Allow` header.
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

/// DRF's 405: `{"detail": "Method \"GET\" not allowed."}`. Axum adds the `Allow`
/// header naming the methods the route serves.
///
/// Install it on your own routes with `Router::method_not_allowed_fallback`, before
/// adding [`TokenAuthLayer`](crate::TokenAuthLayer), so that a wrong method with bad
/// credentials is a 401 as in DRF (which authenticates before looking at the method):
///
/// ```no_run
/// use axum::{Router, routing::get};
/// use tokenauth::{Authenticated, TokenAuth, TokenAuthLayer, routes::method_not_allowed};
/// use tokenauth::core::{MemoryStore, MemoryUserDirectory};
///
/// let auth = TokenAuth::new(MemoryStore::new(), MemoryUserDirectory::new());
/// let app: Router = Router::new()
///     .route("/me", get(|auth: Authenticated| async move { auth.user.username }))
///     .method_not_allowed_fallback(method_not_allowed)
///     .layer(TokenAuthLayer::new(auth));
/// ```
pub async fn method_not_allowed(method: Method) -> Response {
    detail_response(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("Method \"{method}\" not allowed."),
    )
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
    let credentials = match validate(data) {
        Ok(credentials) => credentials,
        Err(errors) => return json_response(StatusCode::BAD_REQUEST, &Value::Object(errors)),
    };
    match auth
        .obtain(&credentials.username, &credentials.password, credentials.name)
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
        Err(error) => {
            tracing::error!(error = &error as &dyn std::error::Error, "obtain failed");
            detail_response(StatusCode::INTERNAL_SERVER_ERROR, "A server error occurred.")
        }
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

/// Reads the body as DRF's parsers would: JSON, urlencoded or multipart; no
/// `Content-Type` means no data; any other type is a 415.
async fn read_body(request: Request) -> Result<Data, Response> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let Some(content_type) = content_type else {
        return Ok(Data::Fields(Map::new()));
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
        _ => Err(detail_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &format!("Unsupported media type \"{content_type}\" in request."),
        )),
    }
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
    name: Option<String>,
}

/// DRF's `AuthTokenSerializer` field validation: `username` is trimmed, `password` is
/// not; both are required, non-null, non-blank strings. `name` (tokenauth's addition)
/// is an optional label.
fn validate(data: Data) -> Result<Credentials, Map<String, Value>> {
    let mut errors = Map::new();
    let mut check = |key: &str, field: Field, trim: bool, required: bool| -> Option<String> {
        let message = match field {
            Field::Missing if required => "This field is required.",
            Field::Missing => return None,
            Field::Null if required => "This field may not be null.",
            Field::Null => return None,
            Field::NotAString => "Not a valid string.",
            Field::Text(text) => {
                let text = if trim { text.trim().to_owned() } else { text };
                if text.is_empty() {
                    if !required {
                        return None;
                    }
                    "This field may not be blank."
                } else if text.contains('\0') {
                    "Null characters are not allowed."
                } else if !required && text.chars().count() > MAX_NAME_CHARS {
                    errors.insert(
                        key.to_owned(),
                        json!([format!(
                            "Ensure this field has no more than {MAX_NAME_CHARS} characters."
                        )]),
                    );
                    return None;
                } else {
                    return Some(text);
                }
            }
        };
        errors.insert(key.to_owned(), json!([message]));
        None
    };
    let username = check("username", data.field("username"), true, true);
    let password = check("password", data.field("password"), false, true);
    let name = check("name", data.field("name"), true, false);
    match (username, password) {
        (Some(username), Some(password)) if errors.is_empty() => Ok(Credentials {
            username,
            password,
            name,
        }),
        _ => Err(errors),
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
        Value::Object(validate(json_data(value)).err().expect("validation should fail"))
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
        let ok = validate(json_data(
            json!({"username": " 12 ", "password": " p ", "name": null}),
        ))
        .ok()
        .unwrap();
        assert_eq!(ok.username, "12");
        assert_eq!(ok.password, " p ");
        assert_eq!(ok.name, None);
        let ok = validate(json_data(
            json!({"username": 1.5, "password": 7, "name": " phone "}),
        ))
        .ok()
        .unwrap();
        assert_eq!((ok.username.as_str(), ok.password.as_str()), ("1.5", "7"));
        assert_eq!(ok.name.as_deref(), Some("phone"));
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

//! Reading the obtain endpoint's body as DRF's parsers do (JSON, urlencoded or
//! multipart), and the OAuth endpoints' forms.

use axum::extract::{FromRequest, Multipart, Request};
use axum::response::Response;
use bytes::Bytes;
use http::{StatusCode, header};
use serde_json::{Map, Value};

use super::validate::FieldErrors;
use super::{MAX_BODY_BYTES, MAX_FIELDS};
use crate::rejection::detail_response;

/// A submitted field before validation.
#[derive(Debug, PartialEq)]
pub(super) enum Field {
    Missing,
    Null,
    /// A string, or a number coerced to one (DRF's `CharField` accepts both).
    Text(String),
    /// Booleans, lists, objects, uploaded files.
    NotAString,
}

/// The submitted fields, or the top-level error DRF gives for a body that is not a
/// dictionary.
pub(super) enum Data {
    Fields(Map<String, Value>),
    Form(Vec<(String, Field)>),
}

/// Reads the body as DRF's parsers would: JSON, urlencoded or multipart; an empty body
/// is no data whatever its type; a body of any other type, or of none, is a 415.
///
/// Bounded: a body over [`MAX_BODY_BYTES`] is a 413 (refused on its `Content-Length`
/// before it is read, and read no further than the limit otherwise; the obtain route
/// sets axum's `DefaultBodyLimit`), and one with more than [`MAX_FIELDS`] fields or
/// parts a 400.
pub(super) async fn read_body(request: Request) -> Result<Data, Response> {
    if declared_too_large(&request) {
        return Err(too_large());
    }
    // DRF reads no data from a body of length 0, whatever its declared type.
    if declared_empty(&request) {
        return Ok(Data::Fields(Map::new()));
    }
    let content_type = content_type(&request);
    let Some(content_type) = content_type else {
        // DRF reads a missing Content-Type as "" and finds no parser for it.
        let body = read_bytes(request).await?;
        return if body.is_empty() {
            Ok(Data::Fields(Map::new()))
        } else {
            Err(unsupported_media_type(""))
        };
    };
    match media_type(&content_type).as_str() {
        "application/json" => {
            let body = read_bytes(request).await?;
            if body.is_empty() {
                return Ok(Data::Fields(Map::new()));
            }
            match serde_json::from_slice::<Value>(&body) {
                Ok(Value::Object(map)) if map.len() > MAX_FIELDS => Err(too_many_fields()),
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
            let fields = read_urlencoded(request).await?;
            Ok(Data::Form(
                fields.into_iter().map(|(k, v)| (k, Field::Text(v))).collect(),
            ))
        }
        "multipart/form-data" => read_multipart(request).await.map(Data::Form),
        _ => Err(unsupported_media_type(&content_type)),
    }
}

/// Reads an `application/x-www-form-urlencoded` body, the only kind OAuth's endpoints
/// take (RFC 6749 §3.2): its fields, in order. An empty body, whatever its type, has
/// none; a non-empty one of another type (or of none) is a 415. Bounded as
/// [`read_body`] is: over [`MAX_BODY_BYTES`] a 413, over [`MAX_FIELDS`] fields a 400.
pub(super) async fn read_form(request: Request) -> Result<Vec<(String, String)>, Response> {
    if declared_too_large(&request) {
        return Err(too_large());
    }
    if declared_empty(&request) {
        return Ok(Vec::new());
    }
    match content_type(&request) {
        Some(content_type) if media_type(&content_type) == "application/x-www-form-urlencoded" => {
            read_urlencoded(request).await
        }
        content_type => {
            let body = read_bytes(request).await?;
            if body.is_empty() {
                return Ok(Vec::new());
            }
            Err(unsupported_media_type(
                content_type.as_deref().unwrap_or_default(),
            ))
        }
    }
}

/// Whether the request declares a body over [`MAX_BODY_BYTES`], refused before it is
/// read.
fn declared_too_large(request: &Request) -> bool {
    request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|length| length.to_str().ok()?.parse::<u64>().ok())
        .is_some_and(|length| length > MAX_BODY_BYTES as u64)
}

/// Whether the request declares an empty body.
fn declared_empty(request: &Request) -> bool {
    request
        .headers()
        .get(header::CONTENT_LENGTH)
        .is_some_and(|length| length.as_bytes() == b"0")
}

fn content_type(request: &Request) -> Option<String> {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// The media type of a `Content-Type`, lowercase, without its parameters.
fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

async fn read_urlencoded(request: Request) -> Result<Vec<(String, String)>, Response> {
    let body = read_bytes(request).await?;
    let fields: Vec<_> = form_urlencoded::parse(&body)
        .take(MAX_FIELDS + 1)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if fields.len() > MAX_FIELDS {
        return Err(too_many_fields());
    }
    Ok(fields)
}

fn unsupported_media_type(content_type: &str) -> Response {
    detail_response(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        &format!("Unsupported media type \"{content_type}\" in request."),
    )
}

/// The 413 of a body over [`MAX_BODY_BYTES`].
fn too_large() -> Response {
    detail_response(StatusCode::PAYLOAD_TOO_LARGE, "Request body is too large.")
}

/// The 400 of a body with more than [`MAX_FIELDS`] fields.
fn too_many_fields() -> Response {
    detail_response(
        StatusCode::BAD_REQUEST,
        &format!("Too many fields: at most {MAX_FIELDS} are accepted."),
    )
}

async fn read_bytes(request: Request) -> Result<Bytes, Response> {
    Bytes::from_request(request, &()).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            detail_response(rejection.status(), "Could not read the request body.")
        }
    })
}

async fn read_multipart(request: Request) -> Result<Vec<(String, Field)>, Response> {
    let parse_error = |status: StatusCode, error: &dyn std::fmt::Display| {
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            return too_large();
        }
        detail_response(
            StatusCode::BAD_REQUEST,
            &format!("Multipart form parse error - {error}"),
        )
    };
    let mut multipart = Multipart::from_request(request, &())
        .await
        .map_err(|rejection| parse_error(rejection.status(), &rejection.body_text()))?;
    let mut fields = Vec::new();
    let mut parts = 0;
    while let Some(part) = multipart
        .next_field()
        .await
        .map_err(|e| parse_error(e.status(), &e.body_text()))?
    {
        parts += 1;
        if parts > MAX_FIELDS {
            return Err(too_many_fields());
        }
        let Some(name) = part.name().map(str::to_owned) else {
            continue;
        };
        let field = if part.file_name().is_some() {
            // Drain the upload so the next part can be read; a file is never a string.
            part.bytes()
                .await
                .map_err(|e| parse_error(e.status(), &e.body_text()))?;
            Field::NotAString
        } else {
            Field::Text(
                part.text()
                    .await
                    .map_err(|e| parse_error(e.status(), &e.body_text()))?,
            )
        };
        fields.push((name, field));
    }
    Ok(fields)
}

fn non_field_error(message: &str) -> Response {
    FieldErrors::one(FieldErrors::NON_FIELD, message).into_response()
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
    pub(super) fn field(&self, name: &str) -> Field {
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn python_type_names() {
        assert_eq!(python_type_name(&json!([1])), "list");
        assert_eq!(python_type_name(&json!("s")), "str");
        assert_eq!(python_type_name(&json!(1)), "int");
        assert_eq!(python_type_name(&json!(1.5)), "float");
        assert_eq!(python_type_name(&json!(true)), "bool");
    }
}

//! DRF's field validation of the obtain endpoint's body (`AuthTokenSerializer`), and
//! tokenauth's optional fields.

use axum::response::Response;
use http::StatusCode;
use serde::ser::{Serialize, SerializeMap, Serializer};
use tokenauth_core::{InvalidLifespan, IssueError, Lifespan, Scopes, TokenRequest};

use super::body::{Data, Field};
use super::{MAX_NAME_CHARS, MAX_PASSWORD_BYTES, MAX_SCOPES, MAX_USERNAME_CHARS};
use crate::rejection::json_response;

/// DRF's 400 body for invalid input: `{"field": ["message", ...], ...}`, the fields in
/// the order they were checked (DRF's serializer field order), whatever the JSON map
/// type sorts by.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct FieldErrors(Vec<(&'static str, Vec<String>)>);

impl FieldErrors {
    /// The key of errors about the data as a whole.
    pub(super) const NON_FIELD: &'static str = "non_field_errors";

    /// One message for one field.
    pub(super) fn one(field: &'static str, message: impl Into<String>) -> Self {
        let mut errors = Self::default();
        errors.add(field, message.into());
        errors
    }

    /// Adds a message to `field`, after the fields already reported.
    pub(super) fn add(&mut self, field: &'static str, message: String) {
        match self.0.iter_mut().find(|(key, _)| *key == field) {
            Some((_, messages)) => messages.push(message),
            None => self.0.push((field, vec![message])),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The 400 response carrying these errors.
    pub(super) fn into_response(self) -> Response {
        json_response(StatusCode::BAD_REQUEST, &self)
    }
}

impl Serialize for FieldErrors {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (field, messages) in &self.0 {
            map.serialize_entry(field, messages)?;
        }
        map.end()
    }
}

pub(super) struct Credentials {
    pub(super) username: String,
    pub(super) password: String,
    pub(super) request: TokenRequest,
}

/// DRF's `AuthTokenSerializer` field validation: `username` is trimmed, `password` is
/// not; both are required, non-null, non-blank strings. tokenauth's optional fields:
/// `name` (a label), `lifespan` and `scope`; absent, null or (but for `scope`) blank
/// means not given. Every field's errors are reported at once, in field order.
pub(super) fn validate(data: &Data, max_lifespan: Lifespan) -> Result<Credentials, FieldErrors> {
    let mut errors = FieldErrors::default();
    let username = check(
        &mut errors,
        "username",
        char_field(data.field("username"), true, true).and_then(|username| {
            max_length(username, |u| u.chars().count(), MAX_USERNAME_CHARS, "characters")
        }),
    );
    let password = check(
        &mut errors,
        "password",
        char_field(data.field("password"), false, true)
            .and_then(|password| max_length(password, String::len, MAX_PASSWORD_BYTES, "bytes")),
    );
    let request = token_fields(&mut errors, data, max_lifespan, false);
    match (username, password) {
        (Some(username), Some(password)) if errors.is_empty() => Ok(Credentials {
            username,
            password,
            request,
        }),
        _ => Err(errors),
    }
}

/// The body of `POST /auth/tokens`, a personal token: `name` (required), `lifespan` and
/// `scope`, validated as the obtain endpoint's.
pub(super) fn validate_personal(data: &Data, max_lifespan: Lifespan) -> Result<TokenRequest, FieldErrors> {
    let mut errors = FieldErrors::default();
    let request = token_fields(&mut errors, data, max_lifespan, true);
    if errors.is_empty() {
        Ok(request)
    } else {
        Err(errors)
    }
}

/// The fields that describe the token asked for: `name` (a label, trimmed; required
/// or not), `lifespan` and `scope`, their errors added to `errors` in that order.
fn token_fields(
    errors: &mut FieldErrors,
    data: &Data,
    max_lifespan: Lifespan,
    name_required: bool,
) -> TokenRequest {
    let name = check(
        errors,
        "name",
        char_field(data.field("name"), true, name_required)
            .and_then(|name| max_length(name, |n| n.chars().count(), MAX_NAME_CHARS, "characters")),
    );
    let lifespan = check(
        errors,
        "lifespan",
        lifespan_field(data.field("lifespan"), max_lifespan),
    );
    let scopes = check(errors, "scope", scope_field(data.field("scope")));
    TokenRequest {
        name,
        lifespan,
        scopes,
        client_ip: None,
    }
}

/// The field's value, or `None` with its error added to `errors`.
fn check<T>(errors: &mut FieldErrors, field: &'static str, result: Result<Option<T>, String>) -> Option<T> {
    result.unwrap_or_else(|message| {
        errors.add(field, message);
        None
    })
}

/// DRF's `max_length` check, on a length measured by `len` in `unit`.
fn max_length(
    value: Option<String>,
    len: impl Fn(&String) -> usize,
    max: usize,
    unit: &str,
) -> Result<Option<String>, String> {
    match value {
        Some(value) if len(&value) > max => Err(format!("Ensure this field has no more than {max} {unit}.")),
        value => Ok(value),
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
    // A whole JSON number written as a float (`3600.0`, an integer to JSON Schema)
    // reaches here as the text serde_json gives it.
    let text = text
        .strip_suffix(".0")
        .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or(text);
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
        Field::Text(text) if text.split_ascii_whitespace().nth(MAX_SCOPES).is_some() => {
            Err(format!("Ensure this field has no more than {MAX_SCOPES} scopes."))
        }
        Field::Text(text) => Scopes::parse(&text)
            .map(Some)
            .map_err(|invalid| format!("\"{}\" is not a valid scope.", invalid.0)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn json_data(value: Value) -> Data {
        match value {
            Value::Object(map) => Data::Fields(map),
            _ => unreachable!("tests pass objects"),
        }
    }

    fn field_errors(value: Value) -> FieldErrors {
        validate(&json_data(value), Lifespan::DEFAULT)
            .err()
            .expect("validation should fail")
    }

    fn errors(value: Value) -> Value {
        serde_json::to_value(field_errors(value)).expect("errors serialize")
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
        assert_eq!(request(json!({"lifespan": 3600.0})).lifespan, lifespan("1h"));
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
    fn a_personal_token_needs_a_name_and_takes_the_same_optional_fields() {
        let personal = |value: Value| validate_personal(&json_data(value), Lifespan::DEFAULT);
        let errors = |value: Value| serde_json::to_value(personal(value).unwrap_err()).unwrap();
        assert_eq!(errors(json!({})), json!({"name": ["This field is required."]}));
        assert_eq!(
            errors(json!({"name": "  "})),
            json!({"name": ["This field may not be blank."]})
        );
        assert_eq!(
            errors(json!({"name": null})),
            json!({"name": ["This field may not be null."]})
        );
        assert_eq!(
            errors(json!({"name": "n".repeat(201), "lifespan": "0s", "scope": ["read"]})),
            json!({
                "name": ["Ensure this field has no more than 200 characters."],
                "lifespan": ["Ensure the lifespan is longer than zero."],
                "scope": ["Not a valid string."],
            })
        );
        let request = personal(json!({"name": " ci ", "lifespan": "7d", "scope": "read"})).unwrap();
        assert_eq!(
            request,
            TokenRequest {
                name: Some("ci".to_owned()),
                lifespan: lifespan("7d"),
                scopes: Some(Scopes::parse("read").unwrap()),
                client_ip: None,
            }
        );
        // Login fields are not this body's: ignored, as DRF ignores unknown fields.
        assert!(personal(json!({"name": "n", "password": "x"})).is_ok());
    }

    #[test]
    fn every_field_error_is_reported_at_once_in_field_order() {
        assert_eq!(
            serde_json::to_string(&field_errors(
                json!({"scope": "ok n\u{0}", "lifespan": "x", "name": [], "password": ""})
            ))
            .unwrap(),
            r#"{"username":["This field is required."],"password":["This field may not be blank."],"name":["Not a valid string."],"lifespan":["Invalid duration. Use a number of seconds or a number with a unit, such as 7d, 12h or 90m."],"scope":["\"n\u0000\" is not a valid scope."]}"#
        );
    }
}

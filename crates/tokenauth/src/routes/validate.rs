//! DRF's field validation of the obtain endpoint's body (`AuthTokenSerializer`), and
//! tokenauth's optional fields.

use serde_json::{Map, Value, json};
use tokenauth_core::{InvalidLifespan, IssueError, Lifespan, Scopes, TokenRequest};

use super::MAX_NAME_CHARS;
use super::body::{Data, Field};

pub(super) struct Credentials {
    pub(super) username: String,
    pub(super) password: String,
    pub(super) request: TokenRequest,
}

/// DRF's `AuthTokenSerializer` field validation: `username` is trimmed, `password` is
/// not; both are required, non-null, non-blank strings. tokenauth's optional fields:
/// `name` (a label), `lifespan` and `scope`; absent, null or (but for `scope`) blank
/// means not given. Every field's errors are reported at once, in field order.
pub(super) fn validate(data: &Data, max_lifespan: Lifespan) -> Result<Credentials, Map<String, Value>> {
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
}

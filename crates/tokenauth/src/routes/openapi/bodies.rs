//! The bodies the obtain endpoint and `POST /auth/tokens` read, described with the
//! service's settings (the scopes it grants, its lifespan): JSON, and the form
//! encodings (in which every value is text, so none is null; multipart's field names
//! travel in a header, so they hold no control character or quote).

use std::borrow::Cow;

use tokenauth_core::Scopes;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use super::schemas::string;
use crate::routes::{MAX_NAME_CHARS, MAX_PASSWORD_BYTES, MAX_USERNAME_CHARS};

/// Text a field accepts: not blank once trimmed (Rust's Unicode whitespace, spelled out
/// so that every regex engine agrees), no null character.
const TEXT: &str = "^[^\\u0000]*[^\\u0000\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\u0000]*$";

/// ASCII whitespace, which separates scopes and is trimmed around a lifespan.
const SPACE: &str = "[\\t\\n\\f\\r ]";

/// Names of the body schemas, which [`schemas`] defines.
macro_rules! bodies {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                Ref::from_schema_name(stringify!($name)).into()
            }
        }

        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                stringify!($name).into()
            }
        }
    )*};
}

bodies! {
    /// The obtain endpoint's JSON body: DRF's `username` and `password`, and the
    /// optional `name`, `lifespan` and `scope`. Numbers are read as text, as DRF does.
    ObtainRequest;
    /// The obtain endpoint's urlencoded body.
    ObtainForm;
    /// The obtain endpoint's multipart body.
    ObtainMultipart;
    /// `POST /auth/tokens`' JSON body: a `name`, and the optional `lifespan` and `scope`.
    PersonalTokenRequest;
    /// `POST /auth/tokens`' urlencoded body.
    PersonalTokenForm;
    /// `POST /auth/tokens`' multipart body.
    PersonalTokenMultipart;
}

/// The body schemas of a service granting `grantable`, its lifespan `max_lifespan`
/// seconds.
pub(super) fn schemas(grantable: &Scopes, max_lifespan: u64) -> Vec<(&'static str, Schema)> {
    let fields = |encoding: Encoding, name_required: bool| {
        let object = token_fields(encoding == Encoding::Json, name_required, grantable, max_lifespan);
        match encoding {
            Encoding::Multipart => {
                object.property_names(Some(string().pattern(Some("^[^\\u0000-\\u001f\\u007f\"\\\\]*$"))))
            }
            _ => object,
        }
    };
    let credentials = |object: ObjectBuilder| {
        let username =
            text(MAX_USERNAME_CHARS, true, false).description(Some("Trimmed; at most 150 characters."));
        let password = string()
            .min_length(Some(1))
            .max_length(Some(MAX_PASSWORD_BYTES))
            .pattern(Some("^[^\\u0000]+$"))
            .description(Some("As typed; at most 4096 bytes (UTF-8)."));
        object
            .property("username", username)
            .property("password", password)
            .required("username")
            .required("password")
            .into()
    };
    vec![
        ("ObtainRequest", credentials(fields(Encoding::Json, false))),
        ("ObtainForm", credentials(fields(Encoding::Form, false))),
        ("ObtainMultipart", credentials(fields(Encoding::Multipart, false))),
        ("PersonalTokenRequest", fields(Encoding::Json, true).into()),
        ("PersonalTokenForm", fields(Encoding::Form, true).into()),
        ("PersonalTokenMultipart", fields(Encoding::Multipart, true).into()),
    ]
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Json,
    Form,
    Multipart,
}

/// `name`, `lifespan` and `scope`, null allowed in `json` where absent is.
fn token_fields(json: bool, name_required: bool, grantable: &Scopes, max_lifespan: u64) -> ObjectBuilder {
    let name = text(MAX_NAME_CHARS, json, json && !name_required)
        .description(Some("A label for the token (the device or client)."));
    let names: Vec<String> = grantable.iter().map(escape).collect();
    let list = match names.is_empty() {
        true => String::new(),
        false => {
            let one = format!("({})", names.join("|"));
            format!("({one}({SPACE}+{one})*)?")
        }
    };
    let scope = ObjectBuilder::new()
        .schema_type(types(json))
        .pattern(Some(format!("^{SPACE}*{list}{SPACE}*$")))
        .description(Some(
            "Space-separated scopes the service grants (at most 32; default: all it grants, or the presented token's); empty for none.",
        ));
    let object = ObjectBuilder::new()
        .property("name", name)
        .property("lifespan", lifespan(max_lifespan, json))
        .property("scope", scope);
    if name_required {
        object.required("name")
    } else {
        object
    }
}

/// `lifespan`, up to `max` seconds: a number of seconds, or a number with a unit. The
/// strings listed are those surely within `max`; longer ones within it and humantime's
/// other forms (`1d 12h`) are accepted too.
fn lifespan(max: u64, json: bool) -> OneOfBuilder {
    let max = max.max(1);
    let mut forms = vec![below(max)];
    for (unit, seconds) in [("s", 1), ("m", 60), ("h", 3_600), ("d", 86_400)] {
        if max >= seconds {
            forms.push(format!("{}{unit}", below(max / seconds)));
        }
    }
    // Trimmed; blank is absent.
    let text = string().pattern(Some(format!("^{SPACE}*({})?{SPACE}*$", forms.join("|"))));
    let seconds = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .maximum(Some(max as f64));
    let lifespan = OneOfBuilder::new().item(seconds).item(text).description(Some(format!(
        "At most the service's lifespan, {max} seconds: seconds, or a number with a unit (`7d`, `12h`, `90m`); blank for the longest."
    )));
    if json {
        lifespan.item(ObjectBuilder::new().schema_type(Type::Null))
    } else {
        lifespan
    }
}

/// A regex of whole numbers from 1 to at most `max` (`max` >= 1): those with fewer
/// digits than `max`, or from 1 to `max` if it has one.
fn below(max: u64) -> String {
    match max.to_string().len() {
        1 => format!("[1-{max}]"),
        digits => format!("[1-9][0-9]{{0,{}}}", digits - 2),
    }
}

/// A string, or null too if `nullable`.
fn types(nullable: bool) -> SchemaType {
    match nullable {
        true => SchemaType::from_iter([Type::String, Type::Null]),
        false => SchemaType::Type(Type::String),
    }
}

/// A trimmed text field of at most `max` characters; a JSON number too if `number`
/// (read as its text, as DRF does), or null if `nullable`.
fn text(max: usize, number: bool, nullable: bool) -> ObjectBuilder {
    let types = [Type::String]
        .into_iter()
        .chain(number.then_some(Type::Number))
        .chain(nullable.then_some(Type::Null));
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter(types))
        .max_length(Some(max))
        .pattern(Some(TEXT))
}

/// `name` as a regex matching itself.
fn escape(name: &str) -> String {
    name.chars()
        .flat_map(|c| {
            let special = "^$.|?*+()[]{}/-".contains(c);
            special.then_some('\\').into_iter().chain([c])
        })
        .collect()
}

/// The limits above, stated in the descriptions too.
const _: () = assert!(MAX_USERNAME_CHARS == 150 && MAX_PASSWORD_BYTES == 4096);

//! The schemas of what the routes read and answer that no Rust type of theirs spells
//! out: the bodies they parse field by field, DRF's error shapes.

use std::borrow::Cow;

use utoipa::openapi::schema::{
    AdditionalProperties, AnyOfBuilder, ArrayBuilder, ObjectBuilder, Schema, Type,
};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use crate::routes::validate::FieldErrors;

/// Every refusal but a field's: `{"detail": "..."}`, as DRF words it.
#[derive(Debug, ToSchema)]
pub struct Detail {
    /// What went wrong, for people.
    pub detail: String,
}

impl PartialSchema for FieldErrors {
    fn schema() -> RefOr<Schema> {
        let messages = ArrayBuilder::new().items(string());
        ObjectBuilder::new()
            .description(Some(
                "DRF's validation errors: each field's messages (`non_field_errors` for the body as a whole).",
            ))
            .additional_properties(Some(AdditionalProperties::RefOr(RefOr::T(messages.into()))))
            .into()
    }
}

impl ToSchema for FieldErrors {
    fn name() -> Cow<'static, str> {
        "FieldErrors".into()
    }
}

/// The introspection endpoint's answer: an active token described, or
/// `{"active": false}`.
#[derive(Debug)]
pub struct Introspection;

impl PartialSchema for Introspection {
    fn schema() -> RefOr<Schema> {
        let inactive = ObjectBuilder::new()
            .property(
                "active",
                ObjectBuilder::new()
                    .schema_type(Type::Boolean)
                    .enum_values(Some([false])),
            )
            .required("active")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)));
        AnyOfBuilder::new()
            .item(Ref::from_schema_name("Active"))
            .item(inactive)
            .into()
    }
}

impl ToSchema for Introspection {}

/// The form of `POST /auth/introspect` and `POST /auth/revoke` (RFC 7662, RFC 7009).
#[derive(Debug, ToSchema)]
pub struct TokenForm {
    /// The token asked about.
    #[schema(min_length = 1)]
    pub token: String,
    /// Ignored.
    pub token_type_hint: Option<String>,
}

/// A token as its owner sees it (`GET /auth/me`'s `token`): never its secret.
#[derive(Debug, ToSchema)]
pub struct TokenInfo {
    /// Its public id, to revoke it by.
    pub id: String,
    /// Its label, if any.
    pub name: Option<String>,
    /// What it may be used for.
    pub scopes: Vec<String>,
    /// When it was issued (RFC 3339).
    #[schema(format = DateTime)]
    pub created: String,
    /// When it expires (RFC 3339).
    #[schema(format = DateTime)]
    pub expiry: String,
    /// When it was last used, if ever (RFC 3339).
    #[schema(format = DateTime)]
    pub last_used: Option<String>,
}

pub(super) fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

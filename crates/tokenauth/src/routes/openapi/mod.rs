//! The routes' OpenAPI 3.1 description (feature `openapi`), from the handlers'
//! annotations: [`Routes::openapi`], to serve or to merge into your app's document.

mod bodies;
mod responses;
mod schemas;

use tokenauth_core::store::{TokenStore, UserDirectory};
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{OpenApi as Document, RefOr, Required};
use utoipa::{Modify, OpenApi};

pub use bodies::{
    ObtainForm, ObtainMultipart, ObtainRequest, PersonalTokenForm, PersonalTokenMultipart,
    PersonalTokenRequest,
};
pub use responses::{
    ClientUnauthorized, Forbidden, InvalidBody, InvalidRequest, MalformedCredentials, MethodNotAllowed,
    NotFound, PayloadTooLarge, Throttled, Unauthorized, Unavailable, UnsupportedMediaType,
};
pub use schemas::{Detail, Introspection, TokenForm, TokenInfo};

use super::{OBTAIN_PATHS, Routes, VERIFY_PATH};

/// The security scheme of `Authorization: Token <key>` (DRF's keyword).
pub const TOKEN_SCHEME: &str = "token";
/// The security scheme of `Authorization: Bearer <key>`.
pub const BEARER_SCHEME: &str = "bearer";
/// The security scheme of the introspection client's HTTP Basic credential.
pub const CLIENT_SCHEME: &str = "introspectionClient";

#[derive(OpenApi)]
#[openapi(
    paths(
        super::obtain::obtain_token,
        super::sessions::logout,
        super::sessions::logout_all,
        super::sessions::list_tokens,
        super::sessions::create_token,
        super::sessions::revoke_token,
        super::oauth::introspect,
        super::oauth::revoke,
        super::verify::verify,
    ),
    components(
        schemas(Detail, crate::routes::validate::FieldErrors, TokenInfo, super::oauth::Active<'static>, super::oauth::OAuthError<'static>),
        responses(
            Unauthorized, ClientUnauthorized, MalformedCredentials, InvalidBody, InvalidRequest, Forbidden, NotFound,
            MethodNotAllowed, PayloadTooLarge, UnsupportedMediaType, Throttled, Unavailable,
        ),
    ),
    modifiers(&SecuritySchemes),
)]
struct Library;

/// The readiness probe, for a document that serves it ([`readiness_at`]).
#[derive(OpenApi)]
#[openapi(paths(super::ready::readiness))]
struct Readiness;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let token = ApiKeyValue::with_description(
            "Authorization",
            "`Token <key>`, DRF's `TokenAuthentication` keyword.",
        );
        components.add_security_scheme(TOKEN_SCHEME, SecurityScheme::ApiKey(ApiKey::Header(token)));
        components.add_security_scheme(
            BEARER_SCHEME,
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        let mut basic = Http::new(HttpAuthScheme::Basic);
        basic.description =
            Some("The introspection client's id and secret (`--introspection-client-id`).".into());
        components.add_security_scheme(CLIENT_SCHEME, SecurityScheme::Http(basic));
    }
}

impl<S: TokenStore, D: UserDirectory> Routes<S, D> {
    /// The OpenAPI 3.1 description of the routes these options serve: the obtain
    /// endpoint ([`obtain_router`](Self::obtain_router)), the session routes
    /// ([`session_router`](Self::session_router); `POST /auth/tokens` only where the
    /// store serves it), introspection and revocation
    /// ([`oauth_router`](Self::oauth_router); HTTP Basic only with an introspection
    /// client) and forward auth ([`verify_router`](Self::verify_router)), each status
    /// they answer with its body and headers, and the security schemes `token`
    /// (`Authorization: Token <key>`), `bearer` and `introspectionClient` (Basic).
    ///
    /// Merge it into your app's document (`utoipa`'s `OpenApi::merge`) for the routes
    /// you serve.
    ///
    /// ```
    /// use tokenauth::core::{MemoryStore, MemoryUserDirectory, TokenAuth};
    /// use tokenauth::routes::Routes;
    ///
    /// let routes = Routes::new(TokenAuth::new(MemoryStore::new(), MemoryUserDirectory::new()));
    /// let document = routes.openapi();
    /// assert!(document.paths.paths.contains_key("/auth/token"));
    /// assert!(document.paths.paths.contains_key("/api-token-auth/"));
    /// ```
    pub fn openapi(&self) -> Document {
        let mut document = Library::openapi();
        let paths = &mut document.paths.paths;
        // The handlers are annotated at one path each; the routers serve them at more.
        if let Some(obtain) = paths.get(OBTAIN_PATHS[1]).cloned() {
            paths.insert(OBTAIN_PATHS[0].to_owned(), renamed(obtain, "_drf"));
        }
        if let Some(verify) = paths.get_mut(VERIFY_PATH) {
            // One handler, several methods: an id each.
            for (method, operation) in named_operations(verify) {
                operation.operation_id = operation.operation_id.take().map(|id| format!("{id}_{method}"));
            }
            *verify = with_parameter(std::mem::take(verify), scope_parameter());
        }
        if let Some(verify) = paths.get(VERIFY_PATH).cloned() {
            let below = with_parameter(renamed(verify, "_below"), path_parameter());
            paths.insert(format!("{VERIFY_PATH}/{{path}}"), below);
        }
        let max = self.auth.policy().lifespan().as_duration().whole_seconds();
        let components = document.components.get_or_insert_with(Default::default);
        let max = u64::try_from(max).unwrap_or(1);
        for (name, schema) in bodies::schemas(self.auth.grantable_scopes(), max) {
            components.schemas.insert(name.to_owned(), schema.into());
        }
        let paths = &mut document.paths.paths;
        let holds = self.auth.store().capabilities();
        if !(holds.several_tokens_per_user && holds.names)
            && let Some(tokens) = paths.get_mut("/auth/tokens")
        {
            tokens.post = None;
        }
        // Without a client, only a token with the `introspect` scope may ask.
        if self.introspection_client.is_none()
            && let Some(operation) = paths
                .get_mut(super::INTROSPECT_PATH)
                .and_then(|item| item.post.as_mut())
        {
            let schemes = [TOKEN_SCHEME, BEARER_SCHEME];
            let requirements = schemes.map(|scheme| SecurityRequirement::new(scheme, Vec::<String>::new()));
            operation.security = Some(requirements.into());
        }
        document
    }
}

/// The readiness probe ([`readiness`](super::readiness)) served at `path`.
pub fn readiness_at(path: &str) -> Document {
    let mut document = Readiness::openapi();
    if let Some(item) = document.paths.paths.remove("/readyz") {
        document.paths.paths.insert(path.to_owned(), item);
    }
    document
}

/// The operations of `item`, their ids suffixed (operation ids are unique in a document).
fn renamed(mut item: PathItem, suffix: &str) -> PathItem {
    for operation in operations(&mut item) {
        operation.operation_id = operation.operation_id.take().map(|id| id + suffix);
    }
    item
}

fn with_parameter(mut item: PathItem, parameter: Parameter) -> PathItem {
    for operation in operations(&mut item) {
        operation
            .parameters
            .get_or_insert_with(Vec::new)
            .push(RefOr::T(parameter.clone()));
    }
    item
}

/// Forward auth's `scope` query parameter: one scope name each (up to
/// [`MAX_SCOPES`](super::MAX_SCOPES)), all required.
fn scope_parameter() -> Parameter {
    let name = utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .pattern(Some("^[!#-\\[\\]-~]*$"));
    let list = utoipa::openapi::schema::ArrayBuilder::new()
        .items(name)
        .max_items(Some(super::MAX_SCOPES));
    ParameterBuilder::new()
        .name("scope")
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .explode(Some(true))
        .description(Some(
            "Scopes the token must carry: the parameter repeated (a value may also list several, space-separated).",
        ))
        .schema(Some(list))
        .build()
}

/// `/auth/verify/{path}`'s parameter: the rest of the path, as Envoy appends it.
fn path_parameter() -> Parameter {
    ParameterBuilder::new()
        .name("path")
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(
            "The path of the request asked about (Envoy's `ext_authz` appends it).",
        ))
        .schema(Some(
            utoipa::openapi::ObjectBuilder::new().schema_type(utoipa::openapi::Type::String),
        ))
        .build()
}

/// Every operation of `item`.
pub fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    named_operations(item).map(|(_, operation)| operation)
}

/// Every operation of `item`, with its method.
fn named_operations(item: &mut PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("get", &mut item.get),
        ("put", &mut item.put),
        ("post", &mut item.post),
        ("delete", &mut item.delete),
        ("options", &mut item.options),
        ("head", &mut item.head),
        ("patch", &mut item.patch),
        ("trace", &mut item.trace),
    ]
    .into_iter()
    .filter_map(|(method, operation)| Some((method, operation.as_mut()?)))
}

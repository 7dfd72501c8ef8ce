//! The axum extractor: who made this request.

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use http::HeaderValue;
use http::request::Parts;
use tokenauth_core::{TokenInfo, User, Verified};

use crate::rejection::TokenAuthRejection;

/// The authenticated user of a request and the token it presented.
///
/// Take it as a handler argument to require authentication (a request without
/// credentials gets 401 `Authentication credentials were not provided.`), or take
/// `Option<Authenticated>` to accept anonymous requests too. It reads what
/// [`TokenAuthLayer`](crate::TokenAuthLayer) found, so the layer must run in front of the
/// route.
///
/// `U` is your directory's user type ([`User`] for the built-in directories).
///
/// ```
/// use tokenauth::Authenticated;
///
/// async fn me(auth: Authenticated) -> String {
///     format!("hello {}, your token expires at {}", auth.user.username, auth.token.expires)
/// }
///
/// async fn greeting(auth: Option<Authenticated>) -> String {
///     match auth {
///         Some(auth) => format!("hello {}", auth.user.username),
///         None => "hello stranger".to_owned(),
///     }
/// }
/// # let _: axum::routing::MethodRouter = axum::routing::get(me).post(greeting);
/// ```
#[derive(Debug, Clone)]
pub struct Authenticated<U = User> {
    /// The user.
    pub user: U,
    /// The token presented (id, name, created, expiry; never the secret).
    pub token: TokenInfo,
}

impl<U> From<Verified<U>> for Authenticated<U> {
    fn from(verified: Verified<U>) -> Self {
        Self {
            user: verified.user,
            token: verified.token,
        }
    }
}

/// What the layer found, left in the request's extensions for the extractor.
#[derive(Debug, Clone)]
pub(crate) enum Outcome<U> {
    Authenticated(Authenticated<U>),
    Anonymous,
    /// Credentials that failed, in lenient mode: anonymous for `Option<Authenticated>`,
    /// this rejection for `Authenticated`.
    Failed(TokenAuthRejection),
}

impl<U> Outcome<U> {
    /// The same outcome without the user, for middleware that works with any user type.
    pub(crate) fn presented(&self, scheme: &HeaderValue) -> Presented {
        let token = match self {
            Self::Authenticated(auth) => Ok(auth.token.clone()),
            Self::Anonymous => Err(TokenAuthRejection::NotProvided),
            Self::Failed(rejection) => Err(*rejection),
        };
        Presented {
            token,
            scheme: scheme.clone(),
        }
    }
}

/// What the layer found, independent of the user type: the token of an authenticated
/// request or the rejection an `Authenticated` extractor would give, and the scheme the
/// layer names in challenges. Read by [`RequireScope`](crate::RequireScope).
#[derive(Debug, Clone)]
pub(crate) struct Presented {
    pub(crate) token: Result<TokenInfo, TokenAuthRejection>,
    pub(crate) scheme: HeaderValue,
}

impl<S, U> FromRequestParts<S> for Authenticated<U>
where
    S: Send + Sync,
    U: Clone + Send + Sync + 'static,
{
    type Rejection = TokenAuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Outcome<U>>() {
            Some(Outcome::Authenticated(auth)) => Ok(auth.clone()),
            Some(Outcome::Anonymous) => Err(TokenAuthRejection::NotProvided),
            Some(Outcome::Failed(rejection)) => Err(*rejection),
            None => Err(TokenAuthRejection::MissingLayer),
        }
    }
}

impl<S, U> OptionalFromRequestParts<S> for Authenticated<U>
where
    S: Send + Sync,
    U: Clone + Send + Sync + 'static,
{
    type Rejection = TokenAuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        match parts.extensions.get::<Outcome<U>>() {
            Some(Outcome::Authenticated(auth)) => Ok(Some(auth.clone())),
            Some(Outcome::Anonymous | Outcome::Failed(_)) => Ok(None),
            None => Err(TokenAuthRejection::MissingLayer),
        }
    }
}

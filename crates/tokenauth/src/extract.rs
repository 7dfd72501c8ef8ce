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

/// What the layer found, independent of the user type: the token of an authenticated
/// request, or the rejection an `Authenticated` extractor gives (`NotProvided` for an
/// anonymous request, the real reason for credentials that failed in lenient mode), and
/// the scheme the layer names in challenges. Read by the extractor and by
/// [`RequireScope`](crate::RequireScope).
#[derive(Debug, Clone)]
pub(crate) struct Presented {
    pub(crate) token: Result<TokenInfo, TokenAuthRejection>,
    pub(crate) scheme: HeaderValue,
}

/// The user of an authenticated request, beside its [`Presented`] token.
#[derive(Debug, Clone)]
pub(crate) struct UserOf<U>(pub(crate) U);

/// What the layer left for `Authenticated<U>`: the outer error when there is nothing to
/// read (no layer, or a layer serving another user type), the inner one when the
/// request is not authenticated.
fn outcome<U: Clone + Send + Sync + 'static>(
    parts: &Parts,
) -> Result<Result<Authenticated<U>, TokenAuthRejection>, TokenAuthRejection> {
    let presented = parts
        .extensions
        .get::<Presented>()
        .ok_or(TokenAuthRejection::MissingLayer)?;
    Ok(match &presented.token {
        Ok(token) => {
            let UserOf(user) = parts
                .extensions
                .get::<UserOf<U>>()
                .ok_or(TokenAuthRejection::MissingLayer)?;
            Ok(Authenticated {
                user: user.clone(),
                token: token.clone(),
            })
        }
        Err(rejection) => Err(*rejection),
    })
}

impl<S, U> FromRequestParts<S> for Authenticated<U>
where
    S: Send + Sync,
    U: Clone + Send + Sync + 'static,
{
    type Rejection = TokenAuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        outcome(parts)?
    }
}

impl<S, U> OptionalFromRequestParts<S> for Authenticated<U>
where
    S: Send + Sync,
    U: Clone + Send + Sync + 'static,
{
    type Rejection = TokenAuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        // Anonymous, or credentials that failed in lenient mode: no user.
        Ok(outcome(parts)?.ok())
    }
}

//! The axum extractor: who made this request.

use std::any::{Any, TypeId};

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use http::Extensions;
use http::request::Parts;
use tokenauth_core::{AuthUser, TokenInfo, User, Verified};

use crate::rejection::{Answer, TokenAuthRejection};

/// The authenticated user of a request and the token it presented.
///
/// Take it as a handler argument to require authentication (a request without
/// credentials gets 401 `Authentication credentials were not provided.`), or take
/// `Option<Authenticated>` to accept anonymous requests too. It reads what
/// [`TokenAuthLayer`](crate::TokenAuthLayer) found, so the layer must run in front of the
/// route.
///
/// `U` is your directory's user type ([`User`] for the built-in directories), and
/// `Authenticated` (that is, `Authenticated<User>`) works under every directory: with
/// your own user type it holds the plain view of your user (id, username, active,
/// credential version). Only asking for a third type, another [`AuthUser`] than the
/// layer's directory yields, cannot work: the extractor logs both type names and
/// answers a generic 500 (see [`TokenAuthRejection::UserTypeMismatch`]).
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
/// anonymous request, the real reason for credentials that failed in lenient mode), how
/// refusals of this request are worded (DRF's or RFC 6750's challenges), and the user
/// type the layer serves. Read by the
/// extractor, by [`RequireScope`](crate::RequireScope) and by the 405 fallbacks; its
/// presence tells an inner layer that an outer one has already authenticated.
#[derive(Debug, Clone)]
pub(crate) struct Presented {
    pub(crate) token: Result<TokenInfo, TokenAuthRejection>,
    pub(crate) answer: Answer,
    pub(crate) user_type: UserType,
}

impl Presented {
    /// What the layer left in `extensions`, or `MissingLayer` if no layer ran.
    pub(crate) fn of(extensions: &Extensions) -> Result<&Self, TokenAuthRejection> {
        extensions.get::<Self>().ok_or(TokenAuthRejection::MissingLayer)
    }

    /// The token of an authenticated request, or the rejection for one that is not.
    pub(crate) fn token(&self) -> Result<&TokenInfo, TokenAuthRejection> {
        self.token.as_ref().map_err(|rejection| *rejection)
    }
}

/// A user type, compared by identity and named in errors, and how to read the plain
/// [`User`] view of the user the layer left.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UserType {
    id: TypeId,
    name: &'static str,
    plain: fn(&Extensions) -> Option<User>,
}

impl UserType {
    pub(crate) fn of<U: AuthUser>() -> Self {
        Self {
            id: TypeId::of::<U>(),
            name: std::any::type_name::<U>(),
            plain: plain_user::<U>,
        }
    }
}

fn plain_user<U: AuthUser>(extensions: &Extensions) -> Option<User> {
    extensions.get::<UserOf<U>>().map(|UserOf(user)| User {
        id: user.id(),
        username: user.username().to_owned(),
        is_active: user.is_active(),
        credential_version: user.credential_version(),
    })
}

/// The user of an authenticated request, beside its [`Presented`] token.
#[derive(Debug, Clone)]
pub(crate) struct UserOf<U>(pub(crate) U);

/// What the layer left for `Authenticated<U>`: the outer error when there is nothing to
/// read (no layer, or a layer serving another user type), the inner one when the
/// request is not authenticated.
fn outcome<U: AuthUser>(
    parts: &Parts,
) -> Result<Result<Authenticated<U>, TokenAuthRejection>, TokenAuthRejection> {
    let presented = Presented::of(&parts.extensions)?;
    let expected = UserType::of::<U>();
    let plain_view = expected.id == TypeId::of::<User>();
    if presented.user_type.id != expected.id && !plain_view {
        // Checked whether or not this request is authenticated, so that the mistake
        // shows on the first request, not the first one with a valid token.
        return Err(TokenAuthRejection::UserTypeMismatch {
            expected: expected.name,
            found: presented.user_type.name,
        });
    }
    let token = match presented.token() {
        Ok(token) => token.clone(),
        Err(rejection) => return Ok(Err(rejection)),
    };
    let user = if presented.user_type.id == expected.id {
        parts
            .extensions
            .get::<UserOf<U>>()
            .map(|UserOf(user)| user.clone())
    } else {
        // `U` is `User`: the plain view of the directory's own user type.
        (presented.user_type.plain)(&parts.extensions)
            .and_then(|user| (Box::new(user) as Box<dyn Any>).downcast::<U>().ok())
            .map(|user| *user)
    };
    let user = user.ok_or(TokenAuthRejection::MissingLayer)?;
    Ok(Ok(Authenticated { user, token }))
}
impl<S, U> FromRequestParts<S> for Authenticated<U>
where
    S: Send + Sync,
    U: AuthUser,
{
    type Rejection = TokenAuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        outcome(parts)?
    }
}

impl<S, U> OptionalFromRequestParts<S> for Authenticated<U>
where
    S: Send + Sync,
    U: AuthUser,
{
    type Rejection = TokenAuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        // Anonymous, or credentials that failed in lenient mode: no user.
        Ok(outcome(parts)?.ok())
    }
}

//! The tower middleware that authenticates every request.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum_core::body::Body;
use axum_core::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode, header};
use tokenauth_core::{AuthError, TokenAuth, TokenStore, UserDirectory};
use tower_layer::Layer;
use tower_service::Service;

use crate::extract::{Presented, UserOf};
use crate::rejection::TokenAuthRejection;

/// Authenticates requests by their `Authorization: Token <key>` (or `Bearer <key>`)
/// header, for the routes it wraps.
///
/// - No credentials (no header, or another scheme such as `Basic`): the request goes on
///   anonymous; handlers that take [`Authenticated`](crate::Authenticated) answer 401.
/// - Valid credentials: the request goes on with the user attached.
/// - Credentials that fail (unknown, expired, malformed, inactive user): 401 at once,
///   even on public routes, as DRF does; see [`with_lenient`](Self::with_lenient).
///
/// Every 401 that passes through the layer carries `WWW-Authenticate` naming the first
/// configured keyword (`Token`); other statuses keep their own (such as the 403 of
/// [`RequireScope`](crate::RequireScope)). The `Authorization` header is marked sensitive
/// so that tracing middleware does not print it. The layer never fails: every refusal is
/// a response.
///
/// # Client addresses
///
/// The layer records the client's address as the token's `last_ip` (and reports a use
/// from a new address as [`AuthEvent::UsedFromNewIp`](tokenauth_core::AuthEvent)). With
/// the `connect-info` feature (on by default) it takes the address from axum's
/// `ConnectInfo<SocketAddr>` request extension, which the server adds when the app is
/// served with `app.into_make_service_with_connect_info::<SocketAddr>()`; without it no
/// address is recorded.
///
/// It never reads `X-Forwarded-For`, `Forwarded` or `X-Real-IP`: any client can send
/// those headers with any value, so trusting them would let a client choose the address
/// written to its token's record and to the audit trail, hiding where a stolen token is
/// used from. Behind a reverse proxy the peer is the proxy; if you trust yours, add a
/// middleware in front of this layer that replaces `ConnectInfo<SocketAddr>` with the
/// address your proxy appended (the right-most entry it added, never the left-most,
/// which the client wrote).
///
/// ```no_run
/// use axum::{Router, routing::get};
/// use tokenauth::{Authenticated, TokenAuth, TokenAuthLayer};
/// use tokenauth::core::{MemoryStore, MemoryUserDirectory};
///
/// let auth = TokenAuth::new(MemoryStore::new(), MemoryUserDirectory::new());
/// let app: Router = Router::new()
///     .route("/me", get(|auth: Authenticated| async move { auth.user.username }))
///     .layer(TokenAuthLayer::new(auth));
/// ```
#[derive(Debug)]
pub struct TokenAuthLayer<S, D> {
    state: Arc<LayerState<S, D>>,
}

#[derive(Debug)]
struct LayerState<S, D> {
    auth: TokenAuth<S, D>,
    challenge: HeaderValue,
    lenient: bool,
}

impl<S, D> Clone for TokenAuthLayer<S, D> {
    fn clone(&self) -> Self {
        Self {
            state: Arc::clone(&self.state),
        }
    }
}

impl<S: TokenStore, D: UserDirectory> TokenAuthLayer<S, D> {
    /// A layer authenticating with `auth`.
    pub fn new(auth: TokenAuth<S, D>) -> Self {
        let challenge = HeaderValue::from_str(auth.challenge())
            .expect("keywords are validated as visible ASCII by TokenAuth::with_keywords");
        Self {
            state: Arc::new(LayerState {
                auth,
                challenge,
                lenient: false,
            }),
        }
    }

    /// Treats failing credentials as anonymous instead of answering 401 at once
    /// (default `false`, DRF's behaviour).
    ///
    /// In lenient mode a public route (one taking `Option<Authenticated>`, or nothing)
    /// serves a request with an expired or unknown token as anonymous, while a protected
    /// route still answers 401 with the real reason (`Token has expired`...). Useful
    /// when clients keep sending stale tokens to public pages.
    pub fn with_lenient(self, lenient: bool) -> Self {
        let state = &*self.state;
        Self {
            state: Arc::new(LayerState {
                auth: state.auth.clone(),
                challenge: state.challenge.clone(),
                lenient,
            }),
        }
    }
}

impl<I, S, D> Layer<I> for TokenAuthLayer<S, D> {
    type Service = TokenAuthService<I, S, D>;

    fn layer(&self, inner: I) -> Self::Service {
        TokenAuthService {
            inner,
            state: Arc::clone(&self.state),
        }
    }
}

/// The service made by [`TokenAuthLayer`].
#[derive(Debug)]
pub struct TokenAuthService<I, S, D> {
    inner: I,
    state: Arc<LayerState<S, D>>,
}

impl<I: Clone, S, D> Clone for TokenAuthService<I, S, D> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            state: Arc::clone(&self.state),
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<I, S, D, ReqBody, ResBody> Service<Request<ReqBody>> for TokenAuthService<I, S, D>
where
    I: Service<Request<ReqBody>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    I::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
    S: TokenStore,
    D: UserDirectory,
{
    type Response = Response;
    type Error = I::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, I::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let state = Arc::clone(&self.state);
        // The clone may not be ready: use the instance that `poll_ready` readied and
        // leave the clone in its place (see tower's `Service` docs).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);

        Box::pin(async move {
            let header = req.headers_mut().get_mut(header::AUTHORIZATION).map(|value| {
                value.set_sensitive(true);
                value.clone()
            });
            let ip = client_ip(&req);
            let token = match state
                .auth
                .authenticate_header(header.as_ref().map(HeaderValue::as_bytes), ip)
                .await
            {
                Ok(Some(verified)) => {
                    req.extensions_mut().insert(UserOf(verified.user));
                    Ok(verified.token)
                }
                Ok(None) => Err(TokenAuthRejection::NotProvided),
                Err(error) => {
                    let rejection = TokenAuthRejection::from(&error);
                    if let AuthError::Backend(source) = &error {
                        tracing::error!(
                            error = source as &dyn std::error::Error,
                            "authentication backend failed"
                        );
                    }
                    if !state.lenient || rejection == TokenAuthRejection::Backend {
                        return Ok(state.finish(rejection.into_response()));
                    }
                    Err(rejection)
                }
            };
            req.extensions_mut().insert(Presented {
                token,
                scheme: state.challenge.clone(),
            });
            let response = inner.call(req).await?;
            Ok(state.finish(response.map(Body::new)))
        })
    }
}

/// The address of the peer that sent `req`, from axum's `ConnectInfo`, if the server
/// provides it. IPv4 clients of a dual-stack listener appear as plain IPv4 addresses.
///
/// `X-Forwarded-For` and its kin are deliberately not read: see "Client addresses" on
/// [`TokenAuthLayer`].
#[cfg(feature = "connect-info")]
fn client_ip<B>(req: &Request<B>) -> Option<IpAddr> {
    use axum::extract::ConnectInfo;
    use std::net::SocketAddr;

    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_canonical())
}

/// Without the `connect-info` feature no address is known.
#[cfg(not(feature = "connect-info"))]
fn client_ip<B>(_req: &Request<B>) -> Option<IpAddr> {
    None
}

impl<S, D> LayerState<S, D> {
    /// Puts the configured challenge on every 401 leaving the layer.
    fn finish(&self, mut response: Response) -> Response {
        if response.status() == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, self.challenge.clone());
        }
        response
    }
}

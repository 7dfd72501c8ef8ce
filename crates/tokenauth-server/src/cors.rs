//! CORS for single-page apps on other origins (`--cors-origins`): tower-http's
//! [`CorsLayer`], put in front of the routes, the token layer and the wrong-method
//! answers, and only for the origins allowed.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use tokenauth::detail_response;
use tower::{Layer, ServiceExt};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// How long a browser may cache a preflight's answer.
pub const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(3600);

/// What a preflight from an origin not allowed gets.
const NOT_ALLOWED: &str = "Origin not allowed.";

/// The origins allowed to call the API from a browser: exact origins
/// (`https://app.example.com`, credentials allowed), or any (`*`, without
/// credentials).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    /// Any origin, without credentials.
    Any,
    /// These origins (lowercase `scheme://host[:port]`), with credentials.
    Exact(Vec<HeaderValue>),
}

/// An origin, or a list, that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid CORS origin {0:?}: expected exact origins, comma- or space-separated \
     (http[s]://host[:port], no path, no default port), or * alone"
)]
pub struct InvalidOrigin(String);

impl FromStr for CorsOrigins {
    type Err = InvalidOrigin;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let items: Vec<&str> = s
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|item| !item.is_empty())
            .collect();
        match items.as_slice() {
            [] => Err(InvalidOrigin(s.to_owned())),
            ["*"] => Ok(Self::Any),
            _ => items
                .into_iter()
                .map(origin)
                .collect::<Result<_, _>>()
                .map(Self::Exact),
        }
    }
}

/// One exact origin, as browsers send it: lowercase, without a default port.
fn origin(item: &str) -> Result<HeaderValue, InvalidOrigin> {
    let invalid = || InvalidOrigin(item.to_owned());
    let lower = item.to_ascii_lowercase();
    let uri: Uri = lower.parse().map_err(|_| invalid())?;
    let default_port = match uri.scheme_str() {
        Some("https") => 443,
        Some("http") => 80,
        _ => return Err(invalid()),
    };
    let authority = uri.authority().ok_or_else(invalid)?;
    // `Uri` reads no path as `/`: a written one ends with `/` or is longer.
    let whole = uri.path() == "/" && uri.query().is_none() && !lower.ends_with('/');
    if !whole
        || authority.as_str().contains('@')
        || authority.host().is_empty()
        || authority.port_u16() == Some(default_port)
    {
        return Err(invalid());
    }
    HeaderValue::from_str(&lower).map_err(|_| invalid())
}

impl fmt::Display for CorsOrigins {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("*"),
            Self::Exact(origins) => {
                for (i, origin) in origins.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    f.write_str(origin.to_str().unwrap_or("?"))?;
                }
                Ok(())
            }
        }
    }
}

impl CorsOrigins {
    fn allows(&self, origin: &HeaderValue) -> bool {
        match self {
            Self::Any => true,
            Self::Exact(origins) => origins.contains(origin),
        }
    }

    /// The methods and headers the routes take, the headers a client may read.
    fn layer(&self) -> CorsLayer {
        let layer = CorsLayer::new()
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .expose_headers([
                header::RETRY_AFTER,
                header::HeaderName::from_static("x-request-id"),
            ])
            .max_age(PREFLIGHT_MAX_AGE);
        match self {
            Self::Any => layer.allow_origin(AllowOrigin::any()),
            Self::Exact(origins) => layer
                .allow_origin(AllowOrigin::list(origins.iter().cloned()))
                .allow_credentials(true),
        }
    }

    /// `app` answering CORS: a preflight (`OPTIONS` with `Origin` and
    /// `Access-Control-Request-Method`) from an allowed origin is answered 200 with the
    /// CORS headers, one from another origin 403 without them; other requests from an
    /// allowed origin get `Access-Control-Allow-Origin`. A request without `Origin`, or
    /// an `OPTIONS` that is not a preflight, is served as without CORS.
    pub fn apply(&self, app: Router) -> Router {
        let cors = Arc::new((self.clone(), self.layer()));
        app.layer(middleware::from_fn_with_state(cors, answer_cors))
    }
}

async fn answer_cors(
    State(cors): State<Arc<(CorsOrigins, CorsLayer)>>,
    request: Request,
    next: Next,
) -> Response {
    let (origins, layer) = &*cors;
    let headers = request.headers();
    let origin = headers.get(header::ORIGIN);
    let allowed = origin.is_some_and(|origin| origins.allows(origin));
    let options = request.method() == Method::OPTIONS;
    let preflight =
        options && origin.is_some() && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if allowed && (preflight || !options) {
        let Ok(response) = layer.layer(next).oneshot(request).await;
        response
    } else if preflight {
        detail_response(StatusCode::FORBIDDEN, NOT_ALLOWED)
    } else {
        next.run(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_parse_as_browsers_send_them() {
        let parsed: CorsOrigins = "https://App.example.com, http://localhost:5173 https://[::1]:8443"
            .parse()
            .unwrap();
        assert_eq!(
            parsed.to_string(),
            "https://app.example.com,http://localhost:5173,https://[::1]:8443"
        );
        assert_eq!("*".parse(), Ok(CorsOrigins::Any));
        for bad in [
            "",
            " , ",
            "app.example.com",
            "https://app.example.com/",
            "https://app.example.com/path",
            "https://app.example.com?q",
            "https://user@app.example.com",
            "https://app.example.com:443",
            "http://app.example.com:80",
            "ftp://app.example.com",
            "null",
            "*, https://app.example.com",
        ] {
            assert!(bad.parse::<CorsOrigins>().is_err(), "{bad:?} parsed");
        }
    }
}

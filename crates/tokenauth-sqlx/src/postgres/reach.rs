//! Opening the pool ([`crate::reach`]), its connections named `tokenauth`.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool};

use crate::Error;
use crate::reach::address;

/// A pool on `url` with `timeout` as its acquire timeout, one connection opened;
/// its connections carry `application_name=tokenauth` unless the URL names one.
pub(super) async fn pool(url: &str, timeout: Duration) -> Result<PgPool, Error> {
    let options = named(url.parse()?);
    let address = address(
        options.get_socket().map(|p| p.as_path()),
        options.get_host(),
        options.get_port(),
    );
    crate::reach::pool(options, address, timeout).await
}

/// `options`, with `application_name=tokenauth` unless they name one: an operator
/// then tells tokenauth's connections apart in `pg_stat_activity`.
pub fn named(options: PgConnectOptions) -> PgConnectOptions {
    if options.get_application_name().is_some() {
        return options;
    }
    options.application_name("tokenauth")
}

//! The commands that open no database: shell completions and the manual page (from
//! the same definition as `--help`), the health check of a running server, and the
//! effective configuration.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use clap::CommandFactory;
use hyper_util::rt::TokioIo;

use super::{Cli, CliError, Command, ConfigCommand, HealthcheckArgs};

/// Runs `command` if it needs no backend; `None` if it does.
pub(super) async fn run<W: Write>(command: &Command, out: &mut W) -> Option<Result<(), CliError>> {
    let result = match command {
        Command::Completions { shell } => {
            // Into a buffer: clap_complete panics when a write fails (a closed pipe).
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "tokenauth", &mut script);
            out.write_all(&script).map_err(CliError::from)
        }
        Command::Man { command } => man(command, out),
        Command::Healthcheck(args) => healthcheck(args, out).await,
        Command::Config(ConfigCommand::Show { effective }) => match effective {
            Some(effective) => out.write_all(effective.as_bytes()).map_err(CliError::from),
            None => Err(CliError::Options(
                "`config show` prints what `cli::parse_from` found: parse the arguments with it".to_owned(),
            )),
        },
        _ => return None,
    };
    Some(result)
}

/// The manual page of the command at `path` below `tokenauth` (`["user", "add"]`).
fn man<W: Write>(path: &[String], out: &mut W) -> Result<(), CliError> {
    let mut cli = Cli::command();
    // Built, so that each command has its global options and its full name.
    cli.build();
    let mut command = &cli;
    for name in path {
        command = command
            .find_subcommand(name)
            .ok_or_else(|| CliError::Options(format!("no command `{}`", path.join(" "))))?;
    }
    let mut page = Vec::new();
    clap_mangen::Man::new(command.clone())
        // The commands carry no version of their own.
        .source(format!("tokenauth {}", env!("CARGO_PKG_VERSION")))
        .render(&mut page)?;
    out.write_all(&page)?;
    Ok(())
}

/// `GET /healthz` on the server `args` name; Ok if it answers 200 in time.
async fn healthcheck<W: Write>(args: &HealthcheckArgs, out: &mut W) -> Result<(), CliError> {
    let addr = loopback_if_unspecified(args.bind.resolve().await?);
    let url = format!("http://{addr}/healthz");
    let unhealthy = |reason: String| CliError::Unhealthy {
        url: url.clone(),
        reason,
    };
    let ask = async {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(connection);
        let request = Request::get("/healthz")
            .header("host", addr.to_string())
            .body(Body::empty())
            .map_err(|e| e.to_string())?;
        let response = sender.send_request(request).await.map_err(|e| e.to_string())?;
        Ok::<_, String>(response.status())
    };
    let timeout = args.timeout.as_duration().unsigned_abs();
    match tokio::time::timeout(timeout, ask).await {
        Ok(Ok(StatusCode::OK)) => {
            writeln!(out, "{url}: 200 OK")?;
            Ok(())
        }
        Ok(Ok(status)) => Err(unhealthy(format!("it answered {status}"))),
        Ok(Err(reason)) => Err(unhealthy(reason)),
        Err(_) => Err(unhealthy(format!("no answer within {}", args.timeout))),
    }
}

/// A server bound to every address (`0.0.0.0`, `[::]`) is asked on loopback.
fn loopback_if_unspecified(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, addr.port()).into(),
        IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, addr.port()).into(),
        _ => addr,
    }
}

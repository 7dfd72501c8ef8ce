//! The `tokenauth` binary: parses arguments and runs the command.

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use tokenauth_server::cli::{self, Command, Io};
use tokenauth_server::logs::LogFormat;
use tokenauth_server::logs::batched;
use tracing_subscriber::EnvFilter;

// A request allocates and frees dozens of small buffers across two worker threads;
// glibc's malloc spent about 9% of a cached `/auth/me` there (its free lists and their
// consolidation). mimalloc's thread-local pages took 7-13% off the server's CPU per
// request on every scenario of scripts/bench-http, at the same resident size
// (docs/BENCHMARKS.md, "The allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = cli::parse_from(std::env::args_os()).unwrap_or_else(|error| error.exit());
    // sqlx warns of statements over a second with their whole text, which for a bulk
    // insert is thousands of placeholders: not for the bulk commands' terminal.
    let default_filter = match cli.command {
        Command::Import(_) | Command::CopyDatabase(_) => "info,sqlx::query=error",
        _ => "info",
    };
    // Lines are written in batches, in order, by a thread of their own, which wakes
    // once a batch rather than once a line (logs/batched.rs): one access line a request
    // would otherwise be a system call, or a wake-up, on each request. Stopping it
    // writes what is left, before the error line below.
    let (writer, logs) = match batched::stderr() {
        Ok(started) => started,
        Err(error) => {
            eprintln!("error: cannot start the log writer: {error}");
            return ExitCode::FAILURE;
        }
    };
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter)))
        .with_writer(writer);
    match cli.log_format {
        LogFormat::Text => subscriber.with_ansi(io::stderr().is_terminal()).init(),
        // The event's fields at the top level; the request's id in `spans`.
        LogFormat::Json => subscriber.json().flatten_event(true).init(),
    }
    let mut io = Io {
        stdin: io::stdin().lock(),
        stdout: io::stdout(),
        interactive: io::stdin().is_terminal(),
        show_progress: io::stderr().is_terminal(),
    };
    let outcome = cli::run(cli, &mut io).await;
    logs.stop();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let _ = io.stdout.flush();
            eprintln!("error: {}", cli::report(&error));
            ExitCode::FAILURE
        }
    }
}

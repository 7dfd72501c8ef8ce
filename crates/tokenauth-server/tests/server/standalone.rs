//! The commands that open no database: `completions`, `man` and `healthcheck` (the
//! container's probe), through the binary.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{Server, bare as tokenauth, run};

fn stdout_of(args: &[&str]) -> String {
    let output = run(tokenauth(args), "");
    assert_eq!(output.status.code(), Some(0), "{args:?}: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn completions_name_the_commands_and_bash_accepts_its_script() {
    for shell in ["bash", "zsh", "fish"] {
        let script = stdout_of(&["completions", shell]);
        for command in ["serve", "import-django", "revoke-all", "--database", "--lifespan"] {
            assert!(script.contains(command), "{shell}: no {command}");
        }
    }
    let mut bash = Command::new("bash")
        .arg("-n")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bash runs");
    let script = stdout_of(&["completions", "bash"]);
    bash.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    let checked = bash.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );

    let output = run(tokenauth(&["completions", "tcsh"]), "");
    assert_eq!(output.status.code(), Some(2), "a usage error");
}

#[test]
fn man_pages_for_the_command_and_each_subcommand() {
    let page = stdout_of(&["man"]);
    assert!(page.contains(".TH tokenauth 1"), "{page}");
    for command in [
        "tokenauth\\-serve(1)",
        "tokenauth\\-user(1)",
        "tokenauth\\-token(1)",
    ] {
        assert!(page.contains(command), "no {command} in\n{page}");
    }
    let serve = stdout_of(&["man", "serve"]);
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        serve.contains(&format!(".TH tokenauth-serve 1  \"tokenauth {version}\"")),
        "{serve}"
    );
    assert!(
        serve.contains("\\-\\-bind") && serve.contains("\\-\\-lifespan"),
        "{serve}"
    );
    let user_add = stdout_of(&["man", "user", "add"]);
    assert!(user_add.contains("\\-\\-password\\-stdin"), "{user_add}");

    let output = run(tokenauth(&["man", "frobnicate"]), "");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: no command `frobnicate`\n"
    );
}

#[test]
fn healthcheck_exits_0_while_the_server_serves_and_1_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("health.db").display());
    let (mut server, addr) = Server::start(&database, &[]);
    let port = addr.rsplit_once(':').unwrap().1.to_owned();

    let output = run(tokenauth(&["healthcheck", "--bind", &addr]), "");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("http://{addr}/healthz: 200 OK\n")
    );
    // As a container runs it: the server's own variable, bound to every address.
    let mut probe = tokenauth(&["healthcheck"]);
    probe.env("TOKENAUTH_BIND", format!("0.0.0.0:{port}"));
    let output = run(probe, "");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("http://127.0.0.1:{port}/healthz: 200 OK\n")
    );

    server.terminate();
    assert!(server.exit_within(Duration::from_secs(30)).success());
    let output = run(tokenauth(&["healthcheck", "--bind", &addr]), "");
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(&format!("error: http://{addr}/healthz did not answer 200: ")),
        "{stderr}"
    );

    // A process that takes the connection and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap().to_string();
    let args = ["healthcheck", "--bind", &silent_addr, "--timeout", "1s"];
    let output = run(tokenauth(&args), "");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!("error: http://{silent_addr}/healthz did not answer 200: no answer within 1s\n")
    );
    drop(silent);
}

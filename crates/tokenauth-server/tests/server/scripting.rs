//! The `tokenauth` binary as a script sees it: `--output json` on standard output,
//! and the exit codes docs/server.md documents (0 done, 1 failed, 2 usage).

use crate::common::{self, run, tokenauth};

#[test]
fn lists_parse_as_json_and_exit_codes_say_what_happened() {
    let dir = tempfile::tempdir().unwrap();
    let database = common::database_with_alice(&dir, "scripting");
    common::run_ok(
        tokenauth(&database, &["token", "create", "alice", "--name", "ci"]),
        "",
    );

    // 0: done, and standard output is the document alone.
    let output = run(tokenauth(&database, &["user", "list", "--output", "json"]), "");
    assert_eq!(output.status.code(), Some(0));
    let users: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        users,
        serde_json::json!([{"id": "1", "username": "alice", "active": true}])
    );
    let output = run(tokenauth(&database, &["token", "list", "--output", "json"]), "");
    assert_eq!(output.status.code(), Some(0));
    let tokens: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(tokens[0]["user"], "alice");
    assert_eq!(tokens[0]["name"], "ci");

    // 1: the command failed; nothing on standard output, the cause on standard error.
    let args = ["token", "list", "--user", "carol", "--output", "json"];
    let output = run(tokenauth(&database, &args), "");
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: no user named \"carol\"\n"
    );

    // 2: the command line is wrong; nothing was run.
    let output = run(tokenauth(&database, &["user", "list", "--output", "yaml"]), "");
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("invalid value 'yaml' for '--output <OUTPUT>'")
            && stderr.contains("[possible values: text, json]"),
        "{stderr}"
    );
}

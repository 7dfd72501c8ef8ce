//! The configuration file (`--config`, `TOKENAUTH_CONFIG`): what it is refused for
//! (in-process: the arguments are only parsed), its precedence and `config show`
//! (through the binary, whose environment each test sets).

use std::path::Path;

use tokenauth_server::cli::{self, Command};

use crate::common::{self, bare, run, run_ok};

/// Writes `text` to `name` in `dir`; its path.
fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// What parsing `tokenauth --config FILE ARGS` refuses, `FILE` holding `text`, with
/// the file's path written `FILE`.
fn refusal(text: &str, args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "tokenauth.toml", text);
    let argv = ["tokenauth", "--config", &file]
        .into_iter()
        .chain(args.iter().copied());
    let error = cli::parse_from(argv).expect_err("refused");
    assert_eq!(error.exit_code(), 2, "a usage error: {error}");
    error.to_string().replace(&file, "FILE")
}

#[test]
fn unknown_keys_and_bad_values_are_refused_naming_the_file_and_the_key() {
    let show = ["config", "show"];
    for (text, message) in [
        (
            "lifespan = \"7d\"",
            "key `lifespan`: no option is named `lifespan` at the top level; it is one of [serve], [token.create]",
        ),
        (
            "[serve]\nlifespan = \"7d\"\nbnid = \"127.0.0.1:9000\"",
            "key `serve.bnid`: no option is named `bnid` in [serve]",
        ),
        (
            "[serve]\nbind = \"localhost:80000\"",
            "key `serve.bind`: invalid value \"localhost:80000\": expected HOST:PORT (a port from 0 to 65535), such as 127.0.0.1:8000, [::]:8000 or localhost:8000",
        ),
        (
            "[serve]\nlifespan = \"forever\"",
            "key `serve.lifespan`: invalid value \"forever\": invalid duration \"forever\": expected a number with a unit, such as 30d, 12h, 90m or 3s",
        ),
        (
            "[serve]\ncache = \"banana\"",
            "key `serve.cache`: invalid value \"banana\": `banana` is neither `on` nor `off`",
        ),
        (
            "schema = \"mysql\"",
            "key `schema`: invalid value \"mysql\"; possible values: tokenauth, django",
        ),
        (
            "[serve]\nmax-connections = 0",
            "key `serve.max-connections`: invalid value \"0\": number would be zero for non-zero type",
        ),
        (
            "[serve]\nlifespan = 7.5",
            "key `serve.lifespan`: expected a string, an integer or a boolean",
        ),
        (
            "[serve]\nbind = [\"127.0.0.1:1\"]",
            "key `serve.bind`: takes one value, not an array",
        ),
        (
            "serve = \"on\"",
            "key `serve`: `serve` is a command: its options go in a [serve] table",
        ),
        (
            "[user.add]\npassword-stdin = true",
            "key `user.add.password-stdin`: a flag: give it on the command line",
        ),
        (
            "config = \"other.toml\"",
            "key `config`: the file cannot name another file",
        ),
        (
            "[token.list]\nidle-timeout = \"1h\"",
            "key `token.list.idle-timeout`: no option is named `idle-timeout` in [token.list]; it is one of [serve], [token]",
        ),
    ] {
        assert_eq!(
            refusal(text, &show),
            format!("error: FILE: {message}\n"),
            "{text}"
        );
    }
    // Checked at start, whatever the command: `serve` never opens its database.
    assert_eq!(
        refusal("[serve]\nbind = \"nowhere\"", &["serve"]),
        "error: FILE: key `serve.bind`: invalid value \"nowhere\": expected HOST:PORT (a port from 0 to 65535), such as 127.0.0.1:8000, [::]:8000 or localhost:8000\n"
    );
}

#[test]
fn a_file_that_is_not_toml_is_refused_without_echoing_its_lines() {
    let text = "# tokenauth\ndatabase = \"postgres://app:hunter2@db/app\" oops\n";
    let refused = refusal(text, &["config", "show"]);
    assert_eq!(
        refused,
        "error: FILE, line 2: not valid TOML: unexpected key or value, expected newline, `#`\n"
    );

    let argv = [
        "tokenauth",
        "--config",
        "/nonexistent/tokenauth.toml",
        "config",
        "show",
    ];
    let error = cli::parse_from(argv).unwrap_err();
    assert_eq!(error.exit_code(), 2);
    assert!(
        error
            .to_string()
            .starts_with("error: cannot read the configuration file /nonexistent/tokenauth.toml: "),
        "{error}"
    );
}

#[test]
fn the_file_sets_defaults_that_the_command_line_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let text = "database = \"sqlite://file.db\"\n\
                [serve]\nbind = \"0.0.0.0:9000\"\nlifespan = \"7d\"\ncache = \"on\"\n\
                [copy-database]\nfrom = \"sqlite://a.db\"\nto = \"sqlite://b.db\"\n\
                [token]\nidle-timeout = \"1h\"\n\
                [token.create]\nscope = [\"read\", \"write\"]\n";
    let file = write(dir.path(), "tokenauth.toml", text);
    let parse = |args: &[&str]| {
        let argv = ["tokenauth"].into_iter().chain(args.iter().copied());
        cli::parse_from(argv).expect("parses")
    };
    // Before or after the command.
    for args in [
        &["--config", &file, "serve", "--lifespan", "1h"][..],
        &["serve", "--lifespan", "1h", "--config", &file],
        &["serve", "--lifespan=1h", &format!("--config={file}")],
    ] {
        let cli = parse(args);
        assert_eq!(cli.database.as_str(), "sqlite://file.db");
        let Command::Serve(serve) = cli.command else {
            panic!("serve")
        };
        assert_eq!(serve.bind.to_string(), "0.0.0.0:9000", "{args:?}");
        assert_eq!(
            serve.lifespan.to_string(),
            "1h",
            "the command line wins: {args:?}"
        );
        assert_eq!(serve.cache.enabled, Some(true), "from the file: {args:?}");
    }
    // `--help` shows the file's values as the defaults.
    let argv = ["tokenauth", "--config", &file, "serve", "--help"];
    let help = cli::parse_from(argv).unwrap_err();
    assert_eq!(help.kind(), clap::error::ErrorKind::DisplayHelp);
    assert!(help.to_string().contains("[default: 0.0.0.0:9000]"), "{help}");
    // A required option, from the file.
    let Command::CopyDatabase(copy) = parse(&["--config", &file, "copy-database"]).command else {
        panic!("copy-database")
    };
    assert_eq!(
        (copy.from.as_str(), copy.to.as_str()),
        ("sqlite://a.db", "sqlite://b.db")
    );
    // A repeated option, from an array.
    let cli = parse(&["--config", &file, "token", "create", "alice"]);
    let Command::Token(token) = cli.command else {
        panic!("token")
    };
    let tokenauth_server::cli::TokenCommand::Create { scope, .. } = token.command else {
        panic!("create")
    };
    assert_eq!(scope, ["read", "write"]);
    // A global option of `token`, in its table, for each of its subcommands.
    let Command::Token(token) = parse(&["--config", &file, "token", "list"]).command else {
        panic!("token")
    };
    assert_eq!(
        token.policy.idle_timeout.map(|t| t.to_string()).as_deref(),
        Some("1h")
    );
}

/// `tokenauth ARGS` run in `dir`, with `env`, which must exit 0; its standard output.
fn ok_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut command = bare(args);
    command.current_dir(dir).envs(env.iter().copied());
    run_ok(command, "")
}

/// The `key = value  # source` line of `table` (`""` for the top level) in `shown`.
fn line<'a>(shown: &'a str, table: &str, key: &str) -> &'a str {
    let mut current = "";
    for line in shown.lines() {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name;
        } else if current == table && line.starts_with(&format!("{key} = ")) {
            return line;
        }
    }
    panic!("no {key} in [{table}] of\n{shown}")
}

#[test]
fn precedence_is_command_line_then_environment_then_file_then_default() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "tokenauth.toml",
        "database = \"sqlite://file.db\"\n[serve]\nlifespan = \"7d\"\nbind = \"127.0.0.1:9000\"\n",
    );
    let show = |args: &[&str], env: &[(&str, &str)]| {
        let mut argv = vec!["config", "show"];
        argv.extend_from_slice(args);
        ok_in(dir.path(), &argv, env)
    };

    let shown = show(&["--config", &file], &[]);
    assert_eq!(
        line(&shown, "", "database"),
        "database = \"sqlite://file.db\"  # file"
    );
    assert_eq!(line(&shown, "serve", "lifespan"), "lifespan = \"7d\"  # file");
    assert_eq!(
        line(&shown, "serve", "cache-ttl"),
        "cache-ttl = \"10s\"  # default"
    );
    assert!(shown.contains("\n# idle-timeout = (not set)\n"), "{shown}");

    let env = [
        ("TOKENAUTH_DATABASE_URL", "sqlite://env.db"),
        ("TOKENAUTH_LIFESPAN", "2d"),
        ("TOKENAUTH_CONFIG", file.as_str()),
    ];
    let shown = show(&[], &env);
    assert!(
        shown.contains(&format!("# Configuration file: {file}\n")),
        "{shown}"
    );
    assert_eq!(
        line(&shown, "", "database"),
        "database = \"sqlite://env.db\"  # TOKENAUTH_DATABASE_URL"
    );
    assert_eq!(
        line(&shown, "serve", "lifespan"),
        "lifespan = \"2d\"  # TOKENAUTH_LIFESPAN"
    );
    assert_eq!(line(&shown, "serve", "bind"), "bind = \"127.0.0.1:9000\"  # file");

    let shown = show(&["--database", "sqlite://flag.db"], &env);
    assert_eq!(
        line(&shown, "", "database"),
        "database = \"sqlite://flag.db\"  # command line"
    );

    let shown = show(&[], &[]);
    assert!(shown.contains("# Configuration file: none"), "{shown}");
    assert_eq!(
        line(&shown, "", "database"),
        "database = \"sqlite://tokenauth.db\"  # default"
    );

    // And what the commands do: the users land in the database that wins (`migrate`
    // first, as admin commands never change the schema).
    let add = |args: &[&str], env: &[(&str, &str)]| {
        for command in [&["migrate"][..], &["user", "add", "alice", "--password-stdin"]] {
            let mut command = bare(&[command, args].concat());
            command.current_dir(dir.path()).envs(env.iter().copied());
            run_ok(command, "pw\n");
        }
    };
    add(&["--config", &file], &[]);
    add(&[], &env);
    add(&["--database", "sqlite://flag.db"], &env);
    for name in ["file.db", "env.db", "flag.db"] {
        let database = format!("sqlite://{}", dir.path().join(name).display());
        let users = run_ok(
            common::tokenauth(&database, &["user", "list", "--output", "json"]),
            "",
        );
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&users).unwrap(),
            serde_json::json!([{"id": "1", "username": "alice", "active": true}]),
            "{name}"
        );
    }
    assert!(
        !dir.path().join("tokenauth.db").exists(),
        "the default was never used"
    );
}

#[test]
fn config_show_masks_passwords_and_reads_back_as_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "tokenauth.toml",
        "database = \"postgres://app:hunter2@db.internal/app?sslmode=verify-full\"\n\
         token-store = \"redis://:hunter3@cache:6379\"\n\
         [serve]\nlisten-database = \"postgres://app@db.internal/app?password=hunter4\"\n\
         cache = true\ncache-size = 500\ntrusted-proxies = \"10.0.0.0/8\"\n",
    );
    let shown = ok_in(dir.path(), &["config", "show", "--config", &file], &[]);
    for secret in ["hunter2", "hunter3", "hunter4"] {
        assert!(!shown.contains(secret), "{shown}");
    }
    assert_eq!(
        line(&shown, "", "database"),
        "database = \"postgres://app:***@db.internal/app?sslmode=verify-full\"  # file"
    );
    assert_eq!(
        line(&shown, "", "token-store"),
        "token-store = \"redis://:***@cache:6379\"  # file"
    );
    assert_eq!(
        line(&shown, "serve", "listen-database"),
        "listen-database = \"postgres://app@db.internal/app?password=***\"  # file"
    );
    assert_eq!(line(&shown, "serve", "cache-size"), "cache-size = 500  # file");

    // Valid TOML, whose keys a file takes: without the masked URLs, what it shows is
    // what it gives when read back.
    let mut shown_table: toml::Table = shown.parse().expect("TOML");
    for key in ["database", "token-store"] {
        shown_table.remove(key);
    }
    if let Some(toml::Value::Table(serve)) = shown_table.get_mut("serve") {
        serve.remove("listen-database");
    }
    let again = write(dir.path(), "again.toml", &shown_table.to_string());
    let reread = ok_in(dir.path(), &["config", "show", "--config", &again], &[]);
    let mut reread_table: toml::Table = reread.parse().unwrap();
    reread_table.remove("database");
    assert_eq!(reread_table, shown_table, "{reread}");
}

#[test]
fn the_binary_refuses_a_bad_file_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "tokenauth.toml", "[serve]\nbind = \"localhost\"\n");
    let mut serve = bare(&["serve"]);
    serve.current_dir(dir.path()).env("TOKENAUTH_CONFIG", &file);
    let output = run(serve, "");
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!(
            "error: {file}: key `serve.bind`: invalid value \"localhost\": expected HOST:PORT (a port from 0 to 65535), \
             such as 127.0.0.1:8000, [::]:8000 or localhost:8000\n"
        )
    );
    assert!(
        !dir.path().join("tokenauth.db").exists(),
        "refused before anything was opened"
    );
}

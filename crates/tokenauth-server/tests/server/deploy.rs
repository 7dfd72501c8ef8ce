//! The files of `deploy/` against the command's definition: their command lines and
//! variables are the binary's own, with values it takes, and their paths and ports
//! agree with each other. (CI also runs `systemd-analyze verify` on the unit; no
//! container engine runs on this machine to build the image.)

use std::path::PathBuf;

use clap::{CommandFactory, Parser};
use tokenauth_server::cli::{Cli, Command};

fn read(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The long option whose variable is `name`, anywhere in the command's definition.
fn option_of(name: &str) -> String {
    fn find(command: &clap::Command, name: &str) -> Option<String> {
        command
            .get_arguments()
            .find(|arg| arg.get_env().is_some_and(|env| env == name))
            .and_then(|arg| arg.get_long().map(str::to_owned))
            .or_else(|| command.get_subcommands().find_map(|sub| find(sub, name)))
    }
    find(&Cli::command(), name).unwrap_or_else(|| panic!("no option reads {name}"))
}

/// Parses `args` (the binary's path first) with the `TOKENAUTH_*` variables `env` given
/// as their options instead (a test sets no process-wide environment).
fn parse(args: &[&str], env: &[(String, String)]) -> Cli {
    let mut argv = vec!["tokenauth".to_owned()];
    argv.extend(args[1..].iter().map(|arg| (*arg).to_owned()));
    for (name, value) in env {
        argv.push(format!("--{}={value}", option_of(name)));
    }
    Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"))
}

/// The `NAME=VALUE` pairs of `TOKENAUTH_*` variables in `assignments`.
fn tokenauth_vars<'a>(assignments: impl Iterator<Item = &'a str>) -> Vec<(String, String)> {
    assignments
        .filter_map(|pair| pair.split_once('='))
        .filter(|(name, _)| name.starts_with("TOKENAUTH_"))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

/// A JSON array (an exec form) after `prefix` in `text`, whose continued lines are joined.
fn exec_form(text: &str, prefix: &str) -> Vec<String> {
    let text = text.replace("\\\n", " ");
    let line = text
        .lines()
        .find(|line| line.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix}"));
    let json = &line[line.find('[').expect("an exec form")..];
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{line}: {e}"))
}

#[test]
fn the_containerfile_runs_commands_and_settings_the_binary_has() {
    let file = read("Containerfile");
    let instructions = file.replace("\\\n", " ");
    let env_line = instructions
        .lines()
        .find(|line| line.starts_with("ENV "))
        .expect("ENV");
    let env = tokenauth_vars(env_line["ENV ".len()..].split_whitespace());
    let names: Vec<&str> = env.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["TOKENAUTH_BIND", "TOKENAUTH_DATABASE_URL"]);

    let entrypoint = exec_form(&file, "ENTRYPOINT ");
    let cmd = exec_form(&file, "CMD ");
    let argv: Vec<&str> = entrypoint.iter().chain(&cmd).map(String::as_str).collect();
    assert_eq!(argv[0], "/usr/local/bin/tokenauth");
    assert!(file.contains(&format!("COPY --from=build /out/bin/tokenauth {}\n", argv[0])));
    let cli = parse(&argv, &env);
    let Command::Serve(serve) = cli.command else {
        panic!("{argv:?} is not serve")
    };
    // The port it serves is the one exposed, on every address, so that -p reaches it.
    assert!(serve.bind.is_unspecified(), "{}", serve.bind);
    assert!(file.contains(&format!("\nEXPOSE {}\n", serve.bind.port())));
    // The database is in the volume, which belongs to the user it runs as.
    assert_eq!(cli.database.as_str(), "sqlite:///data/tokenauth.db");
    assert!(file.contains("\nVOLUME /data\n"));
    assert!(file.contains("\nCOPY --from=build --chown=65532:65532 /data /data\n"));
    assert!(file.contains("\nUSER 65532:65532\n"));

    let probe = exec_form(&file, "HEALTHCHECK ");
    assert_eq!(probe[0], argv[0]);
    let probe: Vec<&str> = probe.iter().map(String::as_str).collect();
    let Command::Healthcheck(check) = parse(&probe, &env).command else {
        panic!("{probe:?} is not healthcheck")
    };
    assert_eq!(check.bind, serve.bind, "the probe asks where the server listens");
}

#[test]
fn the_systemd_unit_runs_commands_and_settings_the_binary_has() {
    let unit = read("tokenauth.service");
    let values = |key: &str| -> Vec<&str> {
        unit.lines()
            .filter_map(|line| line.strip_prefix(key)?.strip_prefix('='))
            .collect()
    };
    let exec: Vec<&str> = values("ExecStart")[0].split_whitespace().collect();
    let env = tokenauth_vars(values("Environment").into_iter());
    let cli = parse(&exec, &env);
    assert!(matches!(cli.command, Command::Serve(_)), "{exec:?}");
    // The database in the state directory, the only place the service may write.
    assert_eq!(values("StateDirectory"), ["tokenauth"]);
    assert_eq!(cli.database.as_str(), "sqlite:///var/lib/tokenauth/tokenauth.db");
    for (key, value) in [
        ("DynamicUser", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("NoNewPrivileges", "yes"),
        ("CapabilityBoundingSet", ""),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("SystemCallFilter", "@system-service"),
        ("Restart", "on-failure"),
    ] {
        assert!(values(key).contains(&value), "{key}={value}");
    }
    // The server has no reload (no SIGHUP handler): a restart applies new settings.
    assert!(values("ExecReload").is_empty());
}

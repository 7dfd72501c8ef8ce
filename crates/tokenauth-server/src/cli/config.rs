//! The configuration file (`--config FILE`, `TOKENAUTH_CONFIG`) and `config show`.
//!
//! The file is TOML whose keys are the options' long names: `tokenauth`'s own at the top
//! level, a command's in a table named after it (`[serve]`, `[token]`, `[token.purge]`).
//! clap's definition stays the one source of names, help and validation: each key is
//! looked up in it, each value checked by the option's own parser, and then set as the
//! option's default, so that clap's order, command line then environment variable then
//! default, gives command line > environment > file > built-in default.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::PathBuf;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, CommandFactory, FromArgMatches};

use super::{Cli, Command, ConfigCommand};

/// The option that names the file, and its variable.
const CONFIG: &str = "config";
const CONFIG_ENV: &str = "TOKENAUTH_CONFIG";

/// What replaces a password in `config show`.
const MASK: &str = "***";

/// Parses the command line `argv` (its first item the program's name) with the
/// configuration file it names (`--config`, else `TOKENAUTH_CONFIG`), as the binary
/// does. `config show` gets the effective configuration to print.
///
/// A usage error, the file's included (unreadable, not TOML, an unknown key, a bad
/// value), is a [`clap::Error`]: [`clap::Error::exit`] prints it and exits with 2.
pub fn parse_from<I, T>(argv: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let argv: Vec<OsString> = argv.into_iter().map(Into::into).collect();
    let file = match config_path(&argv) {
        Some(path) => Some(File::read(path)?),
        None => None,
    };
    let mut command = Cli::command();
    if let Some(file) = &file {
        command = apply(command, &file.table, &[], file)?;
    }
    // Kept unbuilt for `config show`: each command with only the options it declares.
    let defaults = command.clone();
    let matches = command.try_get_matches_from_mut(&argv)?;
    let mut cli = Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut command))?;
    if let Command::Config(ConfigCommand::Show { effective }) = &mut cli.command {
        *effective = Some(show(&defaults, &matches, file.as_ref()));
    }
    Ok(cli)
}

/// The file `--config` names in `argv` (the last one, before any `--`), else
/// `TOKENAUTH_CONFIG`. Read before clap parses, since the file changes the definition
/// clap parses with; clap then checks `--config` like any option.
fn config_path(argv: &[OsString]) -> Option<PathBuf> {
    let mut path = None;
    let mut args = argv.iter().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--" {
            break;
        } else if arg == "--config" {
            path = args.next().map(PathBuf::from);
        } else if let Some(value) = arg.to_str().and_then(|a| a.strip_prefix("--config=")) {
            path = Some(PathBuf::from(value));
        }
    }
    path.or_else(|| {
        std::env::var_os(CONFIG_ENV)
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
    })
}

/// A configuration file, read.
struct File {
    path: PathBuf,
    table: toml::Table,
}

impl File {
    fn read(path: PathBuf) -> Result<Self, clap::Error> {
        let text = std::fs::read_to_string(&path).map_err(|e| {
            usage(format!(
                "cannot read the configuration file {}: {e}",
                path.display()
            ))
        })?;
        let table = text.parse::<toml::Table>().map_err(|e| {
            // Where and what, without the line itself: it may hold a password.
            let at = e.span().map_or_else(String::new, |span| {
                let line = text[..span.start].matches('\n').count() + 1;
                format!(", line {line}")
            });
            usage(format!(
                "{}{at}: not valid TOML: {}",
                path.display(),
                e.message().trim_end()
            ))
        })?;
        Ok(Self { path, table })
    }

    /// An error about `key` (its dotted path) in this file.
    fn error(&self, key: &str, what: impl std::fmt::Display) -> clap::Error {
        usage(format!("{}: key `{key}`: {what}", self.path.display()))
    }

    /// The file's value for `key` of the command at `path` (`["token"]`), if it has one.
    fn has(&self, path: &[&str], key: &str) -> bool {
        let mut table = &self.table;
        for name in path {
            match table.get(*name) {
                Some(toml::Value::Table(inner)) => table = inner,
                _ => return false,
            }
        }
        table.contains_key(key)
    }
}

fn usage(message: String) -> clap::Error {
    clap::Error::raw(ErrorKind::InvalidValue, format!("{message}\n"))
}

/// `command` (at `path` below `tokenauth`) with the values of `table` as its options'
/// defaults, and those of its subtables as its subcommands'.
fn apply(
    mut command: clap::Command,
    table: &toml::Table,
    path: &[&str],
    file: &File,
) -> Result<clap::Command, clap::Error> {
    for (key, value) in table {
        let mut key_path = path.to_vec();
        key_path.push(key);
        let dotted = key_path.join(".");
        if key == CONFIG && path.is_empty() {
            return Err(file.error(&dotted, "the file cannot name another file"));
        }
        if let Some(subcommand) = command.find_subcommand(key).cloned() {
            let toml::Value::Table(inner) = value else {
                return Err(file.error(
                    &dotted,
                    format_args!("`{dotted}` is a command: its options go in a [{dotted}] table"),
                ));
            };
            let subcommand = apply(subcommand, inner, &key_path, file)?;
            command = command.mut_subcommand(key, |_| subcommand);
            continue;
        }
        let Some(arg) = command
            .get_arguments()
            .find(|arg| !arg.is_positional() && arg.get_long() == Some(key.as_str()))
        else {
            return Err(file.error(&dotted, unknown(key, path)));
        };
        if !arg.get_action().takes_values() {
            return Err(file.error(&dotted, "a flag: give it on the command line"));
        }
        let values = values_of(arg, value).map_err(|what| file.error(&dotted, what))?;
        check(arg, &values).map_err(|what| file.error(&dotted, what))?;
        // Not `required` any more: clap counts only given values, not defaults, for that.
        let id = arg.get_id().clone();
        command = command.mut_arg(id, |arg| arg.default_values(values).required(false));
    }
    Ok(command)
}

/// Why `key` is unknown at `path`, and where it belongs if it is another command's.
fn unknown(key: &str, path: &[&str]) -> String {
    let here = if path.is_empty() {
        "at the top level".to_owned()
    } else {
        format!("in [{}]", path.join("."))
    };
    let mut owners = Vec::new();
    owners_of(&Cli::command(), key, &mut Vec::new(), &mut owners);
    if owners.is_empty() {
        format!("no option is named `{key}` {here}")
    } else {
        let tables: Vec<String> = owners
            .iter()
            .map(|owner| {
                if owner.is_empty() {
                    "the top level".to_owned()
                } else {
                    format!("[{owner}]")
                }
            })
            .collect();
        format!(
            "no option is named `{key}` {here}; it is one of {}",
            tables.join(", ")
        )
    }
}

/// The tables (dotted command paths) whose command declares the option `key`.
fn owners_of(command: &clap::Command, key: &str, path: &mut Vec<String>, owners: &mut Vec<String>) {
    if command
        .get_arguments()
        .any(|arg| !arg.is_positional() && arg.get_long() == Some(key))
    {
        owners.push(path.join("."));
    }
    for subcommand in command.get_subcommands() {
        path.push(subcommand.get_name().to_owned());
        owners_of(subcommand, key, path, owners);
        path.pop();
    }
}

/// A TOML value as the option's command-line values.
fn values_of(arg: &Arg, value: &toml::Value) -> Result<Vec<String>, String> {
    let scalar = |value: &toml::Value| match value {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        _ => Err("expected a string, an integer or a boolean".to_owned()),
    };
    match value {
        toml::Value::Array(items) if matches!(arg.get_action(), ArgAction::Append) => {
            items.iter().map(scalar).collect()
        }
        toml::Value::Array(_) => Err("takes one value, not an array".to_owned()),
        value => Ok(vec![scalar(value)?]),
    }
}

/// Checks `values` with the option's own parser, as if given on the command line.
fn check(arg: &Arg, values: &[String]) -> Result<(), String> {
    let long = arg.get_long().expect("options have a long name").to_owned();
    let probe = Arg::new("value")
        .long(long.clone())
        .action(ArgAction::Append)
        .value_parser(arg.get_value_parser().clone());
    let argv = values
        .iter()
        .flat_map(|value| [format!("--{long}"), value.clone()]);
    let result = clap::Command::new("check")
        .no_binary_name(true)
        .arg(probe)
        .try_get_matches_from(argv);
    let Err(error) = result else { return Ok(()) };
    // A secret's value is never repeated (its parsers refuse nothing today).
    let value = match error.get(ContextKind::InvalidValue) {
        Some(ContextValue::String(value)) if !arg.is_hide_env_values_set() => format!(" {value:?}"),
        _ => String::new(),
    };
    let why = match (error.kind(), std::error::Error::source(&error)) {
        (ErrorKind::ValueValidation, Some(source)) => format!(": {source}"),
        (ErrorKind::InvalidValue, _) => match error.get(ContextKind::ValidValue) {
            Some(ContextValue::Strings(valid)) => format!("; possible values: {}", valid.join(", ")),
            _ => String::new(),
        },
        _ => String::new(),
    };
    Err(format!("invalid value{value}{why}"))
}

/// The effective configuration as TOML: the options of `tokenauth` and `serve`, and
/// of each other command that the environment or the file sets, with their values and
/// where each came from, secrets masked. `defaults` is the definition with the file's
/// values as defaults; `tokenauth`'s own options are those `matches` parsed, command
/// line included, the commands' have only the environment, the file and the defaults.
fn show(defaults: &clap::Command, matches: &ArgMatches, file: Option<&File>) -> String {
    let mut out = String::from(
        "# The effective configuration: each value from the command line, its environment\n\
         # variable, the configuration file or the default, in that order of precedence.\n",
    );
    match file {
        Some(file) => {
            let _ = writeln!(out, "# Configuration file: {}", file.path.display());
        }
        None => out.push_str("# Configuration file: none (--config, TOKENAUTH_CONFIG)\n"),
    }
    // In the order of the definition (setting a default moves an option to the end).
    let declared = Cli::command();
    let mut queue = vec![(Vec::new(), &declared)];
    while let Some((path, command)) = queue.pop() {
        let Some(current) = path
            .iter()
            .try_fold(defaults, |command, name| command.find_subcommand(name))
        else {
            continue;
        };
        let lines = if path.is_empty() {
            table(command, current, matches, &path, file)
        } else {
            // Only the environment and the defaults: nothing to require, no command line.
            let matches = current
                .clone()
                .ignore_errors(true)
                .no_binary_name(true)
                .try_get_matches_from(Vec::<OsString>::new())
                .unwrap_or_default();
            table(command, current, &matches, &path, file)
        };
        if let Some(lines) = lines.filter(|table| path.is_empty() || path == ["serve"] || table.given) {
            match path.is_empty() {
                true => out.push('\n'),
                false => {
                    let _ = writeln!(out, "\n[{}]", path.join("."));
                }
            }
            out.push_str(&lines.text);
        }
        let below: Vec<_> = command.get_subcommands().collect();
        for subcommand in below.into_iter().rev() {
            let mut sub_path = path.clone();
            sub_path.push(subcommand.get_name());
            queue.push((sub_path, subcommand));
        }
    }
    out
}

/// One command's table of [`show`].
struct Table {
    text: String,
    /// Whether a value comes from elsewhere than the defaults.
    given: bool,
}

/// The table of `declared`, as `current` (its definition with the file's defaults) and
/// `matches` resolve it: each option that takes a value, set or not; `None` if it has
/// none set.
fn table(
    declared: &clap::Command,
    current: &clap::Command,
    matches: &ArgMatches,
    path: &[&str],
    file: Option<&File>,
) -> Option<Table> {
    let mut table = Table {
        text: String::new(),
        given: false,
    };
    let mut any = false;
    for arg in declared.get_arguments() {
        let id = arg.get_id().as_str();
        let Some(long) = arg.get_long() else { continue };
        if arg.is_positional() || !arg.get_action().takes_values() || id == CONFIG {
            continue;
        }
        let arg = current.get_arguments().find(|a| a.get_id() == id).unwrap_or(arg);
        let raw: Vec<String> = matches
            .try_get_raw(id)
            .ok()
            .flatten()
            .map(|values| values.map(|v| v.to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        if raw.is_empty() {
            let _ = writeln!(table.text, "# {long} = (not set)");
            continue;
        }
        any = true;
        let secret = arg.is_hide_env_values_set();
        let shown: Vec<toml::Value> = raw
            .iter()
            .map(|value| if secret { mask(value) } else { value.clone() })
            .map(|value| match value.parse::<i64>() {
                Ok(n) if n.to_string() == value => toml::Value::Integer(n),
                _ => toml::Value::String(value),
            })
            .collect();
        let value = if matches!(arg.get_action(), ArgAction::Append) {
            toml::Value::Array(shown)
        } else {
            shown.into_iter().next().expect("one value at least")
        };
        let source = match matches.value_source(id) {
            Some(ValueSource::CommandLine) => "command line".to_owned(),
            Some(ValueSource::EnvVariable) => arg.get_env().map_or_else(
                || "environment".to_owned(),
                |env| env.to_string_lossy().into_owned(),
            ),
            _ if file.is_some_and(|file| file.has(path, long)) => "file".to_owned(),
            _ => "default".to_owned(),
        };
        table.given |= source != "default";
        let _ = writeln!(table.text, "{long} = {value}  # {source}");
    }
    any.then_some(table)
}

/// A URL with its password (`USER:PASSWORD@`) and any `password` query parameter
/// (`?password=`, `sslpassword=`) replaced by `***`; a value that is no URL, whole.
fn mask(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return MASK.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:{MASK}@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let (query, fragment) = query.split_once('#').map_or((query, None), |(q, f)| (q, Some(f)));
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.to_ascii_lowercase().contains("password") => {
                        format!("{key}={MASK}")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            let fragment = fragment.map_or_else(String::new, |f| format!("#{f}"));
            format!("{path}?{}{fragment}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::mask;

    #[test]
    fn passwords_are_masked_and_the_rest_kept() {
        for (url, masked) in [
            (
                "postgres://app:hunter2@db:5432/app?sslmode=verify-full",
                "postgres://app:***@db:5432/app?sslmode=verify-full",
            ),
            (
                "postgres://app@db/app?password=hunter2&sslmode=require",
                "postgres://app@db/app?password=***&sslmode=require",
            ),
            (
                "postgres://app@db/app?sslpassword=hunter2#x",
                "postgres://app@db/app?sslpassword=***#x",
            ),
            ("postgres://a:b:c@d@host/db", "postgres://a:***@host/db"),
            (
                "redis+cluster://:hunter2@h1:7000,h2:7000",
                "redis+cluster://:***@h1:7000,h2:7000",
            ),
            (
                "sqlite:///var/lib/tokenauth/tokenauth.db",
                "sqlite:///var/lib/tokenauth/tokenauth.db",
            ),
            ("sqlite://tokenauth.db", "sqlite://tokenauth.db"),
            ("hunter2", "***"),
        ] {
            assert_eq!(mask(url), masked, "{url}");
        }
    }
}

//! What a new operator trips over on the command line (issue 19, item 8): a bare number
//! where a duration is expected, a zero timeout, a switch that is neither on nor off.

use clap::Parser;
use tokenauth_server::cli::Cli;

use crate::common::tokenauth;

/// The parse error clap prints for `tokenauth ARGS`, or `None` if they parse.
fn refusal(args: &[&str]) -> Option<String> {
    Cli::try_parse_from(["tokenauth"].iter().chain(args))
        .err()
        .map(|error| error.to_string())
}

#[test]
fn a_duration_without_a_unit_is_refused_with_a_hint() {
    for args in [
        &["serve", "--lifespan", "30"][..],
        &["serve", "--store-timeout", "3"],
        &["serve", "--cache-ttl", "10"],
        &["token", "create", "alice", "--lifespan", "3600"],
        &["token", "purge", "--older-than", "7"],
    ] {
        let error = refusal(args).unwrap_or_else(|| panic!("{args:?} parsed"));
        assert!(error.contains("a duration needs a unit"), "{args:?}: {error}");
        assert!(
            error.contains(&format!("`{}s` for seconds", args[args.len() - 1])),
            "{error}"
        );
    }
    assert!(refusal(&["serve", "--lifespan", "30s"]).is_none());
    assert!(refusal(&["serve", "--lifespan", "30d", "--store-timeout", "500ms"]).is_some());
}

#[test]
fn a_zero_timeout_is_refused_under_its_own_name() {
    let error = refusal(&["serve", "--store-timeout", "0s"]).expect("refused");
    assert!(error.contains("--store-timeout"), "{error}");
    assert!(error.contains("must be longer than zero"), "{error}");
    assert!(!error.contains("lifespan"), "{error}");
}

#[test]
fn the_cache_switch_is_on_or_off_and_nothing_else() {
    assert!(refusal(&["serve", "--cache", "on"]).is_none());
    assert!(refusal(&["serve", "--cache", "off"]).is_none());
    for word in ["yes", "1", "banana", "On"] {
        let error = refusal(&["serve", "--cache", word]).unwrap_or_else(|| panic!("--cache {word} parsed"));
        assert!(
            error.contains(&format!("`{word}` is neither `on` nor `off`")),
            "{error}"
        );
    }
}

#[test]
fn the_binary_exits_2_on_a_bare_number_and_names_the_option() {
    let output = tokenauth("sqlite::memory:", &["serve", "--lifespan", "30"])
        .output()
        .expect("run tokenauth");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("'--lifespan <LIFESPAN>'"), "{stderr}");
    assert!(
        stderr.contains("a duration needs a unit: `30s` for seconds"),
        "{stderr}"
    );
}

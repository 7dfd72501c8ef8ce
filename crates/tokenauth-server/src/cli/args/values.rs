//! How option values that are easy to get wrong are read.

use tokenauth_core::Lifespan;

/// A duration option's value: a number with a unit (`30d`, `12h`, `90m`, `3s`). A bare
/// number is refused: `--lifespan 30` would be 30 seconds, and as the serving policy it
/// would expire every older token at once.
pub(super) fn duration(value: &str) -> Result<Lifespan, String> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(format!(
            "a duration needs a unit: `{value}s` for seconds, or `{value}m`, `{value}h`, `{value}d`"
        ));
    }
    value
        .parse()
        .map_err(|error: tokenauth_core::InvalidLifespan| match error {
            tokenauth_core::InvalidLifespan::NotPositive => "must be longer than zero".to_owned(),
            tokenauth_core::InvalidLifespan::TooLong => "can be at most 100 years".to_owned(),
            tokenauth_core::InvalidLifespan::NotWholeSeconds => {
                "must be a whole number of seconds".to_owned()
            }
            other => other.to_string(),
        })
}

/// A switch's value: `on` or `off` (or a configuration file's TOML boolean, which
/// arrives as `true` or `false`); `yes`, `1`, `banana` are refused alike.
pub(super) fn on_off(value: &str) -> Result<bool, String> {
    match value {
        "on" | "true" => Ok(true),
        "off" | "false" => Ok(false),
        other => Err(format!("`{other}` is neither `on` nor `off`")),
    }
}

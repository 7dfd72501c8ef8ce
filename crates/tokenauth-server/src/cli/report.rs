//! An error as the binary prints it: the message and each cause it does not already
//! name, so a chain whose links repeat their source's text (sqlx's errors, and every
//! `#[error(transparent)]` wrapper) names the cause once.

use std::error::Error;

/// `error` and its causes, joined with `: `, each cause left out whose text the line
/// already holds.
pub fn report(error: &dyn Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = cause.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error with a message and an optional source.
    #[derive(Debug)]
    struct Link(&'static str, Option<Box<Link>>);

    impl std::fmt::Display for Link {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Error for Link {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref().map(|link| link as &(dyn Error + 'static))
        }
    }

    fn chain(messages: &[&'static str]) -> Link {
        messages
            .iter()
            .rev()
            .fold(None, |source, message| Some(Link(message, source.map(Box::new))))
            .unwrap()
    }

    #[test]
    fn a_cause_the_message_already_names_is_printed_once() {
        let error = chain(&[
            "database error",
            "error returned from database: password authentication failed for user \"postgres\"",
            "password authentication failed for user \"postgres\"",
        ]);
        assert_eq!(
            report(&error),
            "database error: error returned from database: password authentication failed for user \"postgres\""
        );
    }

    #[test]
    fn distinct_causes_are_all_printed_in_order() {
        let error = chain(&["cannot listen on 127.0.0.1:80", "Permission denied (os error 13)"]);
        assert_eq!(
            report(&error),
            "cannot listen on 127.0.0.1:80: Permission denied (os error 13)"
        );
        assert_eq!(report(&chain(&["alone"])), "alone");
    }

    #[test]
    fn a_transparent_wrapper_adds_nothing() {
        let error = chain(&["no user named \"bob\"", "no user named \"bob\""]);
        assert_eq!(report(&error), "no user named \"bob\"");
    }
}

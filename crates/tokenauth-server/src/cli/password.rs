//! Reading a password: the first line of standard input, or twice at the terminal.

use std::io::BufRead;

use super::CliError;

/// The first line of `input`, without its line ending (`\n` or `\r\n`).
pub(super) fn password_from(input: &mut impl BufRead) -> Result<String, CliError> {
    let mut line = String::new();
    if input.read_line(&mut line)? == 0 {
        return Err(CliError::Password("no password on standard input"));
    }
    if line.ends_with('\n') {
        line.pop();
        if line.ends_with('\r') {
            line.pop();
        }
    }
    non_empty(line)
}

pub(super) fn password_from_terminal() -> Result<String, CliError> {
    let password = rpassword::prompt_password("Password: ")?;
    if rpassword::prompt_password("Password (again): ")? != password {
        return Err(CliError::Password("the passwords do not match"));
    }
    non_empty(password)
}

fn non_empty(password: String) -> Result<String, CliError> {
    if password.is_empty() {
        Err(CliError::Password("the password must not be empty"))
    } else {
        Ok(password)
    }
}

//! PostgreSQL's statements: it reads every shared one ([`Statements`]' and
//! [`Returning`]'s defaults) as written.

use sqlx::Postgres;

use crate::statements::{Returning, Statements};

impl Statements for Postgres {}

impl Returning for Postgres {}

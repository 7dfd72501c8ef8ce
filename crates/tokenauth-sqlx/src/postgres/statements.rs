//! PostgreSQL's statements: it reads every shared one ([`Statements`]' defaults) as
//! written.

use sqlx::Postgres;

use crate::statements::Statements;

impl Statements for Postgres {}

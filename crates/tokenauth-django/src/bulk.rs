//! Core's bulk traits, through their defaults: a record at a time through the store's
//! compare-and-swap, a user at a time through [`UserAdmin::create_user`]. So the
//! store and the directory fit any program written for tokenauth's own backends
//! (whose bulk commands a program may still refuse on Django's tables, as the
//! `tokenauth` server does); a record DRF's (or knox's) table cannot hold is refused as by
//! [`commit`](tokenauth_core::store::TokenStore::commit).
//!
//! [`UserAdmin::create_user`]: tokenauth_core::store::UserAdmin::create_user

use tokenauth_core::store::{TokenImport, UserImport};

use crate::dialect::Execute;
use crate::knox::KnoxStore;
use crate::{DjangoStore, DjangoUserDirectory};

impl<DB: Execute> TokenImport for DjangoStore<DB> {}

impl<DB: Execute> TokenImport for KnoxStore<DB> {}

impl<DB: Execute> UserImport for DjangoUserDirectory<DB> {}

//! One module per family of subcommands.

pub mod account;
pub mod admin;
pub mod catalog;
pub mod catalog_sync;
pub mod chat;
pub mod keys;
pub mod login;
pub mod models;

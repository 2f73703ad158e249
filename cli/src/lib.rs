//! The `private-uploads` command: [`commands`] holds what each subcommand does, [`local`]
//! the local stack behind `up` (one file per AWS stand-in), and [`keys`] the key pairs both
//! use. The integration tests start the same local stack.

pub mod commands;
pub mod keys;
pub mod local;

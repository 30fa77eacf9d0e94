//! `<binary> --print-env`: every environment variable the binary reads, one name per line,
//! then exit 0. The names come from the clap command itself (each argument's `env`, in the
//! command and its subcommands) plus the logging variables [`crate::init_tracing`] reads, so
//! the list cannot drift from the code; the deployment validators (`k8s/`, `compose/`) read
//! it instead of guessing names.

use std::{collections::BTreeSet, io::Write as _};

use clap::{Command, Parser};

/// The flag that prints the list.
pub const PRINT_ENV_FLAG: &str = "--print-env";
/// Variables read outside clap: the log filter and format ([`crate::init_tracing`]).
pub const LOGGING_ENV_VARS: [&str; 2] = ["LOG_FORMAT", "RUST_LOG"];

/// Every environment variable `command` and its subcommands read, sorted, each once, with
/// [`LOGGING_ENV_VARS`].
pub fn env_vars(command: &Command) -> Vec<String> {
    fn collect(command: &Command, names: &mut BTreeSet<String>) {
        let own = command.get_arguments().filter_map(|arg| arg.get_env());
        names.extend(own.map(|name| name.to_string_lossy().into_owned()));
        for subcommand in command.get_subcommands() {
            collect(subcommand, names);
        }
    }
    let mut names = LOGGING_ENV_VARS.map(str::to_owned).into_iter().collect();
    collect(command, &mut names);
    names.into_iter().collect()
}

/// Parses the command line into `C` as `C::parse()` does; `<binary> --print-env` alone
/// prints [`env_vars`] and exits 0 before anything else is parsed, so a bad value in the
/// environment cannot stop the listing.
pub fn parse_args<C: Parser>() -> C {
    let mut args = std::env::args_os().skip(1);
    if args.next().is_some_and(|arg| arg == PRINT_ENV_FLAG) && args.next().is_none() {
        let mut out = std::io::stdout().lock();
        let written = env_vars(&C::command())
            .iter()
            .try_for_each(|name| writeln!(out, "{name}"))
            .and_then(|()| out.flush());
        // A list cut short (closed pipe, full disk) must not look complete.
        std::process::exit(i32::from(written.is_err()));
    }
    C::parse()
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Subcommand};

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: Option<Sub>,
        #[arg(long, env = "APP_LISTEN")]
        listen: Option<String>,
        #[arg(long)]
        verbose: bool,
    }

    #[derive(Debug, Subcommand)]
    enum Sub {
        Keygen {
            #[arg(long, env = "APP_KEY")]
            key: String,
            #[arg(long, env = "APP_LISTEN")]
            listen: Option<String>,
        },
    }

    #[test]
    fn env_vars_walk_arguments_and_subcommands_once_each() {
        assert_eq!(
            env_vars(&Cli::command()),
            ["APP_KEY", "APP_LISTEN", "LOG_FORMAT", "RUST_LOG"]
        );
    }
}

//! The edges of a service binary: parsing its command line (with `--print-env`) and turning
//! its outcome into an exit status.
//!
//! `<binary> --print-env` prints every environment variable the binary reads, one name per
//! line, and exits 0. The list is derived from the clap command itself (every argument's
//! `env` in the command and its subcommands) plus the logging variables, so it cannot drift
//! from what the binary really reads; deployment validators (`k8s/`, `compose/`) read it.

use std::{collections::BTreeSet, ffi::OsString, fmt, io::Write as _, process::ExitCode};

use clap::{Args, Command, Parser};

/// The flag that lists the environment variables.
pub const PRINT_ENV_FLAG: &str = "--print-env";

/// `--print-env`, flattened into every binary's command line so `--help` shows it and clap
/// refuses it next to other arguments. [`parse_args`] answers it before anything is parsed,
/// so a bad value in the environment cannot stop the listing.
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct PrintEnv {
    /// Print the name of every environment variable this binary reads, one per line, and
    /// exit.
    #[arg(id = "print_env", long = "print-env", exclusive = true)]
    _requested: bool,
}

/// Every environment variable `command` (or one of its subcommands) reads through an
/// argument's `env`, and the logging variables ([`crate::telemetry::ENV_VARS`]), sorted,
/// each once: what `<binary> --print-env` prints.
pub fn env_vars(command: &Command) -> Vec<String> {
    fn collect(command: &Command, names: &mut BTreeSet<String>) {
        let own = command.get_arguments().filter_map(|arg| arg.get_env());
        names.extend(own.map(|name| name.to_string_lossy().into_owned()));
        for subcommand in command.get_subcommands() {
            collect(subcommand, names);
        }
    }
    let mut names = crate::telemetry::ENV_VARS
        .map(str::to_owned)
        .into_iter()
        .collect();
    collect(command, &mut names);
    names.into_iter().collect()
}

/// Parses the process's command line into `C` (exiting with clap's message on an error, as
/// `C::parse()` does). `<binary> --print-env` alone prints [`env_vars`] and exits 0
/// (1 if the list could not be written whole).
pub fn parse_args<C: Parser>() -> C {
    if is_print_env(std::env::args_os()) {
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

fn is_print_env(args: impl IntoIterator<Item = OsString>) -> bool {
    let mut args = args.into_iter().skip(1);
    args.next().is_some_and(|arg| arg == PRINT_ENV_FLAG) && args.next().is_none()
}

/// The exit status of a binary that ran to `result`: success, or one line `binary: error` on
/// stderr and a failure status.
pub fn exit_code<E: fmt::Display>(binary: &str, result: Result<(), E>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{binary}: {error}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Subcommand;

    use super::*;

    #[derive(Debug, Parser)]
    #[command(args_conflicts_with_subcommands = true)]
    struct Cli {
        #[command(subcommand)]
        command: Option<Sub>,
        #[arg(long, env = "APP_LISTEN")]
        listen: Option<String>,
        #[arg(long)]
        verbose: bool,
        #[command(flatten)]
        print_env: PrintEnv,
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
            env_vars(&<Cli as clap::CommandFactory>::command()),
            ["APP_KEY", "APP_LISTEN", "LOG_FORMAT", "RUST_LOG"]
        );
    }

    #[test]
    fn print_env_is_recognised_only_alone_and_clap_refuses_it_with_others() {
        let args = |list: &[&str]| list.iter().map(OsString::from).collect::<Vec<_>>();
        assert!(is_print_env(args(&["app", "--print-env"])));
        assert!(!is_print_env(args(&["app"])));
        assert!(!is_print_env(args(&["app", "--print-env", "--verbose"])));
        assert!(!is_print_env(args(&["app", "--verbose", "--print-env"])));
        assert!(Cli::try_parse_from(["app", "--print-env", "--verbose"]).is_err());
        assert!(
            Cli::try_parse_from(["app", "--help"])
                .is_err_and(|e| e.to_string().contains("--print-env"))
        );
    }
}

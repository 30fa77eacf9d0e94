//! The identity service binary: parse the configuration, start logging, serve until SIGTERM
//! or Ctrl-C. `identity rotate-key` makes a new signing key in the data directory.

use std::process::ExitCode;

use identity::{Application, Cli, Command};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = zte_runtime::cli::parse_args::<Cli>();
    zte_runtime::init_tracing();
    let result = match cli.command {
        Some(Command::RotateKey(args)) => {
            identity::rotate(&args.data_dir, args.key_bits, zte_auth::unix_now())
                .map(|kid| {
                    println!("new active signing key: {kid}");
                })
                .map_err(identity::IdentityError::from)
        }
        None => match Application::build(cli.serve).await {
            Ok(app) => app.run_until(zte_runtime::shutdown_signal()).await,
            Err(error) => Err(error),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One clear line, non-zero status.
            eprintln!("identity: {error}");
            ExitCode::FAILURE
        }
    }
}

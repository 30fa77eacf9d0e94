//! The identity service binary: parse the configuration, start logging, serve until SIGTERM
//! or Ctrl-C. `identity rotate-key` makes a new signing key in the data directory,
//! `identity revoke-key KID` removes a compromised one;
//! `identity --print-env` lists the environment variables it reads.

use std::process::ExitCode;

use identity::{Application, Cli, Command, IdentityError};

#[tokio::main]
async fn main() -> ExitCode {
    let cli: Cli = zte_runtime::parse_args();
    zte_runtime::init_tracing();
    let result = match cli.command {
        Some(Command::RotateKey(args)) => match args.key_spec() {
            Ok(spec) => identity::rotate(&args.data_dir, spec, zte_auth::unix_now())
                .map(|kid| println!("new active signing key: {kid} ({})", spec.algorithm()))
                .map_err(IdentityError::from),
            Err(error) => Err(IdentityError::Config(error.to_string())),
        },
        Some(Command::RevokeKey(args)) => match args.new_key.key_spec() {
            Ok(spec) => identity::revoke(
                &args.new_key.data_dir,
                &args.kid,
                spec,
                zte_auth::unix_now(),
            )
            .map(|revoked| match revoked.new_active {
                Some(new) => println!("revoked {}; new active signing key: {new}", revoked.kid),
                None => println!("revoked {}", revoked.kid),
            })
            .map_err(IdentityError::from),
            Err(error) => Err(IdentityError::Config(error.to_string())),
        },
        None => match Application::build(cli.serve).await {
            Ok(app) => app.run_until(zte_runtime::shutdown_signal()).await,
            Err(error) => Err(error),
        },
    };
    zte_runtime::exit_code("identity", result)
}

//! The orders service binary: parse config, init tracing, build, run until SIGTERM/Ctrl-C;
//! or `orders keygen` to create the client key pair.

use std::process::ExitCode;

use orders::{Application, Cli, Command};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = zte_runtime::cli::parse_args::<Cli>();
    zte_runtime::init_tracing();
    if let Some(Command::Keygen(args)) = cli.command {
        return match orders::keygen(&args) {
            Ok(kid) => {
                println!(
                    "client key {} (kid {kid}); public JWK written to {}",
                    args.client_key.display(),
                    args.public_jwk.display()
                );
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("orders keygen: {error}");
                ExitCode::FAILURE
            }
        };
    }
    let app = match Application::build(cli.serve).await {
        Ok(app) => app,
        Err(error) => {
            eprintln!("orders: {error}");
            return ExitCode::FAILURE;
        }
    };
    match app.run_until(zte_runtime::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("orders: {error}");
            ExitCode::FAILURE
        }
    }
}

//! The orders service binary: parse config, init tracing, build, run until SIGTERM/Ctrl-C;
//! `orders keygen` to create the client key pair; `orders --print-env` to list the
//! environment variables it reads.

use std::process::ExitCode;

use orders::{Application, Cli, Command};

#[tokio::main]
async fn main() -> ExitCode {
    let cli: Cli = zte_runtime::parse_args();
    zte_runtime::init_tracing();
    if let Some(Command::Keygen(args)) = cli.command {
        let result = orders::keygen(&args).map(|kid| {
            println!(
                "client key {} (kid {kid}); public JWK written to {}",
                args.files.client_key.display(),
                args.files.public_jwk.display()
            );
        });
        return zte_runtime::exit_code("orders keygen", result);
    }
    let app = Application::build(cli.serve).await;
    let served = async { app?.run_until(zte_runtime::shutdown_signal()).await };
    zte_runtime::exit_code("orders", served.await)
}

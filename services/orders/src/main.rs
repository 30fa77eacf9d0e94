//! The orders service binary: parse the configuration, then serve until SIGTERM/Ctrl-C
//! (or run `orders keygen`).

use clap::Parser as _;
use orders::{Application, Cli, Command};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    zte_runtime::init_tracing();
    if let Some(Command::Keygen(args)) = cli.command {
        let kid = orders::keygen(&args)?;
        println!(
            "client key {} (kid {kid}); public JWK written to {}",
            args.client_key.display(),
            args.public_jwk.display()
        );
        return Ok(());
    }
    let app = Application::build(cli.serve).await?;
    app.run_until(zte_runtime::shutdown_signal()).await?;
    Ok(())
}

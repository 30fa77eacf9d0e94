//! The payments service binary: parse config, init tracing, build, run until SIGTERM/Ctrl-C;
//! `payments --print-env` to list the environment variables it reads.

use std::process::ExitCode;

use payments::{Application, Cli};

#[tokio::main]
async fn main() -> ExitCode {
    let cli: Cli = zte_runtime::parse_args();
    zte_runtime::init_tracing();
    let app = Application::build(cli.serve).await;
    let served = async { app?.run_until(zte_runtime::shutdown_signal()).await };
    zte_runtime::exit_code("payments", served.await)
}

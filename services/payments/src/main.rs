//! The payments service binary: parse config, init tracing, build, run until SIGTERM/Ctrl-C.

use std::process::ExitCode;

use payments::{Application, PaymentsConfig};

#[tokio::main]
async fn main() -> ExitCode {
    let config = zte_runtime::cli::parse_args::<PaymentsConfig>();
    zte_runtime::init_tracing();
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(error) => {
            eprintln!("payments: {error}");
            return ExitCode::FAILURE;
        }
    };
    match app.run_until(zte_runtime::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("payments: {error}");
            ExitCode::FAILURE
        }
    }
}

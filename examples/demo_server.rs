//! The demo MCP server (`mcp_hub::demo`) as a binary of its own, for the tests and the benchmark:
//! `demo_server [--name NAME] [--only-2026] [--tools N]`. The hub ships the same server as
//! `mcp-hub demo-server`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    match mcp_hub::demo::run(std::env::args().skip(1)).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo_server: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

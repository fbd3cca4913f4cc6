//! The `mcp-hub` binary: parse the command line, run (which starts logging once it has read the config), map the outcome to an exit code.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = mcp_hub::cli::Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let code = rt.block_on(mcp_hub::cli::run(cli));
    rt.shutdown_timeout(std::time::Duration::from_millis(500));
    std::process::ExitCode::from(code)
}

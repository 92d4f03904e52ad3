use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use eb_transport::{SystemClock, TokioNet};
use executionbackup::config::{self, Cli, LogFormat};
use executionbackup::startup::EXIT_CONFIG;
use executionbackup::{app, dev, malloc_tuning};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    // Before any thread starts: large bodies go back to the kernel when freed.
    malloc_tuning::bound_large_blocks();
    let cli = Cli::parse();
    init_logging(&cli.log_level, cli.log_format);
    if cli.print_token {
        return print_token(&cli);
    }
    if cli.dev {
        return run_dev(&cli);
    }
    let (settings, secret, nodes) = match config::load(&cli) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("executionbackup: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("executionbackup: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(settings, secret, nodes)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => match e.downcast_ref::<app::StartError>() {
            Some(start) => {
                eprintln!("executionbackup: {start}");
                ExitCode::from(start.exit_code())
            }
            None => {
                eprintln!("executionbackup: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

fn print_token(cli: &Cli) -> ExitCode {
    let (path, flag) = if cli.admin {
        (cli.admin_jwt_secret.as_deref(), "--admin-jwt-secret")
    } else {
        (cli.jwt_secret.as_deref(), "--jwt-secret")
    };
    let Some(path) = path else {
        eprintln!("executionbackup: --print-token needs {flag}");
        return ExitCode::from(EXIT_CONFIG);
    };
    match eb_transport::JwtSecret::from_file(path) {
        Ok(secret) => {
            println!("{}", dev::fresh_token(&secret));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("executionbackup: {e}");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

#[cfg(not(feature = "dev"))]
fn run_dev(_cli: &Cli) -> ExitCode {
    eprintln!("executionbackup: {}", dev::NOT_BUILT);
    ExitCode::from(EXIT_CONFIG)
}

#[cfg(feature = "dev")]
fn run_dev(cli: &Cli) -> ExitCode {
    let settings = config::Settings::from_cli(cli);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("executionbackup: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dev::run(settings, shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("executionbackup --dev: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(
    settings: config::Settings,
    secret: eb_transport::JwtSecret,
    nodes: Vec<config::NodeConfig>,
) -> anyhow::Result<()> {
    let listen = settings.listen;
    executionbackup::server::check_fd_limit(&settings, nodes.len());
    let running = app::start(
        TokioNet,
        Arc::new(SystemClock),
        settings,
        secret,
        nodes,
        rand::random(),
    )
    .await?;
    tracing::debug!(%listen, "started");
    shutdown_signal().await;
    tracing::info!("shutting down: no new connections, finishing in-flight requests");
    tokio::spawn(async {
        shutdown_signal().await;
        tracing::warn!("second signal: exiting now");
        std::process::exit(130);
    });
    running.shutdown().await;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    biased;
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn init_logging(level: &str, format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

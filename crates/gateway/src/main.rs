//! The isogate binary: load config, bind, serve with graceful shutdown.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use isogate::config::{Config, Sources};
use isogate::{Embedded, app, build_state};

// jemalloc, configured at build time in .cargo/config.toml to give freed
// pages back within ~100 ms: a cold load of 100k items frees about as much
// as it keeps (response bodies, raw objects), which mimalloc held for as
// long as the server idled (161-182 MiB after the load, against 114 MiB
// here) and glibc kept for good (137 MiB). Same instructions per cached
// answer as mimalloc; glibc's fastbin consolidation cost 17 % of a core.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// One REST API in front of many ISO and image catalogues.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// The configuration file (layered under `ISOGATE_...` variables). With
    /// neither a file nor `ISOGATE_PROVIDERS__...` variables, the embedded
    /// demo is served.
    #[arg(long, env = "ISOGATE_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Serve the embedded demo (simulated providers), with `--config` and
    /// `ISOGATE_...` variables layered over it (to add API keys, say).
    #[arg(long, global = true)]
    demo: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve (the default).
    Serve,
    /// Validate the configuration, print the providers it would serve and
    /// where each came from, and exit.
    CheckConfig,
    /// Serve the embedded demo (the same as `--demo`).
    Demo,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let sources = Sources {
        file: cli.config.clone(),
        env: true,
        demo: cli.demo || matches!(cli.command, Some(Command::Demo)),
    };
    let (config, entries) = match Config::load(&sources) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("isogate: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    isogate::init_logging(&config.server.log_format);
    if matches!(cli.command, Some(Command::CheckConfig)) {
        // Build every adapter (simulators not started) so adapter-level errors show too.
        for entry in &entries {
            if let Err(e) = isogate::validate_entry(entry) {
                eprintln!("isogate: {e}");
                return std::process::ExitCode::from(2);
            }
        }
        // The webhook URL guard, as the server applies it at start.
        if let Err(e) = isogate::feed::check_webhook_urls(&config).await {
            eprintln!("isogate: {e}");
            return std::process::ExitCode::from(2);
        }
        let mut report = format!("config ok: {} provider(s)\n", entries.len());
        for entry in &entries {
            report.push_str(&format!(
                "  {} ({}) from {}\n",
                entry.name,
                entry.kind.as_str(),
                entry.origin
            ));
        }
        print!("{report}");
        return std::process::ExitCode::SUCCESS;
    }
    if let Err(e) = isogate::config::auth::check_listen(&config.auth, config.server.listen) {
        eprintln!("isogate: {e}");
        return std::process::ExitCode::from(2);
    }
    let served = serve(config, entries, sources).await;
    isogate::flush_logs();
    match served {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("isogate: {e}");
            std::process::ExitCode::from(1)
        }
    }
}

async fn serve(
    config: Config,
    entries: Vec<isogate::config::ProviderEntry>,
    sources: Sources,
) -> anyhow::Result<()> {
    let embedded = Embedded::start(&config.simulators, &entries).await?;
    let listen = config.server.listen;
    let state = build_state(config, &entries, &embedded)?;
    isogate::feed::start(&state).await?;
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    #[cfg(unix)]
    isogate::spawn_reload_on_sighup(state.clone(), sources, listen);
    #[cfg(not(unix))]
    let _ = sources;
    state.set_ready();
    for sim in embedded.servers() {
        tracing::info!(simulator = sim.name(), base_url = %sim.base_url(), "embedded simulator");
    }
    let names: Vec<String> = state
        .providers()
        .map(|p| format!("{} ({})", p.name, p.kind.as_str()))
        .collect();
    // A closed stdout (a supervisor that stopped reading) must not panic the server.
    let banner = format!(
        "isogate listening on http://{addr}\n  providers: {}\n  try: curl 'http://{addr}/v1/isos?per_page=5'   docs: http://{addr}/docs\n",
        names.join(", ")
    );
    isogate::flush_logs();
    let _ = std::io::Write::write_all(&mut std::io::stdout(), banner.as_bytes());
    let _ = std::io::Write::flush(&mut std::io::stdout());
    isogate::serve(listener, app(state), shutdown_signal()).await?;
    tracing::info!("shut down cleanly");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

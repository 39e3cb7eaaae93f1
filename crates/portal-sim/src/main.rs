//! `portal-sim`: serve simulated ArcGIS Online organizations until SIGINT/SIGTERM.
//!
//! Prints exactly one line on stdout when ready, the JSON of `RunningSim::ready_line()`
//! (`{"base_url", "orgs":[{id, url_key, portal_url, admin, user}]}`); everything else (logs) goes to
//! stderr, so a parent process can read the line and go.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use portal_sim::{RunningSim, SimConfig};

#[derive(Debug, Parser)]
#[command(name = "portal-sim", about = "A simulated ArcGIS Online (several organizations) on one port.")]
struct Args {
    /// Address to listen on; port 0 picks a free port (the ready line tells which).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    #[arg(long, default_value_t = 2)]
    orgs: usize,
    /// Items per org.
    #[arg(long, default_value_t = 60)]
    items: usize,
    /// Users per org.
    #[arg(long, default_value_t = 12)]
    users: usize,
    /// Groups per org.
    #[arg(long, default_value_t = 6)]
    groups: usize,
    /// Same seed, same orgs.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Delay added to every request.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Probability (0..=1) of an injected fault per request.
    #[arg(long, default_value_t = 0.0)]
    fault_rate: f64,
    /// Access-token lifetime cap in seconds.
    #[arg(long, default_value_t = 3600)]
    token_ttl_s: u64,
    /// OAuth refresh-token lifetime cap in seconds (default two weeks).
    #[arg(long, default_value_t = 14 * 24 * 3600)]
    refresh_token_ttl_s: u64,
    /// Requests per second per org before 429.
    #[arg(long)]
    rate_limit: Option<u32>,
    /// Serve HTTPS with a self-signed certificate for 127.0.0.1 and localhost.
    #[arg(long)]
    tls: bool,
    /// Write the certificate PEM here (with --tls).
    #[arg(long)]
    tls_cert_out: Option<PathBuf>,
    /// Show the OAuth approve page instead of approving at once.
    #[arg(long)]
    no_auto_approve: bool,
    /// A foreign URL some generated items name (tokens must never be sent there).
    #[arg(long)]
    foreign_service_url: Option<String>,
    /// The last N orgs are empty restore targets (only their admin and the non-admin user).
    #[arg(long, default_value_t = 0)]
    empty_orgs: usize,
    /// How long a client's item write takes to reach search, in ms (0 = at once).
    #[arg(long, default_value_t = portal_sim::index::DEFAULT_SEARCH_LAG_MS)]
    search_lag_ms: u64,
    /// Honour the X-Esri-Authorization header on POST too (default: on GET only, as documented).
    #[arg(long)]
    token_header_everywhere: bool,
    /// An operation that takes longer, e.g. `applyEdits=70000` (ms; repeatable): its requests
    /// are answered that much later, as large writes are on a real portal.
    #[arg(long = "slow-op", value_parser = parse_slow_op)]
    slow_ops: Vec<(String, u64)>,
}

fn parse_slow_op(s: &str) -> Result<(String, u64), String> {
    let (name, ms) = s.split_once('=').ok_or_else(|| format!("{s:?} is not NAME=MS, e.g. applyEdits=70000"))?;
    let ms = ms.trim().parse::<u64>().map_err(|_| format!("{ms:?} in {s:?} is not a number of milliseconds"))?;
    let name = name.trim();
    if name.is_empty() || name.contains('/') {
        return Err(format!("{name:?} is not an operation name (the last part of its path)"));
    }
    Ok((name.to_owned(), ms))
}

impl Args {
    fn into_config(self) -> SimConfig {
        SimConfig {
            listen: self.listen,
            orgs: self.orgs,
            items: self.items,
            users: self.users,
            groups: self.groups,
            seed: self.seed,
            latency_ms: self.latency_ms,
            fault_rate: self.fault_rate,
            token_ttl_s: self.token_ttl_s,
            refresh_token_ttl_s: self.refresh_token_ttl_s,
            rate_limit_per_s: self.rate_limit.filter(|n| *n > 0),
            tls: self.tls,
            tls_cert_out: self.tls_cert_out,
            oauth_auto_approve: !self.no_auto_approve,
            foreign_service_url: self.foreign_service_url,
            empty_orgs: self.empty_orgs,
            search_lag_ms: self.search_lag_ms,
            token_header_everywhere: self.token_header_everywhere,
            slow_ops: self.slow_ops,
        }
    }
}

async fn shutdown_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for SIGINT")?,
        _ = term.recv() => {}
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("portal_sim=info")),
        )
        .init();
    let args = Args::parse();
    if args.tls_cert_out.is_some() && !args.tls {
        anyhow::bail!("--tls-cert-out needs --tls");
    }
    let sim = RunningSim::start(args.into_config()).await.context("starting the simulator")?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", sim.ready_line()).context("writing the ready line")?;
        out.flush().context("flushing the ready line")?;
    }
    shutdown_signal().await?;
    tracing::info!("shutting down");
    drop(sim);
    // Give the graceful shutdown a moment to close open connections.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    Ok(())
}

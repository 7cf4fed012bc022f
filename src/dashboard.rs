//! The live view (feature `dashboard`): a web page, a JSON API, server-sent
//! events and Prometheus metrics about the running system, served by the
//! process it watches, on the tokio runtime it is started from, with axum.
//!
//! The page shows, live and without reloading: this node and its peers with
//! their heartbeat round trip (with a cluster node); the supervisors with
//! their children and restart rates; the instances (name, kind, supervisor,
//! node, restarts, last crash, queue length, tables with their row counts,
//! dictionary keys, epoch), searched and paginated on the server; moves and
//! drains in progress; and a chart of messages, crashes and moves per second.
//! One instance's page shows its state only if its kind opted in with
//! [`DashboardBuilder::show_state`]. Its script and style are embedded in the
//! library: no build step, nothing fetched from elsewhere.
//!
//! ```
//! use peeper::dashboard::Dashboard;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dashboard = Dashboard::builder()
//!     .addr(([127, 0, 0, 1], 0)) // any free port
//!     .serve()
//!     .await?;
//! println!("dashboard: {}", dashboard.url());
//! dashboard.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Security
//!
//! - It listens on 127.0.0.1 unless told otherwise; an address outside
//!   loopback without a token is refused ([`DashboardError::TokenRequired`]).
//! - With a [token](DashboardBuilder::token), every view, the event stream
//!   and `/metrics` ask for it, as `Authorization: Bearer <token>` or a
//!   `token` query parameter (how the page passes it on); without it they
//!   answer 401. The page's script and style alone are open.
//! - Without a token, only requests naming a loopback host (`127.0.0.1`,
//!   `localhost`, `[::1]`) are served, so that a web page elsewhere cannot
//!   read the views through a name of its own resolving to 127.0.0.1.
//! - Actions (kill, transfer, move, drain) are on only with a token.
//! - A bad query parameter gets 400 with a message.
//!
//! # Cost
//!
//! Without the feature nothing is compiled in. With it, while no dashboard
//! runs, each message costs one relaxed load of a flag more; while one runs,
//! one add to a counter of the sending thread's own (see `dashboard/probe.rs`).
//! Pages read the shared structures the core keeps anyway: listing
//! instances messages none of them.
//!
//! # Layout
//!
//! `dashboard/probe.rs` (what the core reports, and its cost),
//! `dashboard/view.rs` (instances as rows), `dashboard/overview.rs` (the
//! sampler and the chart), `dashboard/pump.rs` (which runs the sampler only
//! while a page watches), `dashboard/listen.rs` (a cluster node's moves,
//! drains and peers), `dashboard/metrics.rs` (`/metrics`),
//! `dashboard/server.rs` (routes and the token check),
//! `dashboard/actions.rs`, `dashboard/error.rs`, and the page in
//! `dashboard/assets/`.

mod actions;
mod error;
#[cfg(feature = "cluster")]
mod listen;
mod metrics;
mod overview;
pub(crate) mod probe;
mod pump;
mod server;
mod view;

use std::fmt;
use std::fmt::Debug;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::actor::Actor;
pub use error::DashboardError;
use overview::{Heard, Sampler};
use pump::Pump;
use server::App;
use view::StateViews;

/// The port the dashboard listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 9185;

/// The live view; see the [module docs](self). Start one with
/// [`Dashboard::builder`].
#[derive(Debug)]
pub struct Dashboard(());

impl Dashboard {
    /// A builder with the defaults: `127.0.0.1:9185`, no token (views open
    /// on loopback, actions off), one sample per second.
    pub fn builder() -> DashboardBuilder {
        DashboardBuilder {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, DEFAULT_PORT)),
            token: None,
            interval: Duration::from_secs(1),
            views: StateViews::default(),
            #[cfg(feature = "cluster")]
            node: None,
        }
    }
}

/// How to start a dashboard; see [`Dashboard::builder`].
pub struct DashboardBuilder {
    addr: SocketAddr,
    token: Option<String>,
    interval: Duration,
    views: StateViews,
    #[cfg(feature = "cluster")]
    node: Option<crate::cluster::Node>,
}

impl fmt::Debug for DashboardBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DashboardBuilder")
            .field("addr", &self.addr)
            .field("token", &self.token.as_ref().map(|_| "…"))
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

impl DashboardBuilder {
    /// The address to listen on; port 0 picks a free one
    /// ([`DashboardHandle::addr`] tells which).
    pub fn addr(mut self, addr: impl Into<SocketAddr>) -> Self {
        self.addr = addr.into();
        self
    }

    /// The token every request must carry; turns the actions on.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// How often the overview is sampled and sent to open pages (default
    /// one second); at least 50 ms.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval.max(Duration::from_millis(50));
        self
    }

    /// Lets an instance's page show the state of instances of `A`,
    /// formatted with `{:#?}`. No state is shown otherwise: it may hold what
    /// an operator should not read.
    pub fn show_state<A: Actor>(mut self) -> Self
    where
        A::State: Debug,
    {
        self.views.allow::<A>();
        self
    }

    /// The cluster node this process runs: the page then shows its peers,
    /// moves and drains, and can move instances and drain the node.
    #[cfg(feature = "cluster")]
    pub fn node(mut self, node: &crate::cluster::Node) -> Self {
        self.node = Some(node.clone());
        self
    }

    /// Binds the address and serves, on the current tokio runtime, until
    /// [`DashboardHandle::shutdown`] or the handle is dropped.
    ///
    /// # Errors
    /// [`DashboardError::TokenRequired`] for an address outside loopback
    /// without a token, [`DashboardError::BadToken`] for an empty token or
    /// one a header cannot carry, [`DashboardError::Bind`] if the address
    /// cannot be bound.
    pub async fn serve(self) -> Result<DashboardHandle, DashboardError> {
        if let Some(token) = &self.token
            && (token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err(DashboardError::BadToken);
        }
        if self.token.is_none() && !self.addr.ip().is_loopback() {
            return Err(DashboardError::TokenRequired { addr: self.addr });
        }
        let bind = |source| DashboardError::Bind {
            addr: self.addr,
            source,
        };
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .map_err(bind)?;
        let addr = listener.local_addr().map_err(bind)?;
        let (stop_tx, stop) = watch::channel(false);
        let heard = Arc::new(Mutex::new(Heard::default()));
        let node_name = self.node_name();
        #[cfg(feature = "cluster")]
        if let Some(node) = &self.node {
            listen::spawn(node, &heard, &stop);
        }
        probe::started();
        let sampler = Sampler::new(
            node_name.clone(),
            self.token.is_some(),
            self.node_given(),
            self.interval,
            heard.clone(),
        );
        let (news, progress) = {
            let heard = heard.lock();
            (heard.news.clone(), heard.progress.clone())
        };
        let refresh = self.refresh(&heard);
        let pump = Arc::new(Pump::new(
            sampler,
            news,
            self.interval,
            stop.clone(),
            refresh,
        ));
        let app = Arc::new(App {
            token: self.token,
            node: node_name,
            views: self.views,
            pump,
            progress,
            stop: stop.clone(),
            exporter: metrics::Exporter::new(),
            #[cfg(feature = "cluster")]
            cluster: self.node,
        });
        let router = server::router(app);
        let mut until = stop;
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = until.wait_for(|s| *s).await;
                })
                .await;
            probe::stopped();
            if let Err(e) = served {
                tracing::error!(error = %e, "peeper: dashboard stopped");
            }
        });
        tracing::info!(%addr, "peeper: dashboard serving");
        Ok(DashboardHandle {
            addr,
            stop: stop_tx,
            task: Some(task),
        })
    }

    fn node_given(&self) -> bool {
        #[cfg(feature = "cluster")]
        return self.node.is_some();
        #[cfg(not(feature = "cluster"))]
        false
    }

    /// What the sampler learns by asking: the peers' round trips.
    fn refresh(&self, heard: &Arc<Mutex<Heard>>) -> pump::Refresh {
        #[cfg(feature = "cluster")]
        if let Some(node) = self.node.clone() {
            let heard = heard.clone();
            return Box::new(move || Box::pin(listen::ping(node.clone(), heard.clone())));
        }
        let _ = heard;
        Box::new(|| Box::pin(async {}))
    }

    /// This node's name, or `local` without a cluster node.
    fn node_name(&self) -> String {
        #[cfg(feature = "cluster")]
        if let Some(node) = &self.node {
            return node.name().to_owned();
        }
        "local".to_owned()
    }
}

/// A running dashboard. Dropping it stops the dashboard too, without
/// waiting; [`DashboardHandle::shutdown`] waits.
#[derive(Debug)]
pub struct DashboardHandle {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl DashboardHandle {
    /// The address it listens on, with the port picked if 0 was asked for.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The page's address, `http://IP:PORT/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Stops serving: open event streams end, requests under way finish,
    /// and this returns once the server is gone.
    pub async fn shutdown(mut self) {
        self.stop.send_replace(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for DashboardHandle {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

//! The API and storage listeners: accepting connections (plain or TLS), counting them,
//! cutting them, and not listening at all while an outage refuses connections.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_rustls::TlsAcceptor;

use super::{server, Shared, Target};

/// A client that connects and never finishes its TLS handshake is given up on.
const HANDSHAKE_TIME: Duration = Duration::from_secs(10);

pub(super) enum Command {
    /// Close the listening socket (the system then refuses connections); ack when done.
    Close(oneshot::Sender<()>),
    /// Listen again on this socket, bound by the caller.
    Open(std::net::TcpListener),
}

/// How the rest of the fake steers one listener.
pub(super) struct Control {
    pub port: u16,
    commands: mpsc::UnboundedSender<Command>,
    /// Bumped to cut every open connection of the listener.
    cut: watch::Sender<u64>,
    closed: AtomicBool,
}

impl Control {
    pub fn new(port: u16) -> (Control, mpsc::UnboundedReceiver<Command>) {
        let (commands, rx) = mpsc::unbounded_channel();
        let control = Control {
            port,
            commands,
            cut: watch::channel(0).0,
            closed: AtomicBool::new(false),
        };
        (control, rx)
    }

    /// Stop listening; returns once the socket is closed (the system refuses new
    /// connections from then on).
    pub async fn close(&self) {
        if !self.closed.swap(true, Ordering::SeqCst) {
            let (ack, done) = oneshot::channel();
            if self.commands.send(Command::Close(ack)).is_ok() {
                let _ = done.await;
            }
        }
    }

    /// Cut every open connection of the listener.
    pub fn cut(&self) {
        self.cut.send_modify(|n| *n += 1);
    }

    /// Listen again on the same port if refusing; blocks (briefly) until it is bound, so
    /// connections succeed as soon as this returns.
    pub fn reopen(&self) -> std::io::Result<()> {
        if !self.closed.load(Ordering::SeqCst) {
            return Ok(());
        }
        let mut tries = 0;
        let listener = loop {
            match std::net::TcpListener::bind(("127.0.0.1", self.port)) {
                Ok(l) => break l,
                Err(e) if tries >= 100 => return Err(e),
                Err(_) => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        };
        listener.set_nonblocking(true)?;
        self.closed.store(false, Ordering::SeqCst);
        self.commands
            .send(Command::Open(listener))
            .map_err(|_| std::io::Error::other("fake chief is shut down"))
    }
}

pub(super) async fn accept_loop(
    listener: TcpListener,
    target: Target,
    shared: Arc<Shared>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    tls: Option<TlsAcceptor>,
) {
    let mut listener = Some(listener);
    loop {
        let Some(open) = listener.as_ref() else {
            match commands.recv().await {
                Some(Command::Open(std)) => listener = TcpListener::from_std(std).ok(),
                Some(Command::Close(ack)) => {
                    let _ = ack.send(());
                }
                None => return,
            }
            continue;
        };
        let stream = tokio::select! {
            command = commands.recv() => {
                match command {
                    Some(Command::Close(ack)) => {
                        listener = None;
                        let _ = ack.send(());
                    }
                    Some(Command::Open(_)) => {}
                    None => return,
                }
                continue;
            }
            accepted = open.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => {
                    // e.g. too many open files: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let mut cut = shared.control(target).cut.subscribe();
        let (shared, tls) = (shared.clone(), tls.clone());
        tokio::spawn(async move {
            let counters = shared.counters(target);
            counters.bump(&counters.connections);
            let work = async {
                match tls {
                    None => server::serve(stream, target, shared.clone()).await,
                    Some(acceptor) => {
                        match tokio::time::timeout(HANDSHAKE_TIME, acceptor.accept(stream)).await {
                            Ok(Ok(stream)) => {
                                counters.bump(&counters.tls_handshakes);
                                server::serve(stream, target, shared.clone()).await
                            }
                            _ => counters.bump(&counters.tls_failures),
                        }
                    }
                }
            };
            tokio::select! {
                _ = work => {}
                _ = cut.changed() => {}
            }
        });
    }
}

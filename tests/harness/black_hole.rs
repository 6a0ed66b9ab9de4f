//! An endpoint that accepts connections and never answers: what a stalled
//! dependency looks like to a client (a connection cut while Lambda froze
//! the environment, a network path that drops packets).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

pub struct BlackHole {
    /// `http://127.0.0.1:<port>`
    pub url: String,
    connections: Arc<AtomicUsize>,
}

impl BlackHole {
    /// Listens on the current runtime: reads whatever it is sent, and
    /// answers nothing until the caller hangs up.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buffer = [0; 4096];
                    while matches!(stream.read(&mut buffer).await, Ok(n) if n > 0) {}
                });
            }
        });
        Self { url, connections }
    }

    /// How many connections it accepted, whatever was said on them.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

//! A TCP proxy that holds every request for a fixed delay before passing it
//! on, and counts the requests: with AWS's engines behind such proxies, a
//! route takes about one delay per *sequential* round trip, however many
//! calls run side by side. `benches/aws_round_trips.rs` measures the
//! budgets with it; `tests/enumeration.rs` compares known and unknown
//! numbers with it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};

pub struct DelayingProxy {
    /// `http://127.0.0.1:<port>`
    pub url: String,
    requests: Arc<AtomicUsize>,
    listener: std::sync::Mutex<Option<std::net::TcpListener>>,
    upstream: String,
    delay: Duration,
}

impl DelayingProxy {
    /// A proxy to `upstream` (`http://host:port`) holding each request for
    /// `delay`, listening but not serving yet: its URL can be handed out
    /// before any runtime exists.
    pub fn bind(upstream: &str, delay: Duration) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        Self {
            url: format!("http://{}", listener.local_addr().expect("an address")),
            requests: Arc::default(),
            listener: std::sync::Mutex::new(Some(listener)),
            upstream: upstream.trim_start_matches("http://").to_string(),
            delay,
        }
    }

    /// Serves on the current runtime, once.
    pub fn serve(&self) {
        let listener = self.listener.lock().unwrap().take().expect("served once");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let listener = TcpListener::from_std(listener).expect("a tokio listener");
        tokio::spawn(serve(
            listener,
            self.upstream.clone(),
            self.delay,
            self.requests.clone(),
        ));
    }

    /// `bind`, then `serve` on the current runtime.
    pub fn start(upstream: &str, delay: Duration) -> Self {
        let proxy = Self::bind(upstream, delay);
        proxy.serve();
        proxy
    }

    /// Requests that went through so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// Forwards connections from `listener` to `upstream`, holding each chunk a
/// client sends for `delay` (in order, without adding up), and counting a
/// request whenever a client speaks after the server has.
async fn serve(
    listener: TcpListener,
    upstream: String,
    delay: Duration,
    requests: Arc<AtomicUsize>,
) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            return;
        };
        let (upstream, requests) = (upstream.clone(), requests.clone());
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(&upstream).await else {
                return;
            };
            let (mut client_reads, mut client_writes) = client.into_split();
            let (mut server_reads, mut server_writes) = server.into_split();
            let answered = Arc::new(AtomicBool::new(true));
            let (held, mut due) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
            let new_request = answered.clone();
            let receive = async move {
                let mut buffer = vec![0; 64 * 1024];
                while let Ok(n @ 1..) = client_reads.read(&mut buffer).await {
                    if new_request.swap(false, Ordering::SeqCst) {
                        requests.fetch_add(1, Ordering::SeqCst);
                    }
                    let _ = held.send((Instant::now() + delay, buffer[..n].to_vec()));
                }
            };
            let forward = async move {
                while let Some((at, bytes)) = due.recv().await {
                    sleep_until(at).await;
                    if server_writes.write_all(&bytes).await.is_err() {
                        return;
                    }
                }
                let _ = server_writes.shutdown().await;
            };
            let answer = async move {
                let mut buffer = vec![0; 64 * 1024];
                while let Ok(n @ 1..) = server_reads.read(&mut buffer).await {
                    answered.store(true, Ordering::SeqCst);
                    if client_writes.write_all(&buffer[..n]).await.is_err() {
                        return;
                    }
                }
            };
            tokio::join!(receive, forward, answer);
        });
    }
}

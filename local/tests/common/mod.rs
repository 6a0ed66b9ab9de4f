//! The real `make run` binary, started on a free port for one test and
//! stopped when it is dropped.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};

pub struct LocalServer {
    child: Child,
    /// `http://127.0.0.1:<port>`
    pub base: String,
    /// What the server prints after its banner: one line per SMS.
    pub stdout: BufReader<ChildStdout>,
    /// The start-up banner.
    pub banner: String,
}

impl LocalServer {
    /// Starts the server with the demo client `demo` / `demo-secret` and
    /// the environment variables `env`, and waits for its banner.
    pub fn start(env: &[(&str, &str)]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_otp-local"))
            .env("PORT", port.to_string())
            .env("OTP_DEMO_CLIENT_ID", "demo")
            .env("OTP_DEMO_CLIENT_SECRET", "demo-secret")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the local server starts");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut banner = String::new();
        while !banner.contains("/_local/outbox") {
            let read = stdout.read_line(&mut banner).unwrap();
            if read == 0 {
                let _ = child.kill();
                panic!("the local server exited: {banner}");
            }
        }
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            stdout,
            banner,
        }
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

//! The real `make run` binary, started on a free port for one test and
//! stopped when it is dropped.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};

pub struct LocalServer {
    child: Child,
    /// `http://127.0.0.1:<port>`
    pub base: String,
    /// What the server prints after its banner: one line per SMS.
    pub stdout: BufReader<ChildStdout>,
    /// The start-up banner.
    pub banner: String,
    /// Its log lines (stderr), when started with [`Self::start_logging`].
    #[allow(dead_code)] // read by the test binaries that log only
    pub logs: Option<Receiver<String>>,
}

impl LocalServer {
    /// Starts the server with the demo client `demo` / `demo-secret` and
    /// the environment variables `env`, and waits for its banner.
    pub fn start(env: &[(&str, &str)]) -> Self {
        Self::launch(env, false)
    }

    /// As [`Self::start`], with its log lines read into `logs`.
    #[allow(dead_code)] // called by the test binaries that log only
    pub fn start_logging(env: &[(&str, &str)]) -> Self {
        Self::launch(env, true)
    }

    fn launch(env: &[(&str, &str)], logging: bool) -> Self {
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
            .stderr(if logging {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .spawn()
            .expect("the local server starts");
        let logs = child.stderr.take().map(|stderr| {
            let (lines, logs) = channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if lines.send(line).is_err() {
                        break;
                    }
                }
            });
            logs
        });
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
            logs,
        }
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

//! A real-binary test harness: every test gets its own HOIST_HOME and runs the built `hoist`.
#![allow(dead_code)]

pub mod docker;
pub mod slurm;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub struct Env {
    pub dir: tempfile::TempDir,
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hoist"))
}

impl Env {
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A `hoist` command with this test's store and a clean environment for stderr checks.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.args(args)
            .env("HOIST_HOME", self.home())
            .env_remove("RUST_BACKTRACE")
            .env_remove("HOIST_PROFILE")
            .env_remove("HOIST_PLATFORM")
            .env_remove("TAO_RESULTS_ROOT")
            .env_remove("HOIST_FAILPOINT")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Out {
        Out(self.cmd(args).output().expect("spawn hoist"))
    }

    pub fn spawn(&self, args: &[&str]) -> Child {
        self.cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hoist")
    }

    /// Submit detached; returns the job id.
    pub fn submit(&self, args: &[&str]) -> String {
        let mut a = vec!["run", "-d"];
        a.extend_from_slice(args);
        let o = self.run(&a);
        assert_eq!(o.code(), 0, "submit failed: {}", o.stderr());
        o.stdout().trim().to_string()
    }

    pub fn status_json(&self, job: &str) -> serde_json::Value {
        let o = self.run(&["status", job, "--json"]);
        assert_eq!(o.code(), 0, "status failed: {}", o.stderr());
        serde_json::from_str(&o.stdout()).expect("status json")
    }

    pub fn status(&self, job: &str) -> String {
        self.status_json(job)["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub fn wait_status(&self, job: &str, want: &str) {
        wait_for(&format!("job {job} to be {want}"), || {
            self.status(job) == want
        });
    }

    pub fn ls(&self) -> Vec<serde_json::Value> {
        let o = self.run(&["ls", "--json"]);
        assert_eq!(o.code(), 0, "ls failed: {}", o.stderr());
        serde_json::from_str(&o.stdout()).expect("ls json")
    }

    /// Run SQL on this test's store with the sqlite3 CLI (installed by scripts/testbed.sh).
    pub fn sql(&self, stmt: &str) {
        let ok = Command::new("sqlite3")
            .arg(self.home().join("hoist.db"))
            .arg(stmt)
            .status()
            .expect("sqlite3 is needed (scripts/testbed.sh installs it)")
            .success();
        assert!(ok, "sqlite3 failed on: {stmt}");
    }

    pub fn job_dir(&self, id: &str) -> PathBuf {
        self.home().join("jobs").join(id)
    }
}

pub struct Out(pub Output);

impl Out {
    pub fn code(&self) -> i32 {
        self.0.status.code().unwrap_or(-1)
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }
}

/// Wait for a condition. The bound only stops a hung test; it is not a performance check.
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Read a pipe until what was read contains `needle`; returns everything read. EOF first is a
/// test failure.
pub fn read_until(r: &mut impl std::io::Read, needle: &str) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&seen).contains(needle) {
        let n = r.read(&mut buf).expect("read");
        assert!(
            n > 0,
            "the stream ended before {needle:?}: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&seen).into_owned()
}

/// Run `cmd` (a submit) with `HOIST_FAILPOINT=point`, wait until it stops there, kill -9 it.
pub fn crash_at(mut cmd: Command, point: &str) {
    let mut c = cmd
        .env("HOIST_FAILPOINT", point)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hoist");
    let mut err = c.stderr.take().expect("stderr");
    read_until(&mut err, &format!("failpoint {point}"));
    c.kill().expect("kill -9");
    let _ = c.wait();
}

pub fn pid_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            let state = s
                .rfind(')')
                .and_then(|i| s[i + 1..].split_whitespace().next().map(str::to_string));
            !matches!(state.as_deref(), Some("Z") | Some("X"))
        }
        Err(_) => false,
    }
}

/// A test world that runs hoist with an environment of its own (a stand-in on PATH,
/// credentials): the JSON verbs its tests read, each through that world's command.
pub trait World {
    /// `hoist ARGS` in this world.
    fn hoist_cmd(&self, args: &[&str]) -> Command;

    /// `hoist ARGS`, run to its end.
    fn hoist(&self, args: &[&str]) -> Out {
        Out(self.hoist_cmd(args).output().expect("spawn hoist"))
    }

    /// `hoist ls --json` (its refresh asks the platform, so through this world).
    fn ls(&self) -> Vec<serde_json::Value> {
        let o = self.hoist(&["ls", "--json"]);
        assert_eq!(o.code(), 0, "ls: {}", o.stderr());
        serde_json::from_str(&o.stdout()).expect("ls json")
    }

    /// `hoist status ID --json`.
    fn status(&self, id: &str) -> serde_json::Value {
        let o = self.hoist(&["status", id, "--json"]);
        assert_eq!(o.code(), 0, "status: {}", o.stderr());
        serde_json::from_str(&o.stdout()).expect("status json")
    }

    /// Poll `status` until the job is `want`; its last answer.
    fn wait_status(&self, id: &str, want: &str) -> serde_json::Value {
        let mut last = serde_json::Value::Null;
        wait_for(&format!("job {id} to be {want}"), || {
            last = self.status(id);
            last["status"] == want
        });
        last
    }
}

pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).expect("read json")).expect("parse json")
}

/// Every file under `dir`, recursively, as bytes (to prove a secret is nowhere).
pub fn all_bytes(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(b) = std::fs::read(&p) {
                out.push((p, b));
            }
        }
    }
    out
}

/// The S3 server scripts/testbed.sh runs (s3s-fs on loopback, path-style, SigV4 checked).
pub mod s3 {
    use std::path::PathBuf;

    pub const ENDPOINT: &str = "http://127.0.0.1:9000";
    pub const ACCESS: &str = "hoist-s3-access";
    pub const SECRET: &str = "hoist-s3-secret-key";
    /// s3s-fs keeps bucket `b`'s object `k` as the file `ROOT/b/k`.
    pub const ROOT: &str = "/var/lib/hoist-testbed/s3";

    /// A fresh, empty bucket for one test. Fails with the fix when the server is not up.
    pub fn bucket() -> String {
        assert!(
            std::net::TcpStream::connect("127.0.0.1:9000").is_ok(),
            "the S3 test server does not answer on 127.0.0.1:9000: run scripts/testbed.sh"
        );
        let name = format!("t-{}", &uuid_like()[..12]);
        std::fs::create_dir_all(path(&name, "")).expect("create bucket directory");
        name
    }

    /// The file behind an object.
    pub fn path(bucket: &str, key: &str) -> PathBuf {
        PathBuf::from(ROOT).join(bucket).join(key)
    }

    /// Store an object (written where the server reads it).
    pub fn put(bucket: &str, key: &str, data: &[u8]) {
        let p = path(bucket, key);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, data).expect("write object");
    }

    /// An object's bytes, if it exists.
    pub fn get(bucket: &str, key: &str) -> Option<Vec<u8>> {
        std::fs::read(path(bucket, key)).ok()
    }

    /// Credentials and endpoint as a user exports them (TAO names).
    pub fn env(c: &mut std::process::Command) -> &mut std::process::Command {
        c.env("ACCESS_KEY", ACCESS)
            .env("SECRET_KEY", SECRET)
            .env("S3_ENDPOINT_URL", ENDPOINT)
            .env("CLOUD_REGION", "us-east-1")
            .env_remove("S3_BUCKET_NAME")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
    }

    fn uuid_like() -> String {
        let mut b = [0u8; 16];
        if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
            let _ = std::io::Read::read_exact(&mut f, &mut b);
        }
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// A .tar.gz whose members are (name, data); names are written raw, so `../x` stays.
    pub fn tgz(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut tar = Vec::new();
        for (name, data) in entries {
            let mut h = [0u8; 512];
            h[..name.len()].copy_from_slice(name.as_bytes());
            h[100..107].copy_from_slice(b"0000644");
            h[108..115].copy_from_slice(b"0000000");
            h[116..123].copy_from_slice(b"0000000");
            let size = format!("{:011o}", data.len());
            h[124..135].copy_from_slice(size.as_bytes());
            h[136..147].copy_from_slice(b"00000000000");
            h[156] = b'0';
            h[257..263].copy_from_slice(b"ustar\0");
            h[263..265].copy_from_slice(b"00");
            h[148..156].copy_from_slice(b"        ");
            let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
            h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
            tar.extend_from_slice(&h);
            tar.extend_from_slice(data);
            tar.resize(tar.len().div_ceil(512) * 512, 0);
        }
        tar.resize(tar.len() + 1024, 0);
        let mut gz = std::process::Command::new("gzip")
            .arg("-c")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("gzip");
        std::io::Write::write_all(&mut gz.stdin.take().expect("stdin"), &tar).expect("feed gzip");
        gz.wait_with_output().expect("gzip").stdout
    }
}

/// A loopback HTTP server answering with recorded responses in a real API's shapes (for
/// services that cannot run here: the Hugging Face Hub, NGC). One thread, one request per
/// connection; `route(method, path_and_query, headers)` gives (status, extra headers, body).
pub mod fake_http {
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    pub type Route = dyn Fn(&str, &str, &[(String, String)]) -> (u16, Vec<(String, String)>, Vec<u8>)
        + Send
        + Sync;

    pub struct Server {
        pub url: String,
        /// Every request line seen, for assertions.
        pub seen: Arc<Mutex<Vec<String>>>,
    }

    pub fn start(route: Box<Route>) -> Server {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", l.local_addr().expect("addr"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(mut s) = conn else { continue };
                let mut r = BufReader::new(s.try_clone().expect("clone"));
                let mut line = String::new();
                if r.read_line(&mut line).is_err() {
                    continue;
                }
                let mut headers = Vec::new();
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).is_err() || h.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.trim().split_once(':') {
                        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                    }
                }
                let mut parts = line.split_whitespace();
                let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                log.lock().expect("log").push(format!("{method} {path}"));
                let (status, extra, body) = route(method, path, &headers);
                let mut head = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                    body.len()
                );
                for (k, v) in extra {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                let _ = s.write_all(head.as_bytes());
                let _ = s.write_all(&body);
            }
        });
        Server { url, seen }
    }

    pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

//! Servers with TLS for one test: a certificate authority and a server certificate
//! for 127.0.0.1 made with `openssl`, and a PostgreSQL or Redis of the test's own on a
//! free port, presenting that certificate; each stopped (and its folder removed) on drop.
//!
//! They need `openssl`, `redis-server` and PostgreSQL's `initdb`/`pg_ctl` (run as the
//! `postgres` user when the test runs as root, since `initdb` refuses root).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A CA, a server certificate it signed for `127.0.0.1`, and an unrelated CA.
pub struct Certificates {
    dir: tempfile::TempDir,
}

impl Certificates {
    /// Generates them in a folder of their own.
    pub fn generate() -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let d = dir.path();
        for ca in ["ca", "wrong-ca"] {
            openssl(
                d,
                &[
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-days",
                    "2",
                    "-keyout",
                    &format!("{ca}.key"),
                    "-out",
                    &format!("{ca}.pem"),
                    "-subj",
                    &format!("/CN=tokenauth test {ca}"),
                    "-addext",
                    "basicConstraints=critical,CA:TRUE",
                    "-addext",
                    "keyUsage=critical,keyCertSign,cRLSign",
                ],
            );
        }
        openssl(
            d,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        );
        std::fs::write(
            d.join("ext.cnf"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
             keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        )
        .expect("write ext.cnf");
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.pem",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
            ],
        );
        Self { dir }
    }

    /// The CA that signed the server certificate.
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A CA that signed nothing here.
    pub fn wrong_ca(&self) -> PathBuf {
        self.dir.path().join("wrong-ca.pem")
    }

    fn server_pair(&self) -> (PathBuf, PathBuf) {
        (
            self.dir.path().join("server.pem"),
            self.dir.path().join("server.key"),
        )
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl must be installed to run the TLS tests");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("its address").port()
}

/// Waits until `check` holds; panics after `bound` with `what`.
fn wait_for(what: &str, bound: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + bound;
    while !check() {
        assert!(Instant::now() < deadline, "{what} within {bound:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A Redis that accepts only TLS connections, on a port of its own.
pub struct TlsRedis {
    /// Its TLS port.
    pub port: u16,
    dir: tempfile::TempDir,
}

impl TlsRedis {
    /// Starts one presenting `certificates`' server certificate.
    pub fn start(certificates: &Certificates) -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let port = free_port();
        let (cert, key) = certificates.server_pair();
        let pidfile = dir.path().join("redis.pid");
        let status = Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--tls-port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .arg("--tls-cert-file")
            .arg(&cert)
            .arg("--tls-key-file")
            .arg(&key)
            .arg("--tls-ca-cert-file")
            .arg(certificates.ca())
            .args(["--tls-auth-clients", "no", "--save", "", "--appendonly", "no"])
            .args(["--daemonize", "yes", "--pidfile"])
            .arg(&pidfile)
            .arg("--dir")
            .arg(dir.path())
            .status()
            .expect("redis-server must be installed to run the TLS tests");
        assert!(status.success(), "redis-server failed to start");
        wait_for(
            "redis-server writes its pid file",
            Duration::from_secs(10),
            || pidfile.exists(),
        );
        let redis = Self { port, dir };
        wait_for("redis-server listens", Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        redis
    }

    /// `rediss://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}", self.port)
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.path().join("redis.pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}

/// A PostgreSQL with `ssl = on` presenting `certificates`' server certificate, on a port
/// of its own, with trust authentication for `postgres`.
pub struct TlsPostgres {
    /// Its port.
    pub port: u16,
    dir: tempfile::TempDir,
    bin: PathBuf,
}

impl TlsPostgres {
    /// Initialises and starts one (a few seconds).
    pub fn start(certificates: &Certificates) -> Self {
        let bin = postgres_bin();
        let dir = tempfile::tempdir().expect("a temporary folder");
        let d = dir.path().to_owned();
        let (cert, key) = certificates.server_pair();
        std::fs::copy(cert, d.join("server.pem")).expect("copy the certificate");
        std::fs::copy(key, d.join("server.key")).expect("copy the key");
        let port = free_port();
        let postgres = Self { port, dir, bin };
        if running_as_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres"])
                .arg(&d)
                .status()
                .expect("chown");
            assert!(status.success(), "chown the folder to postgres");
        }
        let status = Command::new("chmod")
            .arg("600")
            .arg(d.join("server.key"))
            .status()
            .expect("chmod");
        assert!(status.success());
        postgres.pg(
            "initdb",
            &[
                "-D",
                &postgres.data(),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
            ],
        );
        let options = format!(
            "-p {port} -k {dir} -c listen_addresses=127.0.0.1 -c ssl=on \
             -c ssl_cert_file={dir}/server.pem -c ssl_key_file={dir}/server.key -c fsync=off",
            dir = d.display()
        );
        let log = d.join("log").display().to_string();
        postgres.pg(
            "pg_ctl",
            &["-D", &postgres.data(), "-w", "-l", &log, "-o", &options, "start"],
        );
        postgres
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres` with `query` appended.
    pub fn url(&self, query: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres?{query}", self.port)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    /// One of PostgreSQL's programs with `args`, to run as `postgres` when the test
    /// runs as root, in the server's folder (`postgres` may not enter the test's own).
    fn pg_command(&self, program: &str, args: &[&str]) -> Command {
        let program = self.bin.join(program);
        let mut command = if running_as_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        };
        command.args(args).current_dir(self.dir.path());
        command
    }

    /// Runs one of PostgreSQL's programs, which must succeed.
    fn pg(&self, program: &str, args: &[&str]) {
        let output = self
            .pg_command(program, args)
            .output()
            .expect("PostgreSQL's programs must be installed to run the TLS tests");
        assert!(
            output.status.success(),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for TlsPostgres {
    fn drop(&mut self) {
        let data = self.data();
        let _ = self
            .pg_command("pg_ctl", &["-D", &data, "-m", "immediate", "stop"])
            .output();
    }
}

/// PostgreSQL's programs: `TOKENAUTH_TEST_PG_BIN`, else Debian's newest version.
fn postgres_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("TOKENAUTH_TEST_PG_BIN") {
        return bin.into();
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL's programs in /usr/lib/postgresql, or TOKENAUTH_TEST_PG_BIN")
        .filter_map(|entry| Some(entry.ok()?.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    versions.sort_by_key(|bin| {
        bin.parent()
            .and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions.pop().expect("an installed PostgreSQL with initdb")
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.trim_ascii() == b"0")
}

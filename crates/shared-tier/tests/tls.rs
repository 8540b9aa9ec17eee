//! `rediss://`: a TLS-only redis-server with a private CA and a password.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use isogate_shared_tier::{SharedTier, SharedTierConfig};

struct TlsRedis(Child);
impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl (Debian's openssl package)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn rediss_with_a_private_ca() {
    let dir = std::env::temp_dir().join(format!("isogate-tier-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    openssl(
        &dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=isogate test CA",
        ],
    );
    openssl(
        &dir,
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
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").expect("ext");
    openssl(
        &dir,
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

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let p = |f: &str| dir.join(f).to_string_lossy().into_owned();
    let child = Command::new("redis-server")
        .args([
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .args([
            "--tls-cert-file",
            &p("server.pem"),
            "--tls-key-file",
            &p("server.key"),
            "--tls-ca-cert-file",
            &p("ca.pem"),
        ])
        .args([
            "--tls-auth-clients",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
            "--requirepass",
            "tls-Pa55",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server");
    let _server = TlsRedis(child);
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }

    let url = format!("rediss://:tls-Pa55@127.0.0.1:{port}");
    let cfg = SharedTierConfig {
        tls_ca_file: Some(dir.join("ca.pem")),
        ..SharedTierConfig::new(url.clone())
    };
    let t = SharedTier::new(&cfg).expect("tier");
    let mut ok = false;
    for _ in 0..20 {
        if t.ping().await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ok, "TLS ping: {:?}", t.status().last_error);
    let v = t.next_version().await.expect("a script over TLS");
    assert!(v > 0);

    // Without the CA the server's certificate is not trusted: a typed error.
    let untrusted = SharedTier::new(&SharedTierConfig::new(url)).expect("tier");
    let e = untrusted.ping().await.expect_err("unknown CA");
    assert!(
        e.is_connection() || matches!(e, isogate_shared_tier::TierError::Redis { .. }),
        "{e}"
    );
    assert!(!format!("{e:?} {:?}", untrusted.status()).contains("tls-Pa55"));
    std::fs::remove_dir_all(&dir).ok();
}

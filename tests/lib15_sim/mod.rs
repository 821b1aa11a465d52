//! iotkit-sim for the lib15 tests: the real binary in a temporary data
//! directory, `serve` on free ports, and plain HTTP GETs to its API.
//! Needs the sim binary: `cargo build -p iotkit-sim` (or IOTKIT_SIM=path).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn sim_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("IOTKIT_SIM") {
        return path.into();
    }
    // target/<profile>/deps/<this test> -> target/<profile>/iotkit-sim
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().parent().unwrap().join("iotkit-sim");
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build -p iotkit-sim` or set IOTKIT_SIM",
        path.display()
    );
    path
}

pub struct Sim {
    pub dir: tempfile::TempDir,
    pub bin: PathBuf,
}

impl Sim {
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(&self.bin)
            .arg("--data-dir")
            .arg(self.dir.path())
            .args(args)
            .env_remove("IOTKIT_SIM_NOW")
            .output()
            .expect("run iotkit-sim")
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.run(&all);
        assert!(out.status.success(), "iotkit-sim {args:?}: {out:?}");
        serde_json::from_slice(&out.stdout).expect("JSON output")
    }
}

pub struct Serve {
    pub child: Child,
    pub http_port: u16,
    pub mqtt_port: u16,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn serve(sim: &Sim) -> Serve {
    let serve_json = sim.dir.path().join("serve.json");
    let log = std::fs::File::create(sim.dir.path().join("serve.log")).unwrap();
    let child = Command::new(&sim.bin)
        .arg("--data-dir")
        .arg(sim.dir.path())
        .args(["serve", "--mqtt", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .env_remove("IOTKIT_SIM_NOW")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("spawn iotkit-sim serve");
    let mut serve = Serve {
        child,
        http_port: 0,
        mqtt_port: 0,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(text) = std::fs::read_to_string(&serve_json) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
                serve.mqtt_port = v["mqtt_port"].as_u64().unwrap() as u16;
                serve.http_port = v["http_port"].as_u64().unwrap() as u16;
                return serve;
            }
        }
        assert!(serve.child.try_wait().unwrap().is_none(), "serve exited");
        assert!(Instant::now() < deadline, "serve did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn http_get(port: u16, path: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default()
}

/// A sim after `init` with one x509 product and an ec-p256 device `name`:
/// the sim, the ProductKey and the `device create` JSON.
pub fn with_device(name: &str) -> (Sim, String, serde_json::Value) {
    let sim = Sim {
        dir: tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap(),
        bin: sim_binary(),
    };
    assert!(sim.run(&["init"]).status.success());
    let pk = sim.json(&["product", "create", "--name", "p", "--auth-type", "x509"])["productKey"]
        .as_str()
        .unwrap()
        .to_owned();
    let device = sim.json(&[
        "device",
        "create",
        "--product",
        &pk,
        "--name",
        name,
        "--key-type",
        "ec-p256",
    ]);
    (sim, pk, device)
}

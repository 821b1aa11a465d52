//! `thing/disable` from the platform (iotkit-sim's DisableThing): the client
//! raises a state event saying so and stops reconnecting; the sim's record
//! of CONNECTs stays put over several backoff periods.
//!
//! Needs the sim binary: `cargo build -p iotkit-sim` (or IOTKIT_SIM=path).

use std::ffi::{c_void, CString};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::ptr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use iotkit::events::{self, Handler, Registration};
use iotkit::ffi::mqtt::{IOT_MQTT_Construct, IOT_MQTT_Destroy, IOT_MQTT_Yield};
use iotkit::ffi::types::{iotx_mqtt_event_handle_t, iotx_mqtt_param_t};
use iotkit::state::STATE_MQTT_CONNACK_NOT_AUTHORIZED;

const ITE_STATE_EVERYTHING: i32 = 23;
static EVENTS: Mutex<Vec<(i32, String)>> = Mutex::new(Vec::new());

fn sim_binary() -> PathBuf {
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

struct Sim {
    dir: tempfile::TempDir,
    bin: PathBuf,
}

impl Sim {
    fn run(&self, args: &[&str]) -> Output {
        Command::new(&self.bin)
            .arg("--data-dir")
            .arg(self.dir.path())
            .args(args)
            .env_remove("IOTKIT_SIM_NOW")
            .output()
            .expect("run iotkit-sim")
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.run(&all);
        assert!(out.status.success(), "iotkit-sim {args:?}: {out:?}");
        serde_json::from_slice(&out.stdout).expect("JSON output")
    }
}

struct Serve {
    child: Child,
    http_port: u16,
    mqtt_port: u16,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(sim: &Sim) -> Serve {
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

fn http_get(port: u16, path: &str) -> String {
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

/// CONNECTs the sim recorded for the device (accepted and refused).
fn connections(serve: &Serve, pk: &str, dn: &str) -> usize {
    let body = http_get(
        serve.http_port,
        &format!("/api/connections?productKey={pk}&deviceName={dn}"),
    );
    let v: serde_json::Value = serde_json::from_str(&body).expect("connections JSON");
    v.as_array()
        .or_else(|| v["connections"].as_array())
        .unwrap_or_else(|| panic!("connections: {body}"))
        .len()
}

fn event_seen(code: i32, needle: &str) -> bool {
    EVENTS
        .lock()
        .unwrap()
        .iter()
        .any(|(c, m)| *c == code && m.contains(needle))
}

fn events_text() -> String {
    EVENTS
        .lock()
        .unwrap()
        .iter()
        .map(|(code, message)| format!("{code}: {message}\n"))
        .collect()
}

#[test]
fn thing_disable_raises_an_event_and_stops_reconnecting() {
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
        "off-dev",
        "--key-type",
        "ec-p256",
    ]);
    let serve = serve(&sim);

    events::register(
        ITE_STATE_EVERYTHING,
        Some(Registration {
            address: 0,
            handler: Handler::State(Arc::new(|code, message: &str| {
                EVENTS.lock().unwrap().push((code, message.to_owned()));
            })),
        }),
    );
    std::env::set_var("IOTX_KV_DIR", sim.dir.path());
    std::env::set_var("IOTX_PERSIST_IDENTITY", "0");
    std::env::set_var("IOTX_X509_CERT_FILE", device["certFile"].as_str().unwrap());
    std::env::set_var("IOTX_X509_KEY_FILE", device["keyFile"].as_str().unwrap());
    std::env::set_var("IOTX_MQTT_HOST", "localhost");
    std::env::set_var("IOTX_MQTT_PORT", serve.mqtt_port.to_string());
    let ca = CString::new(std::fs::read(sim.dir.path().join("ca.pem")).unwrap()).unwrap();
    let mut params = iotx_mqtt_param_t {
        port: 0,
        host: ptr::null(),
        client_id: ptr::null(),
        username: ptr::null(),
        password: ptr::null(),
        customize_info: ptr::null(),
        pub_key: ca.as_ptr(),
        clean_session: 0,
        request_timeout_ms: 5000,
        keepalive_interval_ms: 60_000,
        write_buf_size: 0,
        read_buf_size: 0,
        handle_event: iotx_mqtt_event_handle_t {
            h_fp: None,
            pcontext: ptr::null_mut(),
        },
    };
    let mut client: *mut c_void = IOT_MQTT_Construct(&mut params);
    assert!(!client.is_null(), "Construct: {}", events_text());
    let before = connections(&serve, &pk, "off-dev");
    assert!(before >= 1, "the sim recorded no CONNECT");

    let body = http_get(
        serve.http_port,
        &format!("/?Action=DisableThing&ProductKey={pk}&DeviceName=off-dev"),
    );
    assert!(body.contains("\"Success\":true"), "DisableThing: {body}");
    let sentence = "the platform disabled this device (thing/disable)";
    let deadline = Instant::now() + Duration::from_secs(10);
    while !event_seen(STATE_MQTT_CONNACK_NOT_AUTHORIZED, sentence) {
        assert!(
            Instant::now() < deadline,
            "no thing/disable event within 10 s: {}",
            events_text()
        );
        IOT_MQTT_Yield(client, 100);
    }
    // Four seconds cover the first backoff (at most 1 s) and the next two
    // doublings: a client that reconnects shows a refused CONNECT by then.
    let window = Instant::now() + Duration::from_secs(4);
    while Instant::now() < window {
        IOT_MQTT_Yield(client, 200);
    }
    let after = connections(&serve, &pk, "off-dev");
    assert_eq!(after, before, "the client reconnected: {}", events_text());
    assert_eq!(IOT_MQTT_Destroy(&mut client), 0);
}

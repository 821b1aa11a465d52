//! OTA in the sim: images and jobs over HTTP and the CLI, the platform-shaped
//! push to every device of a product, the HTTPS download (platform CA, Range,
//! signed expiring URLs), progress and version reports, job completion.

mod common;

use common::{Client, ConnectOptions, Creds, Server, Sim};
use openssl::ssl::{SslConnector, SslMethod};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn https_port(sim: &Sim) -> u16 {
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(sim.path().join("serve.json")).unwrap())
            .unwrap();
    v["ota_https_port"].as_u64().unwrap() as u16
}

/// GET over HTTPS, the server verified against the sim's CA; returns the
/// status line, the head and the body.
fn https_get(sim: &Sim, url: &str, range: Option<&str>) -> (String, String, Vec<u8>) {
    let rest = url.strip_prefix("https://").unwrap();
    let (authority, target) = rest.split_at(rest.find('/').unwrap());
    let mut builder = SslConnector::builder(SslMethod::tls_client()).unwrap();
    builder.set_ca_file(sim.ca()).unwrap();
    let connector = builder.build();
    let tcp = TcpStream::connect(authority).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut tls = connector.connect("127.0.0.1", tcp).unwrap();
    let range = range.map_or(String::new(), |r| format!("Range: {r}\r\n"));
    write!(
        tls,
        "GET {target} HTTP/1.1\r\nHost: {authority}\r\n{range}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    let _ = tls.read_to_end(&mut response);
    let end = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&response[..end]).into_owned();
    let status = head.lines().next().unwrap().to_owned();
    (status, head, response[end + 4..].to_vec())
}

fn device(sim: &Sim, server: &Server, creds: &Creds) -> Client {
    let (mut client, code) = Client::connect(
        server.mqtt_port,
        &sim.ca(),
        creds,
        &ConnectOptions::new("ota-test"),
    );
    assert_eq!(code, 0);
    let topic = format!("/ota/device/upgrade/{}/{}", creds.pk, creds.dn);
    assert_eq!(client.subscribe(1, &[&topic]), vec![1]);
    client
}

fn wait_push(client: &mut Client, creds: &Creds) -> Value {
    let topic = format!("/ota/device/upgrade/{}/{}", creds.pk, creds.dn);
    loop {
        let (t, payload) = client.next_publish().expect("the upgrade push");
        if t == topic {
            return serde_json::from_slice(&payload).unwrap();
        }
    }
}

fn jobs(server: &Server) -> Value {
    let (status, body) = server.http("GET", "/api/ota/jobs", b"");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn image() -> Vec<u8> {
    (0..50_000u32).map(|i| (i % 251) as u8).collect()
}

#[test]
fn a_product_job_reaches_every_device_and_ends_with_their_versions() {
    let sim = Sim::new();
    let pk = sim.product("x509");
    let a = sim.device(&pk, "ota-a");
    let b = sim.device(&pk, "ota-b");
    let server = sim.serve(&[]);
    let data = image();
    let (status, body) = server.http(
        "POST",
        &format!("/api/ota/firmware?productKey={pk}&version=3.1"),
        &data,
    );
    assert_eq!(status, 200, "{body}");
    let record: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(record["size"], 50_000);
    let (status, body) = server.http(
        "POST",
        "/api/ota/firmware?productKey=a1nope&version=1",
        b"x",
    );
    assert_eq!(status, 400, "{body}");

    let mut ca = device(&sim, &server, &a);
    let mut cb = device(&sim, &server, &b);
    let (status, body) = server.http(
        "POST",
        &format!("/api/ota/jobs?productKey={pk}&version=3.1"),
        b"",
    );
    assert_eq!(status, 200, "{body}");
    let job: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(job["pushed"], 2);

    for (client, creds) in [(&mut ca, &a), (&mut cb, &b)] {
        let push = wait_push(client, creds);
        assert_eq!(push["code"], "1000");
        assert_eq!(push["message"], "success");
        let d = &push["data"];
        assert_eq!(d["version"], "3.1");
        assert_eq!(d["size"], 50_000);
        assert_eq!(d["md5"], record["md5"]);
        assert_eq!(d["signMethod"], "SHA256");
        assert_eq!(d["sign"], record["sha256"]);
        let url = d["url"].as_str().unwrap();
        assert!(url.starts_with(&format!("https://127.0.0.1:{}/", https_port(&sim))));

        let (status, head, got) = https_get(&sim, url, None);
        assert!(status.contains("200"), "{head}");
        assert_eq!(got, data);
        let (status, head, got) = https_get(&sim, url, Some("bytes=40000-"));
        assert!(status.contains("206"), "{head}");
        assert!(
            head.contains("Content-Range: bytes 40000-49999/50000"),
            "{head}"
        );
        assert_eq!(got, &data[40_000..]);
        let (status, _, _) = https_get(&sim, url, Some("bytes=60000-"));
        assert!(status.contains("416"), "{status}");
        let forged = format!("{}0", &url[..url.len() - 1]);
        let (status, _, body) = https_get(&sim, &forged, None);
        assert!(status.contains("403"), "{status}");
        assert!(String::from_utf8_lossy(&body).contains("signature"));

        let progress = format!("/ota/device/progress/{}/{}", creds.pk, creds.dn);
        client.publish(
            &progress,
            br#"{"id":"1","params":{"step":"60","desc":"writing"}}"#,
            0,
            0,
        );
    }
    wait_until("both progress reports recorded", || {
        jobs(&server)["jobs"][0]["targets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["step"] == 60 && t["desc"] == "writing")
    });

    let inform = |client: &mut Client, creds: &Creds, version: &str| {
        let topic = format!("/ota/device/inform/{}/{}", creds.pk, creds.dn);
        let payload = format!(r#"{{"id":"2","params":{{"version":"{version}"}}}}"#);
        client.publish(&topic, payload.as_bytes(), 1, 7);
    };
    inform(&mut ca, &a, "3.1");
    wait_until("device a done", || {
        jobs(&server)["jobs"][0]["targets"][0]["status"] == "done"
    });
    assert_eq!(jobs(&server)["jobs"][0]["status"], "running");
    inform(&mut cb, &b, "3.1");
    wait_until("the job done", || {
        jobs(&server)["jobs"][0]["status"] == "done"
    });
    let status = jobs(&server);
    let versions = status["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert!(versions.iter().all(|v| v["version"] == "3.1"));
}

#[test]
fn the_cli_uploads_and_starts_jobs_and_expired_urls_are_refused() {
    let sim = Sim::new();
    let pk = sim.product("x509");
    let a = sim.device(&pk, "ota-cli");
    let file = sim.path().join("fw.bin");
    std::fs::write(&file, image()).unwrap();
    let out = sim.ok(&[
        "ota",
        "upload",
        "--product",
        &pk,
        "--version",
        "4.0",
        "--file",
        file.to_str().unwrap(),
    ]);
    assert!(out.contains("50000 bytes"), "{out}");
    let err = sim.fails(&["ota", "job", "--product", &pk, "--version", "9.9"]);
    assert!(err.contains("upload it first"), "{err}");
    let err = sim.fails(&[
        "ota",
        "job",
        "--product",
        &pk,
        "--device",
        "nobody",
        "--version",
        "4.0",
    ]);
    assert!(err.contains("no device"), "{err}");

    let server = sim.serve(&[]);
    let mut client = device(&sim, &server, &a);
    sim.ok(&[
        "ota",
        "job",
        "--product",
        &pk,
        "--device",
        "ota-cli",
        "--version",
        "4.0",
        "--url-ttl",
        "0",
        "--corrupt-digest",
        "--sign-method",
        "Md5",
    ]);
    let push = wait_push(&mut client, &a);
    let d = &push["data"];
    assert_eq!(d["signMethod"], "Md5");
    assert_eq!(d["sign"], d["md5"]);
    let status = sim.json(&["ota", "status"]);
    let job = &status["jobs"][0];
    assert_eq!(job["corruptDigest"], true);
    assert_ne!(d["md5"].as_str(), None);
    let (status, _, body) = https_get(&sim, d["url"].as_str().unwrap(), None);
    assert!(status.contains("403"), "{status}");
    assert!(String::from_utf8_lossy(&body).contains("expired"));
    let text = sim.ok(&["ota", "status"]);
    assert!(text.contains("ota-cli pushed"), "{text}");
}

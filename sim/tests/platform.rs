//! The platform's rules (sim/rules.toml) against the real sim: each rule
//! once, with an independent MQTT client over OpenSSL.

mod common;

use common::{Client, ConnectOptions, Sim};

/// Another process (here: this test) holds the port the embedded broker was
/// about to use. The sim must notice that the listener is not its own and
/// move to another port, instead of relaying devices to a stranger.
#[test]
fn broker_port_taken_by_another_process_is_not_used() {
    let sim = Sim::new();
    let pk = sim.product("x509");
    let dev = sim.device(&pk, "port-dev");
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = squatter.local_addr().unwrap().port().to_string();
    let server = sim.serve_with_env(&[], &[("IOTKIT_SIM_TEST_BROKER_PORT", &port)]);
    server.wait_log("could not use 127.0.0.1:");
    let (mut client, code) = Client::connect(
        server.mqtt_port,
        &sim.ca(),
        &dev,
        &ConnectOptions::new("sn-port"),
    );
    assert_eq!(code, 0, "{}", server.log());
    assert!(client.next_publish().is_some(), "identity response");
    // The stranger never saw a connection.
    squatter.set_nonblocking(true).unwrap();
    assert!(
        squatter.accept().is_err(),
        "the sim connected to the squatter"
    );
}

use serde_json::Value;
use std::io::Write;
use std::time::{Duration, Instant};

const IDENTITY_TOPIC: &str = "/ext/auth/identity/response";

/// Connects, expects CONNACK 0 and the identity response.
fn online(sim: &Sim, port: u16, creds: &common::Creds, options: &ConnectOptions) -> Client {
    let (mut client, code) = Client::connect(port, &sim.ca(), creds, options);
    assert_eq!(code, 0, "CONNACK for {:?}", options.client_id);
    let (topic, payload) = client.next_publish().expect("identity response");
    assert_eq!(topic, IDENTITY_TOPIC);
    assert_eq!(
        String::from_utf8(payload).unwrap(),
        format!(
            r#"{{"productKey":"{}","deviceName":"{}"}}"#,
            creds.pk, creds.dn
        )
    );
    client
}

/// The connection is alive: a PINGREQ gets its PINGRESP.
fn alive(client: &mut Client) -> bool {
    if client.stream.write_all(&[0xc0, 0]).is_err() {
        return false;
    }
    loop {
        match client.read_packet() {
            Some((0xd0, _)) => return true,
            Some(_) => continue,
            None => return false,
        }
    }
}

/// The connection was closed by the endpoint (end of stream, not a timeout).
fn closed(client: &mut Client) -> bool {
    client.ended()
}

fn vendor_first_connect() -> ConnectOptions {
    let mut o = ConnectOptions::new("unused");
    o.client_id = ".|timestamp=2524608000000,_v=sdk-c-3.2.0,securemode=2,signmethod=hmacsha256,lan=C,_ss=1,gw=0,ext=0|".into();
    o.username = Some("&".into());
    o.password = Some("3f6a1b2c9d8e7f60".repeat(4));
    o
}

/// Item 8: the vendor's first CONNECT, the platform Java sample's and the
/// library's own form are each accepted and get the identity response; two
/// devices in the vendor's form (same client-id string) both stay connected.
#[test]
fn replayed_first_connects_of_the_vendor_the_java_sample_and_the_library() {
    let sim = Sim::new();
    let pk = sim.product("x509");
    let one = sim.device(&pk, "replay-1");
    let two = sim.device(&pk, "replay-2");
    let server = sim.serve(&[]);
    let port = server.mqtt_port;

    let vendor = vendor_first_connect();
    assert_eq!(vendor.password.as_ref().unwrap().len(), 64);
    let mut java = ConnectOptions::new("unused");
    java.client_id = "SN0001|securemode=2|".into();
    java.username = Some(String::new());
    java.password = Some(String::new());
    let mut library = ConnectOptions::new("unused");
    library.client_id = "replay-1|securemode=2,signmethod=hmacsha1,timestamp=1700000000000|".into();
    library.username = Some(String::new());
    library.password = Some(String::new());
    for options in [&vendor, &java, &library] {
        online(&sim, port, &one, options).disconnect();
    }

    // Two devices, one client-id string: the sim keys sessions by device.
    let mut first = online(&sim, port, &one, &vendor);
    let mut second = online(&sim, port, &two, &vendor);
    assert!(alive(&mut first), "{}", server.log());
    assert!(alive(&mut second), "{}", server.log());
    assert!(!server.log().contains("replaced this one"));
}

/// One session per device: a second connection of the same device closes the first.
#[test]
fn second_connection_of_the_same_device_closes_the_first() {
    let sim = Sim::new();
    let pk = sim.product("x509");
    let dev = sim.device(&pk, "twice-dev");
    let server = sim.serve(&[]);
    let mut first = online(&sim, server.mqtt_port, &dev, &ConnectOptions::new("first"));
    let mut second = online(&sim, server.mqtt_port, &dev, &ConnectOptions::new("second"));
    assert!(closed(&mut first), "the older connection must be closed");
    server.wait_log(
        "another connection of the same device (ProductKey/DeviceName) replaced this one",
    );
    assert!(alive(&mut second));
}

/// clean_session = 0: a QoS 1 message for an offline device is kept and delivered on return.
#[test]
fn persistent_session_keeps_qos1_messages_for_an_offline_device() {
    let sim = Sim::new();
    let pk = sim.product("x509");
    let dev = sim.device(&pk, "offline-dev");
    let server = sim.serve(&[]);
    let topic = format!("/{pk}/offline-dev/user/get");
    let mut options = ConnectOptions::new("sn-offline");
    options.clean_session = false;
    let mut client = online(&sim, server.mqtt_port, &dev, &options);
    assert_eq!(client.subscribe(1, &[&topic]), vec![1]);
    client.disconnect();
    server.wait_log("dn=offline-dev client=\"sn-offline|");
    server.wait_log("device sent DISCONNECT");
    let (status, body) = server.http("POST", &format!("/api/pub?topic={topic}&qos=1"), b"kept");
    assert_eq!(status, 200, "{body}");
    let (mut client, ack) = Client::connect_ack(server.mqtt_port, &sim.ca(), &dev, &options);
    assert_eq!(ack, [1, 0], "session present, accepted");
    let mut got = Vec::new();
    while let Some((topic, payload)) = client.next_publish() {
        got.push((topic, payload));
        if got.len() == 2 {
            break;
        }
    }
    assert!(
        got.iter().any(|(t, p)| *t == topic && p == b"kept"),
        "{got:?}"
    );
}

/// A will is accepted (default rule will = "ignore"), logged, and never delivered.
#[test]
fn will_messages_are_ignored_and_never_delivered() {
    let sim = Sim::new();
    let pk = sim.product("x509");
    let a = sim.device(&pk, "will-a");
    let b = sim.device(&pk, "will-b");
    let server = sim.serve(&[]);
    let target = format!("/{pk}/will-b/user/get");
    let mut listener = online(&sim, server.mqtt_port, &b, &ConnectOptions::new("b"));
    assert_eq!(listener.subscribe(1, &[&target]), vec![1]);
    let mut options = ConnectOptions::new("a");
    options.will = Some((target.clone(), "the will".into()));
    let client = online(&sim, server.mqtt_port, &a, &options);
    server.wait_log("will message of pk=");
    server.wait_log("ignored: the platform does not support wills");
    // An abrupt end (no DISCONNECT) is what would fire a will.
    drop(client);
    server.wait_log(&format!("DISCONNECT pk={pk} dn=will-a"));
    let (status, _) = server.http("POST", &format!("/api/pub?topic={target}&qos=0"), b"marker");
    assert_eq!(status, 200);
    let (topic, payload) = listener.next_publish().expect("the marker");
    assert_eq!(
        (topic.as_str(), payload.as_slice()),
        (target.as_str(), &b"marker"[..])
    );

    // With the rule will = "refuse", such a CONNECT gets will_refuse_code.
    drop(server);
    let rules = sim.path().join("refuse-wills.toml");
    std::fs::write(
        &rules,
        "[will]\nvalue = \"refuse\"\nstatus = \"measured\"\nsource = \"test\"\n",
    )
    .unwrap();
    let server = sim.serve(&["--rules", rules.to_str().unwrap()]);
    let (_, code) = Client::connect(server.mqtt_port, &sim.ca(), &a, &options);
    assert_eq!(code, 5);
    server.wait_log("the platform does not support wills");
}

/// Topic classes: the three defaults, SUBACK 0x80 for an undefined class,
/// "No authorization" for a publish without rights, classes added through
/// the CLI and the HTTP API, system topics only for the own device.
#[test]
fn topic_classes_rights_and_system_topics() {
    let sim = Sim::new();
    let pk = sim.product("x509");
    let a = sim.device(&pk, "class-a");
    let b = sim.device(&pk, "class-b");
    let server = sim.serve(&[]);
    let own = |short: &str| format!("/{pk}/class-a/{short}");
    let mut client = online(&sim, server.mqtt_port, &a, &ConnectOptions::new("a"));
    let mut other = online(&sim, server.mqtt_port, &b, &ConnectOptions::new("b"));

    // Defaults: user/get SUB; user/update and user/update/error PUB only.
    assert_eq!(
        client.subscribe(
            1,
            &[
                &own("user/get"),
                &own("user/update"),
                &own("user/cmd"),
                &own("user/#")
            ]
        ),
        vec![1, 0x80, 0x80, 0x80]
    );
    server.wait_log("allows PUB only, not subscribe");
    server.wait_log("no topic class of the product defines it");
    // Publishing to a SUB-only class: dropped, logged "No authorization", PUBACKed.
    client.publish(&own("user/get"), b"x", 1, 5);
    assert_eq!(client.read_packet().unwrap(), (0x40, vec![0, 5]));
    server.wait_log(&format!(
        "DROPPED publish from pk={pk} dn=class-a to \"{}\": No authorization (its topic class allows SUB only",
        own("user/get")
    ));

    // System topics: own device yes, another device's no.
    let sys_own = [
        format!("/sys/{pk}/class-a/thing/service/property/set"),
        format!("/ota/device/upgrade/{pk}/class-a"),
        format!("/shadow/get/{pk}/class-a"),
        format!("/ext/ntp/{pk}/class-a/response"),
        format!("/ext/session/{pk}/class-a/combine/login_reply"),
    ];
    let refs: Vec<&str> = sys_own.iter().map(String::as_str).collect();
    assert_eq!(client.subscribe(2, &refs), vec![1; 5]);
    let sys_other = [
        format!("/sys/{pk}/class-b/thing/service/property/set"),
        format!("/ota/device/upgrade/{pk}/class-b"),
        format!("/shadow/get/{pk}/class-b"),
        format!("/ext/ntp/{pk}/class-b/response"),
        format!("/ext/session/{pk}/class-b/combine/login_reply"),
        "/ext/anything".to_string(),
    ];
    let refs: Vec<&str> = sys_other.iter().map(String::as_str).collect();
    assert_eq!(client.subscribe(3, &refs), vec![0x80; 6]);
    // B listens on its own system topic; A's publish there never arrives.
    let b_sys = format!("/sys/{pk}/class-b/thing/event/property/post");
    assert_eq!(other.subscribe(1, &[&b_sys]), vec![1]);
    client.publish(&b_sys, b"intrusion", 0, 0);
    server.wait_log(&format!(
        "to \"{b_sys}\": No authorization (not one of the device's topics)"
    ));

    // Add classes: CLI (user/cmd SUB) and HTTP (CreateProductTopic user/up2 ALL).
    let added = sim.json(&[
        "product",
        "topic",
        "add",
        "--product",
        &pk,
        "--topic",
        "user/cmd",
        "--access",
        "sub",
    ]);
    assert_eq!(
        added["topic"],
        format!("/{pk}/${{deviceName}}/user/cmd").as_str()
    );
    let (status, body) = server.http(
        "GET",
        &format!("/?Action=CreateProductTopic&ProductKey={pk}&TopicShortName=up2&Operation=ALL"),
        b"",
    );
    assert_eq!(status, 200);
    let created: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(created["Success"], true, "{body}");
    let (_, body) = server.http(
        "GET",
        &format!("/?Action=QueryProductTopic&ProductKey={pk}"),
        b"",
    );
    let listed: Value = serde_json::from_str(&body).unwrap();
    let names: Vec<String> = listed["Data"]["ProductTopicInfo"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{}:{}",
                c["TopicShortName"].as_str().unwrap(),
                c["Operation"].as_str().unwrap()
            )
        })
        .collect();
    let prefix = format!("/{pk}/${{deviceName}}/");
    assert_eq!(
        names,
        [
            "user/update:PUB",
            "user/update/error:PUB",
            "user/get:SUB",
            "user/cmd:SUB",
            "user/up2:ALL"
        ]
        .map(|n| format!("{prefix}{n}"))
    );
    let list = sim.json(&["product", "topic", "list", "--product", &pk]);
    assert_eq!(list.as_array().unwrap().len(), 5);
    // A bad class is refused with the reason.
    let err = sim.fails(&[
        "product",
        "topic",
        "add",
        "--product",
        &pk,
        "--topic",
        "user/a#b",
        "--access",
        "PUB",
    ]);
    assert!(err.contains("segment \"a#b\""), "{err}");

    // New classes apply from the next connection.
    let mut client = online(&sim, server.mqtt_port, &a, &ConnectOptions::new("a"));
    assert_eq!(
        client.subscribe(4, &[&own("user/cmd"), &own("user/up2")]),
        vec![1, 1]
    );
    client.publish(&own("user/up2"), b"echo", 0, 0);
    let (topic, payload) = client.next_publish().expect("own publish");
    assert_eq!(
        (topic.as_str(), payload.as_slice()),
        (own("user/up2").as_str(), &b"echo"[..])
    );
    drop(other);
}

/// QoS 2 is not supported (PUBLISH dropped and completed by the endpoint,
/// SUBSCRIBE granted QoS 1); retain is ignored (delivered without the flag,
/// never stored); a payload over max_payload is dropped.
#[test]
fn qos2_retain_and_payload_limit() {
    let sim = Sim::new();
    let pk = sim.product("x509");
    let dev = sim.device(&pk, "limits-dev");
    sim.ok(&[
        "product",
        "topic",
        "add",
        "--product",
        &pk,
        "--topic",
        "user/echo",
        "--access",
        "ALL",
    ]);
    let server = sim.serve(&[]);
    let topic = format!("/{pk}/limits-dev/user/echo");
    let mut client = online(&sim, server.mqtt_port, &dev, &ConnectOptions::new("limits"));
    // SUBSCRIBE at QoS 2: granted 1.
    {
        let mut body = 9u16.to_be_bytes().to_vec();
        body.extend_from_slice(&(topic.len() as u16).to_be_bytes());
        body.extend_from_slice(topic.as_bytes());
        body.push(2);
        let mut packet = vec![0x82, body.len() as u8];
        packet.extend_from_slice(&body);
        client.stream.write_all(&packet).unwrap();
        assert_eq!(client.read_packet().unwrap(), (0x90, vec![0, 9, 1]));
    }
    // QoS 2 publish: PUBREC, PUBREL -> PUBCOMP from the endpoint, never delivered.
    client.publish(&topic, b"qos2", 2, 11);
    assert_eq!(client.read_packet().unwrap(), (0x50, vec![0, 11]));
    client.stream.write_all(&[0x62, 2, 0, 11]).unwrap();
    assert_eq!(client.read_packet().unwrap(), (0x70, vec![0, 11]));
    server.wait_log("QoS 2 is not supported by the platform");

    // Retained publish: delivered without the retain flag.
    let mut packet = vec![0x31];
    let mut body = (topic.len() as u16).to_be_bytes().to_vec();
    body.extend_from_slice(topic.as_bytes());
    body.extend_from_slice(b"retained?");
    packet.push(body.len() as u8);
    packet.extend_from_slice(&body);
    client.stream.write_all(&packet).unwrap();
    let (first, body) = client.read_packet().expect("the publish routed back");
    assert_eq!(first & 0x01, 0, "retain flag cleared");
    assert!(body.ends_with(b"retained?"));
    server.wait_log("retain flag of a publish from pk=");

    // Over the payload limit (256 KB): dropped; at the limit: delivered.
    let limit = 256 * 1024;
    client.publish(&topic, &vec![b'x'; limit + 1], 1, 12);
    assert_eq!(client.read_packet().unwrap(), (0x40, vec![0, 12]));
    server.wait_log(&format!(
        "payload of {} bytes exceeds the {limit}-byte limit",
        limit + 1
    ));
    client.publish(&topic, &vec![b'y'; limit], 0, 0);
    let (got, payload) = client.next_publish().expect("a payload at the limit");
    assert_eq!((got.as_str(), payload.len()), (topic.as_str(), limit));

    // A new subscriber gets no retained message.
    client.disconnect();
    let mut late = online(&sim, server.mqtt_port, &dev, &ConnectOptions::new("late"));
    assert_eq!(late.subscribe(1, &[&topic]), vec![1]);
    let (status, _) = server.http("POST", &format!("/api/pub?topic={topic}&qos=0"), b"fresh");
    assert_eq!(status, 200);
    let (_, payload) = late.next_publish().expect("the fresh message");
    assert_eq!(payload, b"fresh", "no retained message before it");

    // The limit is a rule: a measured value replaces it in one place.
    drop(server);
    let rules = sim.path().join("small.toml");
    std::fs::write(
        &rules,
        "[max_payload]\nvalue = 1000\nstatus = \"measured\"\nsource = \"test\"\n",
    )
    .unwrap();
    let server = sim.serve(&["--rules", rules.to_str().unwrap()]);
    let mut client = online(&sim, server.mqtt_port, &dev, &ConnectOptions::new("small"));
    client.publish(&topic, &[b'z'; 1001], 1, 13);
    assert_eq!(client.read_packet().unwrap(), (0x40, vec![0, 13]));
    server.wait_log("payload of 1001 bytes exceeds the 1000-byte limit");
}

/// The platform's NTP service: /ext/ntp/${pk}/${dn}/request is answered on .../response.
#[test]
fn ntp_request_is_answered() {
    let sim = Sim::new();
    let pk = sim.product("x509");
    let dev = sim.device(&pk, "ntp-dev");
    let server = sim.serve(&[]);
    let mut client = online(&sim, server.mqtt_port, &dev, &ConnectOptions::new("ntp"));
    let response = format!("/ext/ntp/{pk}/ntp-dev/response");
    assert_eq!(client.subscribe(1, &[&response]), vec![1]);
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    client.publish(
        &format!("/ext/ntp/{pk}/ntp-dev/request"),
        br#"{"deviceSendTime":"1234"}"#,
        0,
        0,
    );
    let (topic, payload) = client.next_publish().expect("NTP response");
    assert_eq!(topic, response);
    let v: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(v["deviceSendTime"], "1234");
    let received: i64 = v["serverRecvTime"].as_str().unwrap().parse().unwrap();
    let sent: i64 = v["serverSendTime"].as_str().unwrap().parse().unwrap();
    assert!(received >= before && sent >= received, "{v}");
    // A broken request is logged and not answered; the connection stays.
    client.publish(&format!("/ext/ntp/{pk}/ntp-dev/request"), b"nope", 0, 0);
    server.wait_log("not answered: the NTP request is not JSON");
    assert!(alive(&mut client));
}

/// DisableThing pushes /sys/${pk}/${dn}/thing/disable and closes; the device
/// is then refused (5) until EnableThing.
#[test]
fn disable_thing_pushes_disable_and_closes() {
    let sim = Sim::new();
    let pk = sim.product("x509");
    let dev = sim.device(&pk, "off-dev");
    let server = sim.serve(&[]);
    let mut client = online(&sim, server.mqtt_port, &dev, &ConnectOptions::new("off"));
    let (status, body) = server.http(
        "POST",
        &format!("/?Action=DisableThing&ProductKey={pk}&DeviceName=off-dev"),
        b"",
    );
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["Success"], true, "{body}");
    assert!(v["RequestId"].as_str().unwrap().len() >= 32);
    let (topic, payload) = client.next_publish().expect("thing/disable");
    assert_eq!(topic, format!("/sys/{pk}/off-dev/thing/disable"));
    let v: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(v["method"], "thing.disable");
    assert!(closed(&mut client), "closed after the push");
    let (_, code) = Client::connect(
        server.mqtt_port,
        &sim.ca(),
        &dev,
        &ConnectOptions::new("off"),
    );
    assert_eq!(code, 5);
    let (_, body) = server.http(
        "GET",
        &format!("/?Action=EnableThing&ProductKey={pk}&DeviceName=off-dev"),
        b"",
    );
    assert!(body.contains("\"Success\":true"), "{body}");
    online(&sim, server.mqtt_port, &dev, &ConnectOptions::new("off"));
    let (_, body) = server.http(
        "GET",
        "/?Action=DisableThing&ProductKey=x&DeviceName=y",
        b"",
    );
    assert!(
        body.contains("\"Success\":false") && body.contains("iot.device.NotExistedDevice"),
        "{body}"
    );
}

fn api(server: &common::Server, query: &str) -> Value {
    let (status, body) = server.http("GET", &format!("/?{query}"), b"");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// Polls QueryBatchRegisterDeviceStatus until the status leaves `pending`.
fn wait_status(server: &common::Server, pk: &str, apply: i64, pending: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v = api(
            server,
            &format!("Action=QueryBatchRegisterDeviceStatus&ProductKey={pk}&ApplyId={apply}"),
        );
        assert_eq!(v["Success"], true, "{v}");
        if v["Data"]["Status"] != pending {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "application {apply} stayed {pending}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The management API in the platform's shapes.
#[test]
fn management_api_shapes() {
    let sim = Sim::new();
    let pk = sim.product("x509");
    let secret_pk = sim.product("secret");
    sim.device(&pk, "taken-name");
    let server = sim.serve(&[]);

    // QueryDeviceCert.
    let v = api(
        &server,
        &format!("Action=QueryDeviceCert&ProductKey={pk}&DeviceName=taken-name"),
    );
    assert_eq!(v["Success"], true, "{v}");
    let info = &v["DeviceCertInfo"];
    assert_eq!(info["Status"], 2);
    assert_eq!(
        info["CertSN"].as_str().unwrap().len(),
        14,
        "7-byte serial in hex"
    );
    assert!(info["Certificate"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(info["PrivateKey"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN EC PRIVATE KEY-----"));
    let v = api(
        &server,
        &format!(
            "Action=QueryDeviceCert&ProductKey={pk}&DeviceName=taken-name&RegionId=cn-hangzhou"
        ),
    );
    assert_eq!(
        (v["Success"].clone(), v["Code"].clone()),
        (
            Value::from(false),
            Value::from("iot.device.RegionNotSupportX509")
        )
    );
    assert!(v["ErrorMessage"].as_str().unwrap().contains("cn-shanghai"));
    let v = api(
        &server,
        &format!("Action=QueryDeviceCert&ProductKey={pk}&DeviceName=nobody"),
    );
    assert_eq!(v["Code"], "iot.device.NotExistedDevice");
    let v = api(
        &server,
        &format!("Action=QueryDeviceCert&ProductKey={secret_pk}&DeviceName=x"),
    );
    assert_eq!(v["Success"], false);

    // Own names: check (asynchronous), failed list, then a clean check and registration.
    let v = api(&server, &format!(
        "Action=BatchCheckDeviceNames&ProductKey={pk}&DeviceName.1=good-one&DeviceName.2=taken-name&DeviceName.3=x&DeviceName.4=good-one"
    ));
    let apply = v["Data"]["ApplyId"].as_i64().expect("ApplyId");
    let v = wait_status(&server, &pk, apply, "CHECK");
    let data = &v["Data"];
    assert_eq!(data["Status"], "CHECK_FAILED");
    assert_eq!(data["ValidList"]["Name"], serde_json::json!(["good-one"]));
    assert_eq!(
        data["InvalidList"]["Name"],
        serde_json::json!(["taken-name", "x", "good-one"])
    );
    assert_eq!(
        data["InvalidDetailList"]["invalidDetailList"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let v = api(
        &server,
        &format!("Action=BatchRegisterDeviceWithApplyId&ProductKey={pk}&ApplyId={apply}"),
    );
    assert_eq!(v["Code"], "iot.device.ApplyIdNotChecked");

    let v = api(&server, &format!(
        "Action=BatchCheckDeviceNames&ProductKey={pk}&DeviceNameList.1.DeviceName=own-1&DeviceNameList.2.DeviceName=own-2&DeviceNameList.3.DeviceName=own-3"
    ));
    let apply = v["Data"]["ApplyId"].as_i64().unwrap();
    assert_eq!(
        wait_status(&server, &pk, apply, "CHECK")["Data"]["Status"],
        "CHECK_SUCCESS"
    );
    let v = api(
        &server,
        &format!("Action=BatchRegisterDeviceWithApplyId&ProductKey={pk}&ApplyId={apply}"),
    );
    assert_eq!(v["Success"], true, "{v}");
    let v = wait_status(&server, &pk, apply, "CREATE");
    assert_eq!(v["Data"]["Status"], "CREATE_SUCCESS", "{v}");
    let v = api(
        &server,
        &format!("Action=QueryPageByApplyId&ApplyId={apply}&PageSize=2&CurrentPage=2"),
    );
    assert_eq!(
        (v["Total"].clone(), v["PageCount"].clone()),
        (Value::from(3), Value::from(2))
    );
    assert_eq!(
        v["ApplyDeviceList"]["ApplyDeviceInfo"][0]["DeviceName"],
        "own-3"
    );
    let v = api(
        &server,
        &format!("Action=QueryPageByApplyId&ApplyId={apply}&PageSize=51"),
    );
    assert_eq!(v["Code"], "iot.common.InvalidPageParams");
    // The new devices connect.
    let cert = api(
        &server,
        &format!("Action=QueryDeviceCert&ProductKey={pk}&DeviceName=own-2"),
    );
    let dir = sim.path().join("own-2");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("own-2.cer"),
        cert["DeviceCertInfo"]["Certificate"].as_str().unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.join("own-2.key"),
        cert["DeviceCertInfo"]["PrivateKey"].as_str().unwrap(),
    )
    .unwrap();
    let creds = common::Creds {
        pk: pk.clone(),
        dn: "own-2".into(),
        cert: dir.join("own-2.cer"),
        key: dir.join("own-2.key"),
    };
    online(
        &sim,
        server.mqtt_port,
        &creds,
        &ConnectOptions::new("own-2"),
    );

    // Random names.
    let v = api(
        &server,
        &format!("Action=BatchRegisterDevice&ProductKey={pk}&Count=2"),
    );
    let apply = v["Data"]["ApplyId"].as_i64().unwrap();
    assert_eq!(
        wait_status(&server, &pk, apply, "CREATE")["Data"]["Status"],
        "CREATE_SUCCESS"
    );
    let v = api(
        &server,
        &format!("Action=QueryPageByApplyId&ApplyId={apply}&PageSize=50"),
    );
    assert_eq!(
        v["ApplyDeviceList"]["ApplyDeviceInfo"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let v = api(
        &server,
        &format!("Action=BatchRegisterDevice&ProductKey={pk}&Count=10001"),
    );
    assert_eq!(v["Code"], "iot.common.InvalidParameter");
    let v = api(&server, "Action=NoSuchThing");
    assert_eq!(v["Code"], "InvalidAction.NotFound");

    // Outside Shanghai, x509 calls fail with RegionNotSupportX509.
    drop(server);
    let server = sim.serve(&["--region", "cn-hangzhou"]);
    let v = api(
        &server,
        &format!("Action=BatchRegisterDevice&ProductKey={pk}&Count=1"),
    );
    assert_eq!(v["Code"], "iot.device.RegionNotSupportX509");
}

/// TLS per the rules: TLS 1.2 only by default; SNI recorded; MQTT 3.1 gets no session-present flag.
#[test]
fn tls_rules_and_sni_record() {
    use openssl::ssl::{SslConnector, SslMethod, SslVersion};
    let sim = Sim::new();
    let pk = sim.product("x509");
    let dev = sim.device(&pk, "tls-dev");
    let server = sim.serve(&[]);
    let mut builder = SslConnector::builder(SslMethod::tls_client()).unwrap();
    builder.set_ca_file(sim.ca()).unwrap();
    builder
        .set_certificate_file(&dev.cert, openssl::ssl::SslFiletype::PEM)
        .unwrap();
    builder
        .set_private_key_file(&dev.key, openssl::ssl::SslFiletype::PEM)
        .unwrap();
    builder
        .set_min_proto_version(Some(SslVersion::TLS1_3))
        .unwrap();
    let tcp = std::net::TcpStream::connect(("127.0.0.1", server.mqtt_port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    assert!(
        builder.build().connect("localhost", tcp).is_err(),
        "TLS 1.3 is not offered by default"
    );
    online(&sim, server.mqtt_port, &dev, &ConnectOptions::new("sni"));
    let (_, body) = server.http("GET", "/api/connections?deviceName=tls-dev", b"");
    let list: Vec<Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(list.last().unwrap()["sni"], "localhost");
}

/// `iotkit-sim probe` against the sim records the sim's own rules, in the
/// rule file's format, and the output is a valid --rules file.
#[test]
fn probe_records_the_rules_of_the_endpoint() {
    let sim = Sim::new();
    let pk = sim.product("x509");
    // RSA (the platform's key type): with an EC key, TLS 1.2 ties the
    // client certificate to the offered curves and the curve probe would fail.
    let dev = common::Creds::from_json(&sim.json(&[
        "device",
        "create",
        "--product",
        &pk,
        "--name",
        "probe-dev",
    ]));
    let server = sim.serve(&[]);
    let port = server.mqtt_port.to_string();
    let out = sim.ok(&[
        "probe",
        "--host",
        "localhost",
        "--address",
        "127.0.0.1",
        "--port",
        &port,
        "--ca",
        sim.ca().to_str().unwrap(),
        "--cert",
        dev.cert.to_str().unwrap(),
        "--key",
        dev.key.to_str().unwrap(),
        "--pause-ms",
        "0",
        "--timeout-secs",
        "5",
    ]);
    let table: toml::Table = toml::from_str(&out).expect("probe output is TOML");
    let value = |name: &str| table[name]["value"].clone();
    let strings =
        |list: &[&str]| toml::Value::Array(list.iter().map(|s| toml::Value::from(*s)).collect());
    assert_eq!(value("tls_versions"), strings(&["1.2"]), "{out}");
    assert_eq!(value("tls_sni_required"), toml::Value::Boolean(false));
    assert_eq!(
        value("tls_curves"),
        strings(&["X25519", "P-256", "P-384"]),
        "{out}"
    );
    let suites = value("tls12_ciphers").as_str().unwrap().to_string();
    assert!(
        suites.contains("ECDHE-RSA-AES128-GCM-SHA256") && suites.contains("AES128-GCM-SHA256"),
        "{suites}"
    );
    assert!(
        !suites.contains("ECDHE-ECDSA") && !suites.contains("AES128-SHA256"),
        "{suites}"
    );
    assert_eq!(
        value("protocol_levels"),
        toml::Value::Array(vec![3.into(), 4.into()])
    );
    assert_eq!(value("client_id_max"), toml::Value::Integer(64));
    assert_eq!(value("bad_client_id_code"), toml::Value::Integer(3));
    assert_eq!(value("keepalive_min"), toml::Value::Integer(30));
    assert_eq!(value("keepalive_min_code"), toml::Value::Integer(3));
    assert_eq!(value("first_connect_usernames"), strings(&["", "&"]));
    assert_eq!(value("not_authorized_code"), toml::Value::Integer(5));
    assert_eq!(value("will"), toml::Value::from("ignore"));
    for row in table.values() {
        assert_eq!(row["status"].as_str(), Some("measured"));
        assert!(row["source"].as_str().unwrap().contains("localhost:"));
    }
    // It is a rule file: the sim takes it.
    let file = sim.path().join("measured.toml");
    std::fs::write(&file, &out).unwrap();
    let rules = sim.ok(&["--rules", file.to_str().unwrap(), "rules"]);
    assert!(rules.contains("status = \"measured\""));
}

/// `init --second-root`: devices verify the server with the two-root bundle
/// (the server's root second) and still connect.
#[test]
fn devices_connect_with_a_two_root_bundle() {
    let sim = Sim::empty();
    sim.ok(&["init", "--second-root"]);
    let pk = sim.product("x509");
    let dev = sim.device(&pk, "bundle-dev");
    let server = sim.serve(&[]);
    online(&sim, server.mqtt_port, &dev, &ConnectOptions::new("bundle"));
    // Only the first root is not enough: the server chains to the second.
    let first_only = sim.path().join("first-root.pem");
    let roots = openssl::x509::X509::stack_from_pem(&std::fs::read(sim.ca()).unwrap()).unwrap();
    std::fs::write(&first_only, roots[0].to_pem().unwrap()).unwrap();
    assert!(common::tls_connect(server.mqtt_port, &first_only, &dev.cert, &dev.key).is_err());
}

/// The "unknown" rows are settings: the other choice of each, through one
/// rule file, changes the behaviour accordingly.
#[test]
fn settings_change_behaviour_through_the_rule_file() {
    use openssl::ssl::{SslConnector, SslFiletype, SslMethod, SslVersion};
    let sim = Sim::new();
    let pk = sim.product("x509");
    let dev = sim.device(&pk, "setting-dev");
    sim.ok(&[
        "product",
        "topic",
        "add",
        "--product",
        &pk,
        "--topic",
        "user/echo",
        "--access",
        "ALL",
    ]);
    let rules = sim.path().join("settings.toml");
    let row = |name: &str, value: &str| {
        format!("[{name}]\nvalue = {value}\nstatus = \"measured\"\nsource = \"test\"\n\n")
    };
    std::fs::write(
        &rules,
        [
            row("qos2", "\"disconnect\""),
            row("unauthorized_publish", "\"disconnect\""),
            row("retain", "\"drop\""),
            row("tls_versions", "[\"1.2\", \"1.3\"]"),
            row("tls_sni_required", "true"),
            row("persistent_session", "false"),
        ]
        .concat(),
    )
    .unwrap();
    let server = sim.serve(&["--rules", rules.to_str().unwrap()]);
    let port = server.mqtt_port;
    let topic = format!("/{pk}/setting-dev/user/echo");

    // TLS 1.3 is now offered; a ClientHello without SNI is refused.
    let connector = |no_sni: bool, tls13: bool| {
        let mut builder = SslConnector::builder(SslMethod::tls_client()).unwrap();
        builder.set_ca_file(sim.ca()).unwrap();
        builder
            .set_certificate_file(&dev.cert, SslFiletype::PEM)
            .unwrap();
        builder
            .set_private_key_file(&dev.key, SslFiletype::PEM)
            .unwrap();
        if tls13 {
            builder
                .set_min_proto_version(Some(SslVersion::TLS1_3))
                .unwrap();
        }
        let mut config = builder.build().configure().unwrap();
        config.set_use_server_name_indication(!no_sni);
        let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        config.connect("localhost", tcp)
    };
    let mut tls13 = connector(false, true).expect("TLS 1.3 handshake");
    assert_eq!(tls13.ssl().version_str(), "TLSv1.3");
    let _ = tls13.write_all(&[0xe0, 0]);
    if let Ok(mut stream) = connector(true, false) {
        use std::io::Read;
        let _ = stream.write_all(&[0x10, 0]);
        let mut buffer = [0u8; 4];
        assert!(
            matches!(stream.read(&mut buffer), Ok(0) | Err(_)),
            "closed without SNI"
        );
    }
    server.wait_log("no SNI in the ClientHello (rule tls_sni_required)");

    // retain = drop: a retained publish is dropped (QoS 1 acknowledged).
    let mut client = online(&sim, port, &dev, &ConnectOptions::new("settings"));
    assert_eq!(client.subscribe(1, &[&topic]), vec![1]);
    let mut body = (topic.len() as u16).to_be_bytes().to_vec();
    body.extend_from_slice(topic.as_bytes());
    body.extend_from_slice(&[0, 21]);
    body.extend_from_slice(b"kept?");
    let mut packet = vec![0x33, body.len() as u8];
    packet.extend_from_slice(&body);
    client.stream.write_all(&packet).unwrap();
    assert_eq!(client.read_packet().unwrap(), (0x40, vec![0, 21]));
    server.wait_log("retain is not supported by the platform");
    // qos2 = disconnect.
    client.publish(&topic, b"qos2", 2, 22);
    assert!(closed(&mut client), "closed on QoS 2");
    server.wait_log("device published at QoS 2 (rule qos2 = disconnect)");
    // unauthorized_publish = disconnect.
    let mut client = online(&sim, port, &dev, &ConnectOptions::new("settings"));
    client.publish(&format!("/{pk}/setting-dev/user/get"), b"x", 0, 0);
    assert!(closed(&mut client), "closed on a publish without rights");
    server.wait_log("(rule unauthorized_publish = disconnect)");

    // persistent_session = false: clean session 0 is treated as 1.
    let mut options = ConnectOptions::new("settings");
    options.clean_session = false;
    let mut client = online(&sim, port, &dev, &options);
    assert_eq!(client.subscribe(1, &[&topic]), vec![1]);
    client.disconnect();
    server.wait_log("device sent DISCONNECT");
    let (_, ack) = Client::connect_ack(port, &sim.ca(), &dev, &options);
    assert_eq!(ack, [0, 0], "no session kept");
}

/// A device may resume its TLS session on reconnect with a session ticket,
/// and is still the same authenticated device afterwards. (Resumption by
/// session ID is not offered yet: see `build_acceptor`.)
#[test]
fn tls_sessions_resume_with_a_ticket() {
    use openssl::ssl::{
        Ssl, SslContext, SslFiletype, SslMethod, SslSessionCacheMode, SslVerifyMode, SslVersion,
    };
    let sim = Sim::new();
    let pk = sim.product("x509");
    let dev = sim.device(&pk, "resume-dev");
    let server = sim.serve(&[]);
    {
        let mut context = SslContext::builder(SslMethod::tls_client()).unwrap();
        context.set_verify(SslVerifyMode::PEER);
        context.set_ca_file(sim.ca()).unwrap();
        context
            .set_certificate_file(&dev.cert, SslFiletype::PEM)
            .unwrap();
        context
            .set_private_key_file(&dev.key, SslFiletype::PEM)
            .unwrap();
        context
            .set_max_proto_version(Some(SslVersion::TLS1_2))
            .unwrap();
        context.set_session_cache_mode(SslSessionCacheMode::CLIENT);
        let context = context.build();
        let handshake = |session: Option<&openssl::ssl::SslSession>| {
            let mut ssl = Ssl::new(&context).unwrap();
            ssl.set_hostname("localhost").unwrap();
            ssl.param_mut().set_host("localhost").unwrap();
            if let Some(session) = session {
                // SAFETY: the session came from a connection of this same
                // context, which is what set_session requires.
                unsafe { ssl.set_session(session).unwrap() };
            }
            let tcp = std::net::TcpStream::connect(("127.0.0.1", server.mqtt_port)).unwrap();
            tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
                .unwrap();
            ssl.connect(tcp).expect("TLS handshake with the sim")
        };
        let mut first = handshake(None);
        assert!(!first.ssl().session_reused());
        let session = first
            .ssl()
            .session()
            .expect("a session to resume")
            .to_owned();
        // A connection that ends without close_notify makes its session
        // unresumable, as TLS requires; a device closing cleanly keeps it.
        let _ = first.shutdown();
        drop(first);
        let second = handshake(Some(&session));
        assert!(second.ssl().session_reused(), "resumed with the ticket");
        // The resumed connection is still the device: CONNECT is accepted.
        let mut client = Client { stream: second };
        let ack = client.send_connect(&ConnectOptions::new("resume-ticket"));
        assert_eq!(ack[1], 0, "CONNACK after resuming");
    }
}

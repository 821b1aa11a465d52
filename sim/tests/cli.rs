//! Every CLI flow against the real binary and a real SQLite registry.

mod common;

use common::Sim;
use openssl::x509::X509;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;

#[test]
fn help_on_every_command() {
    let sim = Sim::empty();
    for args in [
        vec!["--help"],
        vec!["init", "--help"],
        vec!["product", "--help"],
        vec!["product", "create", "--help"],
        vec!["product", "list", "--help"],
        vec!["product", "set-auth-type", "--help"],
        vec!["device", "--help"],
        vec!["device", "create", "--help"],
        vec!["device", "batch", "--help"],
        vec!["device", "batches", "--help"],
        vec!["device", "batch-csv", "--help"],
        vec!["device", "list", "--help"],
        vec!["device", "disable", "--help"],
        vec!["device", "enable", "--help"],
        vec!["device", "cert", "--help"],
        vec!["check", "--help"],
        vec!["serve", "--help"],
    ] {
        let out = sim.ok(&args);
        assert!(out.contains("Usage: iotkit-sim"), "{args:?}: {out}");
    }
}

#[test]
fn commands_before_init_say_to_run_init() {
    let sim = Sim::empty();
    let err = sim.fails(&["product", "list"]);
    assert!(
        err.contains("run `iotkit-sim --data-dir") && err.contains("init` first"),
        "{err}"
    );
}

#[test]
fn init_creates_ca_and_server_certificate_and_refuses_overwrite() {
    let sim = Sim::empty();
    let v = sim.json(&["init", "--san", "sim.example", "--san", "10.1.2.3"]);
    assert_eq!(
        v["serverNames"],
        serde_json::json!(["localhost", "127.0.0.1", "::1", "sim.example", "10.1.2.3"])
    );
    let mode = |name: &str| {
        std::fs::metadata(sim.path().join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("ca.key"), 0o600);
    assert_eq!(mode("server.key"), 0o600);
    assert_eq!(mode("operation-ca.key"), 0o600);
    // The server chain runs leaf -> server intermediate (sent with it) -> root.
    let chain =
        X509::stack_from_pem(&std::fs::read(sim.path().join("server.pem")).unwrap()).unwrap();
    assert_eq!(
        chain.len(),
        2,
        "server.pem holds the leaf and its intermediate"
    );
    let server = chain[0].clone();
    assert!(verifies(&server, &chain[1..], &sim.ca()));
    let ca = X509::from_pem(&std::fs::read(sim.ca()).unwrap()).unwrap();
    assert!(
        !server.verify(&ca.public_key().unwrap()).unwrap(),
        "the root signs the intermediate, not the leaf"
    );
    let sans: Vec<String> = server
        .subject_alt_names()
        .unwrap()
        .iter()
        .map(|n| {
            n.dnsname()
                .map(str::to_string)
                .or_else(|| n.ipaddress().map(|ip| format!("{ip:?}")))
                .unwrap()
        })
        .collect();
    assert!(sans.contains(&"localhost".to_string()));
    assert!(sans.contains(&format!("{:?}", [127u8, 0, 0, 1].as_slice())));
    assert!(sans.contains(&format!(
        "{:?}",
        std::net::Ipv6Addr::LOCALHOST.octets().as_slice()
    )));
    assert!(sans.contains(&"sim.example".to_string()));

    let err = sim.fails(&["init"]);
    assert!(
        err.contains("already has a platform CA") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(sim.ca()).unwrap(),
        ca.to_pem().unwrap(),
        "refused init must not touch the CA"
    );
    sim.ok(&["init", "--force"]);
    assert_ne!(std::fs::read(sim.ca()).unwrap(), ca.to_pem().unwrap());
}

#[test]
fn products_create_list_and_limits() {
    let sim = Sim::new();
    let text = sim.ok(&["product", "create", "--name", "demo", "--auth-type", "x509"]);
    let pk = text.trim();
    assert_eq!(pk.len(), 11);
    assert!(
        pk.starts_with("a1") && pk.chars().all(|c| c.is_ascii_alphanumeric()),
        "{pk}"
    );
    let secret = sim.product("secret");
    let gateway = sim.json(&[
        "product",
        "create",
        "--name",
        "gw",
        "--auth-type",
        "x509",
        "--node-type",
        "gateway",
    ]);
    assert_eq!(gateway["nodeType"], "gateway");

    let err = sim.fails(&[
        "product",
        "create",
        "--name",
        "lora",
        "--auth-type",
        "x509",
        "--net-type",
        "lorawan",
    ]);
    assert!(err.contains("not available for LoRaWAN"), "{err}");
    let err = sim.fails(&[
        "product",
        "create",
        "--name",
        "sub",
        "--auth-type",
        "x509",
        "--node-type",
        "sub-device",
    ]);
    assert!(err.contains("not sub-devices behind a gateway"), "{err}");
    // Secret products may be LoRaWAN sub-devices.
    sim.ok(&[
        "product",
        "create",
        "--name",
        "lora",
        "--auth-type",
        "secret",
        "--net-type",
        "lorawan",
        "--node-type",
        "sub-device",
    ]);
    sim.fails(&["product", "create", "--name", "", "--auth-type", "x509"]);

    let list = sim.json(&["product", "list"]);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 4);
    assert_eq!(list[0]["productKey"], pk);
    assert_eq!(list[0]["authType"], "x509");
    assert!(list
        .iter()
        .any(|p| p["productKey"] == secret.as_str() && p["authType"] == "secret"));
    let table = sim.ok(&["product", "list"]);
    assert!(table.contains("PRODUCTKEY") && table.contains(pk));
}

#[test]
fn auth_type_cannot_change() {
    let sim = Sim::new();
    let pk = sim.product("x509");
    let before = sim.ok(&["product", "list", "--json"]);
    let err = sim.fails(&[
        "product",
        "set-auth-type",
        "--product",
        &pk,
        "--auth-type",
        "secret",
    ]);
    assert!(
        err.contains("does not allow changing") && err.contains("nothing was changed"),
        "{err}"
    );
    assert_eq!(sim.ok(&["product", "list", "--json"]), before);
    // Asking for the mode it already has changes nothing and succeeds.
    let same = sim.json(&[
        "product",
        "set-auth-type",
        "--product",
        &pk,
        "--auth-type",
        "x509",
    ]);
    assert_eq!(same["changed"], false);
    let err = sim.fails(&[
        "product",
        "set-auth-type",
        "--product",
        "a1nothere00",
        "--auth-type",
        "x509",
    ]);
    assert!(err.contains("no product"), "{err}");
}

#[test]
fn device_create_issues_rsa_pkcs1_by_default_and_ec_on_request() {
    let sim = Sim::new();
    let pk = sim.product("x509");
    let v = sim.json(&[
        "device",
        "create",
        "--product",
        &pk,
        "--name",
        "demo-device-1",
    ]);
    assert_eq!(v["productKey"], pk.as_str());
    assert_eq!(v["deviceName"], "demo-device-1");
    assert_eq!(
        v["caFile"].as_str().unwrap(),
        std::path::absolute(sim.ca()).unwrap().to_str().unwrap()
    );
    let key = std::fs::read_to_string(v["keyFile"].as_str().unwrap()).unwrap();
    assert!(key.starts_with("-----BEGIN RSA PRIVATE KEY-----"), "{key}");
    let key_mode = std::fs::metadata(v["keyFile"].as_str().unwrap())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(key_mode, 0o600);
    let rsa = openssl::rsa::Rsa::private_key_from_pem(key.as_bytes()).unwrap();
    assert_eq!(rsa.size() * 8, 2048);
    let cert = X509::from_pem(&std::fs::read(v["certFile"].as_str().unwrap()).unwrap()).unwrap();
    // Issued by the Operation CA, which the root signed.
    let operation =
        X509::from_pem(&std::fs::read(sim.path().join("operation-ca.pem")).unwrap()).unwrap();
    assert!(verifies(&cert, std::slice::from_ref(&operation), &sim.ca()));
    assert!(
        !verifies(&cert, &[], &sim.ca()),
        "not signed by the root itself"
    );
    // Shaped like the platform's: .cer download, generic subject, 7-byte
    // serial, no EKU, notAfter 2119 as a GeneralizedTime.
    assert_eq!(
        std::fs::read(v["cerFile"].as_str().unwrap()).unwrap(),
        std::fs::read(v["certFile"].as_str().unwrap()).unwrap()
    );
    assert!(v["cerFile"]
        .as_str()
        .unwrap()
        .ends_with("demo-device-1.cer"));
    let text = String::from_utf8(cert.to_text().unwrap()).unwrap();
    assert!(
        text.contains("Subject: CN=IoT Device Certificate\n"),
        "{text}"
    );
    assert!(
        !text.contains("demo-device-1") && !text.contains(pk.as_str()),
        "{text}"
    );
    assert!(!text.contains("Extended Key Usage"), "{text}");
    assert!(
        text.contains("Not After : Jun  1 00:00:00 2119 GMT"),
        "{text}"
    );
    assert_eq!(cert.serial_number().to_bn().unwrap().num_bytes(), 7);
    assert_eq!(cert.version(), 2);
    assert!(cert
        .public_key()
        .unwrap()
        .public_eq(&openssl::pkey::PKey::from_rsa(rsa).unwrap()));

    let ec = sim.json(&[
        "device",
        "create",
        "--product",
        &pk,
        "--name",
        "ec-dev",
        "--key-type",
        "ec-p256",
    ]);
    let key = std::fs::read_to_string(ec["keyFile"].as_str().unwrap()).unwrap();
    assert!(key.starts_with("-----BEGIN EC PRIVATE KEY-----"));

    // Human-readable output names the files.
    let text = sim.ok(&[
        "device",
        "create",
        "--product",
        &pk,
        "--name",
        "text-dev",
        "--key-type",
        "ec-p256",
    ]);
    assert!(
        text.contains("certificate:")
            && text.contains("text-dev.pem")
            && text.contains("text-dev.key"),
        "{text}"
    );

    // Without --name a valid name is generated.
    let generated = sim.json(&[
        "device",
        "create",
        "--product",
        &pk,
        "--key-type",
        "ec-p256",
    ]);
    let name = generated["deviceName"].as_str().unwrap();
    assert!(
        (4..=32).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric()),
        "{name}"
    );
}

#[test]
fn device_create_refusals_change_nothing() {
    let sim = Sim::new();
    let pk = sim.product("x509");
    let secret = sim.product("secret");
    sim.device(&pk, "taken");
    let before = sim.ok(&["device", "list", "--json"]);

    let err = sim.fails(&["device", "create", "--product", &secret, "--name", "dev1"]);
    assert!(err.contains("uses secret authentication"), "{err}");
    let err = sim.fails(&["device", "create", "--product", &pk, "--name", "taken"]);
    assert!(err.contains("already exists"), "{err}");
    for bad in [
        "abc",
        "this-name-is-much-too-long-for-the-platform",
        "has space",
        "slash/x",
        "ümlaut",
    ] {
        let err = sim.fails(&["device", "create", "--product", &pk, "--name", bad]);
        assert!(err.contains("invalid device name"), "{bad}: {err}");
    }
    // The message quotes the name and the offending character the same way
    // (no Rust char literal), and escapes what would be invisible.
    let err = sim.fails(&["device", "create", "--product", &pk, "--name", "bad!\tname"]);
    assert!(
        err.contains(r#"invalid device name "bad!\tname": character "!" is not allowed"#),
        "{err}"
    );
    let err = sim.fails(&["device", "create", "--product", "a1nothere00"]);
    assert!(err.contains("no product"), "{err}");
    // All allowed characters at the length limits.
    sim.device(&pk, "a-_@");
    sim.device(&pk, "A.b:c@d_e-f0123456789abcdefghijk");

    let after: Vec<Value> = serde_json::from_str(&sim.ok(&["device", "list", "--json"])).unwrap();
    let before: Vec<Value> = serde_json::from_str(&before).unwrap();
    assert_eq!(after.len(), before.len() + 2);
}

#[test]
fn disable_enable_list_and_query_cert() {
    let sim = Sim::new();
    let pk = sim.product("x509");
    let creds = sim.device(&pk, "dev-1");
    sim.device(&pk, "dev-2");

    let v = sim.json(&["device", "disable", "--product", &pk, "--name", "dev-1"]);
    assert_eq!(
        (v["status"].as_str(), v["previous"].as_str()),
        (Some("disabled"), Some("enabled"))
    );
    let list = sim.json(&["device", "list", "--product", &pk]);
    let status = |name: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|d| d["deviceName"] == name)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(status("dev-1"), "disabled");
    assert_eq!(status("dev-2"), "enabled");
    assert!(sim
        .ok(&["device", "disable", "--product", &pk, "--name", "dev-1"])
        .contains("already disabled"));
    sim.ok(&["device", "enable", "--product", &pk, "--name", "dev-1"]);
    assert_eq!(sim.json(&["device", "list"])[0]["status"], "enabled");
    let err = sim.fails(&["device", "disable", "--product", &pk, "--name", "ghost"]);
    assert!(err.contains("no device \"ghost\""), "{err}");

    // QueryDeviceCert.
    let cert: Value =
        serde_json::from_str(&sim.ok(&["device", "cert", "--product", &pk, "--name", "dev-1"]))
            .unwrap();
    assert_eq!(cert["status"], "valid");
    assert_eq!(
        cert["certificate"].as_str().unwrap(),
        std::fs::read_to_string(&creds.cert).unwrap()
    );
    assert_eq!(
        cert["privateKey"].as_str().unwrap(),
        std::fs::read_to_string(&creds.key).unwrap()
    );
    let x509 = X509::from_pem(cert["certificate"].as_str().unwrap().as_bytes()).unwrap();
    let serial = x509
        .serial_number()
        .to_bn()
        .unwrap()
        .to_hex_str()
        .unwrap()
        .to_string();
    assert_eq!(cert["serialNumber"].as_str().unwrap(), serial);
    sim.fails(&["device", "cert", "--product", &pk, "--name", "ghost"]);

    // A restart of the CLI sees everything committed before.
    assert!(sim.ok(&["device", "list"]).contains("dev-2"));
    assert!(sim.ok(&["check"]).contains("registry OK (2 devices)"));
}

#[test]
fn batch_writes_csv_and_validates_count() {
    let sim = Sim::new();
    let pk = sim.product("x509");
    let v = sim.json(&[
        "device",
        "batch",
        "--product",
        &pk,
        "--count",
        "5",
        "--key-type",
        "ec-p256",
        "--url-base",
        "http://sim.test:9/",
    ]);
    assert_eq!(v["count"], 5);
    let csv = std::fs::read_to_string(v["csvFile"].as_str().unwrap()).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "ProductKey,DeviceName,CertUrl");
    assert_eq!(lines.len(), 6);
    for line in &lines[1..] {
        let cols: Vec<&str> = line.split(',').collect();
        assert_eq!(cols[0], pk);
        assert!(cols[2].starts_with("http://sim.test:9/certs/"), "{line}");
    }
    let devices = sim.json(&["device", "list", "--product", &pk]);
    assert_eq!(devices.as_array().unwrap().len(), 5);
    assert!(devices
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["batchId"] == v["batchId"]));

    // Regenerating the CSV with another base keeps the same devices and tokens.
    let out = sim.path().join("again.csv");
    sim.ok(&[
        "device",
        "batch-csv",
        "--batch",
        "1",
        "--url-base",
        "http://other:1",
        "--out",
        out.to_str().unwrap(),
    ]);
    let again = std::fs::read_to_string(out).unwrap();
    assert_eq!(again, csv.replace("http://sim.test:9/", "http://other:1/"));
    assert_eq!(sim.json(&["device", "batches"])[0]["count"], 5);

    for bad in ["0", "10001"] {
        let err = sim.fails(&["device", "batch", "--product", &pk, "--count", bad]);
        assert!(err.contains("out of range"), "{err}");
    }
    let secret = sim.product("secret");
    sim.fails(&["device", "batch", "--product", &secret, "--count", "1"]);
    sim.fails(&[
        "device",
        "batch",
        "--product",
        &pk,
        "--count",
        "1",
        "--url-base",
        "ftp://x",
    ]);
    assert!(sim.ok(&["check"]).contains("registry OK (5 devices)"));
}

/// Does `leaf` chain to a root in `roots` (a PEM file) through `intermediates`?
fn verifies(leaf: &X509, intermediates: &[X509], roots: &std::path::Path) -> bool {
    use openssl::stack::Stack;
    use openssl::x509::store::X509StoreBuilder;
    use openssl::x509::X509StoreContext;
    let mut store = X509StoreBuilder::new().unwrap();
    for root in X509::stack_from_pem(&std::fs::read(roots).unwrap()).unwrap() {
        store.add_cert(root).unwrap();
    }
    let store = store.build();
    let mut chain = Stack::new().unwrap();
    for cert in intermediates {
        chain.push(cert.clone()).unwrap();
    }
    let mut context = X509StoreContext::new().unwrap();
    context
        .init(&store, leaf, &chain, |c| c.verify_cert())
        .unwrap()
}

#[test]
fn second_root_puts_the_servers_root_second_in_the_bundle() {
    let sim = Sim::empty();
    let v = sim.json(&["init", "--second-root"]);
    assert_eq!(v["roots"], 2);
    let roots = X509::stack_from_pem(&std::fs::read(sim.ca()).unwrap()).unwrap();
    assert_eq!(roots.len(), 2);
    let chain =
        X509::stack_from_pem(&std::fs::read(sim.path().join("server.pem")).unwrap()).unwrap();
    // The server's intermediate is signed by the second root, not the first.
    assert!(chain[1].verify(&roots[1].public_key().unwrap()).unwrap());
    assert!(!chain[1].verify(&roots[0].public_key().unwrap()).unwrap());
    assert!(verifies(&chain[0], &chain[1..], &sim.ca()));
    // Device certificates still come from the Operation CA under the first root.
    let pk = sim.product("x509");
    let dev = sim.json(&["device", "create", "--product", &pk, "--name", "two-roots"]);
    let cert = X509::from_pem(&std::fs::read(dev["certFile"].as_str().unwrap()).unwrap()).unwrap();
    let operation =
        X509::from_pem(&std::fs::read(sim.path().join("operation-ca.pem")).unwrap()).unwrap();
    assert!(operation.verify(&roots[0].public_key().unwrap()).unwrap());
    assert!(verifies(&cert, &[operation], &sim.ca()));
}

#[test]
fn rules_command_prints_the_table_and_readme_shows_it() {
    let sim = Sim::empty();
    let toml_text = sim.ok(&["rules"]);
    assert!(
        toml_text.contains("[keepalive_min]\nvalue = 30\nstatus = \"documented\""),
        "{toml_text}"
    );
    let markdown = sim.ok(&["rules", "--markdown"]);
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(
        readme.contains(&markdown),
        "sim/README.md must show the rule table exactly as `iotkit-sim rules --markdown` prints it:\n{markdown}"
    );
    // An override file replaces one row; an unknown row is refused with its name.
    let file = sim.path().join("measured.toml");
    std::fs::write(
        &file,
        "[max_payload]\nvalue = 1024\nstatus = \"measured\"\nsource = \"probe\"\n",
    )
    .unwrap();
    let replaced = sim.ok(&["--rules", file.to_str().unwrap(), "rules"]);
    assert!(
        replaced.contains("[max_payload]\nvalue = 1024\nstatus = \"measured\""),
        "{replaced}"
    );
    std::fs::write(
        &file,
        "[max_payloads]\nvalue = 1\nstatus = \"measured\"\nsource = \"probe\"\n",
    )
    .unwrap();
    let err = sim.fails(&["--rules", file.to_str().unwrap(), "rules"]);
    assert!(err.contains("unknown rule max_payloads"), "{err}");
}

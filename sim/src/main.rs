//! iotkit-sim: a local stand-in for the IoT Platform's X.509 side.

mod broker;
mod clock;
mod endpoint;
mod http;
mod mqtt;
mod names;
mod openapi;
mod ota;
mod pki;
mod probe;
mod quote;
mod rules;
mod store;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use pki::{Ca, KeyType};
use serde_json::json;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use store::{NewDevice, Product, Store};

const CA_CERT: &str = "ca.pem";
const CA_KEY: &str = "ca.key";
const OPERATION_CA_CERT: &str = "operation-ca.pem";
const OPERATION_CA_KEY: &str = "operation-ca.key";
const SERVER_CERT: &str = "server.pem";
const SERVER_KEY: &str = "server.key";
const SERVE_JSON: &str = "serve.json";
const DEFAULT_HTTP: &str = "127.0.0.1:8642";

#[derive(Parser)]
#[command(
    name = "iotkit-sim",
    version,
    about = "Local stand-in for the IoT Platform's X.509 side: CA, device registry, mutual-TLS MQTT endpoint and HTTP API",
    after_help = "Typical session:\n  iotkit-sim init\n  iotkit-sim product create --name demo --auth-type x509\n  iotkit-sim device create --product <PK> --name demo-device-1\n  iotkit-sim serve --mqtt 127.0.0.1:8883 --http 127.0.0.1:8642"
)]
struct Cli {
    /// Directory holding the registry, the CA and issued files
    #[arg(
        long,
        global = true,
        default_value = ".iotkit-sim",
        env = "IOTKIT_SIM_DATA_DIR"
    )]
    data_dir: PathBuf,
    /// Print machine-readable JSON instead of text
    #[arg(long, global = true)]
    json: bool,
    /// A rule file whose rows replace the built-in platform rules (see `iotkit-sim rules`)
    #[arg(long, global = true, env = "IOTKIT_SIM_RULES", value_name = "FILE")]
    rules: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the platform CA and the endpoint's server certificate
    Init(InitArgs),
    /// Manage products
    #[command(subcommand)]
    Product(ProductCommand),
    /// Manage devices and their certificates
    #[command(subcommand)]
    Device(DeviceCommand),
    /// Verify the registry's consistency (SQLite integrity, every device has its certificate, batches complete)
    Check,
    /// Run the x509 MQTT endpoint and the HTTP API until SIGINT/SIGTERM
    Serve(ServeArgs),
    /// Print the platform rules in effect (built-in, replaced by --rules FILE)
    Rules {
        /// As a Markdown table instead of the rule-file format
        #[arg(long)]
        markdown: bool,
    },
    /// Record which platform rules a real endpoint follows; prints rule-file rows
    Probe(probe::ProbeArgs),
    /// Firmware updates: upload images, start upgrade jobs, show progress
    #[command(subcommand)]
    Ota(OtaCommand),
}

#[derive(Subcommand)]
enum OtaCommand {
    /// Store a firmware image for a product under a version
    Upload {
        #[arg(long)]
        product: String,
        #[arg(long)]
        version: String,
        #[arg(long)]
        file: PathBuf,
    },
    /// Start an upgrade job for one device (--device) or every device of the product
    Job {
        #[arg(long)]
        product: String,
        #[arg(long)]
        device: Option<String>,
        #[arg(long)]
        version: String,
        /// The digest in the push's sign: SHA256 (default) or Md5
        #[arg(long)]
        sign_method: Option<String>,
        /// Test hook: each device's first download stops after this many bytes
        #[arg(long)]
        cut_at: Option<u64>,
        /// Test hook: the push carries a wrong md5 and sign
        #[arg(long)]
        corrupt_digest: bool,
        /// Test hook: the download server ignores Range requests (answers 200)
        #[arg(long)]
        no_range: bool,
        /// Seconds the signed download URL stays valid (default 3600)
        #[arg(long)]
        url_ttl: Option<i64>,
    },
    /// Jobs, their devices' progress and the versions devices reported
    Status {
        #[arg(long)]
        job: Option<i64>,
    },
}

#[derive(Args)]
struct InitArgs {
    /// Replace an existing CA (certificates issued by the old CA stop working)
    #[arg(long)]
    force: bool,
    /// Extra DNS name or IP address for the server certificate (repeatable);
    /// localhost, 127.0.0.1 and ::1 are always included
    #[arg(long = "san", value_name = "NAME")]
    sans: Vec<String>,
    /// Also create a second root CA and chain the server certificate to it;
    /// ca.pem then holds both roots, the server's being the second (as when
    /// firmware carries a root's successor beside it)
    #[arg(long)]
    second_root: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum AuthType {
    /// X.509 client certificate (mutual TLS)
    X509,
    /// Device secret (HMAC signature)
    Secret,
}

impl AuthType {
    fn as_str(self) -> &'static str {
        match self {
            AuthType::X509 => "x509",
            AuthType::Secret => "secret",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum NetType {
    Wifi,
    Cellular,
    Ethernet,
    Lorawan,
    Other,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum NodeType {
    /// Directly connected device
    Device,
    /// Gateway (directly connected)
    Gateway,
    /// Sub-device connected through a gateway
    SubDevice,
}

fn value_name<T: ValueEnum>(value: T) -> String {
    value
        .to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default()
}

#[derive(Subcommand)]
enum ProductCommand {
    /// Create a product; prints its productKey
    Create {
        /// Product name (1-64 characters)
        #[arg(long)]
        name: String,
        /// Authentication mode; it cannot be changed later
        #[arg(long, value_enum)]
        auth_type: AuthType,
        /// Network connection mode (x509 is refused for lorawan)
        #[arg(long, value_enum, default_value = "wifi")]
        net_type: NetType,
        /// Node type (x509 is refused for sub-devices behind a gateway)
        #[arg(long, value_enum, default_value = "device")]
        node_type: NodeType,
    },
    /// List products
    List,
    /// Topic classes of a product (the rule file's defaults plus added ones)
    #[command(subcommand)]
    Topic(TopicCommand),
    /// Try to change a product's authentication mode (always refused: the platform forbids it)
    SetAuthType {
        /// productKey
        #[arg(long)]
        product: String,
        /// Requested authentication mode
        #[arg(long, value_enum)]
        auth_type: AuthType,
    },
}

#[derive(Subcommand)]
enum TopicCommand {
    /// Define a topic class /${productKey}/${deviceName}/<TOPIC> with publish and/or subscribe rights
    Add {
        /// productKey
        #[arg(long)]
        product: String,
        /// Short name below /${productKey}/${deviceName}/, e.g. user/cmd (segments: letters, digits, _ - ., or + / a final #)
        #[arg(long)]
        topic: String,
        /// PUB (device publishes), SUB (device subscribes) or ALL
        #[arg(long)]
        access: String,
    },
    /// List a product's topic classes with their rights
    List {
        /// productKey
        #[arg(long)]
        product: String,
    },
}

#[derive(Subcommand)]
enum DeviceCommand {
    /// Create a device and issue its certificate and private key
    Create {
        /// productKey of an x509 product
        #[arg(long)]
        product: String,
        /// deviceName (4-32 of letters, digits, - _ @ . :); generated when omitted
        #[arg(long)]
        name: Option<String>,
        /// Private key type
        #[arg(long, value_enum, default_value = "rsa-2048")]
        key_type: KeyType,
        /// Where to write <name>.pem and <name>.key (default: <data-dir>/devices/<productKey>)
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
    /// Create up to 10,000 devices at once; writes a CSV of ProductKey,DeviceName,CertUrl
    Batch {
        /// productKey of an x509 product
        #[arg(long)]
        product: String,
        /// Number of devices (1-10000)
        #[arg(long)]
        count: usize,
        /// Private key type
        #[arg(long, value_enum, default_value = "rsa-2048")]
        key_type: KeyType,
        /// Base of the CertUrls (default: the running `serve`'s HTTP address, else http://127.0.0.1:8642)
        #[arg(long)]
        url_base: Option<String>,
        /// CSV output file (default: <data-dir>/batches/batch-<id>.csv)
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// List batches
    Batches,
    /// Write a batch's CSV again (e.g. for a new --url-base)
    BatchCsv {
        /// Batch id (see `device batches`)
        #[arg(long)]
        batch: i64,
        /// Base of the CertUrls (default: the one the batch was created with)
        #[arg(long)]
        url_base: Option<String>,
        /// CSV output file (default: <data-dir>/batches/batch-<id>.csv)
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// List devices
    List {
        /// Only devices of this productKey
        #[arg(long)]
        product: Option<String>,
    },
    /// Disable a device: the endpoint refuses it (CONNACK 5)
    Disable(DeviceRef),
    /// Enable a disabled device
    Enable(DeviceRef),
    /// QueryDeviceCert: JSON with serial number, status, certificate and private key
    Cert(DeviceRef),
}

#[derive(Args)]
struct DeviceRef {
    /// productKey
    #[arg(long)]
    product: String,
    /// deviceName
    #[arg(long)]
    name: String,
}

#[derive(Args)]
struct ServeArgs {
    /// Address of the x509 MQTT endpoint (TLS, client certificate required); port 0 picks a free port
    #[arg(long, default_value = "127.0.0.1:8883")]
    mqtt: String,
    /// Address of the HTTP API; port 0 picks a free port
    #[arg(long, default_value = DEFAULT_HTTP)]
    http: String,
    /// Use this external MQTT broker (plain TCP, e.g. mosquitto) instead of the embedded rumqttd
    #[arg(long, value_name = "HOST:PORT")]
    upstream: Option<String>,
    /// Accept a username that does not match the certificate (logged as a warning)
    #[arg(long)]
    lenient_username: bool,
    /// The region the sim pretends to be (X.509 exists only in cn-shanghai; default: the rule file's)
    #[arg(long)]
    region: Option<String>,
    /// Address of the HTTPS server that serves firmware images (OTA); port 0 picks a free port
    #[arg(long, default_value = "127.0.0.1:0")]
    ota_https: String,
}

fn ota_command(data_dir: &Path, command: OtaCommand, as_json: bool) -> Result<()> {
    match command {
        OtaCommand::Upload {
            product,
            version,
            file,
        } => {
            let image = fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let record = ota::upload(data_dir, &product, &version, &image)?;
            if as_json {
                print_json(&record);
            } else {
                println!(
                    "{product} {version} {} bytes md5 {}",
                    record["size"],
                    record["md5"].as_str().unwrap_or("")
                );
            }
        }
        OtaCommand::Job {
            product,
            device,
            version,
            sign_method,
            cut_at,
            corrupt_digest,
            no_range,
            url_ttl,
        } => {
            let spec = ota::JobSpec {
                product_key: product,
                device_name: device,
                version,
                sign_method,
                cut_at,
                corrupt: corrupt_digest,
                no_range,
                url_ttl,
            };
            let job = ota::create_job(data_dir, &spec)?;
            // A running serve pushes at once; otherwise the push goes out when
            // the device next reports its version.
            let pushed = default_url_base(data_dir)
                .strip_prefix("http://")
                .and_then(|address| http_post(address, &format!("/api/ota/push?job={job}")).ok());
            if as_json {
                print_json(&json!({"jobId": job, "pushedNow": pushed.is_some()}));
            } else {
                println!("{job}");
                if pushed.is_none() {
                    eprintln!("job {job} created; it is pushed when the device reports its version to a running serve");
                }
            }
        }
        OtaCommand::Status { job } => {
            let status = ota::status(data_dir, job)?;
            if as_json {
                print_json(&status);
            } else {
                for job in status["jobs"].as_array().into_iter().flatten() {
                    println!(
                        "job {} {} version {} ({} bytes): {}",
                        job["jobId"],
                        job["productKey"].as_str().unwrap_or(""),
                        job["version"].as_str().unwrap_or(""),
                        job["size"],
                        job["status"].as_str().unwrap_or("")
                    );
                    for t in job["targets"].as_array().into_iter().flatten() {
                        println!(
                            "  {} {} step {} {} (reported version {})",
                            t["deviceName"].as_str().unwrap_or(""),
                            t["status"].as_str().unwrap_or(""),
                            t["step"],
                            t["desc"].as_str().unwrap_or(""),
                            t["reportedVersion"].as_str().unwrap_or("-")
                        );
                    }
                }
            }
        }
    }
    Ok(())
}

/// A bodiless POST to the running serve's HTTP API; Ok when it answered 200.
fn http_post(address: &str, target: &str) -> Result<()> {
    use std::io::Read as _;
    let mut stream = std::net::TcpStream::connect(address)?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    write!(stream, "POST {target} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    if answer.starts_with("HTTP/1.1 200") {
        Ok(())
    } else {
        bail!("the serve answered {}", answer.lines().next().unwrap_or(""))
    }
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("iotkit-sim: error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    let data_dir = cli.data_dir.clone();
    let rules = rules::Rules::load(cli.rules.as_deref())?;
    match cli.command {
        Command::Init(args) => init(&data_dir, &args, cli.json),
        Command::Product(command) => product(&data_dir, command, &rules, cli.json),
        Command::Device(command) => device(&data_dir, command, &rules, cli.json),
        Command::Check => check(&data_dir, cli.json),
        Command::Serve(args) => serve(&data_dir, &args, rules),
        Command::Rules { markdown } => {
            if markdown {
                print!("{}", rules::Rules::to_markdown(&rules.table));
            } else {
                print!("{}", rules::Rules::to_toml(&rules.table));
            }
            Ok(())
        }
        Command::Probe(args) => probe::run(&args),
        Command::Ota(command) => ota_command(&data_dir, command, cli.json),
    }
}

/// Writes a file atomically (temp + rename) with the given mode.
fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let temp = path.with_extension(format!("tmp-{}", std::process::id()));
    {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&temp)
            .with_context(|| format!("creating {}", temp.display()))?;
        // The mode given to open() is filtered by the umask; set it exactly.
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.write_all(contents)?;
        file.sync_all()?;
    }
    fs::rename(&temp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

fn init(data_dir: &Path, args: &InitArgs, as_json: bool) -> Result<()> {
    let ca_path = data_dir.join(CA_CERT);
    if ca_path.exists() && !args.force {
        bail!(
            "{} already has a platform CA ({}); devices issued by it would stop working if it were replaced. \
             Pass --force to replace it anyway",
            data_dir.display(),
            ca_path.display()
        );
    }
    fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    for san in &args.sans {
        if san.is_empty() || san.contains(char::is_whitespace) {
            bail!(
                "--san {san} is not a DNS name or IP address",
                san = crate::quote::q(&san)
            );
        }
        if !names.contains(san) {
            names.push(san.clone());
        }
    }
    let spinner = ProgressBar::new_spinner().with_message("generating the CA and server keys");
    spinner.enable_steady_tick(std::time::Duration::from_millis(100));
    // Like the platform: a root, an intermediate "Operation CA" that issues
    // device certificates, and a server chain through its own intermediate.
    let (ca, ca_key_pem) = Ca::generate("iotkit-sim platform root CA R1")?;
    let (operation, operation_key_pem) = ca.intermediate("iotkit-sim IoT Operation CA1")?;
    let second_root = if args.second_root {
        Some(Ca::generate("iotkit-sim platform root CA R2")?.0)
    } else {
        None
    };
    let server_root = second_root.as_ref().unwrap_or(&ca);
    let (server_ca, _) = server_root.intermediate("iotkit-sim server CA")?;
    let (server_cert, server_key) = server_ca.issue_server(&names)?;
    spinner.finish_and_clear();
    let mut roots = ca.cert.to_pem()?;
    if let Some(second) = &second_root {
        roots.extend_from_slice(&second.cert.to_pem()?);
    }
    let store = Store::create(data_dir)?;
    let orphaned = store.devices(None)?.len();
    write_file(&data_dir.join(CA_KEY), ca_key_pem.as_bytes(), 0o600)?;
    write_file(&data_dir.join(SERVER_KEY), server_key.as_bytes(), 0o600)?;
    write_file(&data_dir.join(SERVER_CERT), server_cert.as_bytes(), 0o644)?;
    write_file(
        &data_dir.join(OPERATION_CA_KEY),
        operation_key_pem.as_bytes(),
        0o600,
    )?;
    write_file(
        &data_dir.join(OPERATION_CA_CERT),
        &operation.cert.to_pem()?,
        0o644,
    )?;
    // The CA certificate goes last: its presence marks a complete init.
    write_file(&ca_path, &roots, 0o644)?;
    if orphaned > 0 {
        eprintln!(
            "warning: the {orphaned} registered device(s) hold certificates from the replaced CA; their TLS \
             handshakes will fail until they are re-created"
        );
    }
    if as_json {
        print_json(&json!({
            "caFile": ca_path,
            "caKeyFile": data_dir.join(CA_KEY),
            "operationCaFile": data_dir.join(OPERATION_CA_CERT),
            "roots": if args.second_root { 2 } else { 1 },
            "serverCertFile": data_dir.join(SERVER_CERT),
            "serverKeyFile": data_dir.join(SERVER_KEY),
            "serverNames": names,
        }));
    } else {
        println!("initialised {}", data_dir.display());
        println!(
            "  CA certificate:     {}  (give this to devices to verify the server)",
            ca_path.display()
        );
        println!(
            "  CA private key:     {}  (mode 0600)",
            data_dir.join(CA_KEY).display()
        );
        println!(
            "  Operation CA:       {}  (issues device certificates)",
            data_dir.join(OPERATION_CA_CERT).display()
        );
        if args.second_root {
            println!("  ca.pem holds two roots; the server chain ends at the second");
        }
        println!(
            "  server certificate: {}  for {}",
            data_dir.join(SERVER_CERT).display(),
            names.join(", ")
        );
    }
    Ok(())
}

/// The Operation CA, which issues device certificates.
pub fn load_ca(data_dir: &Path) -> Result<Ca> {
    if !data_dir.join(CA_CERT).exists() {
        bail!(
            "no platform CA in {}: run `iotkit-sim --data-dir {} init` first",
            data_dir.display(),
            data_dir.display()
        );
    }
    let cert = fs::read(data_dir.join(OPERATION_CA_CERT)).map_err(|_| {
        anyhow!(
            "{} has no Operation CA ({OPERATION_CA_CERT}; made by an older iotkit-sim): run              `iotkit-sim --data-dir {} init --force` and create the devices again",
            data_dir.display(),
            data_dir.display()
        )
    })?;
    let key = fs::read(data_dir.join(OPERATION_CA_KEY))
        .with_context(|| format!("reading {}", data_dir.join(OPERATION_CA_KEY).display()))?;
    Ca::load(&cert, &key)
}

fn product(
    data_dir: &Path,
    command: ProductCommand,
    rules: &rules::Rules,
    as_json: bool,
) -> Result<()> {
    let mut store = Store::open(data_dir)?;
    match command {
        ProductCommand::Create {
            name,
            auth_type,
            net_type,
            node_type,
        } => {
            names::validate_product_name(&name)?;
            if auth_type == AuthType::X509 && net_type == NetType::Lorawan {
                bail!("x509 authentication is not available for LoRaWAN products; use --net-type wifi, cellular, ethernet or other, or another --auth-type");
            }
            if auth_type == AuthType::X509 && node_type == NodeType::SubDevice {
                bail!("x509 authentication is only for devices connected directly over MQTT, not sub-devices behind a gateway; use --node-type device or gateway");
            }
            let product = Product {
                product_key: names::new_product_key(),
                name,
                auth_type: auth_type.as_str().into(),
                net_type: value_name(net_type),
                node_type: value_name(node_type),
                created_at: clock::now(),
            };
            store.insert_product(&product)?;
            if as_json {
                print_json(&serde_json::to_value(&product)?);
            } else {
                eprintln!(
                    "created product {} (auth {}, net {}, node {})",
                    crate::quote::q(&product.name),
                    product.auth_type,
                    product.net_type,
                    product.node_type
                );
                println!("{}", product.product_key);
            }
        }
        ProductCommand::List => {
            let products = store.products()?;
            if as_json {
                print_json(&serde_json::to_value(&products)?);
            } else if products.is_empty() {
                println!("no products; create one with `iotkit-sim product create --name NAME --auth-type x509`");
            } else {
                println!(
                    "{:<12} {:<7} {:<9} {:<11} {:<20} NAME",
                    "PRODUCTKEY", "AUTH", "NET", "NODE", "CREATED"
                );
                for p in products {
                    println!(
                        "{:<12} {:<7} {:<9} {:<11} {:<20} {}",
                        p.product_key,
                        p.auth_type,
                        p.net_type,
                        p.node_type,
                        clock::rfc3339(p.created_at),
                        p.name
                    );
                }
            }
        }
        ProductCommand::Topic(TopicCommand::Add {
            product,
            topic,
            access,
        }) => {
            let class = add_topic_class(&mut store, &product, &topic, &access)?;
            if as_json {
                print_json(&class);
            } else {
                println!(
                    "topic class {} of product {product}: {}",
                    class["topic"].as_str().unwrap_or_default(),
                    class["access"].as_str().unwrap_or_default()
                );
            }
        }
        ProductCommand::Topic(TopicCommand::List { product }) => {
            store.require_product(&product)?;
            let classes = topic_classes_json(&store, &product, rules)?;
            if as_json {
                print_json(&classes);
            } else {
                println!("{:<6} {:<8} TOPIC", "ACCESS", "ORIGIN");
                for class in classes.as_array().into_iter().flatten() {
                    println!(
                        "{:<6} {:<8} {}",
                        class["access"].as_str().unwrap_or_default(),
                        class["origin"].as_str().unwrap_or_default(),
                        class["topic"].as_str().unwrap_or_default()
                    );
                }
            }
        }
        ProductCommand::SetAuthType { product, auth_type } => {
            let existing = store.require_product(&product)?;
            if existing.auth_type == auth_type.as_str() {
                if as_json {
                    print_json(
                        &json!({"productKey": product, "authType": existing.auth_type, "changed": false}),
                    );
                } else {
                    println!(
                        "product {product} already uses {} authentication; nothing changed",
                        existing.auth_type
                    );
                }
                return Ok(());
            }
            bail!(
                "product {product} uses {} authentication and the platform does not allow changing a product's \
                 authentication mode after creation; nothing was changed. Create a new product with \
                 `iotkit-sim product create --name NAME --auth-type {}`",
                existing.auth_type,
                auth_type.as_str()
            );
        }
    }
    Ok(())
}

/// Validates and stores a topic class; returns it as JSON.
pub fn add_topic_class(
    store: &mut Store,
    product: &str,
    topic: &str,
    access: &str,
) -> Result<serde_json::Value> {
    store.require_product(product)?;
    let short = topic
        .strip_prefix(&format!("/{product}/${{deviceName}}/"))
        .unwrap_or(topic);
    rules::validate_class(short)?;
    let access = rules::Access::parse(access).ok_or_else(|| {
        anyhow!(
            "access {access} must be PUB, SUB or ALL",
            access = crate::quote::q(&access)
        )
    })?;
    store.set_topic_class(product, short, access.as_str(), clock::now())?;
    Ok(json!({
        "productKey": product,
        "topic": format!("/{product}/${{deviceName}}/{short}"),
        "access": access.as_str(),
    }))
}

/// A product's topic classes: the rule file's defaults, then added ones
/// (an added class with a default's name replaces its rights).
pub fn topic_classes_json(
    store: &Store,
    product: &str,
    rules: &rules::Rules,
) -> Result<serde_json::Value> {
    let added = store.topic_classes(product)?;
    let mut list = Vec::new();
    for (short, access) in &rules.default_topic_classes {
        if added.iter().any(|(t, _)| t == short) {
            continue;
        }
        list.push(json!({"topic": format!("/{product}/${{deviceName}}/{short}"), "access": access.as_str(), "origin": "default"}));
    }
    for (short, access) in added {
        list.push(json!({"topic": format!("/{product}/${{deviceName}}/{short}"), "access": access, "origin": "added"}));
    }
    Ok(serde_json::Value::Array(list))
}

/// The product, refusing anything but an x509 product.
pub fn x509_product(store: &Store, product_key: &str) -> Result<Product> {
    let product = store.require_product(product_key)?;
    if product.auth_type != "x509" {
        bail!(
            "product {product_key} uses {} authentication; certificates are issued only for x509 products \
             (create one with `iotkit-sim product create --name NAME --auth-type x509`)",
            product.auth_type
        );
    }
    Ok(product)
}

pub fn cert_json(record: &store::CertRecord) -> serde_json::Value {
    json!({
        "productKey": record.product_key,
        "deviceName": record.device_name,
        "serialNumber": record.serial_number,
        "status": record.status,
        "keyType": record.key_type,
        "notAfter": clock::rfc3339(record.not_after),
        "certificate": record.certificate,
        "privateKey": record.private_key,
    })
}

fn device(
    data_dir: &Path,
    command: DeviceCommand,
    rules: &rules::Rules,
    as_json: bool,
) -> Result<()> {
    let profile = pki::DeviceProfile::from_rules(rules);
    let mut store = Store::open(data_dir)?;
    match command {
        DeviceCommand::Create {
            product,
            name,
            key_type,
            out_dir,
        } => {
            x509_product(&store, &product)?;
            let device_name = match name {
                Some(name) => {
                    names::validate_device_name(&name)?;
                    name
                }
                None => names::new_device_name(),
            };
            if store.device_exists(&product, &device_name)? {
                bail!(
                    "device {device_name} already exists in product {product}; choose another --name \
                     (or fetch its certificate with `iotkit-sim device cert --product {product} --name {device_name}`)", device_name = crate::quote::q(&device_name)
                );
            }
            let ca = load_ca(data_dir)?;
            let issued = ca.issue_device(&profile, key_type)?;
            let (cert_pem, key_pem, serial) = (
                issued.cert_pem.clone(),
                issued.key_pem.clone(),
                issued.serial.clone(),
            );
            let new_device = NewDevice {
                device_name: device_name.clone(),
                url_token: None,
                issued,
                key_type: key_type.as_str(),
            };
            store.insert_devices(&product, &[new_device], None, clock::now())?;
            let dir = out_dir.unwrap_or_else(|| data_dir.join("devices").join(&product));
            fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            // The platform's download is DN.cer + DN.key; DN.pem is the same certificate.
            let cert_file = dir.join(format!("{device_name}.pem"));
            let cer_file = dir.join(format!("{device_name}.cer"));
            let key_file = dir.join(format!("{device_name}.key"));
            let written = write_file(&cert_file, cert_pem.as_bytes(), 0o644)
                .and_then(|()| write_file(&cer_file, cert_pem.as_bytes(), 0o644))
                .and_then(|()| write_file(&key_file, key_pem.as_bytes(), 0o600));
            if let Err(e) = written {
                bail!(
                    "device {device_name} is registered but writing its files failed ({e:#}); fetch the \
                     certificate with `iotkit-sim device cert --product {product} --name {device_name}`"
                );
            }
            let ca_file = data_dir.join(CA_CERT);
            if as_json {
                print_json(&json!({
                    "productKey": product,
                    "deviceName": device_name,
                    "serialNumber": serial,
                    "keyType": key_type.as_str(),
                    "certFile": absolute(&cert_file),
                    "cerFile": absolute(&cer_file),
                    "keyFile": absolute(&key_file),
                    "caFile": absolute(&ca_file),
                }));
            } else {
                println!(
                    "created device {device_name} in product {product} ({} key)",
                    key_type.as_str()
                );
                println!("  certificate: {}", cert_file.display());
                println!("  private key: {}", key_file.display());
                println!("  CA:          {}", ca_file.display());
                println!("  serial:      {serial}");
            }
        }
        DeviceCommand::Batch {
            product,
            count,
            key_type,
            url_base,
            out,
        } => batch(
            data_dir, &mut store, &product, count, key_type, url_base, out, rules, as_json,
        )?,
        DeviceCommand::Batches => {
            let batches = store.batches()?;
            if as_json {
                print_json(&serde_json::to_value(&batches)?);
            } else if batches.is_empty() {
                println!(
                    "no batches; create one with `iotkit-sim device batch --product PK --count N`"
                );
            } else {
                println!(
                    "{:<6} {:<12} {:>6} {:<20} URL BASE",
                    "BATCH", "PRODUCTKEY", "COUNT", "CREATED"
                );
                for b in batches {
                    println!(
                        "{:<6} {:<12} {:>6} {:<20} {}",
                        b.batch_id,
                        b.product_key,
                        b.count,
                        clock::rfc3339(b.created_at),
                        b.url_base
                    );
                }
            }
        }
        DeviceCommand::BatchCsv {
            batch,
            url_base,
            out,
        } => {
            let Some(found) = store.batches()?.into_iter().find(|b| b.batch_id == batch) else {
                bail!("no batch {batch}; see `iotkit-sim device batches`");
            };
            let base = url_base.unwrap_or(found.url_base);
            let path =
                out.unwrap_or_else(|| data_dir.join("batches").join(format!("batch-{batch}.csv")));
            write_batch_csv(&store, &found.product_key, batch, &base, &path)?;
            if as_json {
                print_json(&json!({"batchId": batch, "csvFile": absolute(&path)}));
            } else {
                println!("wrote {}", path.display());
            }
        }
        DeviceCommand::List { product } => {
            if let Some(product) = &product {
                store.require_product(product)?;
            }
            let devices = store.devices(product.as_deref())?;
            if as_json {
                print_json(&serde_json::to_value(&devices)?);
            } else if devices.is_empty() {
                println!("no devices; create one with `iotkit-sim device create --product PK`");
            } else {
                println!(
                    "{:<12} {:<32} {:<8} {:<6} SERIAL",
                    "PRODUCTKEY", "DEVICENAME", "STATUS", "BATCH"
                );
                for d in devices {
                    println!(
                        "{:<12} {:<32} {:<8} {:<6} {}",
                        d.product_key,
                        d.device_name,
                        d.status,
                        d.batch_id
                            .map(|b| b.to_string())
                            .unwrap_or_else(|| "-".into()),
                        d.cert_serial.unwrap_or_else(|| "-".into())
                    );
                }
            }
        }
        DeviceCommand::Disable(target) => set_status(&mut store, &target, "disabled", as_json)?,
        DeviceCommand::Enable(target) => set_status(&mut store, &target, "enabled", as_json)?,
        DeviceCommand::Cert(target) => {
            store.require_product(&target.product)?;
            let Some(record) = store.device_cert(&target.product, &target.name)? else {
                bail!(
                    "no certificate for device {} in product {}; see `iotkit-sim device list --product {}`",
                    crate::quote::q(&target.name),
                    target.product,
                    target.product
                );
            };
            // QueryDeviceCert is JSON by nature; --json changes nothing here.
            print_json(&cert_json(&record));
        }
    }
    Ok(())
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

fn set_status(store: &mut Store, target: &DeviceRef, status: &str, as_json: bool) -> Result<()> {
    store.require_product(&target.product)?;
    let previous = store.set_device_status(&target.product, &target.name, status)?;
    if as_json {
        print_json(
            &json!({"productKey": target.product, "deviceName": target.name, "status": status, "previous": previous}),
        );
    } else if previous == status {
        println!(
            "device {} in product {} was already {status}",
            target.name, target.product
        );
    } else {
        println!(
            "device {} in product {} is now {status}",
            target.name, target.product
        );
    }
    Ok(())
}

/// Issues certificates for `names` (None: a generated name) in parallel, one
/// thread per core (RSA key generation dominates); each device gets a CertUrl
/// token. Registers nothing.
pub fn issue_devices(
    ca: &Ca,
    profile: &pki::DeviceProfile,
    key_type: KeyType,
    names: Vec<Option<String>>,
    progress: &ProgressBar,
) -> Result<Vec<NewDevice>> {
    let count = names.len();
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(count.max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<Vec<(usize, Result<NewDevice>)>> = Mutex::new(Vec::with_capacity(count));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= count || failed.load(Ordering::Relaxed) {
                    break;
                }
                let device_name = names[index].clone().unwrap_or_else(names::new_device_name);
                let made = ca.issue_device(profile, key_type).map(|issued| NewDevice {
                    device_name,
                    url_token: Some(names::random_hex(16)),
                    issued,
                    key_type: key_type.as_str(),
                });
                if made.is_err() {
                    failed.store(true, Ordering::Relaxed);
                }
                results
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((index, made));
                progress.inc(1);
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    results.sort_by_key(|(index, _)| *index);
    results
        .into_iter()
        .map(|(_, made)| made)
        .collect::<Result<Vec<_>>>()
        .context("issuing a certificate failed; nothing was registered")
}

/// The CertUrl base: explicit, else the running serve's HTTP port, else the default.
pub fn default_url_base(data_dir: &Path) -> String {
    let port = fs::read(data_dir.join(SERVE_JSON))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|v| v.get("http_port").and_then(|p| p.as_u64()));
    match port {
        Some(port) => format!("http://127.0.0.1:{port}"),
        None => format!("http://{DEFAULT_HTTP}"),
    }
}

#[allow(clippy::too_many_arguments)]
fn batch(
    data_dir: &Path,
    store: &mut Store,
    product: &str,
    count: usize,
    key_type: KeyType,
    url_base: Option<String>,
    out: Option<PathBuf>,
    rules: &rules::Rules,
    as_json: bool,
) -> Result<()> {
    x509_product(store, product)?;
    let max = rules.batch_count_max;
    let profile = &pki::DeviceProfile::from_rules(rules);
    if !(1..=max).contains(&count) {
        bail!("--count {count} is out of range; a batch creates 1 to {max} devices");
    }
    let url_base = url_base.unwrap_or_else(|| default_url_base(data_dir));
    let url_base = url_base.trim_end_matches('/').to_string();
    if !url_base.starts_with("http://") && !url_base.starts_with("https://") {
        bail!(
            "--url-base {url_base} must start with http:// or https://",
            url_base = crate::quote::q(&url_base)
        );
    }
    let ca = load_ca(data_dir)?;
    let started = std::time::Instant::now();
    let progress = ProgressBar::new(count as u64);
    progress.set_style(
        ProgressStyle::with_template(
            "{spinner} issuing certificates [{bar:40}] {pos}/{len} ({eta} left)",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    // Keys are generated in parallel (RSA key generation dominates); the
    // registry is written afterwards in one transaction, so an interrupted
    // batch leaves no trace at all.
    let devices = issue_devices(&ca, profile, key_type, vec![None; count], &progress)?;
    progress.finish_and_clear();
    let batch_id = store
        .insert_devices(product, &devices, Some(&url_base), clock::now())?
        .expect("a batch insert returns its id");
    let path = out.unwrap_or_else(|| {
        data_dir
            .join("batches")
            .join(format!("batch-{batch_id}.csv"))
    });
    write_batch_csv(store, product, batch_id, &url_base, &path)
        .with_context(|| format!("batch {batch_id} is registered; write its CSV again with `iotkit-sim device batch-csv --batch {batch_id}`"))?;
    let seconds = started.elapsed().as_secs_f64();
    if as_json {
        print_json(&json!({
            "batchId": batch_id,
            "productKey": product,
            "count": count,
            "csvFile": absolute(&path),
            "seconds": seconds,
        }));
    } else {
        println!(
            "created batch {batch_id}: {count} devices in product {product} in {seconds:.1} s"
        );
        println!("  CSV: {}", path.display());
        println!(
            "  CertUrls are valid for 30 days and are served by `iotkit-sim serve` at {url_base}"
        );
    }
    Ok(())
}

fn write_batch_csv(
    store: &Store,
    product: &str,
    batch_id: i64,
    url_base: &str,
    path: &Path,
) -> Result<()> {
    let mut csv = String::from("ProductKey,DeviceName,CertUrl\n");
    for (device_name, token) in store.batch_rows(batch_id)? {
        csv.push_str(&format!(
            "{product},{device_name},{url_base}/certs/{token}\n"
        ));
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    write_file(path, csv.as_bytes(), 0o600)
}

fn check(data_dir: &Path, as_json: bool) -> Result<()> {
    let store = Store::open(data_dir)?;
    let problems = store.check()?;
    let devices = store.devices(None)?.len();
    if as_json {
        print_json(&json!({"ok": problems.is_empty(), "problems": problems, "devices": devices}));
    } else if problems.is_empty() {
        println!("registry OK ({devices} devices)");
    }
    if !problems.is_empty() {
        bail!("registry has problems: {}", problems.join("; "));
    }
    Ok(())
}

fn serve(data_dir: &Path, args: &ServeArgs, rules: rules::Rules) -> Result<()> {
    let store = Store::open(data_dir)?;
    load_ca(data_dir)?;
    let acceptor = build_acceptor(data_dir, &rules)?;
    let (broker, broker_text) = match &args.upstream {
        Some(upstream) => {
            broker::wait_reachable(upstream, std::time::Duration::from_secs(5)).with_context(|| {
                format!("--upstream {upstream}: start the broker (e.g. `mosquitto -p PORT`) or fix the address")
            })?;
            (upstream.clone(), format!("upstream {upstream}"))
        }
        None => {
            let address = broker::start_embedded()?;
            (address.to_string(), format!("embedded rumqttd {address}"))
        }
    };
    let mqtt_listener = std::net::TcpListener::bind(&args.mqtt).with_context(|| {
        format!(
            "binding the MQTT endpoint to {}; pick another --mqtt address or port 0",
            args.mqtt
        )
    })?;
    mqtt_listener.set_nonblocking(true)?;
    let mqtt_address = mqtt_listener.local_addr()?;
    let http_server = tiny_http::Server::http(&args.http).map_err(|e| {
        anyhow!(
            "binding the HTTP API to {}: {e}; pick another --http address or port 0",
            args.http
        )
    })?;
    let http_address = http_server
        .server_addr()
        .to_ip()
        .ok_or_else(|| anyhow!("the HTTP API is not on an IP address"))?;

    let region = args.region.clone().unwrap_or_else(|| rules.region.clone());
    let shared = Arc::new(endpoint::Shared::new(
        store,
        broker,
        args.lenient_username,
        rules,
        region,
        data_dir.to_path_buf(),
    ));
    let ota_https_port = ota::start(data_dir, &shared.broker, &args.ota_https)?;
    http::spawn_workers(Arc::new(http_server), shared.clone(), data_dir, 4);

    let serve_json = data_dir.join(SERVE_JSON);
    let info = json!({
        "mqtt_port": mqtt_address.port(),
        "http_port": http_address.port(),
        "mqtt": mqtt_address.to_string(),
        "http": http_address.to_string(),
        "broker": broker_text,
        "pid": std::process::id(),
        "ota_https_port": ota_https_port,
    });
    write_file(
        &serve_json,
        serde_json::to_string_pretty(&info)?.as_bytes(),
        0o644,
    )?;
    println!(
        "[sim] serving mqtt(tls)={mqtt_address} http=http://{http_address} broker={broker_text} mqtt_port={} http_port={} data={}",
        mqtt_address.port(),
        http_address.port(),
        data_dir.display()
    );
    if args.lenient_username {
        println!("[sim] --lenient-username: username mismatches are accepted with a warning");
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let stopped_by = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(mqtt_listener)?;
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let stopped_by = tokio::select! {
            _ = endpoint::run(listener, Arc::new(acceptor), shared) => "endpoint ended",
            _ = terminate.recv() => "SIGTERM",
            _ = tokio::signal::ctrl_c() => "SIGINT",
        };
        anyhow::Ok(stopped_by)
    })?;
    let _ = fs::remove_file(&serve_json);
    println!("[sim] stopped ({stopped_by})");
    // The embedded broker and HTTP workers have no shutdown hook; the
    // registry is already consistent (every change was committed), so exit.
    std::process::exit(0);
}

fn build_acceptor(data_dir: &Path, rules: &rules::Rules) -> Result<openssl::ssl::SslAcceptor> {
    use openssl::ssl::{SslAcceptor, SslFiletype, SslMethod, SslVerifyMode, SslVersion};
    let mut builder = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())?;
    let version = |v: &str| {
        if v == "1.3" {
            SslVersion::TLS1_3
        } else {
            SslVersion::TLS1_2
        }
    };
    let lowest = rules.tls_versions.iter().min().map(|v| version(v));
    let highest = rules.tls_versions.iter().max().map(|v| version(v));
    builder.set_min_proto_version(lowest)?;
    builder.set_max_proto_version(highest)?;
    builder
        .set_cipher_list(&rules.tls12_ciphers)
        .context("rule tls12_ciphers is not an OpenSSL cipher list")?;
    builder
        .set_groups_list(&rules.tls_curves.join(":"))
        .context("rule tls_curves names a group OpenSSL does not know")?;
    // server.pem holds the leaf and its intermediate: the whole chain is sent.
    builder
        .set_certificate_chain_file(data_dir.join(SERVER_CERT))
        .with_context(|| format!("loading {}", data_dir.join(SERVER_CERT).display()))?;
    builder
        .set_private_key_file(data_dir.join(SERVER_KEY), SslFiletype::PEM)
        .with_context(|| format!("loading {}", data_dir.join(SERVER_KEY).display()))?;
    builder
        .check_private_key()
        .context("the server key does not match its certificate; run `init --force`")?;
    // Device certificates chain through the Operation CA to the root(s).
    let mut trusted = openssl::x509::X509::stack_from_pem(&fs::read(data_dir.join(CA_CERT))?)?;
    trusted.push(openssl::x509::X509::from_pem(&fs::read(
        data_dir.join(OPERATION_CA_CERT),
    )?)?);
    let mut names = openssl::stack::Stack::new()?;
    for cert in &trusted {
        builder.cert_store_mut().add_cert(cert.clone())?;
        names.push(cert.subject_name().to_owned()?)?;
    }
    builder.set_client_ca_list(names);
    builder.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
    // Devices resume TLS sessions on reconnect (a full handshake costs an
    // MCU about a second of RSA work). OpenSSL refuses to resume a session
    // that verified a client certificate unless the context names itself, so
    // without this every resumption fell back to a full handshake. Session
    // tickets resume; session IDs do not yet, because a connection the sim
    // drops without its own close_notify leaves the ID out of the cache.
    builder.set_session_id_context(b"iotkit-sim")?;
    Ok(builder.build())
}

//! Test certificates generated with the openssl CLI into a temporary
//! directory: a CA, a server certificate for localhost / 127.0.0.1 / ::1, and
//! client certificates with RSA-2048 (PKCS#1 "RSA PRIVATE KEY") and ECDSA
//! P-256 keys, plus helpers for the odd cases (expired, other CA, encrypted
//! key, ...).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use tempfile::TempDir;

/// Key algorithm of a generated certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// RSA-2048, written as PKCS#1 ("BEGIN RSA PRIVATE KEY").
    Rsa2048,
    /// ECDSA P-256, written as SEC1 ("BEGIN EC PRIVATE KEY").
    EcP256,
}

/// A directory of generated test certificates.
pub struct Pki {
    dir: TempDir,
}

/// Runs openssl in `dir`; panics with its output when it fails.
pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run the openssl CLI");
    assert!(
        out.status.success(),
        "openssl {} failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One PKI per test binary: generating RSA keys is slow on small machines.
pub fn shared() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(Pki::new)
}

impl Pki {
    /// CA "ca", server "server" (SAN localhost, 127.0.0.1, ::1), clients
    /// "client_rsa" (RSA-2048, PKCS#1) and "client_ec" (P-256).
    pub fn new() -> Pki {
        let dir = tempfile::Builder::new()
            .prefix("iotkit-pki-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("create a temporary directory");
        let pki = Pki { dir };
        pki.new_ca("ca");
        pki.issue_server("server", "ca", "DNS:localhost,IP:127.0.0.1,IP:::1");
        pki.issue_client("client_rsa", "ca", KeyKind::Rsa2048);
        pki.issue_client("client_ec", "ca", KeyKind::EcP256);
        pki
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Path of a file in the PKI directory, e.g. `path("ca.crt")`.
    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    pub fn read(&self, file: &str) -> Vec<u8> {
        std::fs::read(self.path(file)).unwrap_or_else(|e| panic!("read {file}: {e}"))
    }

    /// Writes `data` to `file` in the PKI directory.
    pub fn write(&self, file: &str, data: &[u8]) {
        std::fs::write(self.path(file), data).unwrap_or_else(|e| panic!("write {file}: {e}"));
    }

    fn run(&self, args: &[&str]) {
        openssl(self.dir(), args);
    }

    fn new_key(&self, name: &str, kind: KeyKind) {
        let key = format!("{name}.key");
        match kind {
            KeyKind::Rsa2048 => self.run(&["genrsa", "-traditional", "-out", &key, "2048"]),
            KeyKind::EcP256 => self.run(&[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                &key,
            ]),
        }
    }

    /// A self-signed CA: `<name>.crt`, `<name>.key` (P-256).
    pub fn new_ca(&self, name: &str) {
        self.new_key(name, KeyKind::EcP256);
        self.run(&[
            "req",
            "-x509",
            "-new",
            "-key",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
            "-days",
            "30",
            "-subj",
            &format!("/CN=iotkit test CA {name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
    }

    fn sign(&self, name: &str, ca: &str, extensions: &str) {
        self.sign_with_digest(name, ca, extensions, "-sha256");
    }

    fn sign_with_digest(&self, name: &str, ca: &str, extensions: &str, digest: &str) {
        let ext_file = format!("{name}.ext");
        std::fs::write(self.path(&ext_file), extensions).expect("write extensions file");
        self.run(&[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.crt"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-out",
            &format!("{name}.crt"),
            "-days",
            "30",
            digest,
            "-extfile",
            &ext_file,
        ]);
    }

    fn request(&self, name: &str, cn: &str) {
        self.run(&[
            "req",
            "-new",
            "-key",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={cn}"),
        ]);
    }

    /// A server certificate with the given subjectAltName list (P-256 key).
    pub fn issue_server(&self, name: &str, ca: &str, san: &str) {
        self.issue_server_with(name, ca, san, KeyKind::EcP256);
    }

    /// A server certificate with the given subjectAltName list and key kind.
    pub fn issue_server_with(&self, name: &str, ca: &str, san: &str, kind: KeyKind) {
        self.new_key(name, kind);
        self.request(name, "iotkit test server");
        self.sign(
            name,
            ca,
            &format!("subjectAltName={san}\nextendedKeyUsage=serverAuth\n"),
        );
    }

    /// A server certificate for localhost / 127.0.0.1 whose key `openssl
    /// <key_args> -out <name>.key` makes, signed with `digest` ("-sha1", ...).
    pub fn issue_server_signed(&self, name: &str, ca: &str, key_args: &[&str], digest: &str) {
        let key = format!("{name}.key");
        let mut args = key_args.to_vec();
        args.extend(["-out", &key]);
        self.run(&args);
        self.request(name, "iotkit test server");
        self.sign_with_digest(
            name,
            ca,
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
            digest,
        );
    }

    /// A client certificate, CN = `name`.
    pub fn issue_client(&self, name: &str, ca: &str, kind: KeyKind) {
        self.new_key(name, kind);
        self.request(name, name);
        self.sign(name, ca, "extendedKeyUsage=clientAuth\n");
    }

    /// A client certificate, CN = `name`, for a key that `openssl
    /// <key_args> -out <name>.key` generates (any curve or algorithm).
    pub fn issue_client_with_key(&self, name: &str, ca: &str, key_args: &[&str]) {
        let key = format!("{name}.key");
        let mut args = key_args.to_vec();
        args.extend(["-out", &key]);
        self.run(&args);
        self.request(name, name);
        self.sign(name, ca, "extendedKeyUsage=clientAuth\n");
    }

    /// A client certificate valid only in 2020 (long expired).
    pub fn issue_expired_client(&self, name: &str, ca: &str) {
        self.new_key(name, KeyKind::EcP256);
        self.request(name, name);
        self.sign_with_dates(
            name,
            Some(ca),
            ("20200101000000Z", "20201231000000Z"),
            "extendedKeyUsage=clientAuth\n",
        );
    }

    /// A server certificate for localhost / 127.0.0.1 valid only in 2020.
    pub fn issue_expired_server(&self, name: &str, ca: &str) {
        self.new_key(name, KeyKind::EcP256);
        self.request(name, "iotkit test server (2020)");
        self.sign_with_dates(
            name,
            Some(ca),
            ("20200101000000Z", "20201231000000Z"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        );
    }

    /// A self-signed CA valid only in 2020 (an expired root).
    pub fn new_expired_ca(&self, name: &str) {
        self.new_key(name, KeyKind::EcP256);
        self.request(name, &format!("iotkit test CA {name} (2020)"));
        self.sign_with_dates(
            name,
            None,
            ("20200101000000Z", "20201231000000Z"),
            "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n",
        );
    }

    /// Signs `<name>.csr` with explicit dates via `openssl ca`, which, unlike
    /// `x509 -req` in OpenSSL 3.0, takes them; `ca` None self-signs.
    /// `extensions`: lines of an X.509 v3 extension section.
    fn sign_with_dates(&self, name: &str, ca: Option<&str>, dates: (&str, &str), extensions: &str) {
        let db = format!("{name}.index");
        std::fs::write(self.path(&db), "").unwrap();
        std::fs::write(self.path(&format!("{name}.serial")), "1000\n").unwrap();
        let config = format!(
            "[ca]\ndefault_ca=test\n[test]\ndatabase={db}\nnew_certs_dir=.\nserial={name}.serial\n\
             default_md=sha256\npolicy=any\nunique_subject=no\n[any]\ncommonName=supplied\n\
             [exts]\n{extensions}"
        );
        let config_file = format!("{name}.cnf");
        std::fs::write(self.path(&config_file), config).unwrap();
        let csr = format!("{name}.csr");
        let out = format!("{name}.crt");
        let mut args = vec!["ca", "-batch", "-config", &config_file];
        let (cert, key);
        match ca {
            Some(ca) => {
                cert = format!("{ca}.crt");
                key = format!("{ca}.key");
                args.extend(["-cert", &cert, "-keyfile", &key]);
            }
            None => {
                key = format!("{name}.key");
                args.extend(["-selfsign", "-keyfile", &key]);
            }
        }
        args.extend([
            "-in",
            &csr,
            "-out",
            &out,
            "-startdate",
            dates.0,
            "-enddate",
            dates.1,
            "-extensions",
            "exts",
            "-notext",
        ]);
        self.run(&args);
    }

    /// `<name>.key` re-encoded: PKCS#8 encrypted with `password` and
    /// `cipher` ("ENCRYPTED PRIVATE KEY"), written to `<out>`.
    pub fn encrypt_key_pkcs8(&self, name: &str, password: &str, cipher: &str, out: &str) {
        self.run(&[
            "pkcs8",
            "-topk8",
            "-in",
            &format!("{name}.key"),
            "-out",
            out,
            "-v2",
            cipher,
            "-passout",
            &format!("pass:{password}"),
        ]);
    }

    /// The RSA key `<name>.key` as traditional encrypted PEM
    /// ("Proc-Type: 4,ENCRYPTED", AES-256-CBC), written to `<out>`.
    pub fn encrypt_rsa_key_traditional(&self, name: &str, password: &str, out: &str) {
        self.run(&[
            "rsa",
            "-traditional",
            "-aes256",
            "-in",
            &format!("{name}.key"),
            "-out",
            out,
            "-passout",
            &format!("pass:{password}"),
        ]);
    }

    /// `<name>.key` as unencrypted PKCS#8 ("PRIVATE KEY").
    pub fn key_pkcs8(&self, name: &str, out: &str) {
        self.run(&[
            "pkcs8",
            "-topk8",
            "-nocrypt",
            "-in",
            &format!("{name}.key"),
            "-out",
            out,
        ]);
    }

    /// `<name>.crt` as DER, written to `<out>`.
    pub fn cert_der(&self, name: &str, out: &str) {
        self.run(&[
            "x509",
            "-in",
            &format!("{name}.crt"),
            "-outform",
            "DER",
            "-out",
            out,
        ]);
    }

    /// `<name>.key` as DER (PKCS#8), written to `<out>`.
    pub fn key_der(&self, name: &str, out: &str) {
        self.run(&[
            "pkcs8",
            "-topk8",
            "-nocrypt",
            "-in",
            &format!("{name}.key"),
            "-outform",
            "DER",
            "-out",
            out,
        ]);
    }
}

impl Default for Pki {
    fn default() -> Self {
        Self::new()
    }
}

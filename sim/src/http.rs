//! The sim's HTTP API: CertUrl downloads, QueryDeviceCert, cloud-to-device
//! publish, recent CONNECTs and a health check.

use crate::endpoint::Shared;
use crate::store::Store;
use serde_json::json;
use std::io::Read as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tiny_http::{Header, Method, Request, Response, Server};

static PUBLISH_SEQUENCE: AtomicU64 = AtomicU64::new(0);
const MAX_BODY: usize = crate::mqtt::MAX_PACKET - 1024;

pub fn spawn_workers(server: Arc<Server>, shared: Arc<Shared>, data_dir: &Path, workers: usize) {
    for index in 0..workers {
        let server = server.clone();
        let shared = shared.clone();
        let data_dir = data_dir.to_path_buf();
        let spawned = std::thread::Builder::new()
            .name(format!("http-{index}"))
            .spawn(move || {
                let mut store = match Store::open(&data_dir) {
                    Ok(store) => store,
                    Err(e) => {
                        println!("[sim] HTTP worker cannot open the registry: {e:#}");
                        return;
                    }
                };
                for request in server.incoming_requests() {
                    handle(request, &mut store, &shared);
                }
            });
        if let Err(e) = spawned {
            println!("[sim] cannot start HTTP worker {index}: {e}");
        }
    }
}

struct Reply {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
}

fn json_reply(status: u16, value: serde_json::Value) -> Reply {
    Reply {
        status,
        content_type: "application/json",
        body: value.to_string().into_bytes(),
    }
}

fn error_reply(status: u16, message: impl Into<String>) -> Reply {
    json_reply(status, json!({ "error": message.into() }))
}

fn handle(mut request: Request, store: &mut Store, shared: &Shared) {
    let url = request.url().to_string();
    let (path, query) = split_query(&url);
    let method = request.method().clone();
    let reply = match (&method, path.as_str()) {
        (Method::Get | Method::Post, "/") if param(&query, "Action").is_some() => {
            let action = param(&query, "Action").unwrap_or_default().to_string();
            json_reply(200, crate::openapi::dispatch(&action, &query, store, shared))
        }
        (Method::Get, "/healthz") => Reply {
            status: 200,
            content_type: "text/plain",
            body: b"ok\n".to_vec(),
        },
        (Method::Get, p) if p.starts_with("/certs/") => cert_download(store, &p["/certs/".len()..]),
        (Method::Get, "/api/device-cert") => query_device_cert(store, &query),
        (Method::Get, "/api/connections") => connections(shared, &query),
        (Method::Post, "/api/pub") => {
            let mut body = Vec::new();
            let read = request.as_reader().take(MAX_BODY as u64 + 1).read_to_end(&mut body);
            match read {
                Err(e) => error_reply(400, format!("reading the request body failed: {e}")),
                Ok(_) if body.len() > MAX_BODY => error_reply(413, format!("payload exceeds {MAX_BODY} bytes")),
                Ok(_) => publish(shared, &query, &body),
            }
        }
        (Method::Post, "/api/ota/firmware") => {
            let mut body = Vec::new();
            let read = request.as_reader().take(crate::ota::MAX_IMAGE as u64 + 1).read_to_end(&mut body);
            match read {
                Err(e) => error_reply(400, format!("reading the request body failed: {e}")),
                Ok(_) if body.len() > crate::ota::MAX_IMAGE => error_reply(413, format!("images are limited to {} bytes", crate::ota::MAX_IMAGE)),
                Ok(_) => ota_reply(crate::ota::http_upload(&shared.data_dir, &query, &body)),
            }
        }
        (Method::Post, "/api/ota/jobs") => ota_reply(crate::ota::http_job(&shared.data_dir, &query)),
        (Method::Post, "/api/ota/push") => ota_reply(crate::ota::http_push(&query)),
        (Method::Get, "/api/ota/jobs") => ota_reply(crate::ota::http_status(&shared.data_dir, &query)),
        (_, "/healthz" | "/api/device-cert" | "/api/connections" | "/api/pub" | "/api/ota/firmware" | "/api/ota/jobs" | "/api/ota/push") => {
            error_reply(405, format!("{method} is not allowed on {path}"))
        }
        _ => error_reply(
            404,
            format!(
                "no route {path}; try GET /?Action=QueryDeviceCert&ProductKey=&DeviceName= (the platform's API), GET /healthz, GET /certs/<token>, GET /api/device-cert?productKey=&deviceName=, \
                 GET /api/connections, POST /api/pub?topic=&qos="
            ),
        ),
    };
    let status = reply.status;
    let header =
        Header::from_bytes("Content-Type", reply.content_type).expect("static header is valid");
    let response = Response::from_data(reply.body)
        .with_status_code(status)
        .with_header(header);
    if let Err(e) = request.respond(response) {
        println!("[sim] HTTP {method} {path}: sending the response failed: {e}");
    }
}

fn ota_reply(result: anyhow::Result<serde_json::Value>) -> Reply {
    match result {
        Ok(value) => json_reply(200, value),
        Err(e) => error_reply(400, format!("{e:#}")),
    }
}

fn cert_download(store: &Store, token: &str) -> Reply {
    match store.cert_by_url_token(token) {
        Err(e) => error_reply(500, format!("registry error: {e:#}")),
        Ok(None) => error_reply(404, "unknown CertUrl: check the URL against the batch CSV"),
        Ok(Some((record, expires_at))) => {
            let now = crate::clock::now();
            if now >= expires_at {
                println!(
                    "[sim] CertUrl refused for pk={} dn={}: expired at {}",
                    record.product_key,
                    record.device_name,
                    crate::clock::rfc3339(expires_at)
                );
                return error_reply(
                    410,
                    format!(
                        "this CertUrl expired at {} (valid 30 days after the batch was created); fetch the \
                         certificate with QueryDeviceCert instead: `iotkit-sim device cert --product {} --name {}` \
                         or GET /api/device-cert?productKey={}&deviceName={}",
                        crate::clock::rfc3339(expires_at),
                        record.product_key,
                        record.device_name,
                        record.product_key,
                        record.device_name
                    ),
                );
            }
            let mut body = record.certificate.into_bytes();
            body.extend_from_slice(record.private_key.as_bytes());
            Reply {
                status: 200,
                content_type: "application/x-pem-file",
                body,
            }
        }
    }
}

fn param<'a>(query: &'a [(String, String)], key: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn query_device_cert(store: &Store, query: &[(String, String)]) -> Reply {
    let (Some(pk), Some(dn)) = (param(query, "productKey"), param(query, "deviceName")) else {
        return error_reply(400, "give both productKey and deviceName query parameters");
    };
    match store.device_cert(pk, dn) {
        Err(e) => error_reply(500, format!("registry error: {e:#}")),
        Ok(None) => error_reply(
            404,
            format!(
                "no certificate for device {dn} in product {pk}",
                dn = crate::quote::q(&dn),
                pk = crate::quote::q(&pk)
            ),
        ),
        Ok(Some(record)) => json_reply(200, crate::cert_json(&record)),
    }
}

fn connections(shared: &Shared, query: &[(String, String)]) -> Reply {
    let pk = param(query, "productKey");
    let dn = param(query, "deviceName");
    let recent = shared.connections.lock().unwrap_or_else(|p| p.into_inner());
    let list: Vec<_> = recent
        .iter()
        .filter(|r| pk.is_none() || r.pk.as_deref() == pk)
        .filter(|r| dn.is_none() || r.dn.as_deref() == dn)
        .collect();
    json_reply(200, serde_json::to_value(list).unwrap_or_default())
}

fn publish(shared: &Shared, query: &[(String, String)], payload: &[u8]) -> Reply {
    let Some(topic) = param(query, "topic").filter(|t| !t.is_empty()) else {
        return error_reply(
            400,
            "give the topic as a query parameter: POST /api/pub?topic=/PK/DN/user/get&qos=0",
        );
    };
    if topic.contains(['+', '#']) {
        return error_reply(
            400,
            format!(
                "topic {topic} contains a wildcard; publish to a concrete topic",
                topic = crate::quote::q(&topic)
            ),
        );
    }
    let qos = match param(query, "qos").unwrap_or("0") {
        "0" => 0,
        "1" => 1,
        other => {
            return error_reply(
                400,
                format!(
                    "qos {other} is not supported; use 0 or 1",
                    other = crate::quote::q(&other)
                ),
            )
        }
    };
    let client_id = format!(
        "iotkit-sim-http-{}-{}",
        std::process::id(),
        PUBLISH_SEQUENCE.fetch_add(1, Ordering::Relaxed)
    );
    match crate::broker::publish(&shared.broker, &client_id, topic, payload, qos) {
        Ok(()) => {
            println!(
                "[sim] cloud publish topic={topic} qos={qos} bytes={}",
                payload.len(),
                topic = crate::quote::q(&topic)
            );
            json_reply(
                200,
                json!({ "ok": true, "topic": topic, "qos": qos, "bytes": payload.len() }),
            )
        }
        Err(e) => error_reply(502, format!("publishing through the broker failed: {e:#}")),
    }
}

/// Splits `/path?a=b&c=d` and percent-decodes the query.
fn split_query(url: &str) -> (String, Vec<(String, String)>) {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let pairs = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key), percent_decode(value))
        })
        .collect();
    (path.to_string(), pairs)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'%' if index + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[index + 1..index + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(value) => {
                        out.push(value);
                        index += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            other => out.push(other),
        }
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_queries() {
        let (path, query) = split_query("/api/pub?topic=%2Fa1%2Fdev%2Fget&qos=1&x");
        assert_eq!(path, "/api/pub");
        assert_eq!(param(&query, "topic"), Some("/a1/dev/get"));
        assert_eq!(param(&query, "qos"), Some("1"));
        assert_eq!(param(&query, "x"), Some(""));
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
    }
}

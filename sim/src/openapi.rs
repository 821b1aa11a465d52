//! The platform's management API in its own shapes (RPC style:
//! `GET|POST /?Action=Name&Param=...`): QueryDeviceCert, the batch
//! registration calls with their ApplyId, QueryPageByApplyId,
//! DisableThing/EnableThing and the product topic classes.
//!
//! Every answer is HTTP 200 with `RequestId` and `Success`; a failure adds
//! `Code` and `ErrorMessage` (as the platform's IoT API does).

use crate::endpoint::{Control, Shared};
use crate::store::{Apply, Store};
use serde_json::{json, Value};
use std::collections::HashSet;

pub const REGION_NOT_SUPPORT_X509: &str = "iot.device.RegionNotSupportX509";
const X509_REGION: &str = "cn-shanghai";

type Query = [(String, String)];

fn param<'a>(query: &'a Query, key: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn request_id() -> String {
    let hex = crate::names::random_hex(16).to_uppercase();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn ok(mut fields: Value) -> Value {
    fields["RequestId"] = Value::from(request_id());
    fields["Success"] = Value::from(true);
    fields
}

fn fail(code: &str, message: impl Into<String>) -> Value {
    json!({
        "RequestId": request_id(),
        "Success": false,
        "Code": code,
        "ErrorMessage": message.into(),
    })
}

fn required<'a>(query: &'a Query, key: &str) -> Result<&'a str, Value> {
    param(query, key).filter(|v| !v.is_empty()).ok_or_else(|| {
        fail(
            "iot.common.InvalidParameter",
            format!("the parameter {key} is missing"),
        )
    })
}

/// X.509 exists only in cn-shanghai: the request's RegionId, else the sim's.
fn x509_region(shared: &Shared, query: &Query) -> Result<(), Value> {
    let region = param(query, "RegionId").unwrap_or(&shared.region);
    if region != X509_REGION {
        return Err(fail(
            REGION_NOT_SUPPORT_X509,
            format!("X.509 certificates are available only in {X509_REGION}, not in {region}"),
        ));
    }
    Ok(())
}

fn x509_product(store: &Store, product_key: &str) -> Result<(), Value> {
    match store.product(product_key) {
        Err(e) => Err(fail("iot.system.SystemException", format!("registry error: {e:#}"))),
        Ok(None) => Err(fail(
            "iot.prod.NotExistedProduct",
            format!("no product {product_key}"),
        )),
        Ok(Some(product)) if product.auth_type != "x509" => Err(fail(
            "iot.device.NotX509Product",
            format!(
                "product {product_key} uses {} authentication; certificates exist only for x509 products",
                product.auth_type
            ),
        )),
        Ok(Some(_)) => Ok(()),
    }
}

/// Answers `?Action=...` (an unknown action gets InvalidAction.NotFound).
pub fn dispatch(action: &str, query: &Query, store: &mut Store, shared: &Shared) -> Value {
    let result = match action {
        "QueryDeviceCert" => query_device_cert(query, store, shared),
        "BatchCheckDeviceNames" => batch_check_device_names(query, store, shared),
        "BatchRegisterDevice" => batch_register_device(query, store, shared),
        "BatchRegisterDeviceWithApplyId" => batch_register_with_apply_id(query, store, shared),
        "QueryBatchRegisterDeviceStatus" => query_batch_status(query, store),
        "QueryPageByApplyId" => query_page_by_apply_id(query, store, shared),
        "DisableThing" => set_thing(query, store, shared, false),
        "EnableThing" => set_thing(query, store, shared, true),
        "CreateProductTopic" => create_product_topic(query, store),
        "QueryProductTopic" => query_product_topic(query, store, shared),
        other => Err(fail(
            "InvalidAction.NotFound",
            format!(
                "unknown Action {other}; the sim answers QueryDeviceCert, BatchCheckDeviceNames, BatchRegisterDevice, \
                 BatchRegisterDeviceWithApplyId, QueryBatchRegisterDeviceStatus, QueryPageByApplyId, DisableThing, \
                 EnableThing, CreateProductTopic, QueryProductTopic", other = crate::quote::q(&other)
            ),
        )),
    };
    result.unwrap_or_else(|failure| failure)
}

fn query_device_cert(query: &Query, store: &mut Store, shared: &Shared) -> Result<Value, Value> {
    x509_region(shared, query)?;
    let pk = required(query, "ProductKey")?;
    let dn = required(query, "DeviceName")?;
    x509_product(store, pk)?;
    match store.device_cert(pk, dn) {
        Err(e) => Err(fail(
            "iot.system.SystemException",
            format!("registry error: {e:#}"),
        )),
        Ok(None) => Err(fail(
            "iot.device.NotExistedDevice",
            format!("no device {dn} in product {pk}"),
        )),
        // Status: 0 generating, 1 failed, 2 done; the sim issues at creation.
        Ok(Some(record)) => Ok(ok(json!({
            "DeviceCertInfo": {
                "CertSN": record.serial_number,
                "Certificate": record.certificate,
                "PrivateKey": record.private_key,
                "Status": 2,
            }
        }))),
    }
}

/// DeviceName.1, DeviceName.2, ... or DeviceNameList.1.DeviceName, ... in index order.
fn device_names(query: &Query) -> Vec<String> {
    let mut indexed: Vec<(u32, String)> = query
        .iter()
        .filter_map(|(key, value)| {
            let index = key
                .strip_prefix("DeviceName.")
                .or_else(|| {
                    key.strip_prefix("DeviceNameList.")
                        .and_then(|k| k.strip_suffix(".DeviceName"))
                })?
                .parse()
                .ok()?;
            Some((index, value.clone()))
        })
        .collect();
    indexed.sort_by_key(|(index, _)| *index);
    indexed.into_iter().map(|(_, name)| name).collect()
}

fn batch_check_device_names(
    query: &Query,
    store: &mut Store,
    shared: &Shared,
) -> Result<Value, Value> {
    let pk = required(query, "ProductKey")?.to_string();
    x509_region(shared, query)?;
    x509_product(store, &pk)?;
    let names = device_names(query);
    if names.is_empty() || names.len() > shared.rules.batch_count_max {
        return Err(fail(
            "iot.common.InvalidParameter",
            format!(
                "give 1 to {} names as DeviceName.1, DeviceName.2, ...",
                shared.rules.batch_count_max
            ),
        ));
    }
    let apply = Apply {
        apply_id: 0,
        product_key: pk.clone(),
        kind: "names".into(),
        status: "CHECK".into(),
        names: names.clone(),
        invalid: Vec::new(),
        count: names.len() as i64,
        batch_id: None,
        error: None,
    };
    let apply_id = store
        .insert_apply(&apply, crate::clock::now())
        .map_err(|e| {
            fail(
                "iot.system.SystemException",
                format!("registry error: {e:#}"),
            )
        })?;
    // The check runs in the background, as on the platform: poll
    // QueryBatchRegisterDeviceStatus until CHECK_SUCCESS or CHECK_FAILED.
    let data_dir = shared.data_dir.clone();
    std::thread::spawn(move || {
        let result = (|| -> anyhow::Result<()> {
            let mut store = Store::open(&data_dir)?;
            let mut seen = HashSet::new();
            let mut valid = Vec::new();
            let mut invalid = Vec::new();
            for name in names {
                let problem = if let Err(e) = crate::names::validate_device_name(&name) {
                    Some(format!("{e:#}"))
                } else if !seen.insert(name.clone()) {
                    Some("the name appears twice in this application".to_string())
                } else if store.device_exists(&pk, &name)? {
                    Some("a device with this name already exists in the product".to_string())
                } else {
                    None
                };
                match problem {
                    Some(reason) => invalid.push((name, reason)),
                    None => valid.push(name),
                }
            }
            let status = if invalid.is_empty() {
                "CHECK_SUCCESS"
            } else {
                "CHECK_FAILED"
            };
            store.set_apply_result(apply_id, status, &valid, &invalid)?;
            Ok(())
        })();
        if let Err(e) = result {
            println!("[sim] BatchCheckDeviceNames {apply_id} failed: {e:#}");
        }
    });
    Ok(ok(json!({ "Data": { "ApplyId": apply_id } })))
}

fn batch_register_device(
    query: &Query,
    store: &mut Store,
    shared: &Shared,
) -> Result<Value, Value> {
    let pk = required(query, "ProductKey")?.to_string();
    x509_region(shared, query)?;
    x509_product(store, &pk)?;
    let max = shared.rules.batch_count_max;
    let count: usize = required(query, "Count")?
        .parse()
        .ok()
        .filter(|c| (1..=max).contains(c))
        .ok_or_else(|| {
            fail(
                "iot.common.InvalidParameter",
                format!("Count must be 1 to {max}"),
            )
        })?;
    let apply = Apply {
        apply_id: 0,
        product_key: pk.clone(),
        kind: "random".into(),
        status: "CREATE".into(),
        names: Vec::new(),
        invalid: Vec::new(),
        count: count as i64,
        batch_id: None,
        error: None,
    };
    let apply_id = store
        .insert_apply(&apply, crate::clock::now())
        .map_err(|e| {
            fail(
                "iot.system.SystemException",
                format!("registry error: {e:#}"),
            )
        })?;
    create_in_background(shared, apply_id, pk, vec![None; count]);
    Ok(ok(json!({ "Data": { "ApplyId": apply_id } })))
}

fn load_apply(query: &Query, store: &Store) -> Result<Apply, Value> {
    let apply_id: i64 = required(query, "ApplyId")?
        .parse()
        .map_err(|_| fail("iot.common.InvalidParameter", "ApplyId must be a number"))?;
    let apply = store
        .apply(apply_id)
        .map_err(|e| {
            fail(
                "iot.system.SystemException",
                format!("registry error: {e:#}"),
            )
        })?
        .ok_or_else(|| {
            fail(
                "iot.device.InvalidApplyId",
                format!("no application {apply_id}"),
            )
        })?;
    if let Some(pk) = param(query, "ProductKey") {
        if pk != apply.product_key {
            return Err(fail(
                "iot.device.InvalidApplyId",
                format!("application {apply_id} belongs to another product"),
            ));
        }
    }
    Ok(apply)
}

fn batch_register_with_apply_id(
    query: &Query,
    store: &mut Store,
    shared: &Shared,
) -> Result<Value, Value> {
    required(query, "ProductKey")?;
    x509_region(shared, query)?;
    let apply = load_apply(query, store)?;
    x509_product(store, &apply.product_key)?;
    if apply.kind != "names" || apply.status != "CHECK_SUCCESS" {
        return Err(fail(
            "iot.device.ApplyIdNotChecked",
            format!(
                "application {} is {}; BatchRegisterDeviceWithApplyId needs one from BatchCheckDeviceNames in \
                 CHECK_SUCCESS (see QueryBatchRegisterDeviceStatus)",
                apply.apply_id, apply.status
            ),
        ));
    }
    store
        .set_apply_status(apply.apply_id, "CREATE", None, None)
        .map_err(|e| {
            fail(
                "iot.system.SystemException",
                format!("registry error: {e:#}"),
            )
        })?;
    let names = apply.names.iter().cloned().map(Some).collect();
    create_in_background(shared, apply.apply_id, apply.product_key.clone(), names);
    Ok(ok(json!({ "Data": { "ApplyId": apply.apply_id } })))
}

/// Issues and registers an application's devices on a thread of its own,
/// then marks it CREATE_SUCCESS (or CREATE_FAILED with the reason).
fn create_in_background(shared: &Shared, apply_id: i64, pk: String, names: Vec<Option<String>>) {
    let data_dir = shared.data_dir.clone();
    let rules = shared.rules.clone();
    std::thread::spawn(move || {
        let created = (|| -> anyhow::Result<i64> {
            let mut store = Store::open(&data_dir)?;
            let ca = crate::load_ca(&data_dir)?;
            let profile = crate::pki::DeviceProfile::from_rules(&rules);
            let hidden = indicatif::ProgressBar::hidden();
            let devices =
                crate::issue_devices(&ca, &profile, crate::pki::KeyType::Rsa2048, names, &hidden)?;
            let url_base = crate::default_url_base(&data_dir);
            let batch = store
                .insert_devices(&pk, &devices, Some(&url_base), crate::clock::now())?
                .expect("a batch insert returns its id");
            store.set_apply_status(apply_id, "CREATE_SUCCESS", Some(batch), None)?;
            Ok(batch)
        })();
        match created {
            Ok(batch) => println!("[sim] application {apply_id}: devices created (batch {batch})"),
            Err(e) => {
                let reason = format!("{e:#}");
                println!("[sim] application {apply_id}: creating the devices failed: {reason}");
                if let Ok(mut store) = Store::open(&data_dir) {
                    let _ = store.set_apply_status(apply_id, "CREATE_FAILED", None, Some(&reason));
                }
            }
        }
    });
}

fn query_batch_status(query: &Query, store: &mut Store) -> Result<Value, Value> {
    required(query, "ProductKey")?;
    let apply = load_apply(query, store)?;
    let failed = apply.status.ends_with("_FAILED");
    let (valid, invalid): (Vec<String>, Vec<String>) = if failed {
        (
            apply.names.clone(),
            apply.invalid.iter().map(|(name, _)| name.clone()).collect(),
        )
    } else {
        (Vec::new(), Vec::new())
    };
    let mut details: Vec<Value> = apply
        .invalid
        .iter()
        .map(|(name, reason)| json!({"DeviceName": name, "ErrorMsg": reason, "NickName": ""}))
        .collect();
    if let Some(error) = &apply.error {
        details.push(json!({"DeviceName": "", "ErrorMsg": error, "NickName": ""}));
    }
    Ok(ok(json!({
        "Data": {
            "Status": apply.status,
            "ValidList": { "Name": valid },
            "InvalidList": { "Name": invalid },
            "InvalidDetailList": { "invalidDetailList": details },
        }
    })))
}

fn query_page_by_apply_id(
    query: &Query,
    store: &mut Store,
    shared: &Shared,
) -> Result<Value, Value> {
    let apply = load_apply(query, store)?;
    let max = shared.rules.page_size_max;
    let page_size: usize = match param(query, "PageSize") {
        None => 10,
        Some(text) => text
            .parse()
            .ok()
            .filter(|size| (1..=max).contains(size))
            .ok_or_else(|| {
                fail(
                    "iot.common.InvalidPageParams",
                    format!("PageSize must be 1 to {max}"),
                )
            })?,
    };
    let page: usize = param(query, "CurrentPage")
        .map(|text| text.parse().ok().filter(|p| *p >= 1))
        .unwrap_or(Some(1))
        .ok_or_else(|| {
            fail(
                "iot.common.InvalidPageParams",
                "CurrentPage must be 1 or more",
            )
        })?;
    let Some(batch) = apply.batch_id.filter(|_| apply.status == "CREATE_SUCCESS") else {
        return Err(fail(
            "iot.device.ApplyNotCreated",
            format!(
                "application {} is {}; its devices are not created yet",
                apply.apply_id, apply.status
            ),
        ));
    };
    let rows = store.batch_rows(batch).map_err(|e| {
        fail(
            "iot.system.SystemException",
            format!("registry error: {e:#}"),
        )
    })?;
    let total = rows.len();
    let list: Vec<Value> = rows
        .into_iter()
        .skip((page - 1) * page_size)
        .take(page_size)
        .map(|(name, _)| json!({"DeviceName": name, "ProductKey": apply.product_key, "DeviceSecret": ""}))
        .collect();
    Ok(ok(json!({
        "Page": page,
        "PageSize": page_size,
        "PageCount": total.div_ceil(page_size),
        "Total": total,
        "ApplyDeviceList": { "ApplyDeviceInfo": list },
    })))
}

fn set_thing(
    query: &Query,
    store: &mut Store,
    shared: &Shared,
    enable: bool,
) -> Result<Value, Value> {
    let pk = required(query, "ProductKey")?;
    let dn = required(query, "DeviceName")?;
    let status = if enable { "enabled" } else { "disabled" };
    store
        .set_device_status(pk, dn, status)
        .map_err(|e| fail("iot.device.NotExistedDevice", format!("{e:#}")))?;
    println!("[sim] device pk={pk} dn={dn} {status} through the API");
    if !enable && shared.control(pk, dn, Control::Disable) {
        println!("[sim] pk={pk} dn={dn} is connected: pushing thing/disable and closing");
    }
    Ok(ok(json!({})))
}

fn create_product_topic(query: &Query, store: &mut Store) -> Result<Value, Value> {
    let pk = required(query, "ProductKey")?;
    let short = required(query, "TopicShortName")?;
    let operation = required(query, "Operation")?;
    // The platform's custom topics live below /${productKey}/${deviceName}/user/.
    let class = crate::add_topic_class(store, pk, &format!("user/{short}"), operation)
        .map_err(|e| fail("iot.common.InvalidParameter", format!("{e:#}")))?;
    Ok(ok(json!({ "TopicId": class["topic"] })))
}

fn query_product_topic(query: &Query, store: &mut Store, shared: &Shared) -> Result<Value, Value> {
    let pk = required(query, "ProductKey")?;
    store
        .require_product(pk)
        .map_err(|e| fail("iot.prod.NotExistedProduct", format!("{e:#}")))?;
    let classes = crate::topic_classes_json(store, pk, &shared.rules)
        .map_err(|e| fail("iot.system.SystemException", format!("{e:#}")))?;
    let list: Vec<Value> = classes
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            json!({
                "ProductKey": pk,
                "TopicShortName": c["topic"],
                "Operation": c["access"],
                "Origin": c["origin"],
            })
        })
        .collect();
    Ok(ok(json!({ "Data": { "ProductTopicInfo": list } })))
}

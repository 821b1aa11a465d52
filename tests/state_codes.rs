//! src/state.rs carries exactly the codes of docs/state-codes.csv (the
//! vendor's list), each with a description of its own.

#[test]
fn every_code_of_the_csv_is_defined_with_its_value() {
    let csv = include_str!("../docs/state-codes.csv");
    let mut count = 0;
    for line in csv.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let mut cols = line.split(',');
        let name = cols.next().unwrap();
        let value: i32 = cols.next().unwrap().parse().unwrap();
        let ours = iotkit::state::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("{name} missing from src/state.rs"));
        assert_eq!(ours.1, value, "{name}");
        let text = iotkit::state::describe(value).to_str().unwrap();
        assert_ne!(text, "unknown state code", "{name} has no description");
        count += 1;
    }
    assert_eq!(
        count,
        iotkit::state::ALL.len(),
        "src/state.rs has codes the CSV lacks"
    );
}

#[test]
fn every_code_has_a_description_of_its_own() {
    let mut seen = std::collections::HashMap::new();
    for (name, code) in iotkit::state::ALL {
        let text = iotkit::state::describe(*code).to_str().unwrap();
        if let Some(other) = seen.insert(text, name) {
            panic!("{name} and {other} share the description {text:?}");
        }
    }
}

#[test]
fn codes_of_modules_iotkit_lacks_say_they_are_never_returned() {
    // WiFi provisioning, HTTP (dynamic registration, pre-authentication),
    // binding and the device model: -0x0400.., -0x0600.., -0x0800.., -0x0900...
    let not_provided = |code: i32| matches!(-code >> 8, 0x04 | 0x06 | 0x08 | 0x09);
    let mut count = 0;
    for (name, code) in iotkit::state::ALL {
        let text = iotkit::state::describe(*code).to_str().unwrap();
        let says = text.contains("the library never returns this code");
        assert_eq!(says, not_provided(*code), "{name}: {text:?}");
        count += usize::from(says);
    }
    assert_eq!(count, 35 + 7 + 16 + 61);
}

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

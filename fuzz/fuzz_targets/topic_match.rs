//! Topic validation and matching never panic, and agree with the rules
//! they must keep on any valid pair.
#![no_main]

use iotkit::mqtt::topic;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Input is "filter\ntopic".
    let (filter, name) = text.split_once('\n').unwrap_or((text, text));
    let filter_ok = topic::validate_topic_filter(filter).is_ok();
    let name_ok = topic::validate_topic_name(name).is_ok();
    let matched = topic::matches(filter, name);
    if name_ok {
        // A topic name is a filter that matches exactly itself.
        assert!(topic::validate_topic_filter(name).is_ok());
        assert!(topic::matches(name, name));
        if filter_ok && !filter.contains(['+', '#']) {
            assert_eq!(matched, filter == name);
        }
        if !name.starts_with('$') {
            assert!(topic::matches("#", name));
        }
    }
});

//! The identity response parser never panics, and whatever it accepts is a
//! ProductKey/DeviceName pair that is safe to put into a user name and KV.
#![no_main]

use iotkit::identity;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match identity::parse_identity_response(data) {
        Ok((product_key, device_name)) => {
            assert!(!product_key.is_empty() && !device_name.is_empty());
            // No separator or control character can reach the MQTT user name.
            for text in [&product_key, &device_name] {
                assert!(
                    !text.contains('&'),
                    "'&' would split the user name: {text:?}"
                );
                assert!(
                    !text.chars().any(char::is_control),
                    "control char in {text:?}"
                );
            }
            let username = identity::x509_username(&product_key, &device_name);
            assert_eq!(username, format!("{device_name}&{product_key}"));
        }
        Err(message) => assert!(!message.is_empty()),
    }
});

//! A damaged or hostile KV file never panics the reader, and whatever it
//! accepts is exactly the value region its header describes.
#![no_main]

use iotkit::kv;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = kv::decode(data) {
        assert!(value.len() <= data.len());
        assert!(data.ends_with(value));
        let declared = u32::from_le_bytes(data[6..10].try_into().unwrap()) as usize;
        assert_eq!(declared, value.len());
    }
});

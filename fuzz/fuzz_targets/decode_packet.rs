//! The MQTT decoder never panics on any input, and whatever it accepts
//! re-encodes and decodes to the same packet.
#![no_main]

use iotkit::mqtt::codec::{self, Framing};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Framing::Complete {
        header_len,
        total_len,
    }) = codec::frame(data)
    {
        assert!((2..=codec::MAX_FIXED_HEADER_LEN).contains(&header_len));
        assert!(total_len >= header_len);
    }
    let Ok((packet, used)) = codec::decode(data) else {
        return;
    };
    assert!(used <= data.len());
    // Walk the borrowed filter lists the way the client would.
    if let codec::Packet::Subscribe(s) = &packet {
        assert!(s.filters.iter().count() > 0);
    }
    if let codec::Packet::Unsubscribe(u) = &packet {
        assert!(u.filters.iter().count() > 0);
    }
    let len = codec::encoded_len(&packet).expect("a decoded packet is encodable");
    // Never longer than the input: only a non-minimal length field shrinks.
    assert!(len <= used);
    let mut buf = vec![0u8; len];
    assert_eq!(codec::encode(&packet, &mut buf), Ok(len));
    let (again, again_used) = codec::decode(&buf).expect("re-encoded packet decodes");
    assert_eq!(again_used, len);
    assert_eq!(again, packet);
});

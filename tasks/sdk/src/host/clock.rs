//! The host's clock, so expiry logic can be tested with a fixed time.

use std::time::{Duration, SystemTime};

use crate::bindings::kubectl_release::task::clock as wit;

pub use wit::Instant;

pub fn now() -> Instant {
    wit::now()
}

/// `std::time::SystemTime::now()` is unsupported in the sandbox; this is the working equivalent.
pub fn system_time() -> SystemTime {
    let Instant {
        seconds,
        nanoseconds,
    } = now();
    let offset = Duration::new(seconds.unsigned_abs(), nanoseconds);
    if seconds >= 0 {
        SystemTime::UNIX_EPOCH + offset
    } else {
        SystemTime::UNIX_EPOCH - offset
    }
}

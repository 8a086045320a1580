use std::time::{SystemTime, UNIX_EPOCH};

use super::HostState;
use crate::bindings::clock::{self, Instant};

/// The time a task sees: the system clock, or a fixed instant so expiry logic can be tested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    System,
    Fixed(SystemTime),
}

impl Clock {
    pub fn now(&self) -> SystemTime {
        match self {
            Clock::System => SystemTime::now(),
            Clock::Fixed(t) => *t,
        }
    }
}

impl clock::Host for HostState {
    fn now(&mut self) -> Instant {
        let now = self.ctx.clock.now();
        match now.duration_since(UNIX_EPOCH) {
            Ok(d) => Instant {
                seconds: d.as_secs() as i64,
                nanoseconds: d.subsec_nanos(),
            },
            Err(before) => {
                let d = before.duration();
                let (secs, nanos) = if d.subsec_nanos() == 0 {
                    (-(d.as_secs() as i64), 0)
                } else {
                    (-(d.as_secs() as i64) - 1, 1_000_000_000 - d.subsec_nanos())
                };
                Instant {
                    seconds: secs,
                    nanoseconds: nanos,
                }
            }
        }
    }
}

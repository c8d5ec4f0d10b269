//! The time the decode watchdog measures each file's time limit against.
//!
//! Production runs on the monotonic system clock ([`SystemClock`]). Tests substitute a
//! [`ManualClock`] and move it by hand, so "this decode ran past its limit" is something a test
//! states rather than a race against how loaded the machine is: a file on a busy machine is never
//! declared hung by accident, and a hung one is declared hung the moment the test says so.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A monotonic clock.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Time since a fixed origin; never goes backwards.
    fn now(&self) -> Duration;
}

/// The system's monotonic clock.
#[derive(Debug)]
pub struct SystemClock {
    origin: Instant,
}

impl Default for SystemClock {
    fn default() -> Self {
        Self {
            origin: Instant::now(),
        }
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
}

/// A clock that stands still until [`ManualClock::advance`] moves it.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: Mutex<Duration>,
}

impl ManualClock {
    pub fn advance(&self, by: Duration) {
        *self.now.lock().unwrap_or_else(|p| p.into_inner()) += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }
}

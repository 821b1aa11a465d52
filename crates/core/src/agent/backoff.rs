//! Reconnect backoff.
//!
//! The first delay after a lost link is 0.5–1 s; each further failed
//! attempt doubles it, up to [`BackoffConfig::cap_ms`] (default 60 s). Every
//! delay is drawn between a floor and twice that floor from a random value
//! the caller supplies (the core has no random source), so devices that
//! lost the same server do not come back in step. The sequence starts over
//! only after a link stayed up for [`BackoffConfig::stable_ms`] (a
//! keep-alive period): a server that accepts and then drops the device at
//! once (two devices with one certificate, a disabled device) is retried
//! ever more slowly, not once a second forever. A CONNACK "not authorised"
//! (return code 5) goes straight to the cap: retrying sooner cannot help.

use crate::mqtt::session::{DisconnectReason, Millis};

/// The documented defaults: 0.5–1 s first, at most 60 s, reset after a
/// link that stayed up 60 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffConfig {
    /// The floor of the first delay; it is drawn from `[first_ms, 2 * first_ms]`.
    pub first_ms: u64,
    /// No delay is longer (at the cap a delay is drawn from `[cap/2, cap]`).
    pub cap_ms: u64,
    /// A link that stayed up this long resets the sequence.
    pub stable_ms: u64,
}

impl Default for BackoffConfig {
    fn default() -> BackoffConfig {
        BackoffConfig {
            first_ms: 500,
            cap_ms: 60_000,
            stable_ms: 60_000,
        }
    }
}

/// Where a device stands in its reconnect sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    config: BackoffConfig,
    /// Failed attempts since the sequence last started over.
    failures: u32,
    up_since: Option<Millis>,
}

impl Backoff {
    /// A fresh sequence.
    pub fn new(config: BackoffConfig) -> Backoff {
        Backoff {
            config,
            failures: 0,
            up_since: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> BackoffConfig {
        self.config
    }

    /// The link is up (CONNACK accepted) at `now`.
    pub fn link_up(&mut self, now: Millis) {
        self.up_since = Some(now);
    }

    /// The link went down (or a connection attempt failed) at `now`.
    pub fn link_down(&mut self, now: Millis, reason: &DisconnectReason) {
        if let Some(since) = self.up_since.take() {
            if now.saturating_sub(since) >= self.config.stable_ms {
                self.failures = 0;
            }
        }
        if *reason == DisconnectReason::Refused(5) {
            self.failures = self.failures.max(self.steps_to_cap());
        }
    }

    /// How long to wait before the next attempt, from any random `u32`;
    /// counts the attempt.
    pub fn next_delay(&mut self, random: u32) -> Millis {
        let floor = self.floor(self.failures);
        self.failures = self.failures.saturating_add(1);
        // Uniform enough over [floor, 2 * floor] for any u32.
        let spread = (u128::from(random) * (u128::from(floor) + 1)) >> 32;
        floor + spread as u64
    }

    /// Failed attempts since the sequence last started over.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    fn floor(&self, failures: u32) -> u64 {
        let top = (self.config.cap_ms / 2).max(1);
        let first = self.config.first_ms.clamp(1, top);
        first.saturating_mul(1u64 << failures.min(62)).min(top)
    }

    fn steps_to_cap(&self) -> u32 {
        (0..64)
            .find(|&n| self.floor(n) >= (self.config.cap_ms / 2).max(1))
            .unwrap_or(64)
    }
}

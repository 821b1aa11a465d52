//! The library's log: one level for the whole process, set by IOT_SetLogLevel,
//! lines to stderr so they never mix with the firmware's own stdout protocol.

use std::sync::atomic::{AtomicU8, Ordering};

/// Log levels, numbered like the vendor's `IOT_LogLevel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    None = 0,
    Crit = 1,
    Error = 2,
    Warning = 3,
    Info = 4,
    Debug = 5,
}

impl Level {
    /// Maps any integer to a level; out-of-range values clamp to the nearest end.
    pub fn from_int(value: i64) -> Level {
        match value {
            i64::MIN..=0 => Level::None,
            1 => Level::Crit,
            2 => Level::Error,
            3 => Level::Warning,
            4 => Level::Info,
            _ => Level::Debug,
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Level::None => "-",
            Level::Crit => "C",
            Level::Error => "E",
            Level::Warning => "W",
            Level::Info => "I",
            Level::Debug => "D",
        }
    }
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Warning as u8);

pub fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

pub fn level() -> Level {
    Level::from_int(i64::from(LEVEL.load(Ordering::Relaxed)))
}

pub fn enabled(level: Level) -> bool {
    level != Level::None && level <= self::level()
}

/// Writes one line; use the `log_*!` macros instead of calling this.
pub fn write(level: Level, args: std::fmt::Arguments<'_>) {
    if enabled(level) {
        eprintln!("[iotkit][{}] {}", level.tag(), args);
    }
}

#[macro_export]
macro_rules! log_error { ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Error, format_args!($($arg)*)) } }
#[macro_export]
macro_rules! log_warn { ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Warning, format_args!($($arg)*)) } }
#[macro_export]
macro_rules! log_info { ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Info, format_args!($($arg)*)) } }
#[macro_export]
macro_rules! log_debug { ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Debug, format_args!($($arg)*)) } }

//! Logging: lines are captured per invocation and readable by the function's tenant
//! (`geyser logs NAME`). `println!`/`eprintln!` are captured as well.

use crate::bindings::geyser::function::logging::{self, Level};

#[doc(hidden)]
pub fn __log(level: u8, message: &str) {
    let level = match level {
        0 => Level::Trace,
        1 => Level::Debug,
        2 => Level::Info,
        3 => Level::Warn,
        _ => Level::Error,
    };
    logging::log(level, message);
}

/// Logs at info level: `geyser_sdk::info!("sold {n} seats")`.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::__log(2, &::std::format!($($arg)*)) };
}

/// Logs at debug level.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log::__log(1, &::std::format!($($arg)*)) };
}

/// Logs at warn level.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log::__log(3, &::std::format!($($arg)*)) };
}

/// Logs at error level.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::__log(4, &::std::format!($($arg)*)) };
}

//! Logging that works on both targets: the Workers console in the worker, standard error natively (tests).
//! Messages never carry tokens or secrets.

pub fn error(message: &str) {
    #[cfg(target_arch = "wasm32")]
    worker::console_error!("{message}");
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("error: {message}");
}

pub fn warn(message: &str) {
    #[cfg(target_arch = "wasm32")]
    worker::console_warn!("{message}");
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("warning: {message}");
}

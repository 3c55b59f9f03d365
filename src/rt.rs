//! The ground floor every layer may use: [`block_on`] (an async runtime built only when a
//! command needs the network, never on `--help` or a cache hit) and the clock ([`now`]).

/// Runs a future on a current-thread runtime built only now (never on --help or a cache hit).
pub(crate) fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("the async runtime starts (it needs only a timer and an I/O driver)")
        .block_on(f)
}

/// Seconds since the Unix epoch.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

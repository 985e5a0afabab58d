//! Work off the async threads: CPU-bound reading (parsing a snapshot file, hashing what was
//! read) runs on tokio's blocking pool, so that the directory and the intranet are read at once.

/// Run CPU-bound work off the async threads, so both sides proceed at once. A panic in it is
/// carried on, not turned into an error.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> miette::Result<T> + Send + 'static,
) -> miette::Result<T> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => Err(miette::miette!("reading was cancelled: {e}")),
        },
    }
}

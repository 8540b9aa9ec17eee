//! A cap on calls in flight to one provider, so a slow upstream cannot take
//! every connection and task of the gateway.

use async_trait::async_trait;
use isogate_core::{Error, ErrorKind, Result};
use tokio::sync::Semaphore;

use super::{Call, Policy};

/// At most `n` calls at once; others wait (bounded by the timeout layer outside).
#[derive(Debug)]
pub struct Concurrency(Semaphore);

impl Concurrency {
    /// A cap of `n` (at least 1).
    pub fn new(n: usize) -> Self {
        Concurrency(Semaphore::new(n.max(1)))
    }
}

#[async_trait]
impl Policy for Concurrency {
    async fn around<'a, T: Send + 'a>(&'a self, call: Call<'a, T>) -> Result<T> {
        let _permit = self.0.acquire().await.map_err(|_| {
            Error::new(ErrorKind::Unavailable, "provider is shutting down")
                .with_provider(call.provider)
                .with_operation(call.op.method())
        })?;
        call.run().await
    }
}

//! Per-attempt timeout.

use std::time::Duration;

use async_trait::async_trait;
use isogate_core::{Error, ErrorKind, Result};

use super::{Call, Policy};

/// No answer within the duration is `Timeout` (retryable).
#[derive(Debug)]
pub struct Timeout(pub Duration);

#[async_trait]
impl Policy for Timeout {
    async fn around<'a, T: Send + 'a>(&'a self, call: Call<'a, T>) -> Result<T> {
        match tokio::time::timeout(self.0, call.run()).await {
            Ok(result) => result,
            Err(_) => Err(Error::new(
                ErrorKind::Timeout,
                format!("no answer within {} ms", self.0.as_millis()),
            )
            .with_provider(call.provider)
            .with_operation(call.op.method())),
        }
    }
}

//! Our own S3 client.
//!
//! - [`ObjectClient`]: the small async trait the filesystem is generic over. Each operation
//!   has its own request and result types ([`types`]).
//! - [`S3Client`]: the real client on hyper 1 + hyper-rustls, signing with [`sigv4`].
//! - `MockClient` (cargo feature `mock`): an in-memory bucket for tests of the layers above.

mod body;
mod client;
mod config;
mod error;
mod log;
mod request;
mod response;
mod retry;
mod tls;
mod transport;
pub mod types;
mod xml;

pub use client::S3Client;
pub use config::{Addressing, Endpoint, ListVersion, S3Config};
pub use sigv4::Credentials;

pub use error::{ErrorDetails, S3Error};
pub use types::{
    ByteRange, ByteStream, GetRequest, GetResponse, ListPage, ListRequest, ListedObject, ObjectInfo,
};

#[cfg(feature = "mock")]
pub mod mock;

use std::future::Future;

/// The operations the filesystem needs from an object store.
///
/// Implementations must be cheap to share (`Arc` inside) and safe to call concurrently.
pub trait ObjectClient: Send + Sync + 'static {
    /// HEAD one object. [`S3Error::NotFound`] when it does not exist.
    fn head_object(&self, key: &str) -> impl Future<Output = Result<ObjectInfo, S3Error>> + Send;

    /// GET an object or a byte range of it, body streamed.
    fn get_object(
        &self,
        request: GetRequest,
    ) -> impl Future<Output = Result<GetResponse, S3Error>> + Send;

    /// One page of a listing.
    fn list_objects(
        &self,
        request: ListRequest,
    ) -> impl Future<Output = Result<ListPage, S3Error>> + Send;

    /// Check that the bucket exists and the credentials may read it.
    fn check_bucket(&self) -> impl Future<Output = Result<(), S3Error>> + Send;
}

//! OCI building blocks, independent of HTTP: digests over exact bytes, descriptors, manifest,
//! index and artifact builders, the empty descriptor, and the referrers-tag name.

pub mod build;
pub mod digest;
pub mod media;

pub use build::{Blob, Built, Descriptor, IndexBuilder, ManifestBuilder, referrers_tag};
pub use digest::{Algorithm, Digest, DigestError};

//! The capability probe (`referee probe`): what a registry really does, observed in throwaway
//! repositories. The main type is [`ProbeReport`]: one [`Cell`] per capability, each saying
//! whether it is supported and what was seen (status, Content-Type, a short body, header values).
//!
//! It is a matrix, not a boolean (registry-behaviours.md §3, item 1), because registries differ
//! on each row independently: ECR sent `OCI-Subject` without the API, Quay has the API without
//! the header and answers 400 for a missing subject, distribution answers a plain-text 404.
//!
//! [`probe`] works in `<prefix>/probe-<run id>` (and `…-mount` as a mount target), pushes what it
//! needs, and deletes everything it pushed at the end; what the registry refuses to delete is
//! reported as residue. Every request is bounded by the client (timeout, body cap) and every loop
//! here has a fixed bound (pushes for pagination, pages followed, manifest sizes tried).
//!
//! The parts: `report` (the matrix and its rendering), `driver` ([`probe`]: the order of the
//! rows, pushing, cleanup), the rows themselves in `referrers` (rows 1–4) and `content` (rows
//! 5–9), and `describe` (answers summarised for the report).

mod content;
mod describe;
mod driver;
mod referrers;
mod report;

pub use driver::probe;
pub use report::{Cell, FORMAT_VERSION, ProbeReport};

/// The cell names, in the order the report lists them.
pub mod names {
    /// `GET /referrers` of a subject that has one referrer: not 404, or `OCI-Subject` was sent.
    pub const REFERRERS_API: &str = "referrers-api";
    /// That answer lists the referrer pushed a moment before.
    pub const REFERRERS_LISTED: &str = "referrers-listed";
    /// `GET /referrers` of a digest nothing refers to: 200 with an empty list.
    pub const REFERRERS_MISSING_SUBJECT: &str = "referrers-missing-subject";
    /// `GET /referrers` in a repository that does not exist (observed; the spec allows either).
    pub const REFERRERS_MISSING_REPO: &str = "referrers-missing-repo";
    /// `GET /referrers/sha256:xyz`: 400.
    pub const REFERRERS_BAD_DIGEST: &str = "referrers-bad-digest";
    /// `OCI-Subject` on the answer to a push with a subject.
    pub const OCI_SUBJECT: &str = "oci-subject";
    /// `?artifactType=` filters the list and says so with `OCI-Filters-Applied`.
    pub const FILTER_ARTIFACT_TYPE: &str = "filter-artifact-type";
    /// A list of more than 4.5 MB is paged with `Link`.
    pub const PAGINATION: &str = "pagination";
    pub const DELETE_MANIFEST: &str = "delete-manifest-by-digest";
    pub const DELETE_TAG: &str = "delete-tag";
    pub const DELETE_BLOB: &str = "delete-blob";
    /// `POST …/blobs/uploads/?mount=<d>&from=<repo>` answers 201.
    pub const MOUNT_WITH_FROM: &str = "mount-with-from";
    /// `POST …/blobs/uploads/?mount=<d>` (no `from`) answers 201.
    pub const MOUNT_WITHOUT_FROM: &str = "mount-without-from";
    /// HEAD (or GET) of a tag carries `ETag`.
    pub const ETAG: &str = "conditional-put-etag";
    /// A manifest PUT with a stale `If-Match` is refused with 412.
    pub const IF_MATCH: &str = "conditional-put-if-match";
    /// A manifest PUT with `If-None-Match: *` on an existing tag is refused with 412.
    pub const IF_NONE_MATCH: &str = "conditional-put-if-none-match";
    /// A manifest PUT by a `sha512:` digest reference is accepted.
    pub const SHA512_MANIFEST: &str = "sha512-manifest";
    /// The largest manifest accepted of 1, 4, 8 and 16 MiB; supported = at least 4 MiB.
    pub const MAX_MANIFEST_SIZE: &str = "max-manifest-size";

    pub const ALL: &[&str] = &[
        REFERRERS_API,
        REFERRERS_LISTED,
        REFERRERS_MISSING_SUBJECT,
        REFERRERS_MISSING_REPO,
        REFERRERS_BAD_DIGEST,
        OCI_SUBJECT,
        FILTER_ARTIFACT_TYPE,
        PAGINATION,
        DELETE_MANIFEST,
        DELETE_TAG,
        DELETE_BLOB,
        MOUNT_WITH_FROM,
        MOUNT_WITHOUT_FROM,
        ETAG,
        IF_MATCH,
        IF_NONE_MATCH,
        SHA512_MANIFEST,
        MAX_MANIFEST_SIZE,
    ];
}

/// The annotation that pads a manifest to a size (pagination referrers, manifest sizes).
const PADDING: &str = "dev.referee.padding";

//! The fault switches ([`Faults`]): their names, descriptions and parsing.
//!
//! Each fault breaks exactly one rule of distribution-spec 1.1 so that the conformance
//! harness can prove that the check guarding that rule actually fails when the rule is broken.
//! The field name of a fault is its public name (CLI flags, config files and reports use it).

use serde::{Deserialize, Serialize};

/// Declares the boolean faults once, so the struct fields, [`Faults::NAMES`] and
/// [`Faults::set`] can never drift apart.
macro_rules! faults {
    ($( $name:ident => $desc:literal, )*) => {
        /// Deliberate deviations from the spec, all off by default. Each switch changes
        /// exactly one behaviour; `referrers_lag_ms` is the only numeric one.
        #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
        // Unknown names are refused so a misspelled fault cannot silently stay off.
        #[serde(default, deny_unknown_fields)]
        pub struct Faults {
            $(
                #[doc = $desc]
                pub $name: bool,
            )*
            /// A referrer is not listed until this many milliseconds after its push (0 = off);
            /// breaks read-after-write consistency of the referrers list.
            pub referrers_lag_ms: u64,
        }

        impl Faults {
            /// `(name, description)` of every boolean fault, in declaration order.
            pub const NAMES: &'static [(&'static str, &'static str)] = &[
                $( (stringify!($name), $desc), )*
            ];

            /// The names of the boolean faults switched on, in declaration order.
            pub fn on(&self) -> Vec<&'static str> {
                let mut out = vec![];
                $( if self.$name { out.push(stringify!($name)); } )*
                out
            }

            /// Switches the boolean fault `name` on.
            pub fn set(&mut self, name: &str) -> Result<(), String> {
                match name {
                    $( stringify!($name) => self.$name = true, )*
                    other => return Err(format!("unknown fault '{other}'")),
                }
                Ok(())
            }
        }
    };
}

faults! {
    // B: pushing manifests with a subject, and which referrers get listed.
    omit_oci_subject => "no OCI-Subject header on a push with subject (breaks: registry acknowledges subject)",
    oci_subject_true => "OCI-Subject header is the literal 'true' instead of the subject digest (breaks: OCI-Subject value)",
    reject_missing_subject => "a push whose subject is not in the repository is rejected with MANIFEST_BLOB_UNKNOWN (breaks: referrers may be pushed before their subject)",
    forget_early_referrers => "referrers pushed before their subject existed are never listed (breaks: push order independence)",
    ignore_index_subject => "index manifests with a subject are never listed (breaks: indexes as referrers)",
    subject_media_type_allowlist => "a push whose subject.mediaType is not an image manifest is rejected with MANIFEST_INVALID (breaks: subjects of any manifest type)",
    drop_sha512_referrers => "referrers whose subject digest is sha512 are accepted but never listed (breaks: non-sha256 subjects)",
    include_transitive_referrers => "lists also contain referrers of referrers, recursively (breaks: only direct referrers are listed)",
    duplicate_on_repush => "re-pushing identical manifest bytes adds a second list entry (breaks: no duplicate descriptors)",
    drop_mismatched_subject => "referrers whose subject.size differs from the stored subject's size are not listed (breaks: list by digest only)",
    referrers_ignore_repo => "lists include matching referrers from every repository (breaks: referrers are scoped to the repository)",
    // C: the referrers response itself.
    unknown_subject_404 => "an empty referrers list is answered 404 MANIFEST_UNKNOWN (breaks: empty list is 200)",
    referrers_null_list => "an empty list is serialized as \"manifests\":null (breaks: empty manifests array)",
    drop_last_referrer => "the newest referrer of each list is omitted (breaks: list completeness)",
    duplicate_entries => "every list entry appears twice (breaks: no duplicate descriptors)",
    artifact_type_from_config => "descriptor artifactType is always config.mediaType when there is a config (breaks: manifest artifactType wins)",
    omit_config_artifact_type => "no fallback to config.mediaType; artifactType omitted when the manifest has none (breaks: config mediaType fallback)",
    index_artifact_type_empty => "index referrers without artifactType get \"artifactType\":\"\" (breaks: artifactType omitted for indexes)",
    drop_annotations => "descriptor annotations are omitted (breaks: annotations copied to descriptors)",
    referrers_content_type_json => "referrers Content-Type is application/json (breaks: image index Content-Type)",
    invalid_digest_404 => "an invalid digest is answered 404 MANIFEST_UNKNOWN (breaks: 400 for invalid digest syntax)",
    unknown_algorithm_404 => "a well-formed digest with an unsupported algorithm is answered 404 (breaks: 400 for unsupported algorithms)",
    unknown_repo_plain_404 => "referrers in a repository that does not exist get a text/plain 404 (breaks: referrers API never 404s)",
    referrers_require_push_scope => "token mode: referrers GET needs push scope, a pull-only token gets 401 (breaks: referrers readable with pull)",
    descriptor_missing_media_type => "referrer descriptors lack mediaType (breaks: descriptor required fields)",
    // D: artifactType filtering.
    filter_inverted => "the artifactType filter returns the entries that do NOT match (breaks: filter semantics)",
    omit_filters_header => "filter applied but no OCI-Filters-Applied header (breaks: filter announcement)",
    filter_ignores_config_type => "the filter compares only the manifest's own artifactType, not the config-derived one (breaks: filter on effective artifactType)",
    no_query_percent_decode => "the filter value is compared without percent-decoding (breaks: query decoding, e.g. %2B)",
    empty_filter_500 => "an empty or repeated artifactType parameter is answered 500 (breaks: robustness of filter parsing)",
    filters_header_wrong_value => "OCI-Filters-Applied is 'mediaType' instead of 'artifactType' (breaks: filter header value)",
    link_drops_filter => "the next Link omits the artifactType parameter (breaks: filter kept across pages)",
    // E: pagination.
    omit_link => "pages are truncated but no Link header is sent (breaks: Link when more results remain)",
    page_duplicates => "each page after the first repeats the last entry of the previous page (breaks: no duplicates across pages)",
    link_malformed => "the Link value lacks the <...> brackets (breaks: RFC 5988 Link syntax)",
    later_pages_bad_content_type => "pages after the first are served as application/json (breaks: image index Content-Type on every page)",
    link_on_last_page => "the last page carries a Link to itself (breaks: last page has no Link)",
    unstable_cursor => "newest-first order with a numeric ?offset= cursor, so inserts shift entries between pages (breaks: stable pagination)",
    skip_second_page => "the first page's Link points past the second page, whose entries are never served (breaks: the union of all pages is the whole list)",
    // A: baseline push and pull.
    ping_404 => "GET /v2/ answers 404 (breaks: determining support)",
    blob_put_no_location => "a completed blob upload answers 201 without Location (breaks: 201 + Location)",
    single_post_drops_body => "a single-POST upload answers 201 but stores nothing (breaks: single POST)",
    chunk_range_ignored => "an out-of-order chunk is accepted instead of 416 (breaks: chunked uploads)",
    small_blob_rejected => "blobs under 3 bytes are rejected with SIZE_INVALID (breaks: the 2-byte empty JSON blob)",
    head_no_digest_header => "HEAD of a manifest or blob lacks Docker-Content-Digest (breaks: HEAD headers, MUST on main)",
    unknown_content_500 => "GET/HEAD of an unknown manifest or blob answers 500 (breaks: 404 for unknown content)",
    reject_nested_index => "an index that lists another index is rejected with MANIFEST_INVALID (breaks: nested indexes)",
    reject_empty_config => "a manifest whose config is the empty descriptor is rejected (breaks: artifacts with the empty config)",
    media_type_allowlist => "artifactType or config.mediaType outside a short known list is rejected (breaks: unknown media types accepted)",
    trust_reference_digest => "a manifest pushed under a digest that is not its own is accepted (breaks: digest verification)",
    // F: the referrers tag schema as a registry sees it (plain tags and indexes).
    tag_limit_64 => "tags longer than 64 characters are rejected with TAG_INVALID (breaks: tags up to 128 characters, sha512 referrers tags)",
    fallback_tag_rejected => "tags of the form sha256-<64 hex> are rejected (breaks: the referrers tag schema)",
    tag_resolves_digest => "an unknown tag alg-<hex> resolves to the manifest alg:<hex> (breaks: a tag is not a digest; GitLab's bug)",
    reserialize_manifests => "manifests are stored re-serialized with sorted keys (breaks: exact bytes)",
    fallback_index_listed => "the index tagged with a subject's referrers tag is listed as a referrer of that subject (breaks: only manifests with a subject are listed)",
    reject_empty_index => "an index whose manifests list is empty is rejected with MANIFEST_INVALID (breaks: manifests MAY be empty)",
    tag_update_ignored => "pushing an existing tag to another manifest answers 201 but keeps the old target (breaks: tag updates)",
    tags_list_unsorted => "tags/list returns tags in reverse order (breaks: lexical order of tags)",
    etag_unstable => "every manifest response carries a new ETag, so If-Match with the ETag just read fails with 412 (breaks: conditional updates, RFC 9110)",
    // H: deletion.
    delete_keeps_referrer => "deleting a manifest that has a subject only removes its tags; it stays stored and listed (breaks: deleted manifests leave lists)",
    subject_delete_412 => "deleting a manifest that has referrers is refused with 412 PRECONDITION (breaks: deletion status codes)",
    untag_drops_referrers => "deleting a tag also drops the referrers of the manifest it pointed to (breaks: untagging keeps referrers)",
    tag_delete_keeps_tag => "deleting a tag answers 202 but the tag still resolves (breaks: a deleted tag is 404)",
    manifest_delete_lazy => "deleting a manifest by digest answers 202 but it is still served (breaks: deleted content is 404)",
    delete_unknown_202 => "deleting an unknown manifest answers 202 (breaks: 404 for unknown manifests)",
    delete_disabled_501 => "manifest deletion is disabled and answered 501 UNSUPPORTED (breaks: disabled deletion is 400 or 405)",
    // G: backward compatibility.
    referrers_route_missing => "the referrers route answers a plain 404 while pushes still get OCI-Subject (breaks: unambiguous API detection; ECR 2024)",
    referrer_moves_subject_tag => "pushing a referrer re-points the subject's tags at the referrer (breaks: old clients pull the same image)",
    strict_subject_fields => "a subject descriptor with fields the registry does not know is rejected (breaks: extensibility; ECR/GitLab historically)",
    get_no_digest_header => "GET of a manifest lacks Docker-Content-Digest (breaks: the header, MUST on main)",
    cosign_tag_listed => "manifests tagged <referrers tag>.sig are listed as referrers of that subject (breaks: cosign-style tags coexist)",
    // N: errors and transport.
    redirect_target_missing => "blob redirects point at a URL that answers 404 (breaks: redirected downloads)",
    cancel_upload_500 => "cancelling an upload session answers 500 (breaks: end-14 answers 204 or 404)",
    rate_limit_bad_body => "rate-limited answers (429) carry a non-OCI body and no Retry-After (breaks: error body on 429)",
    nonstandard_error_codes => "unknown manifests and blobs answer code NOT_FOUND instead of MANIFEST_UNKNOWN / BLOB_UNKNOWN (breaks: error codes)",
    bad_warning_header => "the Warning header on GET /v2/ carries warn-code 199, a host agent and a date (breaks: Warning format)",
    sparse_wrong_code => "a manifest whose blobs are missing is rejected with MANIFEST_INVALID instead of MANIFEST_BLOB_UNKNOWN (breaks: the rejection code)",
    blob_delete_lazy => "deleting a blob answers 202 but it is still served (breaks: a deleted blob is 404)",
    deleted_subject_referrers_404 => "after a subject is deleted, its referrers listing answers 404 (breaks: the API never 404s while the repository exists)",
    // L: concurrency.
    conditional_ignored => "manifests carry an ETag but If-Match and If-None-Match on a PUT are ignored, so conditional updates of a tag still overwrite each other; a GET by tag is answered 50 ms after it was read, so racing clients read the same version (breaks: lost-update-free conditional updates)",
    concurrent_blob_put_500 => "an upload that completes a blob another upload stored less than a second ago answers 500 (a unique-key race) (breaks: identical blobs uploaded at once)",
    deleted_subject_push_500 => "a manifest whose subject was deleted is refused with 500 (a foreign-key error) (breaks: a referrer whose subject is gone is still accepted)",
    tag_torn_write => "a tag moved again less than 50 ms after its last push answers 201 but is left pointing at a digest nothing stored, a half-written link (breaks: after racing updates a tag resolves to one of them)",
    referrers_lost_update => "a push with a subject rewrites that subject's referrers list from a copy read 50 ms earlier, outside the lock, so concurrent pushes lose each other's entries (breaks: every accepted referrer is listed)",
    // J: tag locking.
    lock_blocks_referrer_push => "a manifest whose subject is the target of a locked tag is refused (breaks: signing locked releases)",
    locked_same_digest_500 => "re-pushing the same manifest to a locked tag answers 500 (breaks: idempotent retag)",
    lock_blocks_referrer_delete => "deleting a manifest whose subject is the target of a locked tag is refused (breaks: referrers stay deletable)",
    // K: garbage collection.
    gc_sweeps_referrer_blobs => "GC keeps untagged referrers but collects their blobs (breaks: kept manifests stay pullable)",
    gc_blob_refcount_broken => "GC collects every blob of a collected manifest, even blobs a kept manifest still uses (breaks: shared blobs such as the empty JSON survive)",
    gc_no_upload_grace => "GC collects blobs no manifest references yet at once, even fresh uploads whose manifest is on its way (breaks: pushes while GC runs)",
    gc_sweep_unlocked => "GC marks under the store lock, lets go of it for 200 ms, then sweeps everything it did not mark — content pushed in between included (breaks: content pushed while GC runs stays whole)",
    retention_created_inverted => "the created_before retention rule collects manifests created after the cut-off instead of before it (breaks: retention by created range)",
    keep_newest_by_push_order => "the keep_newest retention rule keeps the last pushed referrers, not the newest by org.opencontainers.image.created (breaks: keep the newest N)",
    // I: blob mount.
    mount_without_copy => "a mount answers 201 but the blob never appears in the target repository (breaks: a 201 mount means the blob is there)",
    false_mount => "a mount of a blob that exists nowhere answers 201 (breaks: no false mount)",
    mount_denied_with_token => "token mode: every mount is refused with 403 DENIED (breaks: mount with a scoped token)",
    mount_sha256_only => "mounting a sha512 blob is refused with DIGEST_INVALID although it was accepted for upload (breaks: sha512 mount)",
    mount_session_no_location => "a mount that falls back to an upload session answers 202 without Location (breaks: upload sessions carry Location)",
    // F7: enabling the referrers API on a registry that already holds referrers.
    forget_referrers_pushed_while_disabled => "manifests with a subject pushed while the referrers API was switched off (POST /admin/referrers-api) are never indexed, so they stay unlisted after it is switched on (breaks: Enabling the Referrers API, MUST #1)",
    // Response caches in front of the referrers index (proven in tests/faults.rs: every listing is read again).
    cache_drops_filters_header => "a response cache answers an identical repeat of a filtered referrers query without OCI-Filters-Applied (the list stays filtered) (breaks: filter announcement on every answer)",
    cache_stale_listing => "a response cache answers a referrers query asked before with the list it had then, also after new referrers were pushed (breaks: every accepted referrer is listed)",
    // M: what an image layout exported from the registry carries.
    referrers_ref_name_annotation => "referrers descriptors carry an org.opencontainers.image.ref.name annotation (the referrer's short digest) the manifest does not have, which a layout exported from the list then holds on a nested index (breaks: descriptors carry the manifest's annotations; M2, ref.name only on index.json)",
}

impl Faults {
    /// Faults with every named boolean switched on; unknown names are an error.
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Result<Faults, String> {
        let mut faults = Faults::default();
        for name in names {
            faults.set(name.as_ref())?;
        }
        Ok(faults)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_set_agree() {
        assert!(Faults::NAMES.len() >= 38);
        for (name, desc) in Faults::NAMES {
            assert!(!desc.is_empty());
            let f = Faults::from_names(&[*name]).unwrap();
            assert_ne!(f, Faults::default(), "{name} did not switch anything");
        }
        assert_eq!(Faults::default().set("nope"), Err("unknown fault 'nope'".to_string()));
    }

    #[test]
    fn faults_deserialize_partially() {
        let f: Faults = serde_json::from_str(r#"{"omit_link":true,"referrers_lag_ms":5}"#).unwrap();
        assert!(f.omit_link && f.referrers_lag_ms == 5 && !f.page_duplicates);
        assert!(serde_json::from_str::<Faults>(r#"{"omit_lnk":true}"#).is_err());
    }
}

//! The referrers API: listing, descriptors, filtering, paging, and its absence in legacy mode.

use super::support::*;
use crate::oci::Digest;
use crate::registry::{Mode, RegistryConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn referrers_listing_and_filter() {
    let f = start(RegistryConfig::default()).await;
    let (subj, size) = f
        .push_image("r", "application/vnd.oci.image.config.v1+json", json!({}))
        .await;
    let (a, _) = f
        .push_image(
            "r",
            "application/vnd.oci.empty.v1+json",
            json!({
                "artifactType": "application/vnd.x.sbom+json",
                "subject": subject(&subj, size),
                "annotations": { "z": "1", "a": "2" },
            }),
        )
        .await;
    let (b, _) = f
        .push_image("r", "application/vnd.x.sig", json!({ "subject": subject(&subj, size) }))
        .await;
    let idx = serde_json::to_vec(
        &json!({ "schemaVersion": 2, "mediaType": INDEX, "manifests": [], "subject": subject(&subj, size) }),
    )
    .unwrap();
    let c = Digest::sha256(&idx);
    f.put_manifest("r", c.as_str(), INDEX, &idx).await;
    // Same subject digest in another repository must not leak in.
    f.push_image(
        "other",
        "application/vnd.x.sig",
        json!({ "subject": subject(&subj, size) }),
    )
    .await;

    let r = f.referrers("r", &subj, "").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "content-type"), Some(INDEX));
    assert_eq!(header(&r, "oci-filters-applied"), None);
    let text = r.text().await.unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(digests(&v), [a.to_string(), b.to_string(), c.to_string()]);
    let m = &v["manifests"];
    assert_eq!(m[0]["artifactType"], "application/vnd.x.sbom+json");
    assert_eq!(m[1]["artifactType"], "application/vnd.x.sig");
    assert!(m[2].get("artifactType").is_none() && m[2]["mediaType"] == INDEX);
    assert_eq!(
        m[0]["annotations"].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["z", "a"]
    );
    let first = text.find("\"manifests\":[{").unwrap();
    assert!(
        text[first..]
            .starts_with("\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\"")
    );

    // Filtering: %2B must decode to '+'; the config-derived type is matched too.
    let r =
        f.c.get(format!("{}/v2/r/referrers/{subj}", f.url))
            .query(&[("artifactType", "application/vnd.x.sbom+json")])
            .send()
            .await
            .unwrap();
    assert_eq!(header(&r, "oci-filters-applied"), Some("artifactType"));
    assert_eq!(digests(&r.json().await.unwrap()), [a.to_string()]);
    let r = f.referrers("r", &subj, "?artifactType=application/vnd.x.sig").await;
    assert_eq!(digests(&r.json().await.unwrap()), [b.to_string()]);
    let r = f.referrers("r", &subj, "?artifactType=").await;
    assert_eq!(header(&r, "oci-filters-applied"), None);
    assert_eq!(digests(&r.json().await.unwrap()).len(), 3);

    // Empty, invalid and unsupported digests; unknown repository.
    let none = Digest::sha256(b"nothing refers to me");
    let r = f.referrers("r", &none, "").await;
    assert_eq!(r.json::<Value>().await.unwrap()["manifests"], json!([]));
    let r =
        f.c.get(format!("{}/v2/r/referrers/sha256:zz", f.url))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r =
        f.c.get(format!("{}/v2/r/referrers/foo:bar", f.url))
            .send()
            .await
            .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["errors"][0]["code"], "DIGEST_INVALID");
    assert_eq!(f.referrers("ghost", &subj, "").await.status(), StatusCode::OK);

    // Deleting a referrer removes it from the list.
    f.c.delete(format!("{}/v2/r/manifests/{b}", f.url))
        .send()
        .await
        .unwrap();
    let r = f.referrers("r", &subj, "").await;
    assert_eq!(digests(&r.json().await.unwrap()), [a.to_string(), c.to_string()]);
    f.reg.shutdown().await;
}

#[tokio::test]
async fn referrers_pagination_is_stable() {
    let f = start(RegistryConfig {
        page_size: 2,
        ..RegistryConfig::default()
    })
    .await;
    let (subj, size) = f.push_image("p", "application/vnd.x.img", json!({})).await;
    let expected = push_n_referrers(&f, "p", &subj, size, 5).await;
    let (all, pages) = all_pages(&f, &format!("/v2/p/referrers/{subj}")).await;
    assert_eq!((all, pages), (expected.clone(), 3));

    // An insert between pages neither shifts nor duplicates older entries.
    let r = f.referrers("p", &subj, "").await;
    let link = header(&r, "link").unwrap().to_string();
    let later = push_n_referrers(&f, "p", &subj, size, 1).await;
    let next = link.strip_prefix('<').unwrap().split_once('>').unwrap().0.to_string();
    let (rest, _) = all_pages(&f, &next).await;
    let mut expected_rest = expected[2..].to_vec();
    expected_rest.extend(later);
    assert_eq!(rest, expected_rest);

    // The byte limit also cuts pages (one entry per page here); the filter survives paging.
    let f2 = start(RegistryConfig {
        page_bytes: 300,
        ..RegistryConfig::default()
    })
    .await;
    let (subj, size) = f2.push_image("p", "application/vnd.x.img", json!({})).await;
    let expected = push_n_referrers(&f2, "p", &subj, size, 3).await;
    let (all, pages) = all_pages(
        &f2,
        &format!("/v2/p/referrers/{subj}?artifactType=application%2Fvnd.x.sig"),
    )
    .await;
    assert_eq!((all, pages), (expected, 3));
    f.reg.shutdown().await;
    f2.reg.shutdown().await;
}

#[tokio::test]
async fn legacy_mode_has_no_referrers_api() {
    let f = start(RegistryConfig {
        mode: Mode::Legacy,
        ..RegistryConfig::default()
    })
    .await;
    let (subj, size) = f.push_image("l", "application/vnd.x.img", json!({})).await;
    let config = f.push_blob("l", b"{}").await;
    let m = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": MANIFEST,
        "config": { "mediaType": "application/vnd.x.sig", "digest": config.to_string(), "size": 2 },
        "layers": [], "subject": subject(&subj, size),
    }))
    .unwrap();
    let r = f.put_manifest("l", "sig", MANIFEST, &m).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(header(&r, "oci-subject"), None);
    let r = f.referrers("l", &subj, "").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(header(&r, "content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.text().await.unwrap().trim_end(), "404 page not found");
    f.reg.shutdown().await;
}

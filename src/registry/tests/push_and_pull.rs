//! Blobs, uploads, mounts, manifests (exact bytes, subjects, sha512), tags and deletes.

use super::support::*;
use crate::oci::Digest;
use crate::registry::RegistryConfig;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn base_and_blobs() {
    let f = start(RegistryConfig::default()).await;
    let r = f.c.get(format!("{}/v2/", f.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "docker-distribution-api-version"), Some("registry/2.0"));

    let d = f.push_blob("a/b", b"hello").await;
    let r = f.c.get(format!("{}/v2/a/b/blobs/{d}", f.url)).send().await.unwrap();
    assert_eq!(header(&r, "content-type"), Some("application/octet-stream"));
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"hello");
    let r = f.c.head(format!("{}/v2/a/b/blobs/{d}", f.url)).send().await.unwrap();
    assert_eq!(header(&r, "content-length"), Some("5"));

    // Single POST, bad digest, unknown blob, invalid name.
    let d2 = Digest::sha256(b"one-shot");
    let r =
        f.c.post(format!("{}/v2/a/b/blobs/uploads/?digest={d2}", f.url))
            .body("one-shot")
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(header(&r, "location"), Some(format!("/v2/a/b/blobs/{d2}").as_str()));
    let r =
        f.c.post(format!("{}/v2/a/b/blobs/uploads/?digest={d2}", f.url))
            .body("other")
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["errors"][0]["code"], "DIGEST_INVALID");
    let r =
        f.c.get(format!("{}/v2/a/b/blobs/{}", f.url, Digest::sha256(b"nope")))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(header(&r, "content-type"), Some("application/json"));
    let r = f.c.get(format!("{}/v2/A/blobs/{d}", f.url)).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["errors"][0]["code"], "NAME_INVALID");

    // Chunked upload with an out-of-order chunk, then mount into another repository.
    let r =
        f.c.post(format!("{}/v2/a/b/blobs/uploads/", f.url))
            .send()
            .await
            .unwrap();
    let loc = format!("{}{}", f.url, header(&r, "location").unwrap());
    let r =
        f.c.patch(&loc)
            .header("content-range", "0-2")
            .body("abc")
            .send()
            .await
            .unwrap();
    assert_eq!((r.status(), header(&r, "range")), (StatusCode::ACCEPTED, Some("0-2")));
    let r =
        f.c.patch(&loc)
            .header("content-range", "5-6")
            .body("xy")
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    let full = Digest::sha256(b"abcdef");
    let r =
        f.c.put(format!("{loc}?digest={full}"))
            .header("content-range", "3-5")
            .body("def")
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = f.c.put(format!("{loc}?digest={full}")).send().await.unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap()["errors"][0]["code"],
        "BLOB_UPLOAD_UNKNOWN"
    );
    let r =
        f.c.post(format!("{}/v2/c/blobs/uploads/?mount={full}&from=a/b", f.url))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    f.reg.shutdown().await;
}

#[tokio::test]
async fn manifests_exact_bytes_subject_and_tags() {
    let f = start(RegistryConfig::default()).await;
    let config = f.push_blob("r", b"{}").await;
    // Odd whitespace: the registry must hand back exactly these bytes.
    let body = format!(
        "{{ \"schemaVersion\" : 2,\n \"mediaType\":\"{MANIFEST}\", \"config\":{{\"mediaType\":\"application/vnd.x.config\",\"digest\":\"{config}\",\"size\":2}},\"layers\":[] }}"
    );
    let r = f.put_manifest("r", "v1", MANIFEST, body.as_bytes()).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let d = Digest::sha256(body.as_bytes());
    assert_eq!(header(&r, "docker-content-digest"), Some(d.as_str()));
    assert_eq!(header(&r, "oci-subject"), None);
    let r = f.c.get(format!("{}/v2/r/manifests/v1", f.url)).send().await.unwrap();
    assert_eq!(header(&r, "content-type"), Some(MANIFEST));
    assert_eq!(r.bytes().await.unwrap().as_ref(), body.as_bytes());

    let (sig, _) = f
        .push_image(
            "r",
            "application/vnd.x.sig",
            json!({ "subject": subject(&d, body.len()) }),
        )
        .await;
    let r =
        f.c.head(format!("{}/v2/r/manifests/{sig}", f.url))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // OCI-Subject is checked on a fresh push of a sha512-addressed referrer too.
    let referrer = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": INDEX, "manifests": [], "subject": subject(&d, body.len()),
    }))
    .unwrap();
    let d512 = Digest::sha512(&referrer);
    let r = f.put_manifest("r", d512.as_str(), INDEX, &referrer).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(header(&r, "oci-subject"), Some(d.as_str()));

    // Missing blobs, bad JSON, unknown repo/manifest, tag list and deletes.
    let bad = json!({ "schemaVersion": 2, "config": { "mediaType": "x", "digest": Digest::sha256(b"gone").to_string(), "size": 4 }, "layers": [] });
    let r = f
        .put_manifest("r", "bad", MANIFEST, &serde_json::to_vec(&bad).unwrap())
        .await;
    assert_eq!(
        r.json::<Value>().await.unwrap()["errors"][0]["code"],
        "MANIFEST_BLOB_UNKNOWN"
    );
    let r = f.put_manifest("r", "bad", MANIFEST, b"{\"schemaVersion\":1}").await;
    assert_eq!(
        r.json::<Value>().await.unwrap()["errors"][0]["code"],
        "MANIFEST_INVALID"
    );
    let r =
        f.c.get(format!("{}/v2/nobody/manifests/v1", f.url))
            .send()
            .await
            .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["errors"][0]["code"], "NAME_UNKNOWN");
    f.put_manifest("r", "v2", MANIFEST, body.as_bytes()).await;
    f.put_manifest("r", "a0", MANIFEST, body.as_bytes()).await;
    let r = f.c.get(format!("{}/v2/r/tags/list?n=2", f.url)).send().await.unwrap();
    assert_eq!(header(&r, "link"), Some("</v2/r/tags/list?n=2&last=v1>; rel=\"next\""));
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({ "name": "r", "tags": ["a0", "v1"] })
    );
    let r = f.c.get(format!("{}/v2/r/tags/list?n=0", f.url)).send().await.unwrap();
    assert_eq!(header(&r, "link"), None);
    let r = f.c.delete(format!("{}/v2/r/manifests/v2", f.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r =
        f.c.delete(format!("{}/v2/r/manifests/{d}", f.url))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r = f.c.get(format!("{}/v2/r/manifests/v1", f.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    f.reg.shutdown().await;
}

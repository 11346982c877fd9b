//! Authentication: the bearer token flow and HTTP Basic.

use super::support::*;
use crate::registry::{AuthMode, RegistryConfig};
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test]
async fn token_flow() {
    let users = vec![("alice".to_string(), "secret".to_string())];
    let f = start(RegistryConfig {
        auth: AuthMode::Token { users },
        ..RegistryConfig::default()
    })
    .await;
    let r = f.c.get(format!("{}/v2/", f.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let host = f.url.strip_prefix("http://").unwrap();
    assert_eq!(
        header(&r, "www-authenticate"),
        Some(format!("Bearer realm=\"http://{host}/token\",service=\"referee-embedded\"").as_str())
    );
    let r = f.c.get(format!("{}/v2/t/manifests/x", f.url)).send().await.unwrap();
    assert!(
        header(&r, "www-authenticate")
            .unwrap()
            .ends_with(",scope=\"repository:t:pull\"")
    );
    assert_eq!(r.json::<Value>().await.unwrap()["errors"][0]["code"], "UNAUTHORIZED");

    let token_url = format!("{}/token", f.url);
    let r =
        f.c.get(&token_url)
            .query(&[("service", "referee-embedded"), ("scope", "repository:t:pull")])
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r =
        f.c.get(&token_url)
            .basic_auth("alice", Some("secret"))
            .query(&[("service", "referee-embedded"), ("scope", "repository:t:pull")])
            .send()
            .await
            .unwrap();
    let body: Value = r.json().await.unwrap();
    let token = body["token"].as_str().unwrap().to_string();
    assert_eq!(body["access_token"], body["token"]);
    let r =
        f.c.get(format!("{}/v2/t/manifests/x", f.url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Pull does not allow push, nor another repository.
    let r =
        f.c.post(format!("{}/v2/t/blobs/uploads/", f.url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        header(&r, "www-authenticate")
            .unwrap()
            .ends_with("scope=\"repository:t:pull,push\"")
    );
    let r =
        f.c.get(format!("{}/v2/u/tags/list", f.url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r =
        f.c.get(format!("{}/v2/", f.url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    f.reg.shutdown().await;
}

#[tokio::test]
async fn basic_auth() {
    let users = vec![("u".to_string(), "p".to_string())];
    let f = start(RegistryConfig {
        auth: AuthMode::Basic { users },
        ..RegistryConfig::default()
    })
    .await;
    let r = f.c.get(format!("{}/v2/", f.url)).send().await.unwrap();
    assert_eq!(header(&r, "www-authenticate"), Some("Basic realm=\"referee-embedded\""));
    let r =
        f.c.get(format!("{}/v2/", f.url))
            .basic_auth("u", Some("p"))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r =
        f.c.get(format!("{}/v2/", f.url))
            .basic_auth("u", Some("x"))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    f.reg.shutdown().await;
}

//! `GET /openapi.json` on the real binary: an OpenAPI 3.1 document listing every route
//! the server answers with its methods, each of which the binary serves (none a 404).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::common;

use common::{Server, database_with_alice, django_sqlite, http, http_with_headers, obtain};

/// The document `addr` serves.
async fn fetch(addr: &str) -> Value {
    let (status, headers, body) = http_with_headers(addr, "GET", "/openapi.json", &[], "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["content-type"], "application/json");
    serde_json::from_str(&body).expect("a JSON document")
}

/// Each documented path with its methods, uppercase.
fn routes(document: &Value) -> BTreeMap<String, BTreeSet<String>> {
    let paths = document["paths"].as_object().expect("paths");
    paths
        .iter()
        .map(|(path, item)| {
            let methods = item.as_object().unwrap().keys();
            let methods =
                methods.filter(|key| !["parameters", "summary", "description"].contains(&key.as_str()));
            (path.clone(), methods.map(|m| m.to_uppercase()).collect())
        })
        .collect()
}

fn expected(pairs: &[(&str, &[&str])]) -> BTreeMap<String, BTreeSet<String>> {
    let set = |methods: &[&str]| methods.iter().map(|m| (*m).to_owned()).collect();
    pairs
        .iter()
        .map(|(path, methods)| ((*path).to_owned(), set(methods)))
        .collect()
}

/// Every `$ref` in `value`.
fn collect_refs(value: &Value, refs: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref") {
                refs.push(reference.clone());
            }
            map.values().for_each(|value| collect_refs(value, refs));
        }
        Value::Array(items) => items.iter().for_each(|value| collect_refs(value, refs)),
        _ => {}
    }
}

const VERIFY: &[&str] = &["DELETE", "GET", "PATCH", "POST", "PUT", "TRACE"];

#[tokio::test]
async fn the_document_is_openapi_3_1_and_every_route_it_lists_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let database = database_with_alice(&dir, "openapi");
    let (_server, addr) = Server::start(&database, &[]);
    let document = fetch(&addr).await;
    assert!(
        document["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        document["openapi"]
    );
    let listed = routes(&document);
    let mut refs = Vec::new();
    collect_refs(&document, &mut refs);
    for reference in refs {
        let pointer = reference.strip_prefix('#').expect("a local reference");
        assert!(document.pointer(pointer).is_some(), "{reference} points nowhere");
    }
    let all = expected(&[
        ("/api-token-auth/", &["POST"]),
        ("/auth/token", &["POST"]),
        ("/auth/me", &["GET"]),
        ("/auth/logout", &["POST"]),
        ("/auth/logoutall", &["POST"]),
        ("/auth/tokens", &["GET", "POST"]),
        ("/auth/tokens/{id}", &["DELETE"]),
        ("/auth/introspect", &["POST"]),
        ("/auth/revoke", &["POST"]),
        ("/auth/verify", VERIFY),
        ("/auth/verify/{path}", VERIFY),
        ("/healthz", &["GET"]),
        ("/readyz", &["GET"]),
        ("/metrics", &["GET"]),
        ("/openapi.json", &["GET"]),
    ]);
    assert_eq!(listed, all);

    let schemes = document["components"]["securitySchemes"].as_object().unwrap();
    assert_eq!(schemes["token"]["name"], "Authorization");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["introspectionClient"]["scheme"], "basic");
    let unauthorized = &document["components"]["responses"]["Unauthorized"];
    assert!(
        unauthorized["headers"]["WWW-Authenticate"].is_object(),
        "{unauthorized}"
    );
    let me = &document["paths"]["/auth/me"]["get"]["responses"];
    assert_eq!(me["401"]["$ref"], "#/components/responses/Unauthorized");
    let obtain_body = &document["paths"]["/auth/token"]["post"]["requestBody"]["content"];
    let media: BTreeSet<&str> = obtain_body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        media,
        BTreeSet::from([
            "application/json",
            "application/x-www-form-urlencoded",
            "multipart/form-data"
        ])
    );
    for status in ["429", "503"] {
        let name = document["paths"]["/auth/token"]["post"]["responses"][status]["$ref"]
            .as_str()
            .unwrap();
        let response = &document["components"]["responses"][name.rsplit('/').next().unwrap()];
        assert!(
            response["headers"]["Retry-After"].is_object(),
            "{status}: {response}"
        );
    }

    // Every documented operation is served: no 404, with a live token and a real id.
    let token = obtain(&addr, "alice", "pw").await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let authorization = format!("Token {token}");
    // Another of alice's tokens, for `DELETE /auth/tokens/{id}`.
    obtain(&addr, "alice", "pw").await;
    let (status, body) = http(
        &addr,
        "GET",
        "/auth/tokens",
        &[("authorization", &authorization)],
        "",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let tokens: Vec<Value> = serde_json::from_str(&body).unwrap();
    let other = tokens
        .iter()
        .find(|token| token["current"] == false)
        .expect("two tokens");
    let id = other["id"].as_str().unwrap().to_owned();
    for (path, methods) in &listed {
        let concrete = path.replace("{id}", &id).replace("{path}", "orders/7");
        for method in methods {
            // Logging out first would leave the other routes a dead token.
            if concrete.starts_with("/auth/logout") || (method == "DELETE" && concrete.contains(&id)) {
                continue;
            }
            let (status, body) =
                http(&addr, method, &concrete, &[("authorization", &authorization)], "").await;
            assert_ne!(status, 404, "{method} {concrete}: {body}");
            assert!(status < 500, "{method} {concrete}: {status} {body}");
        }
    }
    for (method, path) in [
        ("DELETE", format!("/auth/tokens/{id}")),
        ("POST", "/auth/logoutall".to_owned()),
    ] {
        let (status, body) = http(&addr, method, &path, &[("authorization", &authorization)], "").await;
        assert_eq!(status, 204, "{method} {path}: {body}");
    }
    let other = obtain(&addr, "alice", "pw").await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = http(
        &addr,
        "POST",
        "/auth/logout",
        &[("authorization", &format!("Token {other}"))],
        "",
    )
    .await;
    assert_eq!(status, 204, "{body}");
}

#[tokio::test]
async fn the_document_follows_the_scopes_lifespan_and_introspection_client_served() {
    let dir = tempfile::tempdir().unwrap();
    let database = database_with_alice(&dir, "openapi-settings");
    let secret = dir.path().join("client-secret");
    std::fs::write(&secret, "s".repeat(32)).unwrap();
    let (_server, addr) = Server::start(
        &database,
        &[
            "--scopes",
            "read write.all",
            "--lifespan",
            "2h",
            "--introspection-client-id",
            "gateway",
            "--introspection-client-secret-file",
            secret.to_str().unwrap(),
        ],
    );
    let document = fetch(&addr).await;
    let schemas = &document["components"]["schemas"];
    for body in [
        "ObtainRequest",
        "ObtainForm",
        "ObtainMultipart",
        "PersonalTokenRequest",
        "PersonalTokenForm",
    ] {
        let scope = schemas[body]["properties"]["scope"]["pattern"].as_str().unwrap();
        assert!(scope.contains("(read|sessions|write\\.all)"), "{body}: {scope}");
        let lifespan = &schemas[body]["properties"]["lifespan"]["oneOf"][0];
        assert_eq!(lifespan["maximum"], 7200, "{body}: {lifespan}");
    }
    let security = &document["paths"]["/auth/introspect"]["post"]["security"];
    let with_client = serde_json::json!([{ "token": [] }, { "bearer": [] }, { "introspectionClient": [] }]);
    assert_eq!(security, &with_client);
}

#[tokio::test]
async fn routes_not_served_are_left_out() {
    // A Django database keeps one token per user: no personal tokens.
    let dir = tempfile::tempdir().unwrap();
    let django = django_sqlite(&dir);
    let (_server, addr) = Server::start(&django, &["--schema", "django"]);
    let document = fetch(&addr).await;
    assert_eq!(
        routes(&document)["/auth/tokens"],
        BTreeSet::from(["GET".to_owned()])
    );

    // Metrics on their own listener; no introspection client.
    let database = database_with_alice(&dir, "openapi-options");
    let (_metrics, printed) = Server::start_printing(&database, &["--metrics-bind", "127.0.0.1:0"], &[], 2);
    let addr = &printed[0];
    let document = fetch(addr).await;
    assert!(!routes(&document).contains_key("/metrics"));
    let (status, _) = http(addr, "GET", "/metrics", &[], "").await;
    assert_eq!(status, 404);
    let security = &document["paths"]["/auth/introspect"]["post"]["security"];
    assert_eq!(security, &serde_json::json!([{ "token": [] }, { "bearer": [] }]));
}

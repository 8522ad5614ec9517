//! The admin API when no admin key is configured (the gateway under test
//! layers none): every route answers 403 and says how to enable it. The
//! enabled admin API is tested next to its code (`routes/admin.rs`), where
//! a test can hand the router an admin key.

use axum::http::Method;
use serde_json::json;

use super::bare;
use crate::support::assert_error;

#[tokio::test]
async fn admin_routes_are_disabled_without_an_admin_key() {
    let gw = bare().await;
    let routes = [
        (Method::GET, "/api/v1/admin/accounts".to_owned(), None),
        (
            Method::POST,
            "/api/v1/admin/accounts".to_owned(),
            Some(json!({"name": "x"})),
        ),
        (
            Method::GET,
            format!("/api/v1/admin/accounts/{}", gw.account),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/admin/accounts/{}/credits", gw.account),
            Some(json!({"amount": "5"})),
        ),
    ];
    for (method, path, body) in routes {
        for key in [None, Some(gw.key.as_str()), Some(gw.prov.as_str())] {
            let reply = gw.call(method.clone(), &path, key, body.as_ref()).await;
            let error = assert_error(&reply, 403);
            assert_eq!(
                error["message"], "admin API disabled: set TOLLGATE_ADMIN_KEY",
                "{method} {path}"
            );
        }
    }
    // Nothing happened.
    assert_eq!(gw.store().list_accounts().await.unwrap().len(), 1);
    assert!(gw.store().ledger(&gw.account).await.unwrap().is_empty());
}

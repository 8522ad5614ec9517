//! The web dashboard over HTTP: the API answers the same with it off (and
//! its pages are then 404), and with it on a session is started by a key,
//! every form needs the session's CSRF token, and sign-out ends it. Only a
//! provisioning key's session manages keys; an inference key's sees them.
//! The pages in a real browser are tests/browser.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use tollgate_store::{KeyKind, NewApiKey};

use crate::support::*;

/// The value of `name="csrf" value="..."` in a page.
fn csrf_of(html: &str) -> String {
    let at = html
        .find(r#"name="csrf" value=""#)
        .unwrap_or_else(|| panic!("no CSRF field in {html}"));
    let rest = &html[at + r#"name="csrf" value=""#.len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// `name=value` of the `Set-Cookie` named `name`.
fn cookie_of(reply: &Reply, name: &str) -> Option<String> {
    reply
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

async fn get_with(gw: &TestGateway, path: &str, cookie: &str) -> Reply {
    let request = Request::builder()
        .method(Method::GET)
        .uri(path)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .unwrap();
    gw.oneshot(request).await
}

async fn post_form(gw: &TestGateway, path: &str, cookie: &str, form: &str) -> Reply {
    let request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.to_owned()))
        .unwrap();
    gw.oneshot(request).await
}

fn text(reply: &Reply) -> String {
    String::from_utf8_lossy(&reply.body).into_owned()
}

/// Signs in with `key`: the session cookie (`tollgate_session=...`).
async fn sign_in(gw: &TestGateway, key: &str) -> String {
    let page = gw.get("/signin").await;
    assert_eq!(page.status, StatusCode::OK);
    let pre = cookie_of(&page, "tollgate_signin").expect("a sign-in CSRF cookie");
    let csrf = csrf_of(&text(&page));
    let form = format!("csrf={csrf}&key={key}");
    let reply = post_form(gw, "/signin", &pre, &form).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", text(&reply));
    let session = cookie_of(&reply, "tollgate_session").expect("a session cookie");
    let set = reply.header("set-cookie").unwrap_or_default().to_owned();
    assert!(
        reply.headers.get_all(header::SET_COOKIE).iter().any(|c| {
            let c = c.to_str().unwrap();
            c.starts_with("tollgate_session=")
                && c.contains("HttpOnly")
                && c.contains("SameSite=Strict")
        }),
        "{set}"
    );
    session
}

#[tokio::test]
async fn the_api_answers_the_same_with_the_dashboard_off() {
    let on = start().await;
    let off = start_with(Options {
        dashboard: false,
        ..Options::default()
    })
    .await;
    for path in [
        "/api/v1/models",
        "/api/v1/providers",
        "/api/v1/nope",
        "/health",
    ] {
        let (a, b) = (on.get(path).await, off.get(path).await);
        assert_eq!(a.status, b.status, "{path}");
        assert_eq!(a.body, b.body, "{path}");
    }
    let (a, b) = (
        on.chat(&chat_body("mock/echo", "same either way")).await,
        off.chat(&chat_body("mock/echo", "same either way")).await,
    );
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(b.status, StatusCode::OK);
    assert_eq!(a.json()["choices"], b.json()["choices"]);
    assert_eq!(a.json()["usage"], b.json()["usage"]);

    // Off, the dashboard's paths are the API's JSON 404.
    for path in ["/", "/signin", "/keys", "/assets/app.css", "/playground"] {
        let reply = off.get(path).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(reply.json()["error"]["code"], 404, "{path}");
    }
    // On, they are pages.
    assert_eq!(on.get("/").await.status, StatusCode::SEE_OTHER);
    let signin = on.get("/signin").await;
    assert_eq!(signin.status, StatusCode::OK);
    assert!(
        signin
            .header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        signin
            .header("content-security-policy")
            .unwrap()
            .contains("script-src 'self'")
    );
}

async fn sessions_forms_and_sign_out(postgres: bool) {
    let gw = start_with(Options {
        postgres,
        ..Options::default()
    })
    .await;
    // Not signed in: every page sends to the sign-in page.
    let reply = gw.get("/keys").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.header("location"), Some("/signin"));
    // A wrong key is refused, and the key never reaches the page.
    let page = gw.get("/signin").await;
    let pre = cookie_of(&page, "tollgate_signin").unwrap();
    let csrf = csrf_of(&text(&page));
    let wrong = post_form(
        &gw,
        "/signin",
        &pre,
        &format!("csrf={csrf}&key=sk-tg-v1-wrong"),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(!text(&wrong).contains("sk-tg-v1-wrong"));
    // Without the sign-in form's token, even the right key is refused.
    let forged = post_form(&gw, "/signin", "", &format!("key={}", gw.key)).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    // An inference key's session sees the keys but cannot change them,
    // even with the session's own token.
    let inference = sign_in(&gw, &gw.key).await;
    let keys = get_with(&gw, "/keys", &inference).await;
    assert_eq!(keys.status, StatusCode::OK);
    let html = text(&keys);
    assert!(
        html.contains("Managing keys needs a provisioning key"),
        "{html}"
    );
    assert!(
        html.contains("<td>test</td>"),
        "its own key is listed: {html}"
    );
    assert!(
        !html.contains(r#"action="/keys""#),
        "no create form: {html}"
    );
    assert!(!html.contains("/toggle"), "no disable form: {html}");
    let csrf = csrf_of(&html);
    let before = gw
        .gateway
        .store()
        .list_api_keys(&gw.account_id)
        .await
        .unwrap()
        .len();
    let refused = post_form(
        &gw,
        "/keys",
        &inference,
        &format!("csrf={csrf}&name=minted-by-a-leak"),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(text(&refused).contains("Managing keys needs a provisioning key"));
    let after = gw
        .gateway
        .store()
        .list_api_keys(&gw.account_id)
        .await
        .unwrap();
    assert_eq!(after.len(), before, "no key was created");
    assert!(after.iter().all(|k| k.label != "minted-by-a-leak"));
    let own = after.iter().find(|k| k.kind == KeyKind::Inference).unwrap();
    for path in [
        format!("/keys/{}/toggle", own.hash),
        format!("/keys/{}/delete", own.hash),
        String::from("/byok/mock/delete"),
        String::from("/byok"),
    ] {
        let form = format!("csrf={csrf}&provider=mock&api_key=sk-provider-123456");
        let reply = post_form(&gw, &path, &inference, &form).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{path}");
    }
    let own_now = gw.gateway.store().get_api_key(&own.hash).await.unwrap();
    assert!(
        own_now.is_some_and(|k| !k.disabled),
        "the key was left alone"
    );
    // The playground is an inference key's.
    assert_eq!(
        get_with(&gw, "/playground", &inference).await.status,
        StatusCode::OK
    );

    // A provisioning key of the account manages them.
    let (provisioning, _) = gw
        .gateway
        .store()
        .create_api_key(
            &gw.account_id,
            NewApiKey {
                label: String::from("ops"),
                kind: KeyKind::Provisioning,
            },
        )
        .await
        .unwrap();
    let session = sign_in(&gw, &provisioning).await;
    let keys = get_with(&gw, "/keys", &session).await;
    assert_eq!(keys.status, StatusCode::OK);
    let html = text(&keys);
    assert!(!html.contains("Managing keys needs a provisioning key"));
    assert!(html.contains(r#"action="/keys""#), "{html}");
    let csrf = csrf_of(&html);
    // It cannot call models: the playground says so, and its chat is a 403.
    let play = text(&get_with(&gw, "/playground", &session).await);
    assert!(
        play.contains("Provisioning keys cannot call models"),
        "{play}"
    );
    let chat = gw
        .oneshot(
            Request::builder()
                .method(Method::POST)
                .uri("/playground/chat")
                .header(header::COOKIE, &session)
                .header("x-csrf-token", &csrf)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(
                    r#"{"model":"mock/echo","messages":[{"role":"user","content":"hi"}]}"#,
                ))
                .unwrap(),
        )
        .await;
    assert_eq!(chat.status, StatusCode::FORBIDDEN);
    assert!(
        chat.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot call models")
    );

    // A form without its token is refused, and creates nothing.
    let refused = post_form(&gw, "/keys", &session, "name=forged").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let refused = post_form(&gw, "/keys", &session, "name=forged&csrf=00").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(!text(&get_with(&gw, "/keys", &session).await).contains("forged"));

    // With it, the key is created, shown once, and listed.
    let created = post_form(
        &gw,
        "/keys",
        &session,
        &format!("csrf={csrf}&name=from-the-dashboard&limit=5&limit_reset=monthly"),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", text(&created));
    let html = text(&created);
    let at = html
        .find(r#"<code id="new-key">"#)
        .expect("the new key is shown once")
        + r#"<code id="new-key">"#.len();
    let secret: String = html[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    assert!(
        secret.starts_with("sk-tg-v1-") && secret.len() > 20,
        "{secret}"
    );
    assert!(html.contains("from-the-dashboard"));
    assert!(html.contains("$5.00 monthly"), "{html}");
    let listed = text(&get_with(&gw, "/keys", &session).await);
    assert!(listed.contains("from-the-dashboard"));
    assert!(!listed.contains(&secret), "the secret is shown only once");
    // The new key works on the API.
    let reply = gw
        .oneshot(
            Request::builder()
                .uri("/api/v1/key")
                .header(header::AUTHORIZATION, format!("Bearer {secret}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["data"]["limit"], 5.0);

    // A generation appears in the list and has its page.
    let chat = gw.chat(&chat_body("mock/echo", "listed please")).await;
    assert_eq!(chat.status, StatusCode::OK);
    let id = chat.json()["id"].as_str().unwrap().to_owned();
    let list = text(&get_with(&gw, "/generations", &session).await);
    assert!(list.contains(&id), "{list}");
    let filtered = text(&get_with(&gw, "/generations?model=mock/other", &session).await);
    assert!(!filtered.contains(&id));
    let one = get_with(&gw, &format!("/generations/{id}"), &session).await;
    assert_eq!(one.status, StatusCode::OK);
    assert!(text(&one).contains("Mock Alpha"));

    // Credits show the test top-up; the operator's pages are not an account's.
    let credits = text(&get_with(&gw, "/credits", &session).await);
    assert!(credits.contains("test credits"), "{credits}");
    assert_eq!(
        get_with(&gw, "/operator", &session).await.status,
        StatusCode::FORBIDDEN
    );

    // Sign-out needs the token too, then ends the session.
    let kept = post_form(&gw, "/signout", &session, "").await;
    assert_eq!(kept.status, StatusCode::FORBIDDEN);
    assert_eq!(
        get_with(&gw, "/keys", &session).await.status,
        StatusCode::OK
    );
    let out = post_form(&gw, "/signout", &session, &format!("csrf={csrf}")).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let after = get_with(&gw, "/keys", &session).await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert_eq!(after.header("location"), Some("/signin"));
}

#[tokio::test]
async fn sessions_forms_and_sign_out_sqlite() {
    sessions_forms_and_sign_out(false).await;
}

#[tokio::test]
async fn sessions_forms_and_sign_out_postgres() {
    sessions_forms_and_sign_out(true).await;
}

#[tokio::test]
async fn a_disabled_key_ends_its_session() {
    let gw = start().await;
    let (secret, hash) = gw.new_key("short-lived").await;
    let session = sign_in(&gw, &secret).await;
    assert_eq!(
        get_with(&gw, "/credits", &session).await.status,
        StatusCode::OK
    );
    gw.gateway
        .store()
        .set_api_key_disabled(&hash, true)
        .await
        .unwrap();
    let reply = get_with(&gw, "/credits", &session).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_dashboard_can_live_under_a_path() {
    let gw = start_with(Options {
        dashboard_path: "/ui",
        ..Options::default()
    })
    .await;
    let home = gw.get("/ui").await;
    assert_eq!(home.status, StatusCode::SEE_OTHER);
    assert_eq!(home.header("location"), Some("/ui/signin"));
    let page = gw.get("/ui/signin").await;
    assert_eq!(page.status, StatusCode::OK);
    let html = text(&page);
    assert!(html.contains(r#"action="/ui/signin""#), "{html}");
    assert!(html.contains(r#"href="/ui/assets/app.css""#));
    let cookie = page.header("set-cookie").unwrap();
    assert!(cookie.contains("Path=/ui;"), "{cookie}");
    assert_eq!(gw.get("/ui/assets/app.js").await.status, StatusCode::OK);
    // Nothing at the root, and the API is where it was.
    assert_eq!(gw.get("/signin").await.status, StatusCode::NOT_FOUND);
    assert_eq!(gw.get("/").await.status, StatusCode::NOT_FOUND);
    assert_eq!(gw.get("/api/v1/models").await.status, StatusCode::OK);
}

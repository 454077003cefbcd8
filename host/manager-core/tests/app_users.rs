//! Apps' end-user accounts against both real databases, through the service
//! scripts call ([`UsersService`] on [`DataServices`]) and the store, read
//! back raw as someone with a copy of the database would. What a client
//! sees over HTTP is in `host/picloud/tests/users.rs`.
//!
//! Time is never waited for: a test "lets a session expire" by moving its
//! `expires_at` into the past through a second connection.

use manager_core::store::{DocsQuota, KvQuota, MAX_SESSIONS_PER_USER};
use manager_core::{DataServices, Db, Store};
use shared::{AppId, ServiceProvider, UsersService};

struct Env {
    store: Store,
    raw: sqlx::AnyPool,
}

macro_rules! tests {
    ($($name:ident),* $(,)?) => {
        vec![$((
            stringify!($name),
            (|db| Box::pin(async move {
                let dir = tempfile::tempdir().unwrap();
                let url = db.unwrap_or_else(|| format!("sqlite://{}", dir.path().join("picloud.db").display()));
                let store = Store::new(Db::connect(&url).await.unwrap());
                let raw = sqlx::AnyPool::connect(&url).await.unwrap();
                $name(Env { store, raw }).await;
            })) as testkit::harness::Test,
        )),*]
    };
}

fn main() {
    testkit::harness::run_on_both_databases(tests![
        secrets_are_stored_only_as_hashes,
        deleting_an_app_deletes_its_users,
        sessions_expire_are_capped_and_purged,
        a_token_is_redeemed_once_even_when_raced,
    ])
}

const PASSWORD: &str = "a long and unusual passphrase";

fn services(env: &Env) -> DataServices {
    DataServices::new(
        env.store.clone(),
        KvQuota::default(),
        DocsQuota::default(),
        None,
    )
}

fn users(svc: &DataServices) -> &dyn UsersService {
    svc.users().expect("the manager has the users service")
}

async fn app(env: &Env, slug: &str) -> AppId {
    env.store.create_app(slug, slug, "").await.unwrap().id
}

async fn count(env: &Env, sql: &str, bind: &str) -> i64 {
    sqlx::query_scalar(sql)
        .bind(bind.to_owned())
        .fetch_one(&env.raw)
        .await
        .unwrap()
}

async fn secrets_are_stored_only_as_hashes(env: Env) {
    let svc = services(&env);
    let shop = app(&env, "shop").await;
    let user = users(&svc)
        .signup(shop, "ada@example.com", PASSWORD)
        .await
        .unwrap();
    let session = users(&svc)
        .login(shop, "ada@example.com", PASSWORD, None)
        .await
        .unwrap();
    let reset = users(&svc)
        .start_reset(shop, "ada@example.com")
        .await
        .unwrap()
        .unwrap();

    let hash: String = sqlx::query_scalar("SELECT password_hash FROM app_users WHERE id = $1")
        .bind(&user.id)
        .fetch_one(&env.raw)
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains(PASSWORD));
    for (table, token) in [
        ("app_user_sessions", &session.token),
        ("app_user_tokens", &reset.token),
    ] {
        let plain = count(
            &env,
            &format!("SELECT COUNT(*) FROM {table} WHERE token_hash = $1"),
            token,
        )
        .await;
        assert_eq!(plain, 0, "{table} keeps no plaintext token");
        let all = count(
            &env,
            &format!("SELECT COUNT(*) FROM {table} WHERE user_id = $1"),
            &user.id,
        )
        .await;
        assert_eq!(all, 1, "{table}");
    }
}

async fn deleting_an_app_deletes_its_users(env: Env) {
    let svc = services(&env);
    let doomed = env.store.create_app("doomed", "Doomed", "").await.unwrap();
    let survivor = app(&env, "survivor").await;
    for app in [doomed.id, survivor] {
        users(&svc)
            .signup(app, "ada@example.com", PASSWORD)
            .await
            .unwrap();
        users(&svc)
            .login(app, "ada@example.com", PASSWORD, None)
            .await
            .unwrap();
        users(&svc)
            .start_verify(app, "ada@example.com")
            .await
            .unwrap()
            .unwrap();
    }
    env.store.delete_app(&doomed).await.unwrap();
    for table in ["app_users", "app_user_sessions", "app_user_tokens"] {
        let sql = format!("SELECT COUNT(*) FROM {table} WHERE app_id = $1");
        assert_eq!(
            count(&env, &sql, &doomed.id.to_string()).await,
            0,
            "{table}"
        );
        assert_eq!(count(&env, &sql, &survivor.to_string()).await, 1, "{table}");
    }
}

async fn sessions_expire_are_capped_and_purged(env: Env) {
    let svc = services(&env);
    let shop = app(&env, "shop").await;
    let user = users(&svc)
        .signup(shop, "ada@example.com", PASSWORD)
        .await
        .unwrap();
    let first = users(&svc)
        .login(shop, "ada@example.com", PASSWORD, None)
        .await
        .unwrap();
    let bearer = format!("Bearer {}", first.token);
    let current = users(&svc).current(shop, Some(&bearer), None).await;
    assert_eq!(current.unwrap().map(|u| u.id), Some(user.id.clone()));

    // Past its expiry a session is nobody's, and the janitor drops it.
    sqlx::query("UPDATE app_user_sessions SET expires_at = 1")
        .execute(&env.raw)
        .await
        .unwrap();
    assert_eq!(
        users(&svc).current(shop, Some(&bearer), None).await,
        Ok(None)
    );
    assert!(!users(&svc).logout(shop, &first.token).await.unwrap());
    assert_eq!(env.store.purge_app_user_sessions().await.unwrap(), 1);

    // Signing in past the cap ends the oldest sessions.
    let mut tokens = Vec::new();
    for _ in 0..MAX_SESSIONS_PER_USER + 2 {
        let session = users(&svc)
            .login(shop, "ada@example.com", PASSWORD, None)
            .await
            .unwrap();
        tokens.push(session.token);
    }
    let live = count(
        &env,
        "SELECT COUNT(*) FROM app_user_sessions WHERE user_id = $1",
        &user.id,
    )
    .await;
    assert_eq!(live, MAX_SESSIONS_PER_USER);
    let newest = format!("Bearer {}", tokens.last().unwrap());
    assert!(
        users(&svc)
            .current(shop, Some(&newest), None)
            .await
            .unwrap()
            .is_some()
    );
}

async fn a_token_is_redeemed_once_even_when_raced(env: Env) {
    let svc = services(&env);
    let shop = app(&env, "shop").await;
    users(&svc)
        .signup(shop, "ada@example.com", PASSWORD)
        .await
        .unwrap();
    let token = users(&svc)
        .start_verify(shop, "ada@example.com")
        .await
        .unwrap()
        .unwrap()
        .token;
    let attempts = (0..4).map(|_| {
        let svc = svc.clone();
        let token = token.clone();
        tokio::spawn(async move { users(&svc).finish_verify(shop, &token).await })
    });
    let results = futures_util::future::join_all(attempts).await;
    let redeemed = results
        .into_iter()
        .map(Result::unwrap)
        .filter(|result| {
            if let Err(error) = result {
                assert_eq!(error.code.as_deref(), Some("invalid_token"), "{error}");
            }
            result.is_ok()
        })
        .count();
    assert_eq!(redeemed, 1);
}

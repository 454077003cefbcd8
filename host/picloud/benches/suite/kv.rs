//! 8. Key-value round trip (issue 6): what one `kv::get` costs a script —
//!    guest → host import → `DataServices` → SQLite and back — against the
//!    same read done natively through `DataServices`, in one run. The script
//!    cost is the difference between a script that reads one key and the same
//!    script without the read, both in fresh instances, so instantiation and
//!    compilation cancel out.

use std::hint::black_box;
use std::sync::Arc;

use executor_core::{Executor, ExecutorConfig};
use manager_core::{DataServices, Db, DocsQuota, KvQuota, Store};
use shared::{AppId, KvService};

use crate::common::{self, Figure, Opts, Row, Table, Target};
use crate::execution::request;

const WITH_GET: &str = r#"let user = kv::get("user:42"); user.name"#;
const WITHOUT_GET: &str = r#"let user = #{ name: "Ada", visits: 3 }; user.name"#;

pub(crate) fn run(opts: &Opts, table: &mut Table) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("picloud.db").display());
    let store = rt.block_on(async { Store::new(Db::connect(&url).await.expect("database opens")) });
    let services = DataServices::new(store, KvQuota::default(), DocsQuota::default(), None);
    let app: AppId = manager_core::store::DEFAULT_APP_ID;
    rt.block_on(services.set(app, "user:42", r#"{"name":"Ada","visits":3}"#, None))
        .expect("the key is stored");
    let executor = Executor::new(ExecutorConfig {
        cache_dir: Some(common::component_cache()),
        services: Arc::new(services.clone()),
        ..Default::default()
    })
    .expect("executor starts");
    let mut with_get = request(WITH_GET);
    with_get.app_id = app;
    let mut without_get = request(WITHOUT_GET);
    without_get.app_id = app;
    for script in [&with_get, &without_get] {
        let outcome = rt.block_on(executor.execute(script.clone()));
        assert_eq!(outcome.outcome.expect("the script runs").body, b"Ada");
    }

    let (rounds, batch) = opts.pick((31, 100), (3, 5));
    let medians = testkit::bench::interleaved_medians(
        &mut [
            &mut || {
                black_box(rt.block_on(executor.execute(black_box(with_get.clone()))));
            },
            &mut || {
                black_box(rt.block_on(executor.execute(black_box(without_get.clone()))));
            },
            &mut || {
                black_box(rt.block_on(services.get(app, black_box("user:42")))).expect("reads");
            },
        ],
        rounds,
        std::time::Duration::from_millis(batch),
    );
    let [with, without, native] = medians[..] else {
        unreachable!("three workloads")
    };
    table.push(Row {
        bench: "8 kv round trip",
        figure: "one kv::get from a script (with − without the read)".into(),
        value: Figure::of_duration_us(with.saturating_sub(without)),
        reference: Some((
            "the same read, native (DataServices → SQLite)".into(),
            Figure::of_duration_us(native),
        )),
        target: Target::None,
    });
    table.push(Row {
        bench: "8 kv round trip",
        figure: "script with one kv::get, fresh instance".into(),
        value: Figure::of_duration_us(with),
        reference: Some((
            "the same script without the read".into(),
            Figure::of_duration_us(without),
        )),
        target: Target::None,
    });
}

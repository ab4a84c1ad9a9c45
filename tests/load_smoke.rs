//! The load harness's smoke run (issue 8's CI check): the real binary under 15 s of
//! realistic load on the fake Telegram and then on the fake Discord, with an actor killed
//! through the admin API every 100 ms, a provider outage and a dropped platform connection.
//! Fails on any message lost, answered twice or out of order, and on an unclean exit.
//!
//! The long runs (1,000 messages a second, SIGKILL cycles, peers, memory) are run by hand:
//! docs/benchmarks.md.

use tolmach_loadtest::scenario::{PlatformKind, Preset};

async fn smoke(platform: PlatformKind) {
    let mut s = Preset::Smoke.scenario();
    s.platform = platform;
    s.tolmach_bin = Some(env!("CARGO_BIN_EXE_tolmach").into());
    s.seed = std::env::var("LOADTEST_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(s.seed);
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("smoke-{platform:?}"));
    let report = tolmach_loadtest::run(s, &out.join("work"))
        .await
        .expect("the smoke run is carried out");
    println!("{}", report.summary());
    report
        .write_json(&out.join("report.json"))
        .expect("JSON report");
    report.write_png(&out.join("plot.png")).expect("PNG plot");

    let o = &report.outcome;
    assert!(o.posted > 1_000, "the load ran: {} posted", o.posted);
    assert!(
        report.chaos.kills > 50,
        "the chaos ran: {} kills",
        report.chaos.kills
    );
    assert!(
        report.events.iter().any(|e| e.kind == "provider-fail")
            && report.events.iter().any(|e| e.kind == "drop-platform"),
        "the provider outage and the platform drop happened: {:?}",
        report
            .events
            .iter()
            .map(|e| &e.kind)
            .collect::<std::collections::BTreeSet<_>>()
    );
    assert_eq!(
        report.failures,
        Vec::<String>::new(),
        "{}",
        report.summary()
    );
    assert_eq!((o.lost, o.duplicated, o.out_of_order), (0, 0, 0));
}

// One test, the two platforms in turn: two loads at once would measure each other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke_under_chaos_loses_repeats_and_reorders_nothing() {
    smoke(PlatformKind::Telegram).await;
    smoke(PlatformKind::Discord).await;
}

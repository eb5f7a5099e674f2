//! The page in headless Chromium (Debian's `chromium`, installed by
//! `scripts/test`): what is on the page once its script ran, and screenshots
//! kept as CI artifacts (`$MEGAMON_ARTIFACTS`, default `target/ci-artifacts`).

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use jiff::{Timestamp, Unit};
use support::{realistic_fleet, serve};

const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(90);

/// `$MEGAMON_CHROMIUM`, else `chromium` on the PATH; fails (never skips) when
/// it is missing, since the screenshot is a CI artifact.
fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("MEGAMON_CHROMIUM") {
        return PathBuf::from(path);
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("chromium"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "headless Chromium is required for the web view tests but `chromium` is not on the PATH: \
             run scripts/test (it installs Debian's `chromium` package) or `apt-get install chromium`, \
             or set MEGAMON_CHROMIUM to a Chromium binary"
        )
    })
}

fn artifacts_dir() -> PathBuf {
    let dir = match std::env::var_os("MEGAMON_ARTIFACTS") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/ci-artifacts"),
    };
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// Runs headless Chromium on `url` with `mode` (`--dump-dom` or
/// `--screenshot=PATH`) and returns its stdout. The virtual time budget lets the
/// page's script fetch the API and render before the DOM is dumped.
fn run_chromium(url: &str, mode: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--window-size=1400,900",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(mode)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start chromium: {e}"));
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > CHROMIUM_TIMEOUT {
            let _ = child.kill();
            panic!("chromium did not finish within {CHROMIUM_TIMEOUT:?} on {url}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "chromium {mode} {url} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn dump_dom(addr: SocketAddr, fragment: &str) -> String {
    let url = format!("http://{addr}/{fragment}");
    tokio::task::spawn_blocking(move || run_chromium(&url, "--dump-dom"))
        .await
        .unwrap()
}

async fn screenshot(addr: SocketAddr, fragment: &str, name: &str) -> PathBuf {
    let path = artifacts_dir().join(name);
    let _ = std::fs::remove_file(&path);
    let url = format!("http://{addr}/{fragment}");
    let mode = format!("--screenshot={}", path.display());
    tokio::task::spawn_blocking(move || run_chromium(&url, &mode))
        .await
        .unwrap();
    let png =
        std::fs::read(&path).unwrap_or_else(|e| panic!("no screenshot at {}: {e}", path.display()));
    assert!(
        png.starts_with(b"\x89PNG"),
        "{} is not a PNG",
        path.display()
    );
    assert!(
        png.len() > 20_000,
        "{} is suspiciously small ({} bytes)",
        path.display(),
        png.len()
    );
    path
}

fn now() -> Timestamp {
    Timestamp::now().round(Unit::Second).unwrap()
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_table_shows_every_entity_with_its_state() {
    let fleet = realistic_fleet(now());
    let served = serve(Some(fleet.snapshot), fleet.timelines).await;

    let dom = dump_dom(served.addr, "").await;
    assert_eq!(
        count(&dom, "<tr class=\"entity-row"),
        10,
        "one row per entity:\n{dom}"
    );
    for name in [
        "research/llm-pretrain-v5p",
        "serving/ft-gemma-7b",
        "pool-a",
        "pool-c",
        "slice-moe-ablation-0",
    ] {
        assert!(
            dom.contains(&format!(">{name}</div>")),
            "{name} missing:\n{dom}"
        );
    }
    // State colouring: down first (the default sort), each with its pill.
    assert_eq!(count(&dom, "data-state=\"down\""), 4, "{dom}");
    assert_eq!(count(&dom, "data-state=\"down (planned)\""), 2, "{dom}");
    assert_eq!(count(&dom, "data-state=\"up\""), 4, "{dom}");
    assert!(dom.contains("<span class=\"pill s-planned\">Planned down</span>"));
    let first_row = dom.find("<tr class=\"entity-row").unwrap();
    assert!(
        dom[first_row..].starts_with("<tr class=\"entity-row row-down"),
        "{dom}"
    );
    // Human-readable durations: pool-a came up 22 minutes after first sight.
    let pool_a = &dom[dom.find(">pool-a</div>").unwrap()..];
    let pool_a = &pool_a[..pool_a.find("</tr>").unwrap()];
    assert!(pool_a.contains(">22m 00s</td>"), "{pool_a}");
    assert!(
        dom.contains("data-state=\"live\""),
        "status should be live:\n{dom}"
    );
    assert!(
        dom.contains("aria-selected=\"true\">All<span class=\"count\">10</span><span class=\"down-badge\" title=\"4 down\">4 down</span>"),
        "{dom}"
    );
    assert!(
        dom.contains("<aside class=\"drawer\" id=\"drawer\" hidden"),
        "no entity is open:\n{dom}"
    );
    // Interruptions by cause over the whole fleet, most frequent first: the
    // fixture's 7 interruptions (pool-b's two preemptions lead).
    let panel = &dom[dom.find("id=\"causes-panel\"").expect("causes panel")..];
    let panel = &panel[..panel.find("</section>").unwrap()];
    assert!(!panel.contains("hidden"), "{panel}");
    assert!(panel.contains("· 7 interruptions"), "{panel}");
    let order: Vec<&str> = panel
        .split("data-cause=\"")
        .skip(1)
        .map(|rest| &rest[..rest.find('"').unwrap()])
        .collect();
    assert_eq!(
        order,
        [
            "preemption",
            "maintenance",
            "node-not-ready",
            "slice-degraded",
            "workload-failed",
            "workload-restart"
        ],
        "{panel}"
    );
    assert!(
        panel.contains("data-cause-count=\"preemption\">2 · 29%</span>"),
        "{panel}"
    );

    let path = screenshot(served.addr, "", "web-view-fleet.png").await;
    eprintln!("screenshot: {}", path.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entity_timeline_opens_from_the_url_fragment() {
    let fleet = realistic_fleet(now());
    let served = serve(Some(fleet.snapshot), fleet.timelines).await;

    let fragment = "#entity=node-pools/pool-a";
    let dom = dump_dom(served.addr, fragment).await;
    let drawer = &dom[dom.find("<aside class=\"drawer\"").expect("the drawer")..];
    assert!(
        !drawer.starts_with("<aside class=\"drawer\" id=\"drawer\" hidden"),
        "drawer closed:\n{drawer}"
    );
    assert!(
        drawer.contains("<h2 id=\"drawer-title\">pool-a</h2>"),
        "{drawer}"
    );
    let svg = &drawer[drawer
        .find("<svg class=\"timeline\"")
        .expect("the timeline SVG")..];
    let svg = &svg[..svg.find("</svg>").unwrap()];
    // pool-a: provisioning, up, planned maintenance, up, interruption, up.
    assert_eq!(count(svg, "class=\"seg seg-provisioning\""), 1, "{svg}");
    assert_eq!(count(svg, "class=\"seg seg-up\""), 3, "{svg}");
    assert_eq!(count(svg, "class=\"seg seg-planned\""), 1, "{svg}");
    assert_eq!(count(svg, "class=\"seg seg-down\""), 1, "{svg}");
    assert_eq!(count(svg, "class=\"transition\""), 5, "{svg}");
    // Timestamps on hover.
    assert!(svg.contains("<title>Planned down · 1h 35m"), "{svg}");
    assert!(svg.contains(" UTC → "), "{svg}");
    // The summary beside it, and the transitions listed.
    let stats = &drawer[drawer.find("id=\"entity-stats\"").expect("summary")..];
    assert!(
        stats.contains("Interruptions</div><div class=\"stat-value bad\">1</div>"),
        "{stats}"
    );
    assert!(
        stats.contains("Time to first up</div><div class=\"stat-value\">22m 00s</div>"),
        "{stats}"
    );
    assert!(
        stats.contains("MTTR</div><div class=\"stat-value\">19m 00s</div>"),
        "{stats}"
    );
    let events = &drawer[drawer.find("id=\"events\"").expect("transitions table")..];
    assert_eq!(
        count(
            &events[..events.find("</table>").unwrap()],
            "<tr><td class=\"ts\">"
        ),
        6
    );
    assert!(
        drawer.contains("llm-pretrain-v5p (job llm-pretrain-v5p-workers-0)"),
        "{drawer}"
    );
    // The interruption's cause and detail, in the table and on the marker.
    assert!(
        events.contains("<td class=\"cause\"><span class=\"cause-cell\">maintenance</span><div class=\"cause-detail\">1 of 32 nodes under maintenance: gke-pool-a-9</div></td>"),
        "{events}"
    );
    assert_eq!(count(events, "<span class=\"cause-cell\">"), 1, "{events}");
    assert!(
        svg.contains("maintenance: 1 of 32 nodes under maintenance: gke-pool-a-9</title>"),
        "{svg}"
    );

    let path = screenshot(served.addr, fragment, "web-view.png").await;
    eprintln!("screenshot: {}", path.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn family_filter_from_the_url_fragment() {
    let fleet = realistic_fleet(now());
    let served = serve(Some(fleet.snapshot), fleet.timelines).await;

    let dom = dump_dom(served.addr, "#family=node-pools").await;
    assert_eq!(count(&dom, "<tr class=\"entity-row"), 4, "{dom}");
    assert_eq!(count(&dom, "data-kind=\"node-pools\""), 4, "{dom}");
    assert!(
        dom.contains("data-family=\"node-pools\" aria-selected=\"true\""),
        "{dom}"
    );
    // The cards count the selected family only.
    assert!(
        dom.contains("<div class=\"card-note\">Node pools</div>"),
        "{dom}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_says_it_is_waiting_before_the_first_aggregation() {
    let served = serve(None, Default::default()).await;
    let dom = dump_dom(served.addr, "").await;
    assert!(dom.contains("data-state=\"waiting\""), "{dom}");
    assert!(dom.contains("waiting for the first aggregation"), "{dom}");
    assert!(
        dom.contains("<div class=\"empty\" id=\"empty\">MegaMon is starting"),
        "{dom}"
    );
    assert_eq!(count(&dom, "<tr class=\"entity-row"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_view_lists_ended_entities_searchable_with_timelines() {
    let now = now();
    let fleet = realistic_fleet(now);
    let ended = support::ended_fleet(now);
    let (_dir, store) = support::archive_store(&ended);
    let served = support::serve_with(Some(fleet.snapshot), fleet.timelines, Some(store)).await;

    let dom = dump_dom(served.addr, "#view=history").await;
    // The history view is shown, the fleet table hidden.
    assert!(
        dom.contains("data-view=\"history\" aria-selected=\"true\""),
        "{dom}"
    );
    assert!(dom.contains("<div id=\"fleet-view\" hidden=\"\">"), "{dom}");
    assert_eq!(count(&dom, "<tr class=\"ended-row"), 3, "{dom}");
    // Latest end first; each with its own timeline.
    let first = dom
        .find(">research/llm-finished</div>")
        .expect("the JobSet");
    let last = dom.find(">pool-retired</div>").expect("the pool");
    assert!(first < last, "{dom}");
    assert_eq!(count(&dom, "<svg class=\"mini-timeline\""), 3, "{dom}");
    // The JobSet: provisioning, up, two preemptions each followed by a recovery.
    assert!(dom.contains("<rect class=\"seg-down\""), "{dom}");
    assert!(dom.contains("· 3 shown, latest end first"), "{dom}");

    // Searched from the URL (the search box writes it there), one opened.
    let id = "jobsets/6f1c0d2e-aaaa-4bbb-8ccc-000000000001";
    let dom = dump_dom(
        served.addr,
        &format!("#view=history&q=research&ended={}", id.replace('/', "%2F")),
    )
    .await;
    assert_eq!(count(&dom, "<tr class=\"ended-row"), 1, "{dom}");
    assert!(
        dom.contains("value=\"research\"") || dom.contains("· 1 shown"),
        "{dom}"
    );
    assert!(dom.contains(&format!("data-detail=\"{id}\"")), "{dom}");
    assert!(
        dom.contains("Interruptions by cause: preemption × 2"),
        "{dom}"
    );
    assert!(dom.contains("<svg class=\"timeline\""), "{dom}");
    assert!(dom.contains(">ended</text>"), "{dom}");
    let dom = dump_dom(served.addr, "#view=history&q=no-such-entity").await;
    assert_eq!(count(&dom, "<tr class=\"ended-row"), 0);
    assert!(
        dom.contains("No ended entity matches this search."),
        "{dom}"
    );

    let path = screenshot(
        served.addr,
        &format!("#view=history&ended={}", id.replace('/', "%2F")),
        "web-history.png",
    )
    .await;
    eprintln!("screenshot: {}", path.display());
}

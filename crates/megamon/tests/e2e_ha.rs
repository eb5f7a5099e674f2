//! Two replicas with leader election (issue 9), end to end: the built binary
//! twice against `megamon sim`, sharing a `file://` store. Only the leader
//! publishes entity series and writes; a SIGKILLed leader is replaced within
//! the lease duration and the stored history has no gap and no duplicate; a
//! stopped leader gives the Lease up at once.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Cluster, Metrics, Monitor, tpu_node, wait_for};

const POOL: &[(&str, &str)] = &[("nodepool_name", "pool-a")];
/// Short timings so that a takeover happens within seconds.
const TIMINGS: [&str; 6] = [
    "--leader-elect-lease-duration",
    "3s",
    "--leader-elect-renew-deadline",
    "2s",
    "--leader-elect-retry-period",
    "500ms",
];

fn pool_a(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let mut node = tpu_node(&format!("pool-a-{i}"), "pool-a", "True");
            node["metadata"]["labels"]["cloud.google.com/gke-tpu-topology"] = json!("2x4");
            node
        })
        .collect()
}

struct Replicas {
    cluster: Cluster,
    store: PathBuf,
    config: PathBuf,
}

impl Replicas {
    fn new(suffix: &str) -> Replicas {
        let cluster = Cluster::start();
        cluster.apply(&pool_a(2));
        let store = cluster.dir.path().join("history");
        std::fs::create_dir_all(&store).unwrap();
        let config = cluster.dir.path().join("ha.json");
        let doc = json!({
            "EnableSimulation": true, "AggregationIntervalSeconds": 1,
            "EnableLeaderElection": true, "OptionalControllerSuffix": suffix,
            "EventsStoreURL": format!("file://{}", store.display()),
            "MetricsAddr": "127.0.0.1:0", "ProbeAddr": "127.0.0.1:0"
        });
        std::fs::write(&config, doc.to_string()).unwrap();
        Replicas {
            cluster,
            store,
            config,
        }
    }

    fn start(&self, pod: &str, timings: &[&str]) -> Monitor {
        self.cluster.monitor_process(
            &self.config,
            timings,
            &[("POD_NAMESPACE", "default"), ("POD_NAME", pod)],
        )
    }

    fn lease(&self, name: &str) -> Option<Value> {
        let out = std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.cluster.kubeconfig)
            .args(["get", "lease", name, "-n", "default", "-o", "json"])
            .output()
            .ok()?;
        serde_json::from_slice(&out.stdout).ok()
    }
}

fn leader_value(m: &Metrics) -> Option<f64> {
    m.get("megamon_leader", &[])
}

/// Which of two replicas leads, once one does and the other stands by.
fn wait_for_roles<'a>(a: &'a Monitor, b: &'a Monitor) -> (&'a Monitor, &'a Monitor) {
    wait_for(
        "one leader and one standby",
        Duration::from_secs(20),
        || {
            let (ma, mb) = (a.scrape()?, b.scrape()?);
            match (leader_value(&ma)?, leader_value(&mb)?) {
                (l, s) if l == 1.0 && s == 0.0 => Some((a, b)),
                (s, l) if l == 1.0 && s == 0.0 => Some((b, a)),
                _ => None,
            }
        },
    )
}

fn stored_events(store: &Path) -> Vec<Value> {
    let doc = support::stored(store, "node-pools.json");
    doc["pool-a"]["upEvents"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn only_the_leader_publishes_and_a_killed_leader_is_replaced_without_gap_or_duplicate() {
    let r = Replicas::new("blue");
    let a = r.start("replica-a", &TIMINGS);
    let b = r.start("replica-b", &TIMINGS);
    let (leader, standby) = wait_for_roles(&a, &b);

    // The leader publishes the pool; the standby only its own gauges.
    let m = leader.wait_metrics("the pool on the leader", |m| {
        m.get("megamon_nodepool_up", POOL) == Some(1.0)
    });
    assert!(m.has_family("megamon_build_info"), "{}", m.text);
    let s = standby.scrape().expect("the standby serves /metrics");
    assert!(
        s.values("megamon_nodepool_up", &[]).is_empty(),
        "{}",
        s.text
    );
    assert!(
        s.mentioning("pool-a").is_empty(),
        "no entity series on a standby:\n{}",
        s.text
    );
    assert!(s.has_family("megamon_build_info"), "{}", s.text);
    for replica in [leader, standby] {
        let (status, _) = support::http_get(&replica.probes, "/readyz").expect("readyz");
        assert_eq!(status, 200, "both replicas are ready");
        let (status, _) = support::http_get(&replica.probes, "/healthz").expect("healthz");
        assert_eq!(status, 200);
    }
    // The Lease is named with OptionalControllerSuffix and held by the leader.
    let lease = r.lease("megamon-blue").expect("Lease megamon-blue");
    let holder = lease["spec"]["holderIdentity"]
        .as_str()
        .unwrap()
        .to_string();
    let leader_pod = if std::ptr::eq(leader, &a) {
        "replica-a"
    } else {
        "replica-b"
    };
    assert!(holder.starts_with(&format!("{leader_pod}_")), "{holder}");

    // An interruption, recorded and written by the leader.
    r.cluster.set_node_ready("pool-a-0", "False");
    leader.wait_metrics("interrupted", |m| {
        m.get("megamon_nodepool_interruption_count", POOL) == Some(1.0)
    });
    wait_for("the interruption written", Duration::from_secs(15), || {
        (stored_events(&r.store).len() == 3).then_some(())
    });

    // SIGKILL the leader: no release, no flush. The pool recovers meanwhile.
    let (leader, standby) = if std::ptr::eq(leader, &a) {
        (a, b)
    } else {
        (b, a)
    };
    let killed = Instant::now();
    leader.process.kill();
    r.cluster.set_node_ready("pool-a-0", "True");
    standby.wait_metrics("the standby leads and publishes", |m| {
        leader_value(m) == Some(1.0) && m.get("megamon_nodepool_up", POOL).is_some()
    });
    let failover = killed.elapsed();
    eprintln!(
        "failover: SIGKILL -> first publication by the new leader in {failover:?} (lease 3s)"
    );
    // Continued, not restarted: one interruption, one recovery, no new one.
    let m = standby.wait_metrics("the recovery", |m| {
        m.get("megamon_nodepool_recovery_count", POOL) == Some(1.0)
    });
    assert_eq!(
        m.get("megamon_nodepool_interruption_count", POOL),
        Some(1.0),
        "{}",
        m.text
    );
    assert_eq!(m.get("megamon_nodepool_up", POOL), Some(1.0));
    let events = wait_for("the recovery written", Duration::from_secs(15), || {
        let e = stored_events(&r.store);
        (e.len() >= 4).then_some(e)
    });
    let ups: Vec<bool> = events.iter().map(|e| e["up"].as_bool().unwrap()).collect();
    assert_eq!(
        ups,
        [false, true, false, true],
        "no gap, no duplicate: {events:?}"
    );
    let times: Vec<jiff::Timestamp> = events
        .iter()
        .map(|e| e["ts"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{events:?}");
    assert!(
        failover < Duration::from_secs(3) + Duration::from_secs(10),
        "took {failover:?}"
    );
    assert_eq!(standby.process.terminate(), Some(0));
}

#[test]
fn a_stopped_leader_releases_the_lease_at_once() {
    let r = Replicas::new("");
    // A long lease: only a release lets the standby lead within it.
    let timings = [
        "--leader-elect-lease-duration",
        "30s",
        "--leader-elect-renew-deadline",
        "20s",
        "--leader-elect-retry-period",
        "500ms",
    ];
    let a = r.start("replica-a", &timings);
    let b = r.start("replica-b", &timings);
    let (leader, _) = wait_for_roles(&a, &b);
    let (leader, standby) = if std::ptr::eq(leader, &a) {
        (a, b)
    } else {
        (b, a)
    };
    leader.wait_metrics("leading", |m| m.get("megamon_nodepool_up", POOL).is_some());
    let stopped = Instant::now();
    assert_eq!(leader.process.terminate(), Some(0));
    let lease = r.lease("megamon").expect("Lease megamon");
    assert!(
        lease["spec"]
            .get("holderIdentity")
            .is_none_or(Value::is_null),
        "released: {lease}"
    );
    standby.wait_metrics("the standby leads", |m| {
        leader_value(m) == Some(1.0) && m.get("megamon_nodepool_up", POOL).is_some()
    });
    let took = stopped.elapsed();
    eprintln!("graceful handover in {took:?} (lease 30s)");
    assert!(
        took < Duration::from_secs(30),
        "took {took:?}: the Lease was not released"
    );
    assert_eq!(standby.process.terminate(), Some(0));
}

#[test]
fn healthz_fails_while_the_election_loop_is_wedged() {
    let r = Replicas::new("");
    let m = r.start("replica-a", &TIMINGS);
    wait_for("leading", Duration::from_secs(20), || {
        (leader_value(&m.scrape()?)? == 1.0).then_some(())
    });
    // Every API request now takes 6 s, longer than the renew deadline: the
    // Lease can be neither read nor renewed in time.
    let sim = r.cluster.sim_addr();
    assert_eq!(
        support::http_post(&sim, "/_sim/faults", r#"{"latencyMs": 6000}"#),
        Some(200)
    );
    wait_for("healthz failing", Duration::from_secs(20), || {
        let (status, _) = support::http_get(&m.probes, "/healthz")?;
        (status == 500).then_some(())
    });
    assert_eq!(support::http_post(&sim, "/_sim/faults", "{}"), Some(200));
    wait_for("healthz back", Duration::from_secs(60), || {
        let (status, _) = support::http_get(&m.probes, "/healthz")?;
        (status == 200).then_some(())
    });
    // The process never stopped serving probes.
    let (status, _) = support::http_get(&m.probes, "/readyz").expect("readyz");
    assert_eq!(status, 200);
}

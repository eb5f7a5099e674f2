//! What /metrics shows for published snapshots (SPEC §4).

mod common;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::{Command, Stdio};

use common::*;
use megamon_core::report::ScheduledJob;
use megamon_core::{EntityKind, Summary};
use megamon_metrics::{Metrics, MetricsError, MetricsOptions};

fn full_summary() -> Summary {
    Summary {
        down_time_provisioned: secs(10.0),
        interruption_count: 2,
        recovery_count: 1,
        down_time: secs(13.0),
        up_time: secs(42.5),
        total_down_time_between_recovery: secs(3.0),
        total_up_time_between_interruption: secs(40.0),
        latest_down_time_between_recovery: secs(3.0),
        latest_up_time_between_interruption: secs(25.0),
        mean_down_time_between_recovery: secs(3.0),
        mean_up_time_between_interruption: secs(20.0),
        provisioning_duration: secs(10.0),
        provisioning_state: megamon_core::ProvisioningState::Success,
    }
}

#[test]
fn jobset_example_renders_exactly() {
    let m = metrics();
    let mut js = jobset("6f0c5b9e-uid", "a", true, full_summary());
    std::sync::Arc::make_mut(&mut js.upness.attrs).tpu_chip_count = 8;
    m.publish(snapshot(vec![(EntityKind::JobSets, vec![js])]));
    let text = gauges_only(&m.render_prometheus().unwrap());

    let labels = r#"{jobset_name="a",jobset_namespace="default",jobset_uid="6f0c5b9e-uid",otel_scope_name="megamon",otel_scope_version="",tpu_topology="2x4"}"#;
    let want = [
        (
            "down_time_between_recovery_latest_seconds",
            "Down time of the JobSet before its latest recovery.",
            "3",
        ),
        (
            "down_time_between_recovery_mean_seconds",
            "Mean time to recover (MTTR) of the JobSet.",
            "3",
        ),
        (
            "down_time_between_recovery_seconds",
            "Total down time of the JobSet that ended in a recovery.",
            "3",
        ),
        (
            "down_time_initial_seconds",
            "Time from first sight of the JobSet to its first up (time to provision).",
            "10",
        ),
        (
            "down_time_seconds",
            "Total time the JobSet has been down, including the time to first up.",
            "13",
        ),
        (
            "interruption_count",
            "Number of unplanned downs of the JobSet after it was up (interruptions).",
            "2",
        ),
        (
            "provisioning_duration_seconds",
            "Time the JobSet took to come up the first time (provisioning_state=success), to fail before ever being up (failed), or has spent coming up so far (provisioning).",
            "10",
        ),
        (
            "recovery_count",
            "Number of times the JobSet came back up after an interruption (recoveries).",
            "1",
        ),
        ("tpu_chip_count", "Number of TPU chips of the JobSet.", "8"),
        ("up", "1 if the JobSet is up, 0 if it is down.", "1"),
        (
            "up_time_between_interruption_latest_seconds",
            "Up time of the JobSet before its latest interruption.",
            "25",
        ),
        (
            "up_time_between_interruption_mean_seconds",
            "Mean time between interruptions (MTBI) of the JobSet.",
            "20",
        ),
        (
            "up_time_between_interruption_seconds",
            "Total up time of the JobSet that ended in an interruption.",
            "40",
        ),
        (
            "up_time_seconds",
            "Total time the JobSet has been up.",
            "42.5",
        ),
    ];
    let mut expected = String::new();
    for (name, help, value) in want {
        // Upstream v1.2.0's gauge carries the provisioning state too.
        let labels = if name.starts_with("provisioning") {
            labels.replace(
                ",tpu_topology",
                ",provisioning_state=\"success\",tpu_topology",
            )
        } else {
            labels.to_string()
        };
        let name = format!("megamon_jobset_{name}");
        expected.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name}{labels} {value}\n"
        ));
    }
    let got: String = text
        .lines()
        .filter(|l| l.contains("megamon_jobset_"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(got, expected);
    // The SPEC §4 example line, verbatim but for the uid.
    assert!(text.contains(
        "megamon_jobset_up_time_seconds{jobset_name=\"a\",jobset_namespace=\"default\",jobset_uid=\"6f0c5b9e-uid\",otel_scope_name=\"megamon\",otel_scope_version=\"\",tpu_topology=\"2x4\"} 42.5\n"
    ));
}

#[test]
fn values_are_seconds_and_counts_formatted_like_go() {
    let m = metrics();
    let summary = Summary {
        up_time: secs(1_500_000.0),
        down_time: std::time::Duration::from_millis(1),
        interruption_count: 12,
        ..Summary::default()
    };
    m.publish(snapshot(vec![(
        EntityKind::JobSets,
        vec![jobset("u", "a", false, summary)],
    )]));
    let text = m.render_prometheus().unwrap();
    let value = |name: &str| -> String {
        let lines = samples(&text, &format!("{name}{{"));
        assert_eq!(lines.len(), 1, "{name}: {lines:?}");
        lines[0].rsplit_once(' ').unwrap().1.to_string()
    };
    assert_eq!(value("megamon_jobset_up_time_seconds"), "1.5e+06");
    assert_eq!(value("megamon_jobset_down_time_seconds"), "0.001");
    assert_eq!(value("megamon_jobset_interruption_count"), "12");
    assert_eq!(value("megamon_jobset_recovery_count"), "0");
    assert_eq!(value("megamon_jobset_up"), "0");
}

#[test]
fn labels_only_when_non_empty_and_spot_only_when_true() {
    let m = metrics();
    let mut bare = node_pool("bare", true, false, 0, Summary::default());
    std::sync::Arc::make_mut(&mut bare.upness.attrs)
        .tpu_topology
        .clear();
    std::sync::Arc::make_mut(&mut bare.upness.attrs)
        .tpu_accelerator
        .clear();
    m.publish(snapshot(vec![(
        EntityKind::NodePools,
        vec![bare, node_pool("spotty", true, true, 0, Summary::default())],
    )]));
    let text = m.render_prometheus().unwrap();
    let up = samples(&text, "megamon_nodepool_up{");
    assert_eq!(
        up,
        [
            r#"megamon_nodepool_up{nodepool_name="bare",otel_scope_name="megamon",otel_scope_version=""} 1"#,
            r#"megamon_nodepool_up{nodepool_name="spotty",otel_scope_name="megamon",otel_scope_version="",spot="true",tpu_accelerator="tpu-v6e-slice",tpu_topology="2x4"} 1"#,
        ]
    );
    assert!(!text.contains("spot=\"false\""));
    // No empty label anywhere but the scope version.
    assert!(
        !text
            .replace("otel_scope_version=\"\"", "")
            .contains("=\"\"")
    );
}

#[test]
fn slice_labels() {
    let m = metrics();
    let mut slice = node_pool("x", true, false, 16, Summary::default());
    std::sync::Arc::make_mut(&mut slice.upness.attrs)
        .node_pool_name
        .clear();
    std::sync::Arc::make_mut(&mut slice.upness.attrs).slice_name = "slice-1".into();
    std::sync::Arc::make_mut(&mut slice.upness.attrs).slice_owner_kind = "JobSet".into();
    std::sync::Arc::make_mut(&mut slice.upness.attrs).slice_owner_name = "train".into();
    std::sync::Arc::make_mut(&mut slice.upness.attrs).slice_owner_namespace = "ml".into();
    m.publish(snapshot(vec![(EntityKind::Slices, vec![slice])]));
    let text = m.render_prometheus().unwrap();
    assert_eq!(
        samples(&text, "megamon_slice_tpu_chip_count{"),
        [
            r#"megamon_slice_tpu_chip_count{otel_scope_name="megamon",otel_scope_version="",slice_name="slice-1",slice_owner_kind="JobSet",slice_owner_name="train",slice_owner_namespace="ml",tpu_accelerator="tpu-v6e-slice",tpu_topology="2x4"} 16"#
        ]
    );
}

#[test]
fn non_zero_only_instruments_are_absent_when_zero() {
    let m = metrics();
    m.publish(snapshot(vec![(
        EntityKind::JobSets,
        vec![jobset("u", "a", false, Summary::default())],
    )]));
    let text = gauges_only(&m.render_prometheus().unwrap());
    let mut names: Vec<&str> = family_names(&text)
        .into_iter()
        .filter(|n| n.starts_with("megamon_jobset_"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "megamon_jobset_down_time_seconds",
            "megamon_jobset_interruption_count",
            // Always there, as upstream: provisioning for 0 s so far.
            "megamon_jobset_provisioning_duration_seconds",
            "megamon_jobset_recovery_count",
            "megamon_jobset_up",
            "megamon_jobset_up_time_seconds",
        ]
    );
    assert_eq!(samples(&text, "megamon_jobset_up_time_seconds{").len(), 1);
}

#[test]
fn removed_entity_has_no_series_left() {
    let m = metrics();
    let a = jobset("uid-a", "a", true, full_summary());
    let b = jobset("uid-b", "b", true, full_summary());
    m.publish(snapshot(vec![(EntityKind::JobSets, vec![a.clone(), b])]));
    let first = gauges_only(&m.render_prometheus().unwrap());
    assert_eq!(samples(&first, "megamon_jobset_").len(), 2 * 13);
    assert_eq!(first.matches("jobset_uid=\"uid-b\"").count(), 13);

    m.publish(snapshot(vec![(EntityKind::JobSets, vec![a])]));
    let second = gauges_only(&m.render_prometheus().unwrap());
    assert!(!second.contains("uid-b"), "{second}");
    assert_eq!(samples(&second, "megamon_jobset_").len(), 13);

    // And the family disappears with its last entity, HELP and TYPE too.
    m.publish(snapshot(vec![(EntityKind::JobSets, vec![])]));
    let third = gauges_only(&m.render_prometheus().unwrap());
    assert!(!third.contains("megamon_jobset_"), "{third}");
}

#[test]
fn a_transition_shows_in_the_next_render() {
    let m = metrics();
    m.publish(snapshot(vec![(
        EntityKind::NodePools,
        vec![node_pool("p", true, false, 8, Summary::default())],
    )]));
    assert!(
        m.render_prometheus()
            .unwrap()
            .contains("megamon_nodepool_up{nodepool_name=\"p\"")
    );
    let up_line = |text: &str| samples(text, "megamon_nodepool_up{")[0].to_string();
    assert!(up_line(&m.render_prometheus().unwrap()).ends_with(" 1"));
    m.publish(snapshot(vec![(
        EntityKind::NodePools,
        vec![node_pool("p", false, false, 8, Summary::default())],
    )]));
    assert!(up_line(&m.render_prometheus().unwrap()).ends_with(" 0"));
}

#[test]
fn absent_families_emit_nothing() {
    let m = metrics();
    m.publish(snapshot(vec![(
        EntityKind::NodePools,
        vec![node_pool("p", true, false, 8, Summary::default())],
    )]));
    let text = m.render_prometheus().unwrap();
    for absent in ["megamon_jobset_", "megamon_slice_"] {
        assert!(!text.contains(absent), "{absent}");
    }
    assert!(text.contains("megamon_nodepool_up{"));
}

#[test]
fn scheduled_jobs_and_build_info() {
    let m = metrics();
    let mut scheduling = BTreeMap::new();
    scheduling.insert(
        "pool-b".to_string(),
        ScheduledJob {
            job_name: "train-slice-0".into(),
            jobset_name: "train".into(),
            ..Default::default()
        },
    );
    scheduling.insert(
        "pool-a".to_string(),
        ScheduledJob {
            job_name: "eval-w-0".into(),
            jobset_name: "eval".into(),
            ..Default::default()
        },
    );
    m.publish(snapshot_with_scheduling(vec![], scheduling));
    let text = m.render_prometheus().unwrap();
    assert_eq!(
        samples(&text, "megamon_nodepool_job_scheduled"),
        [
            r#"megamon_nodepool_job_scheduled{job_name="eval-w-0",jobset_name="eval",nodepool_name="pool-a",otel_scope_name="megamon",otel_scope_version=""} 1"#,
            r#"megamon_nodepool_job_scheduled{job_name="train-slice-0",jobset_name="train",nodepool_name="pool-b",otel_scope_name="megamon",otel_scope_version=""} 1"#,
        ]
    );
    assert_eq!(
        samples(&text, "megamon_build_info"),
        [
            r#"megamon_build_info{commit="0123abc",date="unknown",otel_scope_name="megamon",otel_scope_version="",version="1.2.3"} 1"#
        ]
    );
    // A pool that no longer runs a job loses its series.
    m.publish(snapshot(vec![]));
    assert!(
        samples(
            &m.render_prometheus().unwrap(),
            "megamon_nodepool_job_scheduled"
        )
        .is_empty()
    );
}

#[test]
fn aggregation_duration_histogram() {
    let m = metrics();
    m.publish(snapshot(vec![]));
    assert!(
        !m.render_prometheus()
            .unwrap()
            .contains("aggregation_duration")
    );
    m.record_aggregation_duration(secs(0.2));
    m.record_aggregation_duration(secs(3.0));
    m.record_aggregation_duration(secs(100.0));
    let text = m.render_prometheus().unwrap();
    let scope = r#"otel_scope_name="megamon",otel_scope_version="""#;
    let mut want = vec![
        "# HELP megamon_aggregation_duration_seconds Time one aggregation took.".to_string(),
        "# TYPE megamon_aggregation_duration_seconds histogram".to_string(),
    ];
    for (le, count) in [
        ("0.01", 0),
        ("0.05", 0),
        ("0.1", 0),
        ("0.25", 1),
        ("0.5", 1),
        ("1", 1),
        ("2", 1),
        ("5", 2),
        ("10", 2),
        ("30", 2),
        ("60", 2),
        ("+Inf", 3),
    ] {
        want.push(format!(
            "megamon_aggregation_duration_seconds_bucket{{{scope},le=\"{le}\"}} {count}"
        ));
    }
    want.push(format!(
        "megamon_aggregation_duration_seconds_sum{{{scope}}} 103.2"
    ));
    want.push(format!(
        "megamon_aggregation_duration_seconds_count{{{scope}}} 3"
    ));
    let got: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("megamon_aggregation_duration_seconds"))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn not_ready_until_the_first_publish() {
    let m = metrics();
    assert!(!m.ready());
    // Rendering works (build info only) even before; the endpoint gates on ready.
    let text = m.render_prometheus().unwrap();
    assert!(text.contains("megamon_build_info{"));
    assert!(!text.contains("megamon_jobset"));
    m.publish(snapshot(vec![]));
    assert!(m.ready());
}

#[test]
fn dotted_prefix_and_bad_prefix() {
    let m = Metrics::new(MetricsOptions {
        prefix: "acme.megamon".into(),
        build: build_info(),
        otlp: None,
    })
    .unwrap();
    m.publish(snapshot(vec![(
        EntityKind::JobSets,
        vec![jobset("u", "a", true, Summary::default())],
    )]));
    let text = m.render_prometheus().unwrap();
    assert!(text.contains("\nacme_megamon_jobset_up{"), "{text}");
    assert!(text.contains("\nacme_megamon_build_info{"));

    let err = Metrics::new(MetricsOptions {
        prefix: "mega mon".into(),
        build: build_info(),
        otlp: None,
    })
    .unwrap_err();
    assert!(matches!(err, MetricsError::InvalidPrefix { .. }));
    assert!(err.to_string().contains("\"mega mon\""), "{err}");
}

#[test]
fn target_info_describes_the_process() {
    let m = metrics();
    m.publish(snapshot(vec![]));
    let text = m.render_prometheus().unwrap();
    let info = samples(&text, "target_info");
    assert_eq!(info.len(), 1);
    assert!(info[0].starts_with("target_info{service_name=\"megamon\",telemetry_sdk_language=\"rust\",telemetry_sdk_name=\"opentelemetry\",telemetry_sdk_version=\""), "{}", info[0]);
    assert!(text.contains("# HELP target_info Target metadata\n"));
}

/// Runs `promtool check metrics` on `text`: its exit code and problem lines.
fn promtool(text: &str) -> (i32, Vec<String>) {
    let mut child = match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => panic!(
            "promtool is needed for this test and could not be run ({e}); \
             scripts/test must install it: apt-get install -y prometheus"
        ),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let problems = String::from_utf8_lossy(&out.stdout)
        .lines()
        .chain(String::from_utf8_lossy(&out.stderr).lines())
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    (out.status.code().unwrap_or(-1), problems)
}

#[test]
fn promtool_check_metrics_is_clean() {
    let m = metrics();
    let mut js = jobset("uid-a", "a", true, full_summary());
    std::sync::Arc::make_mut(&mut js.upness.attrs).tpu_chip_count = 8;
    let mut scheduling = BTreeMap::new();
    scheduling.insert(
        "p".to_string(),
        ScheduledJob {
            job_name: "a-w-0".into(),
            jobset_name: "a".into(),
            ..Default::default()
        },
    );
    let mut slice = node_pool("s", false, false, 4, full_summary());
    std::sync::Arc::make_mut(&mut slice.upness.attrs).slice_name = "s".into();
    m.publish(snapshot_with_scheduling(
        vec![
            (
                EntityKind::JobSets,
                vec![js.clone(), jobset("uid-b", "b\"q\\", false, full_summary())],
            ),
            (EntityKind::JobSetNodes, vec![js]),
            (
                EntityKind::NodePools,
                vec![node_pool("p", true, true, 8, full_summary())],
            ),
            (EntityKind::Slices, vec![slice]),
        ],
        scheduling,
    ));
    m.record_aggregation_duration(secs(0.7));
    let text = m.render_prometheus().unwrap();

    let (code, problems) = promtool(&text);
    // The only lint promtool raises is about `_count` names, and those are
    // the original's names (SPEC §4), which dashboards use: they stay.
    let spec_names = ["interruption_count", "recovery_count", "tpu_chip_count"];
    let unexpected: Vec<&String> = problems
        .iter()
        .filter(|p| {
            !(p.contains("non-histogram and non-summary metrics should not have \"_count\" suffix")
                && spec_names
                    .iter()
                    .any(|n| p.split(' ').next().unwrap_or("").ends_with(n)))
        })
        .collect();
    assert!(unexpected.is_empty(), "promtool: {unexpected:?}\n{text}");
    assert!(code == 0 || code == 3, "promtool exit {code}: {problems:?}");
    assert_eq!(problems.len(), 4 * 3, "{problems:?}");

    // The check does catch what we care about: a metric without help text.
    let without_help: String = text
        .lines()
        .filter(|l| !l.starts_with("# HELP megamon_jobset_up "))
        .map(|l| format!("{l}\n"))
        .collect();
    let (_, problems) = promtool(&without_help);
    assert!(
        problems
            .iter()
            .any(|p| p == "megamon_jobset_up no help text"),
        "{problems:?}"
    );
}

#[test]
fn each_scrape_shows_one_whole_snapshot_while_publishing() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    // Two fleets with no entity in common; a scrape racing the publisher
    // must show all of one and none of the other.
    let fleet = |range: std::ops::Range<u32>| {
        snapshot(vec![(
            EntityKind::JobSets,
            range
                .map(|i| {
                    jobset(
                        &format!("uid-{i}"),
                        &format!("js-{i}"),
                        true,
                        full_summary(),
                    )
                })
                .collect(),
        )])
    };
    let (a, b) = (fleet(0..200), fleet(200..400));
    let m = Arc::new(metrics());
    m.publish(a.clone());
    // The publisher alternates the fleets until told to stop, counting each
    // publish once it has swapped its snapshot in; a render during which the
    // count moved ran while a publish was writing. The test goes on until
    // enough renders overlapped a write (and each fleet was seen), so the
    // race is certain to have been run, not merely likely.
    const OVERLAPS: usize = 20;
    let published = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let publisher = {
        let (m, published, stop) = (Arc::clone(&m), Arc::clone(&published), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut next_is_b = true;
            while !stop.load(Ordering::Acquire) {
                m.publish(if next_is_b { b.clone() } else { a.clone() });
                next_is_b = !next_is_b;
                published.fetch_add(1, Ordering::AcqRel);
            }
        })
    };
    let (mut renders, mut overlapped, mut showed_a, mut showed_b) = (0, 0, 0, 0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while overlapped < OVERLAPS || showed_a == 0 || showed_b == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "only {overlapped} of {renders} renders overlapped a publish \
             ({} publishes; fleet a shown {showed_a} times, b {showed_b})",
            published.load(Ordering::Acquire)
        );
        let before = published.load(Ordering::Acquire);
        let text = gauges_only(&m.render_prometheus().unwrap());
        if published.load(Ordering::Acquire) != before {
            overlapped += 1;
        }
        renders += 1;
        let ups = samples(&text, "megamon_jobset_up{");
        assert_eq!(ups.len(), 200, "a scrape mixed two snapshots");
        let from_a = ups
            .iter()
            .filter(|l| l.contains("jobset_uid=\"uid-1"))
            .count();
        // uid-1, uid-10..19, uid-100..199 are in fleet a: 111 of its 200.
        match from_a {
            111 => showed_a += 1,
            0 => showed_b += 1,
            _ => panic!("{from_a} of fleet a's 111 uid-1* JobSets in one scrape"),
        }
        // All 13 families (chip count is zero) from the same snapshot.
        let all_from_a = samples(&text, "megamon_jobset_")
            .iter()
            .filter(|l| l.contains("jobset_uid=\"uid-1"))
            .count();
        assert!(all_from_a == 111 * 13 || all_from_a == 0, "{all_from_a}");
        for family in family_names(&text)
            .iter()
            .filter(|n| n.starts_with("megamon_jobset_"))
        {
            assert_eq!(
                samples(&text, &format!("{family}{{")).len(),
                200,
                "{family}"
            );
        }
    }
    stop.store(true, Ordering::Release);
    publisher.join().unwrap();
    eprintln!(
        "{overlapped} of {renders} renders overlapped a publish ({} publishes); fleet a shown {showed_a} times, b {showed_b}",
        published.load(Ordering::Acquire)
    );
}

#[test]
fn export_errors_are_counted_per_exporter() {
    let m = metrics();
    m.publish(snapshot(vec![]));
    assert!(!m.render_prometheus().unwrap().contains("export_errors"));
    m.record_export_error("configmap");
    m.record_export_error("configmap");
    let text = m.render_prometheus().unwrap();
    assert!(
        text.contains("# TYPE megamon_export_errors_total counter"),
        "{text}"
    );
    assert!(
        text.contains(
            r#"megamon_export_errors_total{exporter="configmap",otel_scope_name="megamon",otel_scope_version=""} 2"#
        ),
        "{text}"
    );
}

#[test]
fn a_standby_shows_no_entity_series_and_says_it_does_not_lead() {
    let m = metrics();
    let js = jobset("uid-a", "a", true, full_summary());
    m.publish(snapshot(vec![(EntityKind::JobSets, vec![js])]));
    let leading = m.render_prometheus().unwrap();
    assert_eq!(samples(&leading, "megamon_jobset_up{").len(), 1);
    assert_eq!(samples(&leading, "megamon_leader{").len(), 1);
    assert!(
        leading
            .contains("\nmegamon_leader{otel_scope_name=\"megamon\",otel_scope_version=\"\"} 1\n")
    );

    m.set_leader(false);
    let standby = m.render_prometheus().unwrap();
    assert!(!standby.contains("megamon_jobset_"), "{standby}");
    assert!(
        standby
            .contains("\nmegamon_leader{otel_scope_name=\"megamon\",otel_scope_version=\"\"} 0\n")
    );
    assert_eq!(samples(&standby, "megamon_build_info{").len(), 1);

    m.set_leader(true);
    assert_eq!(
        samples(&m.render_prometheus().unwrap(), "megamon_jobset_up{").len(),
        1
    );
}

#[test]
fn time_to_recover_starts_at_zero_for_the_labels_of_current_entities() {
    // rate() and increase() take a series' first sample as its start: a
    // series born with its first recovery would never count that one.
    let m = metrics();
    let mut a = jobset("uid-a", "a", true, Summary::default());
    let mut b = jobset("uid-b", "b", true, Summary::default());
    std::sync::Arc::make_mut(&mut a.upness.attrs).tpu_accelerator = "tpu-v5p-slice".into();
    std::sync::Arc::make_mut(&mut b.upness.attrs).tpu_accelerator = "tpu-v5p-slice".into();
    let mut c = jobset("uid-c", "c", true, Summary::default());
    std::sync::Arc::make_mut(&mut c.upness.attrs).tpu_accelerator = "tpu-v6e-slice".into();
    m.publish(snapshot(vec![(EntityKind::JobSets, vec![a, b, c])]));
    let text = m.render_prometheus().unwrap();
    let counts = samples(&text, "megamon_jobset_time_to_recover_seconds_count{");
    // One series per label set, not per entity; every one at zero.
    assert_eq!(
        counts,
        [
            r#"megamon_jobset_time_to_recover_seconds_count{otel_scope_name="megamon",otel_scope_version="",tpu_accelerator="tpu-v5p-slice",tpu_topology="2x4"} 0"#,
            r#"megamon_jobset_time_to_recover_seconds_count{otel_scope_name="megamon",otel_scope_version="",tpu_accelerator="tpu-v6e-slice",tpu_topology="2x4"} 0"#,
        ],
        "{text}"
    );
    assert_eq!(
        samples(&text, "megamon_jobset_time_to_recover_seconds_bucket{").len(),
        2 * 20
    );
    // Time between interruptions carries the cause, unknown in advance.
    assert!(!text.contains("time_between_interruptions"), "{text}");

    // A standby shows none of it.
    m.set_leader(false);
    let standby = m.render_prometheus().unwrap();
    assert!(!standby.contains("time_to_recover"), "{standby}");
}

/// A snapshot published after another keeps the other's series order when
/// its entities' labels did not change, and works it out again when they
/// did: either way /metrics shows what a first publication of it shows.
#[test]
fn a_series_order_kept_from_the_last_snapshot_renders_as_a_fresh_one() {
    let pools = |names: &[(&str, bool, u64)]| {
        names
            .iter()
            .map(|&(name, up, chips)| node_pool(name, up, false, chips, full_summary()))
            .collect::<Vec<_>>()
    };
    let first = pools(&[("p-c", true, 4), ("p-a", true, 4), ("p-b", false, 4)]);
    // The same labels, other values: the order is kept.
    let flipped = pools(&[("p-c", false, 4), ("p-a", true, 4), ("p-b", true, 4)]);
    // Other labels: the order is worked out again.
    let relabelled = pools(&[("p-c", false, 16), ("p-a", true, 8), ("p-b", true, 4)]);
    let fresh = |entities: &Vec<_>| {
        let m = metrics();
        m.publish(snapshot(vec![(EntityKind::NodePools, entities.clone())]));
        m.render_prometheus().unwrap()
    };
    let m = metrics();
    m.publish(snapshot(vec![(EntityKind::NodePools, first)]));
    for next in [&flipped, &relabelled] {
        m.publish(snapshot(vec![(EntityKind::NodePools, next.clone())]));
        assert_eq!(m.render_prometheus().unwrap(), fresh(next));
    }
    assert!(
        m.render_prometheus()
            .unwrap()
            .contains("nodepool_name=\"p-c\",otel_scope_name=\"megamon\",otel_scope_version=\"\",tpu_accelerator=\"tpu-v6e-slice\",tpu_topology=\"2x4\"} 16"),
        "the relabelled chip count is shown"
    );
}

#[test]
fn causes_added_one_by_one_render_as_a_fresh_publish_would() {
    use megamon_core::cause::Cause;
    let pools = |with_causes: &[(usize, Cause)]| {
        let entities = (0..40)
            .map(|i| {
                let mut pool = node_pool(
                    &format!("pool-{i:02}"),
                    true,
                    i % 3 == 0,
                    16,
                    full_summary(),
                );
                for (_, cause) in with_causes.iter().filter(|(p, _)| *p == i) {
                    pool.causes.add(Some(*cause));
                }
                pool
            })
            .collect();
        snapshot(vec![(EntityKind::NodePools, entities)])
    };
    let m = metrics();
    let mut causes = Vec::new();
    m.publish(pools(&causes));
    // Pools get their first interruption of a cause one after another, as
    // under churn; some get a second cause. Each render is what a monitor
    // that published only that snapshot shows.
    for (pool, cause) in [
        (17, Cause::NodeNotReady),
        (3, Cause::Preemption),
        (39, Cause::NodeNotReady),
        (0, Cause::Maintenance),
        (17, Cause::Preemption),
        (21, Cause::NodeDeleted),
    ] {
        causes.push((pool, cause));
        m.publish(pools(&causes));
        let fresh = metrics();
        fresh.publish(pools(&causes));
        let text = m.render_prometheus().unwrap();
        assert_eq!(
            gauges_only(&text),
            gauges_only(&fresh.render_prometheus().unwrap())
        );
        assert_eq!(
            samples(&text, "megamon_nodepool_interruptions_by_cause{").len(),
            causes.len()
        );
    }
}

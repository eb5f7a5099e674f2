//! The Prometheus text exposition format (0.0.4) of collected OpenTelemetry
//! metrics, written the way the original's Go OpenTelemetry Prometheus exporter
//! (through the Prometheus Go client) wrote it, because dashboards and alerts
//! depend on its names and labels:
//! - names: dots and other invalid characters become `_`, a known unit adds
//!   its suffix (`s` → `_seconds`), monotonic sums get `_total`;
//! - every series carries `otel_scope_name` and `otel_scope_version` (empty
//!   when the scope has no version), all labels sorted by name, `le` last;
//! - families sorted by name, series by label values; a `target_info` family
//!   from the resource; numbers formatted like Go's `strconv` `'g'`.
//!
//! `opentelemetry-prometheus` 0.33 produces the same names but appends the
//! scope labels after the others and emits `otel_scope_version` only for a
//! scope with a version, so we write the text ourselves from what the SDK
//! collects (`conformance_tests` checks both agree on everything else).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::rc::Rc;

use opentelemetry::{InstrumentationScope, Key, Value};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, Metric, MetricData, ResourceMetrics};

const TARGET_INFO: &str = "target_info";
const TARGET_INFO_HELP: &str = "Target metadata";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FamilyType {
    Gauge,
    Counter,
    Histogram,
}

impl FamilyType {
    fn as_str(self) -> &'static str {
        match self {
            FamilyType::Gauge => "gauge",
            FamilyType::Counter => "counter",
            FamilyType::Histogram => "histogram",
        }
    }
}

enum Sample {
    Value(f64),
    Histogram {
        /// (upper bound, cumulative count), without `+Inf`.
        buckets: Vec<(f64, u64)>,
        sum: f64,
        count: u64,
    },
}

/// A label: sanitised name (shared, the same few repeat on every series) and
/// value (borrowed from the collected data where possible).
type Label<'a> = (Rc<str>, Cow<'a, str>);

struct Series<'a> {
    /// Sorted by name.
    labels: Vec<Label<'a>>,
    sample: Sample,
}

struct Family<'a> {
    help: &'a str,
    kind: FamilyType,
    series: Vec<Series<'a>>,
}

/// Numbers the collected data can hold.
trait AsF64: Copy {
    fn as_f64(self) -> f64;
}

impl AsF64 for f64 {
    fn as_f64(self) -> f64 {
        self
    }
}

impl AsF64 for i64 {
    fn as_f64(self) -> f64 {
        self as f64
    }
}

impl AsF64 for u64 {
    fn as_f64(self) -> f64 {
        self as f64
    }
}

/// Renders everything in `metrics`.
pub(crate) fn encode(metrics: &ResourceMetrics) -> String {
    let mut families: BTreeMap<String, Family<'_>> = BTreeMap::new();
    let mut names = LabelNames::default();

    for scope_metrics in metrics.scope_metrics() {
        let scope_labels = scope_labels(&mut names, scope_metrics.scope());
        for metric in scope_metrics.metrics() {
            add_metric(&mut families, &mut names, &scope_labels, metric);
        }
    }

    if !metrics.resource().is_empty() {
        families.insert(
            TARGET_INFO.to_string(),
            Family {
                help: TARGET_INFO_HELP,
                kind: FamilyType::Gauge,
                series: vec![Series {
                    labels: labels(&mut names, || metrics.resource().iter(), &[]),
                    sample: Sample::Value(1.0),
                }],
            },
        );
    }

    let series: usize = families.values().map(|f| f.series.len()).sum();
    // About what a series line of an entity gauge takes.
    let mut out = String::with_capacity(series * 256);
    for (name, family) in &mut families {
        if family.series.is_empty() {
            continue;
        }
        // The Go client's order: by label count, then label values in turn.
        // A family never holds two series with the same labels.
        family.series.sort_unstable_by(|a, b| {
            a.labels.len().cmp(&b.labels.len()).then_with(|| {
                a.labels
                    .iter()
                    .map(|(_, v)| v.as_ref())
                    .cmp(b.labels.iter().map(|(_, v)| v.as_ref()))
            })
        });
        write_family(&mut out, name, family);
    }
    out
}

fn scope_labels<'a>(names: &mut LabelNames<'a>, scope: &'a InstrumentationScope) -> [Label<'a>; 2] {
    [
        (names.get("otel_scope_name"), Cow::Borrowed(scope.name())),
        (
            names.get("otel_scope_version"),
            Cow::Borrowed(scope.version().unwrap_or("")),
        ),
    ]
}

fn add_metric<'a>(
    families: &mut BTreeMap<String, Family<'a>>,
    names: &mut LabelNames<'a>,
    scope_labels: &[Label<'a>],
    metric: &'a Metric,
) {
    match metric.data() {
        AggregatedMetrics::F64(data) => add_data(families, names, scope_labels, metric, data),
        AggregatedMetrics::I64(data) => add_data(families, names, scope_labels, metric, data),
        AggregatedMetrics::U64(data) => add_data(families, names, scope_labels, metric, data),
    }
}

fn add_data<'a, T: AsF64>(
    families: &mut BTreeMap<String, Family<'a>>,
    names: &mut LabelNames<'a>,
    scope_labels: &[Label<'a>],
    metric: &'a Metric,
    data: &'a MetricData<T>,
) {
    let base = metric_name(metric.name(), metric.unit());
    let (name, kind) = match data {
        MetricData::Gauge(_) => (base, FamilyType::Gauge),
        MetricData::Sum(sum) if sum.is_monotonic() => {
            (format!("{base}_total"), FamilyType::Counter)
        }
        MetricData::Sum(_) => (base, FamilyType::Gauge),
        MetricData::Histogram(_) => (base, FamilyType::Histogram),
        // Not representable in the text format; we create none.
        MetricData::ExponentialHistogram(_) => return,
    };
    let family = families.entry(name).or_insert_with(|| Family {
        help: metric.description(),
        kind,
        series: Vec::new(),
    });
    if family.kind != kind {
        // Like the Go exporter: the first definition of a name wins.
        return;
    }
    match data {
        MetricData::Gauge(gauge) => {
            for dp in gauge.data_points() {
                family.series.push(Series {
                    labels: labels(
                        names,
                        || dp.attributes().map(|kv| (&kv.key, &kv.value)),
                        scope_labels,
                    ),
                    sample: Sample::Value(dp.value().as_f64()),
                });
            }
        }
        MetricData::Sum(sum) => {
            for dp in sum.data_points() {
                family.series.push(Series {
                    labels: labels(
                        names,
                        || dp.attributes().map(|kv| (&kv.key, &kv.value)),
                        scope_labels,
                    ),
                    sample: Sample::Value(dp.value().as_f64()),
                });
            }
        }
        MetricData::Histogram(histogram) => {
            for dp in histogram.data_points() {
                let mut cumulative = 0u64;
                let buckets = dp
                    .bounds()
                    .zip(dp.bucket_counts())
                    .map(|(bound, count)| {
                        cumulative = cumulative.saturating_add(count);
                        (bound, cumulative)
                    })
                    .collect();
                family.series.push(Series {
                    labels: labels(
                        names,
                        || dp.attributes().map(|kv| (&kv.key, &kv.value)),
                        scope_labels,
                    ),
                    sample: Sample::Histogram {
                        buckets,
                        sum: dp.sum().as_f64(),
                        count: dp.count(),
                    },
                });
            }
        }
        MetricData::ExponentialHistogram(_) => {}
    }
}

/// Sanitised label names, cached: the same few keys repeat on every series.
#[derive(Default)]
struct LabelNames<'a>(HashMap<&'a str, Rc<str>>);

impl<'a> LabelNames<'a> {
    fn get(&mut self, key: &'a str) -> Rc<str> {
        Rc::clone(
            self.0
                .entry(key)
                .or_insert_with(|| Rc::from(label_name(key))),
        )
    }
}

/// A series' labels sorted by name. Attribute keys that sanitise to the same
/// name are merged, their values joined by `;` in key order (the Go
/// exporter's rule); the scope labels win over attributes of the same name.
fn labels<'a, I>(
    names: &mut LabelNames<'a>,
    attributes: impl Fn() -> I,
    scope_labels: &[Label<'a>],
) -> Vec<Label<'a>>
where
    I: Iterator<Item = (&'a Key, &'a Value)>,
{
    let mut out: Vec<Label<'a>> =
        Vec::with_capacity(attributes().size_hint().0 + scope_labels.len());
    for (key, value) in attributes() {
        let name = names.get(key.as_str());
        if !scope_labels.iter().any(|(s, _)| *s == name) {
            out.push((name, value.as_str()));
        }
    }
    out.extend(scope_labels.iter().cloned());
    // Usually already in order with distinct names (the SDK sorts attributes
    // by key), so only check.
    if out.is_sorted_by(|a, b| a.0 < b.0) {
        return out;
    }

    let mut by_name: Vec<(Rc<str>, &'a str, Cow<'a, str>)> = attributes()
        .map(|(key, value)| (names.get(key.as_str()), key.as_str(), value.as_str()))
        .filter(|(name, _, _)| !scope_labels.iter().any(|(s, _)| s == name))
        .collect();
    by_name.sort_unstable_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    out.clear();
    for (name, _, value) in by_name {
        match out.last_mut() {
            Some((last, joined)) if *last == name => {
                let joined = joined.to_mut();
                joined.push(';');
                joined.push_str(&value);
            }
            _ => out.push((name, value)),
        }
    }
    out.extend(scope_labels.iter().cloned());
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// `megamon.jobset.up.time` + `s` → `megamon_jobset_up_time_seconds`.
pub(crate) fn metric_name(name: &str, unit: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    if let Some(suffix) = unit_suffix(unit)
        && !out.ends_with(&format!("_{suffix}"))
    {
        out.push('_');
        out.push_str(suffix);
    }
    out
}

fn label_name(key: &str) -> String {
    let out: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        format!("key_{out}")
    } else {
        out
    }
}

/// The unit suffixes of the OpenTelemetry-to-Prometheus naming rules.
fn unit_suffix(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "1" => "ratio",
        "%" => "percent",
        _ => return None,
    })
}

fn write_family(out: &mut String, name: &str, family: &Family<'_>) {
    out.push_str("# HELP ");
    out.push_str(name);
    out.push(' ');
    escape_help(out, family.help);
    out.push('\n');
    let _ = writeln!(out, "# TYPE {name} {}", family.kind.as_str());
    for series in &family.series {
        match &series.sample {
            Sample::Value(v) => {
                write_series(out, name, "", &series.labels, None);
                write_go_float(out, *v);
                out.push('\n');
            }
            Sample::Histogram {
                buckets,
                sum,
                count,
            } => {
                let mut le = String::new();
                for (bound, cumulative) in buckets {
                    le.clear();
                    write_go_float(&mut le, *bound);
                    write_series(out, name, "_bucket", &series.labels, Some(&le));
                    let _ = writeln!(out, "{cumulative}");
                }
                write_series(out, name, "_bucket", &series.labels, Some("+Inf"));
                let _ = writeln!(out, "{count}");
                write_series(out, name, "_sum", &series.labels, None);
                write_go_float(out, *sum);
                out.push('\n');
                write_series(out, name, "_count", &series.labels, None);
                let _ = writeln!(out, "{count}");
            }
        }
    }
}

/// `name_suffix{labels} ` — the value follows.
fn write_series(
    out: &mut String,
    name: &str,
    suffix: &str,
    labels: &[Label<'_>],
    le: Option<&str>,
) {
    out.push_str(name);
    out.push_str(suffix);
    if !labels.is_empty() || le.is_some() {
        out.push('{');
        let mut first = true;
        let le_pair = le.map(|le| ("le", le));
        for (k, v) in labels
            .iter()
            .map(|(k, v)| (k.as_ref(), v.as_ref()))
            .chain(le_pair)
        {
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(k);
            out.push_str("=\"");
            escape_label_value(out, v);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
}

fn escape_help(out: &mut String, s: &str) {
    if !s.contains(['\\', '\n']) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn escape_label_value(out: &mut String, s: &str) {
    if !s.contains(['\\', '"', '\n']) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// A float as the Prometheus Go client writes it: `strconv.FormatFloat(f,
/// 'g', -1, 64)` (shortest digits; exponent form below 1e-4 and from 1e6 up,
/// with at least two exponent digits), and `+Inf`, `-Inf`, `NaN`.
fn write_go_float(out: &mut String, f: f64) {
    if f.is_nan() {
        out.push_str("NaN");
        return;
    }
    if f.is_infinite() {
        out.push_str(if f > 0.0 { "+Inf" } else { "-Inf" });
        return;
    }
    if f == 0.0 {
        // Go keeps the sign of negative zero; the client writes 0 for both.
        out.push('0');
        return;
    }
    if f.fract() == 0.0 && f.abs() < 1e6 {
        // The common case (counts, whole seconds), without the detour below.
        let _ = write!(out, "{}", f as i64);
        return;
    }
    // Rust's `{:e}` is the shortest round-trip digits, e.g. `1.234567e6`.
    let start = out.len();
    let _ = write!(out, "{f:e}");
    let Some(e_at) = out[start..].find('e').map(|i| start + i) else {
        return;
    };
    let Ok(exp) = out[e_at + 1..].parse::<i32>() else {
        return;
    };
    if (-4..6).contains(&exp) {
        // Plain decimal with the same shortest digits.
        out.truncate(start);
        let _ = write!(out, "{f}");
    } else {
        out.truncate(e_at);
        let sign = if exp < 0 { '-' } else { '+' };
        let _ = write!(out, "e{sign}{:02}", exp.unsigned_abs());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::KeyValue;

    fn go_float(f: f64) -> String {
        let mut s = String::from("x");
        write_go_float(&mut s, f);
        s.split_off(1)
    }

    #[test]
    fn floats_like_go() {
        let cases = [
            (1.0, "1"),
            (-1.0, "-1"),
            (0.0, "0"),
            (42.5, "42.5"),
            (0.01, "0.01"),
            (0.0001, "0.0001"),
            (0.00001234, "1.234e-05"),
            (100000.0, "100000"),
            (999999.0, "999999"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (3600.25, "3600.25"),
            (1e21, "1e+21"),
            (1.5e300, "1.5e+300"),
            (-2.5e-7, "-2.5e-07"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ];
        for (f, want) in cases {
            assert_eq!(go_float(f), want, "{f}");
        }
    }

    #[test]
    fn names_follow_the_otel_prometheus_rules() {
        assert_eq!(
            metric_name("megamon.jobset.up.time", "s"),
            "megamon_jobset_up_time_seconds"
        );
        assert_eq!(metric_name("megamon.jobset.up", ""), "megamon_jobset_up");
        assert_eq!(metric_name("a.b-c/d", "By"), "a_b_c_d_bytes");
        assert_eq!(metric_name("x.seconds", "s"), "x_seconds");
        assert_eq!(metric_name("1x", ""), "_1x");
        assert_eq!(label_name("slice.owner.kind"), "slice_owner_kind");
        assert_eq!(label_name("9lives"), "key_9lives");
    }

    #[test]
    fn label_escaping() {
        let mut s = String::new();
        escape_label_value(&mut s, "a\"b\\c\nd");
        assert_eq!(s, "a\\\"b\\\\c\\nd");
        let mut h = String::new();
        escape_help(&mut h, "x\\y\nz\"");
        assert_eq!(h, "x\\\\y\\nz\"");
    }

    #[test]
    fn colliding_label_names_are_joined_and_sorted() {
        let attrs = [
            KeyValue::new("a_b", "2"),
            KeyValue::new("a.b", "1"),
            KeyValue::new("z", "z"),
        ];
        let scope = InstrumentationScope::builder("megamon").build();
        let mut names = LabelNames::default();
        let scope_labels = scope_labels(&mut names, &scope);
        let got: Vec<(String, String)> = labels(
            &mut names,
            || attrs.iter().map(|kv| (&kv.key, &kv.value)),
            &scope_labels,
        )
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.into_owned()))
        .collect();
        let want: Vec<(String, String)> = [
            ("a_b", "1;2"),
            ("otel_scope_name", "megamon"),
            ("otel_scope_version", ""),
            ("z", "z"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(got, want);
    }
}

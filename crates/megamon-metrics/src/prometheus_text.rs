//! The Prometheus text exposition format (0.0.4), written the way the
//! original's Go OpenTelemetry Prometheus exporter (through the Prometheus Go
//! client) wrote it, because dashboards and alerts depend on its names and
//! labels:
//! - names: dots and other invalid characters become `_`, a known unit adds
//!   its suffix (`s` → `_seconds`), monotonic sums get `_total`;
//! - every series carries `otel_scope_name` and `otel_scope_version` (empty
//!   when the scope has no version), all labels sorted by name, `le` last;
//! - families sorted by name, series by label count, then label values; a
//!   `target_info` family from the resource; numbers formatted like Go's
//!   `strconv` `'g'`.
//!
//! `opentelemetry-prometheus` 0.33 produces the same names but appends the
//! scope labels after the others and emits `otel_scope_version` only for a
//! scope with a version, so we write the text ourselves
//! ([`crate::exposition`]; `conformance_tests` checks both agree on
//! everything else). This module has the format's building blocks.

use std::borrow::Cow;
use std::fmt::Write as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FamilyType {
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

/// Labels from arbitrary attributes (the resource's, for `target_info`),
/// sorted by name. Keys that sanitise to the same name are merged, their
/// values joined by `;` in key order (the Go exporter's rule).
pub(crate) fn merged_labels<'a>(
    attributes: impl IntoIterator<Item = (&'a str, Cow<'a, str>)>,
) -> Vec<(String, String)> {
    let mut by_name: Vec<(String, &str, Cow<'_, str>)> = attributes
        .into_iter()
        .map(|(key, value)| (label_name(key), key, value))
        .collect();
    by_name.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    let mut out: Vec<(String, String)> = Vec::with_capacity(by_name.len());
    for (name, _, value) in by_name {
        match out.last_mut() {
            Some((last, joined)) if *last == name => {
                joined.push(';');
                joined.push_str(&value);
            }
            _ => out.push((name, value.into_owned())),
        }
    }
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

pub(crate) fn label_name(key: &str) -> String {
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

/// `# HELP` and `# TYPE` of a family.
pub(crate) fn write_header(out: &mut String, name: &str, help: &str, kind: FamilyType) {
    out.push_str("# HELP ");
    out.push_str(name);
    out.push(' ');
    escape_help(out, help);
    out.push('\n');
    let _ = writeln!(out, "# TYPE {name} {}", kind.as_str());
}

/// `{name="value",…}`, or nothing without labels.
pub(crate) fn write_labels<'a>(
    out: &mut String,
    labels: impl IntoIterator<Item = (&'a str, &'a str)>,
) {
    let mut first = true;
    for (name, value) in labels {
        out.push(if first { '{' } else { ',' });
        first = false;
        out.push_str(name);
        out.push_str("=\"");
        escape_label_value(out, value);
        out.push('"');
    }
    if !first {
        out.push('}');
    }
}

/// `value\n` after a series' name and labels.
pub(crate) fn write_value(out: &mut String, value: f64) {
    out.push(' ');
    write_go_float(out, value);
    out.push('\n');
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
pub(crate) fn write_go_float(out: &mut String, f: f64) {
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
        let got = merged_labels([
            ("a_b", Cow::Borrowed("2")),
            ("z", Cow::Borrowed("z")),
            ("a.b", Cow::Borrowed("1")),
        ]);
        let want: Vec<(String, String)> = [("a_b", "1;2"), ("z", "z")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn series_lines() {
        let mut s = String::new();
        write_header(&mut s, "m", "Help \\ me.", FamilyType::Counter);
        s.push('m');
        write_labels(&mut s, [("a", "x\"y"), ("b", "")]);
        write_value(&mut s, 2.5);
        s.push('m');
        write_labels(&mut s, []);
        write_value(&mut s, 1e6);
        assert_eq!(
            s,
            "# HELP m Help \\\\ me.\n# TYPE m counter\nm{a=\"x\\\"y\",b=\"\"} 2.5\nm 1e+06\n"
        );
    }
}

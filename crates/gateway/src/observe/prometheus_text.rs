//! The Prometheus text format 0.0.4, rewritten from the OpenMetrics text
//! that `prometheus-client` encodes (it encodes nothing else).
//!
//! The two formats share their sample lines; what differs:
//! - a counter family is named without `_total` in OpenMetrics and with it
//!   in 0.0.4 (`# TYPE x counter` / `x_total 1` becomes
//!   `# TYPE x_total counter`);
//! - `info` and `stateset` families are gauges in 0.0.4 (an info family
//!   `x` samples as `x_info`), `unknown` is `untyped`;
//! - `# UNIT` lines, `# EOF`, `_created` samples and exemplars
//!   (` # {...}` after a sample) do not exist in 0.0.4.

/// `text` (OpenMetrics) in the Prometheus text format 0.0.4.
pub(super) fn from_openmetrics(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // `# HELP` comes before `# TYPE`, which may rename the family.
    let mut help: Option<(&str, &str)> = None;
    // The current family and whether its `_created` samples are dropped.
    let mut family = "";
    for line in text.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, doc) = rest.split_once(' ').unwrap_or((rest, ""));
            if let Some((pending, doc)) = help.replace((name, doc)) {
                push_help(&mut out, pending, doc);
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            family = name;
            let (renamed, kind) = match kind {
                "counter" => (format!("{name}_total"), "counter"),
                "info" => (format!("{name}_info"), "gauge"),
                "stateset" => (name.to_owned(), "gauge"),
                "unknown" => (name.to_owned(), "untyped"),
                "gaugehistogram" => (name.to_owned(), "histogram"),
                other => (name.to_owned(), other),
            };
            match help.take() {
                Some((pending, doc)) if pending == name => push_help(&mut out, &renamed, doc),
                Some((pending, doc)) => push_help(&mut out, pending, doc),
                None => {}
            }
            out.push_str("# TYPE ");
            out.push_str(&renamed);
            out.push(' ');
            out.push_str(kind);
            out.push('\n');
            continue;
        }
        if let Some((pending, doc)) = help.take() {
            push_help(&mut out, pending, doc);
        }
        if line.starts_with('#') {
            continue;
        }
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let name = &line[..name_end];
        if !family.is_empty() && name == format!("{family}_created") {
            continue;
        }
        // An exemplar follows ` # ` after the value; label values cannot
        // hold it unescaped past the closing brace.
        let body_start = line[name_end..]
            .find('}')
            .map_or(name_end, |i| name_end + i + 1);
        let sample = match line[body_start..].find(" # ") {
            Some(i) => &line[..body_start + i],
            None => line,
        };
        out.push_str(sample);
        out.push('\n');
    }
    if let Some((pending, doc)) = help {
        push_help(&mut out, pending, doc);
    }
    out
}

/// A `# HELP` line; 0.0.4 escapes `\` and line feeds only, so OpenMetrics'
/// `\"` becomes `"`.
fn push_help(out: &mut String, name: &str, doc: &str) {
    out.push_str("# HELP ");
    out.push_str(name);
    out.push(' ');
    out.push_str(&doc.replace("\\\"", "\""));
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::from_openmetrics;

    #[test]
    fn families_are_renamed_and_openmetrics_only_lines_dropped() {
        let open = "\
# HELP t_requests Requests answered.
# TYPE t_requests counter
t_requests_total{route=\"/a\"} 3
t_requests_created{route=\"/a\"} 1700000000.0
# HELP t_latency_seconds Latency.
# TYPE t_latency_seconds histogram
# UNIT t_latency_seconds seconds
t_latency_seconds_sum 0.5
t_latency_seconds_count 2
t_latency_seconds_bucket{le=\"+Inf\"} 2 # {trace_id=\"x\"} 0.4 1.0
# HELP t_build Build.
# TYPE t_build info
t_build_info{version=\"1.0\"} 1
# HELP t_up Up.
# TYPE t_up gauge
t_up 1
# EOF
";
        let want = "\
# HELP t_requests_total Requests answered.
# TYPE t_requests_total counter
t_requests_total{route=\"/a\"} 3
# HELP t_latency_seconds Latency.
# TYPE t_latency_seconds histogram
t_latency_seconds_sum 0.5
t_latency_seconds_count 2
t_latency_seconds_bucket{le=\"+Inf\"} 2
# HELP t_build_info Build.
# TYPE t_build_info gauge
t_build_info{version=\"1.0\"} 1
# HELP t_up Up.
# TYPE t_up gauge
t_up 1
";
        assert_eq!(from_openmetrics(open), want);
    }

    #[test]
    fn a_label_holding_a_hash_is_kept() {
        let open = "# TYPE t gauge\nt{model=\"a # b\"} 1\n# EOF\n";
        assert_eq!(
            from_openmetrics(open),
            "# TYPE t gauge\nt{model=\"a # b\"} 1\n"
        );
    }
}

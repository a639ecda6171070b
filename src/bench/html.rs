//! `--html FILE`: one self-contained page (inline SVG, no scripts, nothing fetched) with
//! latency over time, the percentile spectrum on a log scale and the error rate.

use std::fmt::Write as _;

use super::recorder::{ms, Hist};
use super::report::{fmt_ms, render_human, Report, RunResult};

const W: f64 = 760.0;
const H: f64 = 260.0;
const PAD_L: f64 = 64.0;
const PAD_B: f64 = 36.0;
const PAD_T: f64 = 16.0;
const PAD_R: f64 = 16.0;

pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub(crate) struct Line {
    pub label: String,
    pub color: &'static str,
    pub points: Vec<(f64, f64)>,
}

/// A line chart; `x_labels` maps an x value to its tick label.
pub(crate) fn chart(
    title: &str,
    y_unit: &str,
    lines: &[Line],
    x_ticks: &[(f64, String)],
    x_name: &str,
) -> String {
    let mut svg = String::new();
    let all = lines.iter().flat_map(|l| l.points.iter());
    let (mut x0, mut x1, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, 0.0f64);
    for (x, y) in all {
        x0 = x0.min(*x);
        x1 = x1.max(*x);
        y1 = y1.max(*y);
    }
    if !x0.is_finite() {
        x0 = 0.0;
        x1 = 1.0;
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    if y1 <= 0.0 {
        y1 = 1.0;
    }
    y1 *= 1.1;
    let px = |x: f64| PAD_L + (x - x0) / (x1 - x0) * (W - PAD_L - PAD_R);
    let py = |y: f64| PAD_T + (1.0 - y / y1) * (H - PAD_T - PAD_B);
    let _ = writeln!(svg, "<h2>{}</h2>", esc(title));
    let _ = writeln!(
        svg,
        "<svg width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{}\">",
        esc(title)
    );
    let _ = writeln!(
        svg,
        "<rect x=\"{PAD_L}\" y=\"{PAD_T}\" width=\"{}\" height=\"{}\" fill=\"#fafafa\" stroke=\"#ccc\"/>",
        W - PAD_L - PAD_R,
        H - PAD_T - PAD_B
    );
    for k in 0..=4 {
        let y = y1 * k as f64 / 4.0;
        let _ = writeln!(
            svg,
            "<line x1=\"{PAD_L}\" x2=\"{}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#e4e4e4\"/><text x=\"{}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\">{}</text>",
            W - PAD_R,
            py(y),
            py(y),
            PAD_L - 4.0,
            py(y) + 4.0,
            esc(&format_tick(y, y_unit))
        );
    }
    for (x, label) in x_ticks {
        if *x < x0 || *x > x1 {
            continue;
        }
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
            px(*x),
            H - PAD_B + 14.0,
            esc(label)
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"{:.1}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
        PAD_L + (W - PAD_L - PAD_R) / 2.0,
        H - 4.0,
        esc(x_name)
    );
    for (n, line) in lines.iter().enumerate() {
        let pts: Vec<String> = line
            .points
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", px(*x), py(*y)))
            .collect();
        let _ = writeln!(
            svg,
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" points=\"{}\"/>",
            line.color,
            pts.join(" ")
        );
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" font-size=\"12\" fill=\"{}\">{}</text>",
            PAD_L + 8.0 + 110.0 * n as f64,
            PAD_T + 14.0,
            line.color,
            esc(&line.label)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn format_tick(v: f64, unit: &str) -> String {
    match unit {
        "ms" => fmt_ms(v),
        "%" => format!("{v:.1}%"),
        _ => format!("{v:.1}"),
    }
}

/// Quantiles 0, 0.9, 0.99, ... as x = log10(1 / (1 - q)): HdrHistogram's percentile plot.
fn spectrum(h: &Hist) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    // Up to the resolution the sample count supports.
    let max_x = (h.len() as f64).log10().clamp(1.0, 6.0);
    let steps = (max_x * 10.0) as usize;
    (0..=steps)
        .map(|k| {
            let x = k as f64 / 10.0;
            let q = 1.0 - 10f64.powf(-x);
            (x, ms(h.value_at_quantile(q)))
        })
        .collect()
}

pub fn render(run: &RunResult, r: &Report) -> String {
    let secs: Vec<_> = run.series.seconds.iter().collect();
    let t_ticks: Vec<(f64, String)> = {
        let n = secs.len().max(1);
        let step = (n / 8).max(1);
        secs.iter()
            .step_by(step)
            .map(|s| (s.t as f64, format!("{}s", s.t)))
            .collect()
    };
    let latency = chart(
        "Response time over time (per second, from due time)",
        "ms",
        &[
            Line {
                label: "p50".into(),
                color: "#1f77b4",
                points: secs.iter().map(|s| (s.t as f64, s.p50_ms)).collect(),
            },
            Line {
                label: "p99".into(),
                color: "#d62728",
                points: secs.iter().map(|s| (s.t as f64, s.p99_ms)).collect(),
            },
        ],
        &t_ticks,
        "seconds since start",
    );
    let q_ticks: Vec<(f64, String)> =
        ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%"]
            .iter()
            .enumerate()
            .map(|(i, l)| (i as f64, l.to_string()))
            .collect();
    let mut spectrum_lines = vec![
        Line {
            label: "response".into(),
            color: "#d62728",
            points: spectrum(&run.totals.response),
        },
        Line {
            label: "service".into(),
            color: "#1f77b4",
            points: spectrum(&run.totals.service),
        },
    ];
    for (t, color) in run.totals.targets.iter().zip(["#2ca02c", "#9467bd"]) {
        if run.totals.targets.len() > 1 {
            spectrum_lines.push(Line {
                label: format!("{} response", t.name),
                color,
                points: spectrum(&t.response),
            });
        }
    }
    let spectrum_svg = chart(
        "Percentile spectrum (log scale)",
        "ms",
        &spectrum_lines,
        &q_ticks,
        "percentile",
    );
    let errors = chart(
        "Error rate (per second)",
        "%",
        &[Line {
            label: "errors".into(),
            color: "#ff7f0e",
            points: secs
                .iter()
                .map(|s| {
                    let rate = if s.requests == 0 {
                        0.0
                    } else {
                        s.errors as f64 / s.requests as f64 * 100.0
                    };
                    (s.t as f64, rate)
                })
                .collect(),
        }],
        &t_ticks,
        "seconds since start",
    );
    let mut page = String::new();
    page.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
    page.push_str("<title>iris-cli bench report</title>\n");
    page.push_str("<style>body{font-family:system-ui,sans-serif;margin:24px;color:#222}pre{background:#f6f6f6;padding:12px;overflow:auto}h2{font-size:16px;margin-top:28px}</style>\n");
    page.push_str("</head><body>\n<h1>iris-cli bench report</h1>\n");
    let _ = writeln!(page, "<pre>{}</pre>", esc(&render_human(r)));
    page.push_str(&latency);
    page.push_str(&spectrum_svg);
    page.push_str(&errors);
    if let Some(cw) = &r.cloudwatch {
        page.push_str(&cloudwatch_panel(cw));
    }
    page.push_str("</body></html>\n");
    page
}

/// `--cloudwatch`: the client's p50/p99 beside AWS's per hop, as a table with bars on one
/// scale, then the named gaps and the count checks.
pub(crate) fn cloudwatch_panel(cw: &crate::bench::cloudwatch::CloudWatchReport) -> String {
    let cell = |v: Option<f64>| v.map(|v| format!("{v:.3}")).unwrap_or_else(|| "-".into());
    let mut rows: Vec<(String, Option<f64>, Option<f64>)> = cw
        .client
        .iter()
        .map(|(n, c)| (format!("client {n}"), c.p50_ms, c.p99_ms))
        .collect();
    rows.extend(
        cw.metrics
            .iter()
            .filter(|m| m.unit != "Count")
            .map(|m| (m.label.clone(), m.p50_ms, m.p99_ms)),
    );
    let top = rows
        .iter()
        .filter_map(|r| r.2)
        .fold(0.0_f64, f64::max)
        .max(1e-9);
    let bar = |v: Option<f64>, colour: &str| {
        let w = v
            .map(|v| (v / top * 300.0).clamp(0.0, 300.0))
            .unwrap_or(0.0);
        format!("<div style=\"background:{colour};height:8px;width:{w:.0}px\"></div>")
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<h2>Server-side truth: CloudWatch ({} .. {}, {} s period, {})</h2>",
        esc(&cw.start),
        esc(&cw.end),
        cw.period_s,
        esc(&cw.region)
    );
    s.push_str("<table style=\"border-collapse:collapse\"><tr><th align=\"left\">hop</th><th>p50 ms</th><th>p99 ms</th><th></th></tr>\n");
    for (name, p50, p99) in &rows {
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td align=\"right\">{}</td><td align=\"right\">{}</td><td>{}{}</td></tr>",
            esc(name),
            cell(*p50),
            cell(*p99),
            bar(*p50, "#4477aa"),
            bar(*p99, "#cc6677")
        );
    }
    s.push_str("</table>\n<ul>\n");
    for g in &cw.gaps {
        let _ = writeln!(
            s,
            "<li>{} / {} ms: {} &minus; {}: {}</li>",
            cell(g.p50_ms),
            cell(g.p99_ms),
            esc(&g.from),
            esc(&g.to),
            esc(&g.name)
        );
    }
    for c in &cw.counts {
        let _ = writeln!(
            s,
            "<li>{} {} {} {} {}</li>",
            esc(&c.client),
            c.client_value,
            if c.matches { "=" } else { "&ne;" },
            esc(&c.cloudwatch),
            c.cloudwatch_value
                .map(|v| v.to_string())
                .unwrap_or_else(|| "(no data)".into())
        );
    }
    for n in &cw.notes {
        let _ = writeln!(s, "<li>note: {}</li>", esc(n));
    }
    s.push_str("</ul>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::recorder::{Measurements, Sample, Series};
    use crate::bench::report::RunMeta;

    #[test]
    fn page_is_self_contained_with_three_charts() {
        let mut m = Measurements::new(&["apigw"]);
        let mut series = Series::default();
        for v in 1..=500u64 {
            m.record(&Sample {
                target: 0,
                response_us: v * 100,
                service_us: v * 50,
                lag_us: 0,
                status: Some(200),
                error: None,
                server_timing: None,
                retry: false,
                message: None,
            });
        }
        for t in 0..5 {
            series.push(Series::summarize(t, &m.response, &m.failed));
        }
        let run = RunResult {
            meta: RunMeta {
                mode: "open".into(),
                target_rps: Some(100.0),
                started_epoch: 0.0,
                first_send_epoch: Some(0.0),
                last_send_epoch: Some(4.99),
                warmup_requests: 0,
                interrupted: false,
                unsent: 0,
                connections_opened: 0,
                tls_handshakes: 0,
                concurrency: 4,
            },
            totals: m,
            series,
        };
        let r = Report::build(&run);
        let page = render(&run, &r);
        assert_eq!(page.matches("<svg").count(), 3);
        assert!(page.contains("<polyline"));
        assert!(!page.contains("http://") && !page.contains("https://"));
        assert!(!page.contains("<script"));
    }
}

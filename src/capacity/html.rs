//! `capacity --html FILE`: the knee curve in one self-contained page (inline SVG, no
//! scripts, nothing fetched), in the style of `bench --html`: response time p50/p99 and the
//! error rate against the probed rate, the SLO limits drawn as lines, `max_rps` marked.

use std::fmt::Write as _;

use super::report::Document;
use super::{CapacityOptions, Outcome, Phase};
use crate::bench::html::{chart, esc, Line};

pub fn render(doc: &Document, out: &Outcome, opts: &CapacityOptions) -> String {
    let mut probes: Vec<_> = doc
        .probes
        .iter()
        .filter(|p| p.phase == Phase::Search)
        .collect();
    probes.sort_by(|a, b| a.target_rps.total_cmp(&b.target_rps));
    let xs: Vec<f64> = probes.iter().map(|p| p.target_rps).collect();
    let (x0, x1) = (
        xs.first().copied().unwrap_or(0.0),
        xs.last().copied().unwrap_or(1.0),
    );
    let ticks: Vec<(f64, String)> = xs.iter().map(|x| (*x, format!("{x:.0}"))).collect();
    let mut lines = vec![
        Line {
            label: "p50".into(),
            color: "#1f77b4",
            points: probes
                .iter()
                .map(|p| (p.target_rps, p.latency_ms.p50))
                .collect(),
        },
        Line {
            label: "p99".into(),
            color: "#d62728",
            points: probes
                .iter()
                .map(|p| (p.target_rps, p.latency_ms.p99))
                .collect(),
        },
    ];
    let mut top = probes
        .iter()
        .map(|p| p.latency_ms.p99)
        .fold(0.0f64, f64::max);
    for t in &opts.slo {
        if let Some((_, ms)) = t.response_limit_ms() {
            top = top.max(ms);
            lines.push(Line {
                label: format!("SLO {}", t.expr),
                color: "#7f7f7f",
                points: vec![(x0, ms), (x1, ms)],
            });
        }
    }
    if let Some(m) = out.max_rps {
        lines.push(Line {
            label: format!("max_rps {m:.1}"),
            color: "#2ca02c",
            points: vec![(m, 0.0), (m, top)],
        });
    }
    let knee = chart(
        "Knee: response time (from due time) against the probed rate",
        "ms",
        &lines,
        &ticks,
        "target rps",
    );
    let mut err_lines = vec![Line {
        label: "errors".into(),
        color: "#ff7f0e",
        points: probes
            .iter()
            .map(|p| {
                let done = p.requests.ok + p.requests.errors;
                let rate = if done == 0 {
                    0.0
                } else {
                    p.requests.errors as f64 / done as f64 * 100.0
                };
                (p.target_rps, rate)
            })
            .collect(),
    }];
    for t in &opts.slo {
        if let Some(pct) = t.errors_percent_limit() {
            err_lines.push(Line {
                label: format!("SLO {}", t.expr),
                color: "#7f7f7f",
                points: vec![(x0, pct), (x1, pct)],
            });
        }
    }
    let errors = chart(
        "Errors (throttles included) against the probed rate",
        "%",
        &err_lines,
        &ticks,
        "target rps",
    );
    let mut page = String::new();
    page.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
    page.push_str("<title>iris-cli capacity report</title>\n");
    page.push_str("<style>body{font-family:system-ui,sans-serif;margin:24px;color:#222}pre{background:#f6f6f6;padding:12px;overflow:auto}h2{font-size:16px;margin-top:28px}</style>\n");
    page.push_str("</head><body>\n<h1>iris-cli capacity report</h1>\n");
    let _ = writeln!(page, "<p><strong>{}</strong></p>", esc(&doc.verdict));
    page.push_str(&knee);
    page.push_str(&errors);
    let _ = writeln!(
        page,
        "<pre>{}</pre>",
        esc(&super::report::render_human(doc, out))
    );
    if let Some(cw) = &doc.cloudwatch {
        page.push_str(&crate::bench::html::cloudwatch_panel(cw));
    }
    page.push_str("</body></html>\n");
    page
}

//! Self-contained HTML reports: one file with inline CSS and SVG charts that opens in any browser with no
//! network. Written by hand because a report needs three chart shapes, and a charting crate would bring a
//! rendering stack (fonts, image back-ends) for what is a few dozen SVG rectangles.

use std::fmt::Write as _;

use numbering::group_thousands;

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// One named series of a chart, one value per x position.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub color: &'static str,
    pub values: Vec<f64>,
}

/// Colours that stay distinguishable for the common kinds of colour blindness (Okabe–Ito).
pub const PALETTE: [&str; 8] = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000",
];

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 48.0;

/// A stacked bar chart: one bar per x label, the series stacked in order. `y_unit` labels the axis.
pub fn stacked_bars(x_labels: &[String], series: &[Series], y_unit: &str) -> String {
    let n = x_labels.len().max(1);
    let totals: Vec<f64> = (0..n)
        .map(|i| {
            series
                .iter()
                .map(|s| s.values.get(i).copied().unwrap_or(0.0).max(0.0))
                .sum()
        })
        .collect();
    let max = nice_max(totals.iter().copied().fold(0.0, f64::max));
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let slot = plot_w / n as f64;
    let bar_w = (slot * 0.8).max(1.0);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" xmlns="http://www.w3.org/2000/svg">"#
    );
    axes(&mut svg, max, y_unit);
    for i in 0..n {
        let x = LEFT + slot * i as f64 + (slot - bar_w) / 2.0;
        let mut y = TOP + plot_h;
        for s in series {
            let v = s.values.get(i).copied().unwrap_or(0.0).max(0.0);
            if v <= 0.0 {
                continue;
            }
            let h = v / max * plot_h;
            y -= h;
            let label = x_labels.get(i).map(String::as_str).unwrap_or("");
            let _ = write!(
                svg,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{bar_w:.1}" height="{h:.1}" fill="{}"><title>{} {}: {}</title></rect>"#,
                s.color,
                escape(label),
                escape(&s.name),
                fmt_num(v)
            );
        }
    }
    x_ticks(&mut svg, x_labels, slot);
    svg.push_str("</svg>");
    svg.push_str(&legend(series));
    svg
}

/// Line chart of one or more series over the same x labels (used for cumulative money).
pub fn lines(x_labels: &[String], series: &[Series], y_unit: &str) -> String {
    let n = x_labels.len().max(1);
    let max = nice_max(
        series
            .iter()
            .flat_map(|s| s.values.iter().copied())
            .fold(0.0, f64::max),
    );
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let slot = plot_w / n as f64;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" xmlns="http://www.w3.org/2000/svg">"#
    );
    axes(&mut svg, max, y_unit);
    for s in series {
        let mut points = String::new();
        for (i, v) in s.values.iter().enumerate() {
            let x = LEFT + slot * i as f64 + slot / 2.0;
            let y = TOP + plot_h - v.max(0.0) / max * plot_h;
            let _ = write!(points, "{x:.1},{y:.1} ");
        }
        let _ = write!(
            svg,
            r#"<polyline fill="none" stroke="{}" stroke-width="2" points="{}"><title>{}</title></polyline>"#,
            s.color,
            points.trim_end(),
            escape(&s.name)
        );
    }
    x_ticks(&mut svg, x_labels, slot);
    svg.push_str("</svg>");
    svg.push_str(&legend(series));
    svg
}

/// One marker per event on a horizontal time axis (alerts timeline). `events` are (position 0..=1, label, colour).
pub fn timeline(
    events: &[(f64, String, &'static str)],
    start_label: &str,
    end_label: &str,
) -> String {
    let h = 70.0;
    let plot_w = WIDTH - LEFT - RIGHT;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg viewBox="0 0 {WIDTH} {h}" width="100%" role="img" xmlns="http://www.w3.org/2000/svg">"#
    );
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" y1="30" x2="{}" y2="30" stroke="#888"/>"##,
        LEFT + plot_w
    );
    for (pos, label, color) in events {
        let x = LEFT + pos.clamp(0.0, 1.0) * plot_w;
        let _ = write!(
            svg,
            r#"<circle cx="{x:.1}" cy="30" r="6" fill="{color}" fill-opacity="0.7"><title>{}</title></circle>"#,
            escape(label)
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{LEFT}" y="60" font-size="12">{}</text><text x="{}" y="60" font-size="12" text-anchor="end">{}</text>"#,
        escape(start_label),
        LEFT + plot_w,
        escape(end_label)
    );
    svg.push_str("</svg>");
    svg
}

/// An HTML table; cells are escaped.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::from("<table><thead><tr>");
    for h in headers {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{}</td>", escape(cell));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

/// A whole page around already-rendered body HTML.
pub fn page(title: &str, body: &str) -> String {
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", "Hiragino Sans", "Noto Sans JP", sans-serif; margin: 2rem auto; max-width: 1000px; color: #222; padding: 0 1rem; }}
h1 {{ font-size: 1.6rem; }} h2 {{ font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }}
.verdict {{ padding: 1rem; border-radius: 6px; font-size: 1.1rem; }}
.hit {{ background: #fde8e4; border: 1px solid #D55E00; }} .clean {{ background: #e4f5ee; border: 1px solid #009E73; }}
table {{ border-collapse: collapse; width: 100%; font-size: 0.9rem; }}
th, td {{ border-bottom: 1px solid #eee; padding: 4px 8px; text-align: left; vertical-align: top; }}
th {{ background: #f6f6f6; }} .legend span {{ margin-right: 1rem; }} .sw {{ display: inline-block; width: 10px; height: 10px; margin-right: 4px; }}
small {{ color: #666; }}
</style></head><body>
<h1>{title}</h1>
{body}
</body></html>
"#,
        title = escape(title),
    )
}

fn axes(svg: &mut String, max: f64, y_unit: &str) {
    let plot_h = HEIGHT - TOP - BOTTOM;
    for k in 0..=4 {
        let v = max * k as f64 / 4.0;
        let y = TOP + plot_h - plot_h * k as f64 / 4.0;
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#eee"/><text x="{}" y="{:.1}" font-size="11" text-anchor="end">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            fmt_num(v)
        );
    }
    let _ = write!(
        svg,
        r#"<text x="12" y="{:.1}" font-size="11" transform="rotate(-90 12 {:.1})" text-anchor="middle">{}</text>"#,
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0,
        escape(y_unit)
    );
}

fn x_ticks(svg: &mut String, x_labels: &[String], slot: f64) {
    // At most ~12 labels so they stay readable however many bars there are.
    let every = x_labels.len().div_ceil(12).max(1);
    for (i, label) in x_labels.iter().enumerate().step_by(every) {
        let x = LEFT + slot * i as f64 + slot / 2.0;
        let _ = write!(
            svg,
            r#"<text x="{x:.1}" y="{:.1}" font-size="11" text-anchor="middle">{}</text>"#,
            HEIGHT - BOTTOM + 16.0,
            escape(label)
        );
    }
}

fn legend(series: &[Series]) -> String {
    let mut out = String::from(r#"<div class="legend">"#);
    for s in series {
        let _ = write!(
            out,
            r#"<span><i class="sw" style="background:{}"></i>{}</span>"#,
            s.color,
            escape(&s.name)
        );
    }
    out.push_str("</div>");
    out
}

/// Rounds an axis maximum up to 1, 2 or 5 times a power of ten.
fn nice_max(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if v <= m * mag {
            return m * mag;
        }
    }
    10.0 * mag
}

fn fmt_num(v: f64) -> String {
    if v >= 100.0 || v.fract().abs() < 1e-9 {
        group_thousands(v.round() as i64)
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_in_labels() {
        let svg = stacked_bars(
            &["<script>".to_string()],
            &[Series {
                name: "a&b".into(),
                color: PALETTE[0],
                values: vec![3.0],
            }],
            "calls",
        );
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;"));
        assert!(svg.contains("a&amp;b"));
    }

    #[test]
    fn bars_scale_to_the_largest_total() {
        let svg = stacked_bars(
            &["a".into(), "b".into()],
            &[Series {
                name: "s".into(),
                color: PALETTE[0],
                values: vec![10.0, 5.0],
            }],
            "calls",
        );
        // The full-height bar is the whole plot area (HEIGHT - TOP - BOTTOM = 196), the half one half of it.
        assert!(svg.contains(r#"height="196.0""#), "{svg}");
        assert!(svg.contains(r#"height="98.0""#), "{svg}");
    }

    #[test]
    fn nice_axis_maxima() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(7.0), 10.0);
        assert_eq!(nice_max(130.0), 200.0);
        assert_eq!(nice_max(4_900.0), 5_000.0);
    }
}

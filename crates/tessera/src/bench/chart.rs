//! `report.svg`: requests/s per mode as horizontal bars, each labelled with its ratio to the
//! baseline, and a few lines on logins, storage and revocation below. Hand-written SVG 1.1 (no
//! scripts, no external fonts or styles), so it renders the same in a browser, an image
//! viewer or a README.

use std::fmt::Write as _;

use super::report::Report;

const WIDTH: f64 = 900.0;
/// Room for the mode names, left of the bars.
const LEFT: f64 = 150.0;
/// The longest bar; the rest of the width is for its label.
const BAR_MAX: f64 = 520.0;
const TOP: f64 = 64.0;
const ROW: f64 = 26.0;
const BAR: f64 = 18.0;
const LINE: f64 = 18.0;

/// Text safe inside an SVG element or attribute.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// A round step for about four grid lines up to `max`: 1, 2 or 5 times a power of ten.
fn grid_step(max: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let rough = max / 4.0;
    let power = 10f64.powf(rough.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|step| *step >= rough)
        .unwrap_or(10.0 * power)
}

/// The bar's colour: grey for the baseline, blue for sessions, orange for JWTs, darker when
/// cold.
fn colour(name: &str, baseline: &str) -> &'static str {
    if name == baseline {
        "#9e9e9e"
    } else if name.starts_with("session") {
        "#3b7dd8"
    } else if name.ends_with("-cold") {
        "#b5472a"
    } else {
        "#e08a3c"
    }
}

/// The lines under the bars: the login flood, the stores' footprint and revocation, briefly.
fn footer(report: &Report) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(f) = &report.login_flood {
        // Short lines: the chart does not wrap text.
        let mut line = format!("login flood on {}: {:.1} logins/s", f.mode, f.logins_per_s);
        if let (Some(r), Some(b)) = (f.ratio_to_bound, f.bound_per_s) {
            let _ = write!(line, " = {r:.2} of the bound ({b:.1}/s)");
        }
        if let Some(r) = f.alone_ratio_to_bound {
            let _ = write!(line, "; the logins alone reach {r:.2} of it");
        }
        lines.push(line);
        if let Some(r) = f.me_ratio {
            lines.push(format!(
                "/v1/me during the flood: {:.0} req/s = {r:.2} of its unloaded {:.0} req/s",
                f.me_rps, f.me_rps_unloaded
            ));
        }
    }
    for f in report.footprint.iter().filter(|f| f.measured) {
        let b = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.0} B"));
        lines.push(format!(
            "stored per credential ({}): session {}, access token {}, refresh family {} + {} per \
             refresh",
            f.store,
            b(f.session_bytes),
            b(f.access_token_bytes),
            b(f.refresh_family_bytes),
            b(f.refresh_rotation_bytes)
        ));
    }
    let revoked: Vec<_> = report
        .modes
        .iter()
        .filter_map(|m| m.revocation.as_ref())
        .collect();
    if !revoked.is_empty() {
        let after: u64 = revoked.iter().map(|r| r.requests_after_revoke).sum();
        let accepted: u64 = revoked.iter().map(|r| r.accepted_after_revoke).sum();
        lines.push(format!(
            "revocation: {accepted} of {after} requests sent after a revoke answered were \
             accepted, over {} modes",
            revoked.len()
        ));
    }
    lines
}

/// The chart of a report.
pub fn svg(report: &Report) -> String {
    let modes = &report.modes;
    let max = modes.iter().map(|m| m.rps).fold(0.0, f64::max);
    let step = grid_step(max);
    // The axis ends at the first grid line at or above the fastest mode.
    let axis_max = (max / step).ceil().max(1.0) * step;
    let footer = footer(report);
    let bars_bottom = TOP + ROW * modes.len() as f64;
    let height = bars_bottom + 30.0 + LINE * (footer.len() as f64 + 1.0);
    let scale = |rps: f64| (rps / axis_max * BAR_MAX).max(0.0);

    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        out,
        "<title>tessera bench: requests/s per mode, {}</title>",
        escape(&report.started_at)
    );
    let _ = writeln!(
        out,
        r##"<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>"##
    );
    let _ = writeln!(
        out,
        r#"<text x="16" y="24" font-size="15" font-weight="bold">{}</text>"#,
        escape(&format!(
            "tessera bench: GET /v1/me requests/s per mode (GET {} as the baseline)",
            report
                .modes
                .iter()
                .find(|m| m.name == report.baseline)
                .map_or("/healthz", |m| m.path.as_str())
        ))
    );
    let _ = writeln!(
        out,
        r##"<text x="16" y="42" fill="#555555">{}</text>"##,
        escape(&report.summary())
    );

    // Grid lines and their values.
    let mut tick = 0.0;
    while tick <= axis_max + step / 2.0 {
        let x = LEFT + scale(tick);
        let _ = writeln!(
            out,
            r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{bars_bottom:.1}" stroke="#e0e0e0"/>"##,
            TOP - 6.0
        );
        let _ = writeln!(
            out,
            r##"<text x="{x:.1}" y="{:.1}" text-anchor="middle" fill="#777777" font-size="10">{tick:.0}</text>"##,
            bars_bottom + 14.0
        );
        tick += step;
    }

    for (i, m) in modes.iter().enumerate() {
        let y = TOP + ROW * i as f64;
        let w = scale(m.rps);
        let text_y = y + BAR * 0.75;
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{text_y:.1}" text-anchor="end">{}</text>"#,
            LEFT - 8.0,
            escape(&m.name)
        );
        let _ = writeln!(
            out,
            r#"<rect x="{LEFT}" y="{y:.1}" width="{w:.1}" height="{BAR}" rx="2" fill="{}"/>"#,
            colour(&m.name, &report.baseline)
        );
        let mut label = format!("{:.0} req/s", m.rps);
        if let Some(r) = m.ratio_to_baseline {
            let _ = write!(label, " · {r:.2}× {}", report.baseline);
        }
        if m.errors > 0 {
            let _ = write!(label, " · {} errors", m.errors);
        }
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{text_y:.1}">{}</text>"#,
            LEFT + w + 6.0,
            escape(&label)
        );
    }

    for (i, line) in footer.iter().enumerate() {
        let y = bars_bottom + 30.0 + LINE * (i as f64 + 0.5);
        let _ = writeln!(
            out,
            r##"<text x="16" y="{y:.1}" fill="#333333">{}</text>"##,
            escape(line)
        );
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape(r#"a<b & "c" 'd'>"#),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;"
        );
    }

    #[test]
    fn grid_steps_are_round() {
        assert_eq!(grid_step(135_176.0), 50_000.0);
        assert_eq!(grid_step(1_000.0), 500.0);
        assert_eq!(grid_step(80.0), 20.0);
        assert_eq!(grid_step(0.0), 1.0);
        assert_eq!(grid_step(f64::NAN), 1.0);
    }
}

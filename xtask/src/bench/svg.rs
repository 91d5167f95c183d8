//! A small SVG line chart for the report: time (log scale) against the number of
//! services (log scale), one line per tool. Deterministic text, so a rerun with the same
//! figures writes the same file.

use std::fmt::Write;

/// One tool's points: `(services, seconds)`.
pub struct Series {
    pub name: String,
    pub points: Vec<(usize, f64)>,
}

const W: f64 = 640.0;
const H: f64 = 400.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 180.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;
const COLOURS: &[&str] = &["#1b7837", "#2166ac", "#b2182b", "#e08214", "#762a83"];

/// The chart as an SVG document; `None` when there is nothing to draw.
pub fn scaling_chart(title: &str, series: &[Series]) -> Option<String> {
    let all: Vec<(usize, f64)> = series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .filter(|(n, t)| *n > 0 && *t > 0.0 && t.is_finite())
        .collect();
    if all.is_empty() {
        return None;
    }
    let (nmin, nmax) = all
        .iter()
        .fold((usize::MAX, 0), |(a, b), (n, _)| ((a).min(*n), (b).max(*n)));
    let (tmin, tmax) = all
        .iter()
        .fold((f64::MAX, 0.0f64), |(a, b), (_, t)| (a.min(*t), b.max(*t)));
    // Whole decades on the time axis.
    let d0 = tmin.log10().floor() as i32;
    let d1 = (tmax.log10().ceil() as i32).max(d0 + 1);
    let (x0, x1) = (
        (nmin as f64).log10(),
        (nmax as f64).log10().max((nmin as f64).log10() + 1.0),
    );
    let px = |n: usize| LEFT + ((n as f64).log10() - x0) / (x1 - x0) * (W - LEFT - RIGHT);
    let py = |t: f64| TOP + (d1 as f64 - t.log10()) / (d1 - d0) as f64 * (H - TOP - BOTTOM);

    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(o, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        o,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="14">{}</text>"#,
        (LEFT + W - RIGHT) / 2.0,
        escape(title)
    );
    // Time axis: one line and label per decade.
    for d in d0..=d1 {
        let y = py(10f64.powi(d));
        let _ = writeln!(
            o,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            seconds_label(d)
        );
    }
    // Services axis: one tick per measured size.
    let mut sizes: Vec<usize> = all.iter().map(|(n, _)| *n).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let base = H - BOTTOM;
    for n in &sizes {
        let x = px(*n);
        let _ = writeln!(
            o,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{base}" stroke="#eee"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{n}</text>"##,
            base + 18.0
        );
    }
    let _ = writeln!(
        o,
        r##"<line x1="{LEFT}" y1="{base}" x2="{:.1}" y2="{base}" stroke="#333"/><line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{base}" stroke="#333"/>"##,
        W - RIGHT
    );
    let _ = writeln!(
        o,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">services in the compose file (log scale)</text>"#,
        (LEFT + W - RIGHT) / 2.0,
        H - 10.0
    );
    let _ = writeln!(
        o,
        r#"<text transform="translate(16 {:.1}) rotate(-90)" text-anchor="middle">wall time per run (log scale)</text>"#,
        (TOP + base) / 2.0
    );
    for (i, s) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let pts: Vec<String> = s
            .points
            .iter()
            .filter(|(n, t)| *n > 0 && *t > 0.0 && t.is_finite())
            .map(|(n, t)| format!("{:.1},{:.1}", px(*n), py(*t)))
            .collect();
        if pts.is_empty() {
            continue;
        }
        let _ = writeln!(
            o,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
            pts.join(" ")
        );
        for p in &pts {
            let (x, y) = p.split_once(',').unwrap_or(("0", "0"));
            let _ = writeln!(o, r#"<circle cx="{x}" cy="{y}" r="3" fill="{colour}"/>"#);
        }
        let ly = TOP + 10.0 + i as f64 * 20.0;
        let lx = W - RIGHT + 14.0;
        let _ = writeln!(
            o,
            r#"<line x1="{lx}" y1="{ly}" x2="{:.1}" y2="{ly}" stroke="{colour}" stroke-width="2"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            lx + 18.0,
            lx + 24.0,
            ly + 4.0,
            escape(&s.name)
        );
    }
    let _ = writeln!(o, "</svg>");
    Some(o)
}

fn seconds_label(decade: i32) -> String {
    match decade {
        d if d >= 0 => format!("{} s", 10u64.pow(d as u32)),
        -1 => "100 ms".into(),
        -2 => "10 ms".into(),
        -3 => "1 ms".into(),
        -4 => "100 µs".into(),
        -5 => "10 µs".into(),
        -6 => "1 µs".into(),
        d => format!("1e{d} s"),
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_one_line_per_series_on_log_axes() {
        let series = vec![
            Series {
                name: "verify".into(),
                points: vec![(10, 0.003), (200, 0.01), (2000, 0.05)],
            },
            Series {
                name: "dclint <js>".into(),
                points: vec![(10, 0.8), (200, 2.7), (2000, 65.0)],
            },
        ];
        let svg = scaling_chart("t", &series).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert_eq!(svg.matches("<circle").count(), 6);
        assert!(svg.contains("dclint &lt;js&gt;"));
        // Decades from 1 ms to 100 s, and a tick per size.
        assert!(svg.contains(">1 ms<") && svg.contains(">100 s<"));
        assert!(svg.contains(">200<"));
        // Longer times are drawn higher up (smaller y), more services further right.
        let pts: Vec<(f64, f64)> = svg
            .split("points=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .split(' ')
            .map(|p| {
                let (x, y) = p.split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect();
        assert_eq!(pts.len(), 3);
        assert!(
            pts.windows(2).all(|w| w[1].0 > w[0].0 && w[1].1 < w[0].1),
            "{pts:?}"
        );
        assert_eq!(scaling_chart("t", &[]), None);
        assert_eq!(scaling_chart("t", &series), Some(svg));
    }
}

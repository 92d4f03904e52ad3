//! The latency chart: newPayload latency against request size for direct, the ideal fan-out and
//! the proxy (p50 and p99), as an SVG written next to the markdown tables.

use std::path::Path;

use plotters::prelude::*;

use crate::report::Report;

/// One line of the chart.
struct Line {
    label: &'static str,
    color: RGBColor,
    p99: bool,
    points: Vec<(f64, f64)>,
}

/// Draws the newPayload rows of `report` with `els` ELs; `Ok(false)` when there is nothing to
/// draw (fewer than two sizes measured).
pub fn write(report: &Report, els: usize, path: &Path) -> anyhow::Result<bool> {
    let rows: Vec<_> = report
        .latency
        .iter()
        .filter(|r| r.call.starts_with("newPayload") && r.els == els)
        .collect();
    if rows.len() < 2 {
        return Ok(false);
    }
    let kb = |bytes: usize| bytes as f64 / 1024.0;
    let mut lines = Vec::new();
    for (label, color, p99) in [
        ("direct p50", RGBColor(90, 90, 90), false),
        ("direct p99", RGBColor(90, 90, 90), true),
        ("ideal fan-out p50", RGBColor(30, 110, 200), false),
        ("ideal fan-out p99", RGBColor(30, 110, 200), true),
        ("proxy p50", RGBColor(210, 60, 40), false),
        ("proxy p99", RGBColor(210, 60, 40), true),
    ] {
        let points = rows
            .iter()
            .filter_map(|r| {
                let s = match label {
                    l if l.starts_with("direct") => Some(&r.direct),
                    l if l.starts_with("ideal") => r.ideal_fanout.as_ref(),
                    _ => Some(&r.proxy),
                }?;
                Some((kb(r.request_bytes), if p99 { s.p99 } else { s.p50 }))
            })
            .filter(|&(_, ms)| ms > 0.0)
            .collect();
        lines.push(Line {
            label,
            color,
            p99,
            points,
        });
    }
    let all = lines.iter().flat_map(|l| l.points.iter());
    let (x_min, x_max) = all
        .clone()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (y_min, y_max) = all.fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let err = |e: &dyn std::fmt::Display| anyhow::anyhow!("drawing {}: {e}", path.display());
    let root = SVGBackend::new(path, (860, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "newPayload latency against request size, {els} ELs ({}, {})",
                report.date_utc, report.mode
            ),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(
            (x_min * 0.8..x_max * 1.25).log_scale(),
            (y_min * 0.7..y_max * 1.4).log_scale(),
        )
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("request size, KB (log)")
        .y_desc("latency, ms (log)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.2}"))
        .draw()
        .map_err(|e| err(&e))?;
    for line in &lines {
        let style = if line.p99 {
            line.color.stroke_width(1)
        } else {
            line.color.stroke_width(3)
        };
        let color = line.color;
        let width = style.stroke_width;
        chart
            .draw_series(LineSeries::new(line.points.iter().copied(), style))
            .map_err(|e| err(&e))?
            .label(line.label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 22, y)], color.stroke_width(width))
            });
        chart
            .draw_series(
                line.points
                    .iter()
                    .map(|&p| Circle::new(p, if line.p99 { 2 } else { 3 }, color.filled())),
            )
            .map_err(|e| err(&e))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(true)
}

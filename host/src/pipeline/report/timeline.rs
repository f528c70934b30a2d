//! The run timeline: each attempt this run executed as a bar on its
//! instrument's lane (a lane per concurrent slot), failed attempts red,
//! preemptions as black ticks; cache hits did not execute and are counted.

use plotters::prelude::*;

use super::data::{ReportData, instant, interval, seconds_between};
use super::svg::{self, Area, Drawn};
use super::{ReportError, html};
use crate::provenance::Outcome;

/// Most lanes drawn.
const MAX_LANES: usize = 40;

/// One executed attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub label: String,
    pub lane: usize,
    pub start: f64,
    pub end: f64,
    pub failed: bool,
    /// Index into [`Gantt::modules`], its colour.
    pub module: usize,
}

/// The bars and lanes of a run, and the preemptions (lane, seconds).
#[derive(Debug, Default)]
pub struct Gantt {
    pub lanes: Vec<String>,
    /// The modules of the bars, in order of first appearance.
    pub modules: Vec<String>,
    pub bars: Vec<Bar>,
    pub preemptions: Vec<(usize, f64)>,
}

impl Gantt {
    pub fn new(data: &ReportData) -> Gantt {
        let mut g = Gantt::default();
        let Some(origin) = data.origin() else {
            return g;
        };
        // (instrument, the end of each of its slots so far)
        let mut slots: Vec<(String, Vec<f64>, Vec<usize>)> = Vec::new();
        let mut pending: Vec<(String, Bar)> = Vec::new();
        for e in &data.executions {
            let instrument = e
                .stage
                .instrument
                .clone()
                .unwrap_or_else(|| "host".to_owned());
            for record in e.attempts.iter().flatten() {
                let Some((start, end)) = interval(record, origin) else {
                    continue;
                };
                let failed = matches!(record.outcome, Outcome::Failed { .. });
                let module = g.module(&e.stage.name);
                let label = format!("{}/{} #{}", e.stage.sample, e.stage.stage, record.attempt);
                let bar = Bar {
                    label,
                    lane: 0,
                    start,
                    end,
                    failed,
                    module,
                };
                pending.push((instrument.clone(), bar));
            }
        }
        pending.sort_by(|a, b| a.1.start.total_cmp(&b.1.start));
        for (instrument, mut bar) in pending {
            bar.lane = g.lane(&mut slots, &instrument, bar.start, bar.end);
            g.bars.push(bar);
        }
        for e in &data.executions {
            for p in &e.stage.preemptions {
                let lane = g.lanes.iter().position(|l| l.starts_with(&p.instrument));
                if let (Some(lane), Some(at)) = (lane, instant(&p.at)) {
                    g.preemptions.push((lane, seconds_between(origin, at)));
                }
            }
        }
        g
    }

    fn module(&mut self, name: &str) -> usize {
        self.modules
            .iter()
            .position(|m| m == name)
            .unwrap_or_else(|| {
                self.modules.push(name.to_owned());
                self.modules.len() - 1
            })
    }

    /// The first slot of `instrument` free at `start` (a new one if none is).
    fn lane(
        &mut self,
        slots: &mut Vec<(String, Vec<f64>, Vec<usize>)>,
        instrument: &str,
        start: f64,
        end: f64,
    ) -> usize {
        let i = slots
            .iter()
            .position(|s| s.0 == instrument)
            .unwrap_or_else(|| {
                slots.push((instrument.to_owned(), Vec::new(), Vec::new()));
                slots.len() - 1
            });
        let (_, ends, lanes) = &mut slots[i];
        if let Some(k) = ends.iter().position(|&e| e <= start) {
            ends[k] = end;
            return lanes[k];
        }
        self.lanes
            .push(format!("{instrument} · {}", ends.len() + 1));
        ends.push(end);
        lanes.push(self.lanes.len() - 1);
        self.lanes.len() - 1
    }
}

/// The timeline section.
pub fn section(data: &ReportData) -> Result<String, ReportError> {
    let g = Gantt::new(data);
    let hits = data
        .executions
        .iter()
        .filter(|e| e.stage.cache == crate::pipeline::record::CacheUse::Hit)
        .count();
    let retries = g.bars.iter().filter(|b| b.failed).count();
    let mut out = html::note(&format!(
        "{} attempt(s) executed on {} lane(s), coloured by module ({}); {retries} failed attempt(s) (red); {} preemption(s) (black ticks); {hits} cache hit(s) did not execute. \
         Times are the stage records' start and end (millisecond resolution); the records do not hold queueing or Slurm job times.",
        g.bars.len(),
        g.lanes.len(),
        g.modules
            .iter()
            .enumerate()
            .map(|(i, m)| format!("{m}: {}", colour_name(i)))
            .collect::<Vec<_>>()
            .join(", "),
        g.preemptions.len()
    ));
    if g.bars.is_empty() {
        return Ok(out);
    }
    if g.lanes.len() > MAX_LANES {
        out.push_str(&html::note(&format!(
            "Showing {MAX_LANES} of {} lanes.",
            g.lanes.len()
        )));
    }
    let lanes = g.lanes.len().min(MAX_LANES);
    let height = (90 + lanes * 26).max(200) as u32;
    out.push_str(&svg::render(
        "timeline",
        "timeline-gantt",
        "plot gantt",
        (1100, height),
        |a| draw(&g, a),
    )?);
    Ok(out)
}

fn draw(g: &Gantt, area: &Area) -> Drawn {
    area.fill(&WHITE)?;
    let lanes = g.lanes.len().min(MAX_LANES) as i32;
    let end = g.bars.iter().map(|b| b.end).fold(0.0, f64::max).max(1e-3);
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(150)
        .build_cartesian_2d(0.0..end * 1.02, (0..lanes - 1).into_segmented())?;
    let names = &g.lanes;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc("seconds since the run started")
        .y_labels(lanes as usize)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => names.get(*i as usize).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .draw()?;
    let shown = g.bars.iter().filter(|b| (b.lane as i32) < lanes);
    let min_width = end * 0.002;
    let corners = |b: &Bar| {
        let lane = b.lane as i32;
        let (x0, x1) = (b.start, b.end.max(b.start + min_width));
        [
            (x0, SegmentValue::Exact(lane)),
            (x1, SegmentValue::Exact(lane + 1)),
        ]
    };
    chart.draw_series(shown.clone().map(|b| {
        let color = if b.failed {
            FAILED
        } else {
            module_colour(b.module)
        };
        Rectangle::new(corners(b), color.filled())
    }))?;
    // A white edge keeps bars that touch apart.
    chart.draw_series(
        shown
            .clone()
            .map(|b| Rectangle::new(corners(b), WHITE.stroke_width(2))),
    )?;
    let px = end / 1000.0;
    chart.draw_series(shown.filter(|b| (b.end - b.start) > 80.0 * px).map(|b| {
        let at = (b.start + 2.0 * px, SegmentValue::CenterOf(b.lane as i32));
        Text::new(b.label.clone(), at, svg::font(11).color(&WHITE))
    }))?;
    chart.draw_series(g.preemptions.iter().filter(|p| (p.0 as i32) < lanes).map(
        |&(lane, at)| {
            let lane = lane as i32;
            PathElement::new(
                [
                    (at, SegmentValue::Exact(lane)),
                    (at, SegmentValue::Exact(lane + 1)),
                ],
                BLACK.stroke_width(3),
            )
        },
    ))?;
    Ok(())
}

const FAILED: RGBColor = RGBColor(214, 39, 40);

/// Module `i`'s colour: the palette without its red.
fn module_colour(i: usize) -> RGBColor {
    let i = i % 9;
    svg::color(if i >= 3 { i + 1 } else { i })
}

fn colour_name(i: usize) -> &'static str {
    const NAMES: [&str; 9] = [
        "blue", "orange", "green", "purple", "brown", "pink", "grey", "olive", "cyan",
    ];
    NAMES[i % NAMES.len()]
}

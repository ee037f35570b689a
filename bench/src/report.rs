//! Results: one [`Outcome`] per scenario and server, printed as a summary line and
//! collected into the JSON result file; latency as percentiles in milliseconds.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::target::{Server, Usage, postgres_cpu_secs};
use crate::wire::Target;

/// Percentiles of one latency, in milliseconds.
#[derive(Debug, Serialize)]
pub struct Latency {
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Latency {
    pub fn of(h: &Histogram<u64>) -> Option<Self> {
        if h.is_empty() {
            return None;
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Some(Self {
            count: h.len(),
            p50: ms(h.value_at_quantile(0.5)),
            p90: ms(h.value_at_quantile(0.9)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        })
    }
}

impl std::fmt::Display for Latency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {:.3} p90 {:.3} p99 {:.3} p99.9 {:.3} max {:.3} ms (n={})",
            self.p50, self.p90, self.p99, self.p999, self.max, self.count
        )
    }
}

/// What one scenario measured on one server.
#[derive(Debug, Serialize)]
pub struct Outcome {
    pub scenario: String,
    pub target: Target,
    /// What was asked (connections, rates, sizes).
    pub params: BTreeMap<String, f64>,
    /// What was measured besides latency (rates achieved, memory, CPU, counts).
    pub figures: BTreeMap<String, f64>,
    pub latency: BTreeMap<String, Latency>,
    /// Correctness problems found (lost, duplicated, reordered, refused, dropped).
    pub problems: Vec<String>,
    pub server_start: Usage,
    pub server_end: Usage,
    /// Postgres's CPU seconds at [`Outcome::start`]; the difference at the end is the
    /// figure `postgres_cpu_secs`.
    #[serde(skip)]
    postgres_start: f64,
}

impl Outcome {
    pub fn new(scenario: &str, target: Target) -> Self {
        Self {
            scenario: scenario.into(),
            target,
            params: BTreeMap::new(),
            figures: BTreeMap::new(),
            latency: BTreeMap::new(),
            problems: Vec::new(),
            server_start: Usage::default(),
            server_end: Usage::default(),
            postgres_start: 0.0,
        }
    }

    /// Where the measured part begins: the server's and Postgres's usage now.
    pub fn start(&mut self, server: &Server) {
        self.start_at(server.usage());
    }

    /// [`Outcome::start`] with the server's usage given (a cluster's, summed).
    pub fn start_at(&mut self, server: Usage) {
        self.server_start = server;
        self.postgres_start = postgres_cpu_secs();
    }

    /// Where the measured part ends (see [`Outcome::start`]).
    pub fn end(&mut self, server: &Server) {
        self.end_at(server.usage());
    }

    /// [`Outcome::end`] with the server's usage given.
    pub fn end_at(&mut self, server: Usage) {
        self.server_end = server;
        self.figure(
            "postgres_cpu_secs",
            postgres_cpu_secs() - self.postgres_start,
        );
    }

    pub fn param(&mut self, name: &str, value: impl Into<f64>) {
        self.params.insert(name.into(), value.into());
    }

    pub fn figure(&mut self, name: &str, value: impl Into<f64>) {
        self.figures.insert(name.into(), value.into());
    }

    pub fn latency(&mut self, name: &str, h: &Histogram<u64>) {
        if let Some(l) = Latency::of(h) {
            self.latency.insert(name.into(), l);
        }
    }

    pub fn problem(&mut self, text: String) {
        self.problems.push(text);
    }

    /// Prints the summary of this outcome.
    pub fn print(&self) {
        println!("== {} on {:?}", self.scenario, self.target);
        let params: Vec<String> = self
            .params
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        println!("   params: {}", params.join(" "));
        for (k, v) in &self.figures {
            println!("   {k}: {v:.3}");
        }
        for (k, l) in &self.latency {
            println!("   {k} latency: {l}");
        }
        println!(
            "   server: {:.2} CPU s, RSS {:.1} MiB at end",
            self.server_end.cpu_secs - self.server_start.cpu_secs,
            self.server_end.rss_bytes as f64 / 1_048_576.0
        );
        if self.problems.is_empty() {
            println!("   correctness: ok");
        } else {
            for p in &self.problems {
                println!("   PROBLEM: {p}");
            }
        }
    }
}

//! petri-plugin-testkit: one stage whose `mode` param picks a behaviour, for host tests.
//!
//! Well-behaved modes: `copy` (input to output, counting bytes) and `probe`
//! (reports what the sandbox lets it see: environment, clock, randomness,
//! files). Hostile modes: `spin`, `memory-bomb`, `recurse` (deep frames on the shadow stack), `descend`
//! (small frames on the wasm stack), `flood`, `flood-both` (two outputs, each
//! under its own cap), `socket`, `panic`, host-call loops (`write-loop`: empty
//! writes, `log-loop`, `progress-loop`, `print-loop` (stdout lines),
//! `read-past-eof`; `record` calls, or
//! endless with `record=0`), `stdout-flood` (3 MB of stdout, then success),
//! `nan-metrics` (NaN and infinite metrics) and `undeclared-error` (an error
//! kind the manifest does not declare), `shout` (terminal control characters in its
//! stdout and error message). For recovery tests: `fail` (a stage
//! error at a given record; see `recover`) and `burn` (needs `record` million
//! iterations of fuel). For shadow runs: `flavour` (a copy followed by the two bytes
//! after the marker in [`FLAVOUR`], which a test may patch in the component's
//! bytes to get a module that behaves differently under the same manifest).

use std::collections::HashMap;
use std::io::{Read, Write};

use petri_sdk::bindings::exports::petri::stage::stage::{Guest, Reader, Writer};
use petri_sdk::{Decision, Manifest, Param, ParamSpec, Ports, Report, Stage, StageError};

#[derive(serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Params {
    pub mode: String,
    pub record: i64,
}

/// Copies `input` to `output` in 8 KiB reads; returns bytes copied.
pub fn copy(mut input: impl Read, mut output: impl Write) -> std::io::Result<u64> {
    let mut buf = [0u8; 8192];
    let mut total = 0;
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            return Ok(total);
        }
        output.write_all(&buf[..n])?;
        total += n as u64;
    }
}

/// What the sandbox shows a stage, as JSON.
pub fn probe() -> serde_json::Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let t0 = std::time::Instant::now();
    let elapsed_ns = t0.elapsed().as_nanos() as u64;
    // HashMap iteration order comes from the host's insecure random seed.
    let map: HashMap<u32, u32> = (0..16).map(|i| (i, i)).collect();
    let order: Vec<u32> = map.keys().copied().collect();
    serde_json::json!({
        "env_vars": std::env::vars().count(),
        "args": std::env::args().count(),
        "unix_time": now,
        "monotonic_step_ns": elapsed_ns,
        "hashmap_order": order,
        "read_etc_passwd": std::fs::read("/etc/passwd").is_ok(),
        "read_dir_root": std::fs::read_dir("/").is_ok(),
        "current_dir": std::env::current_dir().is_ok(),
    })
}

#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let pad = std::hint::black_box([depth; 16]);
    recurse(depth + 1) + pad[3]
}

/// Recursion with small frames kept in wasm locals: exhausts the wasm stack.
/// Subtraction is not associative, so the call cannot become a loop.
fn descend(depth: u64, limit: u64) -> u64 {
    if depth == limit {
        return 0;
    }
    depth.wrapping_sub(descend(depth + 1, limit))
}

/// `n` iterations, or endless for 0.
fn iterations(n: i64) -> impl Iterator<Item = u64> {
    let n = if n == 0 { u64::MAX } else { n as u64 };
    0..n
}

/// The host-call loop modes, on the raw `reader`/`writer` resources: `record`
/// calls the SDK's `Read`/`Write` would never make (empty writes, reads past
/// the end) or never stop making, each cheap for the guest, not for the host.
fn host_calls(p: &Params, inputs: &[Reader], outputs: &[Writer]) -> Option<Report> {
    let calls = iterations(p.record);
    match p.mode.as_str() {
        "write-loop" => {
            let out = outputs.first()?;
            calls.for_each(|_| out.write(&[]));
        }
        "log-loop" => calls.for_each(|i| petri_sdk::log::info("loop", &[("i", &i.to_string())])),
        "progress-loop" => calls.for_each(|i| petri_sdk::log::progress(i, None)),
        "print-loop" => calls.for_each(|i| println!("{i}")),
        "read-past-eof" => {
            let input = inputs.first()?;
            let mut bytes = 0;
            loop {
                let chunk = input.read().len();
                if chunk == 0 {
                    break;
                }
                bytes += chunk;
            }
            let past = calls.map(|_| input.read().len()).sum::<usize>();
            return Some(
                Report::new()
                    .integer("bytes", bytes as i64, "bytes")
                    .integer("past-eof", past as i64, "bytes"),
            );
        }
        _ => return None,
    }
    Some(Report::new())
}

fn io_err(e: std::io::Error) -> StageError {
    StageError::new("io", e.to_string())
}

/// A marker found once in the component's data: `flavour` mode appends its
/// last two bytes, read at run time, so patching them changes the output.
pub static FLAVOUR: [u8; 24] = *b"petri-testkit-flavour:00";

/// The flavour tag, read from memory (never folded into the code).
fn flavour() -> [u8; 2] {
    // SAFETY: a volatile read of a `'static` byte array, aligned and initialised.
    let marker = unsafe { std::ptr::read_volatile(&FLAVOUR) };
    [marker[22], marker[23]]
}

pub struct Testkit;

impl Stage for Testkit {
    type Params = Params;

    fn manifest() -> Manifest {
        Manifest::new(
            "testkit",
            env!("CARGO_PKG_VERSION"),
            "Host test behaviours, picked by `mode`",
        )
        .param(ParamSpec::choice(
            "mode",
            &[
                "copy",
                "probe",
                "spin",
                "memory-bomb",
                "recurse",
                "descend",
                "flood",
                "burn",
                "socket",
                "panic",
                "fail",
                "write-loop",
                "log-loop",
                "progress-loop",
                "print-loop",
                "read-past-eof",
                "stdout-flood",
                "nan-metrics",
                "undeclared-error",
                "flood-both",
                "shout",
                "flavour",
            ],
            "copy",
            "Behaviour",
        ))
        .param(
            ParamSpec::integer(
                "record",
                1,
                "Record number reported by `fail`; calls made by the *-loop modes (0: endless)",
            )
            .range(0.0, 1e12),
        )
        .input("data", "bin", false, "Bytes to copy")
        .output("out", "bin", true, "Copied bytes, or what `probe` saw")
        .output("side", "bin", false, "Written only by `flood-both`")
        .error("io", "I/O failed")
        .error("injected", "The failure `fail` mode raises")
    }

    fn run(p: Params, ports: &mut Ports) -> Result<Report, StageError> {
        let mut out = ports.output("out")?;
        match p.mode.as_str() {
            "copy" => {
                let n = match ports.input("data") {
                    Some(input) => copy(input, &mut out).map_err(io_err)?,
                    None => 0,
                };
                return Ok(Report::new().integer("bytes", n as i64, "bytes"));
            }
            "flavour" => {
                let n = match ports.input("data") {
                    Some(input) => copy(input, &mut out).map_err(io_err)?,
                    None => 0,
                };
                let tag = flavour();
                out.write_all(&tag).map_err(io_err)?;
                let tag = String::from_utf8_lossy(&tag).into_owned();
                return Ok(Report::new()
                    .integer("bytes", n as i64, "bytes")
                    .text("flavour", &tag));
            }
            "probe" => {
                let json = probe().to_string();
                println!("probe ran");
                out.write_all(json.as_bytes()).map_err(io_err)?;
            }
            "spin" => {
                let mut x = 0u64;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            "memory-bomb" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 16 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "recurse" => {
                std::hint::black_box(recurse(0));
            }
            "descend" => {
                let limit = std::hint::black_box(u64::MAX);
                std::hint::black_box(descend(0, limit));
            }
            "flood" => loop {
                out.write_all(&[b'x'; 4096]).map_err(io_err)?;
            },
            "burn" => {
                // Needs about `record` × 10⁶ iterations of fuel, then copies.
                let mut x = 0u64;
                for i in 0..(p.record as u64).saturating_mul(1_000_000) {
                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
                }
                let n = match ports.input("data") {
                    Some(input) => copy(input, &mut out).map_err(io_err)?,
                    None => 0,
                };
                return Ok(Report::new().integer("bytes", n as i64, "bytes").integer(
                    "burned",
                    x as i64 & 1,
                    "",
                ));
            }
            "socket" => {
                let r = std::net::TcpStream::connect("127.0.0.1:9");
                return Err(StageError::new(
                    "io",
                    format!("connect returned instead of trapping: {r:?}"),
                ));
            }
            "panic" => panic!("testkit was asked to panic"),
            "stdout-flood" => {
                // 3 MB of stdout, well past the log cap; none of it may trap.
                let line = "x".repeat(99);
                for _ in 0..30_000 {
                    println!("{line}");
                }
            }
            "nan-metrics" => {
                return Ok(Report::new()
                    .float("nan", f64::NAN, "")
                    .float("inf", f64::INFINITY, "")
                    .float("neg-inf", f64::NEG_INFINITY, "")
                    .float("half", 0.5, ""));
            }
            "undeclared-error" => {
                return Err(StageError::new(
                    "made-up",
                    "a kind the manifest never declared",
                ));
            }
            "flood-both" => {
                let mut side = ports.output("side")?;
                loop {
                    out.write_all(&[b'x'; 4096]).map_err(io_err)?;
                    side.write_all(&[b'y'; 4096]).map_err(io_err)?;
                }
            }
            "shout" => {
                // Terminal control in stage-provided text: a retitled window,
                // a cleared screen, and a forged line.
                println!("\u{1b}]0;owned\u{7}\u{1b}[2Jshouted to stdout");
                return Err(StageError::new(
                    "injected",
                    "\u{1b}[2J\rforged: run COMPLETED\n\u{9b}31m",
                ));
            }
            _ => {
                // Some output exists before the failure: what `salvage` keeps.
                out.write_all(b"partial output before the failure")
                    .map_err(io_err)?;
                return Err(StageError::new("injected", "injected failure")
                    .at("data", Some(p.record as u64)));
            }
        }
        Ok(Report::new())
    }

    /// Fault injection for recovery tests, keyed by the failing record number:
    /// 1 → retry twice, then skip; 2 → retry with `mode=copy`; 3 → salvage.
    /// A hostile hook: 4 → loops forever; 5 → panics; 6 → proposes `retry-with`
    /// params of the wrong type; 7 → exhausts memory. Anything else (and any
    /// other error kind) → abort.
    fn recover(error: &StageError, attempt: u32) -> Decision {
        let retry_with = |name: &str, value| {
            Decision::RetryWith(vec![petri_sdk::Param {
                name: name.into(),
                value,
            }])
        };
        match (error.kind.as_str(), error.record, attempt) {
            ("injected", Some(1), 1..=2) => Decision::Retry,
            ("injected", Some(1), _) => Decision::Skip,
            ("injected", Some(2), _) => retry_with("mode", petri_sdk::Value::Text("copy".into())),
            ("injected", Some(3), _) => Decision::Salvage,
            ("injected", Some(4), _) => {
                let mut x = 0u64;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            ("injected", Some(5), _) => panic!("testkit's recover hook was asked to panic"),
            ("injected", Some(6), _) => retry_with("mode", petri_sdk::Value::Integer(7)),
            ("injected", Some(7), _) => {
                // Reserved, not touched: grows memory without spending fuel.
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(Vec::with_capacity(64 << 20));
                    std::hint::black_box(&mut hoard);
                }
            }
            _ => Decision::Abort,
        }
    }
}

/// The component's export: what `petri_sdk::export_stage!` generates, but
/// with the host-call loop modes, which need the raw stream resources.
pub struct Export;

impl Guest for Export {
    fn describe() -> Manifest {
        Testkit::manifest()
    }

    fn run(
        params: Vec<Param>,
        inputs: Vec<Reader>,
        outputs: Vec<Writer>,
    ) -> Result<Report, StageError> {
        let p: Params = petri_sdk::from_params(&params)?;
        match host_calls(&p, &inputs, &outputs) {
            Some(report) => Ok(report),
            None => petri_sdk::__export::run::<Testkit>(params, inputs, outputs),
        }
    }

    fn recover(error: StageError, attempt: u32) -> Decision {
        Testkit::recover(&error, attempt)
    }
}

// Exported only in wasm: natively the crate is plain Rust for unit tests.
#[cfg(target_arch = "wasm32")]
petri_sdk::bindings::export!(Export with_types_in petri_sdk::bindings);

#[cfg(test)]
mod tests {
    #[test]
    fn copy_counts_bytes() {
        let mut out = Vec::new();
        assert_eq!(super::copy(&b"hello"[..], &mut out).unwrap(), 5);
        assert_eq!(out, b"hello");
    }
}

//! The sandbox a stage runs in: store state, a deterministic WASI, and the linker.
//!
//! A stage gets the `petri:stage` imports and the parts of WASI that Rust's std
//! needs, made virtual: no preopened directories, no environment or arguments,
//! a fixed wall clock, a monotonic clock that advances one microsecond per
//! reading, and a seeded "random" source. Sockets are not linked at all: every import outside this set
//! is defined as a stub that traps with a typed "forbidden import" error.
//! Every `petri:stage` host call pays fuel ([`charge_call`], [`charge_bytes`]);
//! stdout and stderr are captured up to the log cap, the rest counted.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, HasData, HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, StoreContextMut, Trap};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::bindings::{cli, clocks, filesystem, random, sockets};
use wasmtime_wasi::p2::{OutputStream as WasiOutputStream, Pollable, StreamResult};
use wasmtime_wasi::{
    HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView,
    cli::{WasiCli, WasiCliView},
    clocks::{WasiClocks, WasiClocksView},
    filesystem::{WasiFilesystem, WasiFilesystemView},
    random::WasiRandom,
    sockets::{WasiSockets, WasiSocketsView},
};

use crate::stage::bindings::StageWorld;
use crate::stage::engine::EngineProfile;
use crate::stage::failure::Failure;
use crate::stage::limits::{Limiter, Limits};
use crate::stage::log::StageLog;
use crate::stage::streams::{InputStream, OutputStream};
use crate::store::digest::Digest;

/// Everything a store holds for one stage execution.
pub struct StageState {
    wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: Limiter,
    pub(crate) inputs: Vec<InputStream>,
    pub(crate) outputs: Vec<OutputStream>,
    /// Bytes written over all outputs so far.
    pub(crate) output_total: u64,
    pub(crate) log: StageLog,
    host_fuel: HostFuel,
    stdout: Capture,
    stderr: Capture,
}

/// What host calls cost, from the engine profile.
#[derive(Debug, Clone, Copy)]
struct HostFuel {
    per_call: u64,
    per_byte: u64,
}

/// The deterministic "random" bytes and seed every stage of a profile
/// sees; derived once per host, not once per stage.
#[derive(Debug, Clone)]
pub(crate) struct Entropy {
    bytes: Vec<u8>,
    seed128: u128,
}

impl Entropy {
    /// 4 KiB of bytes from the profile's seed by repeated SHA-256, cycled:
    /// deterministic, and not a secret.
    pub(crate) fn of(profile: &EngineProfile) -> Entropy {
        let seed = Digest::of(profile.random_seed.as_bytes());
        let mut bytes = Vec::with_capacity(4096);
        let mut block = seed;
        while bytes.len() < 4096 {
            block = Digest::of(block.as_bytes());
            bytes.extend_from_slice(block.as_bytes());
        }
        let seed128 =
            u128::from_le_bytes(<[u8; 16]>::try_from(&seed.as_bytes()[..16]).unwrap_or_default());
        Entropy { bytes, seed128 }
    }
}

impl StageState {
    pub(crate) fn new(
        profile: &EngineProfile,
        entropy: &Entropy,
        limits: Limits,
        mut inputs: Vec<InputStream>,
        outputs: Vec<OutputStream>,
    ) -> StageState {
        for input in &mut inputs {
            input.set_limit(limits.max_input_bytes);
        }
        let cap = usize::try_from(limits.log_bytes).unwrap_or(usize::MAX);
        let stdout = Capture::new(cap);
        let stderr = Capture::new(cap);
        let Entropy { bytes, seed128 } = entropy.clone();
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .wall_clock(FixedWallClock(Duration::from_secs(
                profile.virtual_wall_clock_secs,
            )))
            .monotonic_clock(SteppingClock::default())
            .secure_random(wasmtime_wasi::Deterministic::new(bytes.clone()))
            .insecure_random(wasmtime_wasi::Deterministic::new(bytes))
            .insecure_random_seed(seed128)
            .build();
        StageState {
            wasi,
            table: ResourceTable::new(),
            limiter: Limiter { limits },
            inputs,
            outputs,
            output_total: 0,
            log: StageLog::with_cap(limits.log_bytes),
            host_fuel: HostFuel {
                per_call: profile.host_call_fuel,
                per_byte: profile.host_byte_fuel,
            },
            stdout,
            stderr,
        }
    }

    /// Moves what the stage printed into its log; lines past the cap are counted.
    pub(crate) fn collect_stdio(&mut self) {
        for (source, pipe) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let (kept, dropped_lines) = pipe.take();
            self.log.push_captured(source, &kept);
            self.log.count_dropped(dropped_lines);
        }
    }

    /// `failure`, with the panic message the stage printed to stderr (if it
    /// panicked) added to a trap's message: a guest panic traps with an
    /// opaque `unreachable`, and its text is only on stderr.
    pub(crate) fn explain(&self, failure: Failure) -> Failure {
        match (failure, self.stderr.panic_message()) {
            (Failure::Trap { message }, Some(panic)) => Failure::Trap {
                message: format!("{message}; the stage {panic}"),
            },
            (failure, _) => failure,
        }
    }
}

/// Takes `fuel` from the store's fuel; with too little left the call ends the
/// execution as fuel exhausted (the rest of the fuel spent, so the count is
/// the budget, as for wasm code that runs out).
fn charge(cx: &mut StoreContextMut<'_, StageState>, fuel: u64) -> wasmtime::Result<()> {
    let left = cx.get_fuel()?;
    match left.checked_sub(fuel) {
        Some(rest) => cx.set_fuel(rest),
        None => {
            cx.set_fuel(0)?;
            Err(wasmtime::Error::new(Trap::OutOfFuel))
        }
    }
}

/// Charges the fixed fee of one host call ([`EngineProfile::host_call_fuel`]).
pub(crate) fn charge_call(cx: &mut StoreContextMut<'_, StageState>) -> wasmtime::Result<()> {
    let fee = cx.data().host_fuel.per_call;
    charge(cx, fee)
}

/// Charges for `bytes` bytes a host call moved ([`EngineProfile::host_byte_fuel`] each).
pub(crate) fn charge_bytes(
    cx: &mut StoreContextMut<'_, StageState>,
    bytes: usize,
) -> wasmtime::Result<()> {
    let fee = cx.data().host_fuel.per_byte.saturating_mul(bytes as u64);
    charge(cx, fee)
}

/// Bytes of stderr's end kept whatever the cap, to find a panic message in.
const TAIL_BYTES: usize = 4096;

/// Longest panic message added to a failure.
const PANIC_MESSAGE_BYTES: usize = 1024;

/// A stage's stdout or stderr: the first `cap` bytes are kept for the log,
/// the rest counted and dropped (never an error the guest would trap on);
/// the last [`TAIL_BYTES`] are kept too, for a panic message.
#[derive(Clone)]
struct Capture(Arc<Mutex<Captured>>);

#[derive(Default)]
struct Captured {
    cap: usize,
    kept: Vec<u8>,
    tail: Vec<u8>,
    dropped_bytes: u64,
    dropped_newlines: u64,
}

impl Capture {
    fn new(cap: usize) -> Capture {
        Capture(Arc::new(Mutex::new(Captured {
            cap,
            ..Captured::default()
        })))
    }

    fn with<R>(&self, f: impl FnOnce(&mut Captured) -> R) -> R {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn push(&self, bytes: &[u8]) {
        self.with(|c| {
            let room = c.cap.saturating_sub(c.kept.len()).min(bytes.len());
            c.kept.extend_from_slice(&bytes[..room]);
            let dropped = &bytes[room..];
            c.dropped_bytes += dropped.len() as u64;
            c.dropped_newlines += dropped.iter().filter(|&&b| b == b'\n').count() as u64;
            c.tail
                .extend_from_slice(&bytes[bytes.len().saturating_sub(TAIL_BYTES)..]);
            if c.tail.len() > 2 * TAIL_BYTES {
                let cut = c.tail.len() - TAIL_BYTES;
                c.tail.drain(..cut);
            }
        })
    }

    /// The kept bytes and how many lines were dropped (a partial one counts).
    fn take(&self) -> (Vec<u8>, u64) {
        self.with(|c| {
            let lines = c.dropped_newlines.max(u64::from(c.dropped_bytes > 0));
            (std::mem::take(&mut c.kept), lines)
        })
    }

    /// "panicked at <where>: <message>" from the last panic Rust's std
    /// printed (`thread '…' panicked at <where>:\n<message>\nnote: …`).
    fn panic_message(&self) -> Option<String> {
        let tail = self.with(|c| String::from_utf8_lossy(&c.tail).into_owned());
        panic_message(&tail)
    }
}

fn panic_message(stderr: &str) -> Option<String> {
    let at = stderr.rfind("panicked at ")?;
    let text = &stderr[at..];
    let end = text.find("\nnote: ").unwrap_or(text.len());
    let mut message = text[..end]
        .trim_end()
        .replace(":\n", ": ")
        .replace('\n', " ");
    if message.len() > PANIC_MESSAGE_BYTES {
        let mut cut = PANIC_MESSAGE_BYTES;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push('…');
    }
    Some(message)
}

#[wasmtime_wasi::async_trait]
impl WasiOutputStream for Capture {
    fn write(&mut self, bytes: wasmtime_wasi_io::bytes::Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(1 << 16)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Capture {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for Capture {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.push(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

impl IsTerminal for Capture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Capture {
    fn p2_stream(&self) -> Box<dyn WasiOutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl WasiView for StageState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// A wall clock stopped at one instant.
struct FixedWallClock(Duration);

impl HostWallClock for FixedWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        self.0
    }
}

/// A monotonic clock that advances 1 µs each time it is read.
#[derive(Default)]
struct SteppingClock(std::sync::atomic::AtomicU64);

impl HostMonotonicClock for SteppingClock {
    fn resolution(&self) -> u64 {
        1_000
    }
    fn now(&self) -> u64 {
        self.0
            .fetch_add(1_000, std::sync::atomic::Ordering::Relaxed)
    }
}

/// The WASI 0.2 release wasmtime-wasi 48 implements (its `wit/deps` packages).
const WASI_P2_VERSION: &str = "0.2.12";

/// Interfaces a stage may import (any version). Everything else, such as
/// `wasi:sockets` or `wasi:http`, is forbidden: it is linked as a trap.
const PROVIDED: &[&str] = &[
    "petri:stage/",
    "wasi:io/",
    "wasi:clocks/",
    "wasi:filesystem/",
    "wasi:random/",
    "wasi:cli/",
];

/// Whether the sandbox provides the import named `name`.
pub(crate) fn is_provided(name: &str) -> bool {
    PROVIDED.iter().any(|p| name.starts_with(p))
}

/// The error a forbidden import's stub traps with.
#[derive(Debug, thiserror::Error)]
#[error("forbidden import `{import}` called")]
pub struct ForbiddenCall {
    pub import: String,
}

/// Replaces every function of every import of `component` that the sandbox
/// does not provide with a stub that traps with [`ForbiddenCall`], and returns
/// the names of those imports. The socket interfaces are linked (so their
/// resource types exist) but every socket function is such a stub.
pub(crate) fn stub_forbidden(
    linker: &mut Linker<StageState>,
    engine: &Engine,
    component: &Component,
) -> wasmtime::Result<Vec<String>> {
    linker.allow_shadowing(true);
    let mut stubbed = Vec::new();
    for (name, item) in component.component_type().imports(engine) {
        if is_provided(name) {
            continue;
        }
        stubbed.push(name.to_owned());
        let ComponentItem::ComponentInstance(instance) = item.ty else {
            continue;
        };
        // Shadow inside the instance the linker registered (semver-compatible
        // imports such as `@0.2.6` resolve to it), not a new one beside it.
        let linked = match name.split_once('@') {
            Some((path, _)) if path.starts_with("wasi:") => format!("{path}@{WASI_P2_VERSION}"),
            _ => name.to_owned(),
        };
        let mut inst = linker.instance(&linked)?;
        for (export, item) in instance.exports(engine) {
            if let ComponentItem::ComponentFunc(_) = item.ty {
                let import = format!("{name}#{export}");
                inst.func_new(export, move |_, _, _, _| {
                    Err(wasmtime::Error::new(ForbiddenCall {
                        import: import.clone(),
                    }))
                })?;
            }
        }
    }
    linker.allow_shadowing(false);
    Ok(stubbed)
}

type Cx<'a> = StoreContextMut<'a, StageState>;

/// A `wasi:io/streams` output-stream handle (stdout or stderr: a stage has no other).
type OutHandle = wasmtime::component::Resource<wasmtime_wasi_io::streams::DynOutputStream>;

/// Redefines the `wasi:io/streams` functions that move bytes to an output
/// stream (`write`, `blocking-write-and-flush`, and their `-zeroes`
/// forms) so that each pays like a `petri:stage` call: a fee per call and
/// per byte, before the write. A stage looping on prints runs out of fuel.
fn link_metered_output(l: &mut Linker<StageState>) -> wasmtime::Result<()> {
    use wasmtime_wasi_io::bindings::wasi::io::streams::HostOutputStream as Out;
    let mut i = l.instance(&format!("wasi:io/streams@{WASI_P2_VERSION}"))?;
    i.func_wrap(
        "[method]output-stream.write",
        |mut cx: Cx, (s, bytes): (OutHandle, Vec<u8>)| {
            charge_write(&mut cx, bytes.len())?;
            let table = &mut cx.data_mut().table;
            let result = Out::write(table, s, bytes);
            Ok((lower_stream_result(table, result)?,))
        },
    )?;
    i.func_wrap(
        "[method]output-stream.write-zeroes",
        |mut cx: Cx, (s, len): (OutHandle, u64)| {
            charge_write(&mut cx, usize::try_from(len).unwrap_or(usize::MAX))?;
            let table = &mut cx.data_mut().table;
            let result = Out::write_zeroes(table, s, len);
            Ok((lower_stream_result(table, result)?,))
        },
    )?;
    i.func_wrap_async(
        "[method]output-stream.blocking-write-and-flush",
        |mut cx: Cx, (s, bytes): (OutHandle, Vec<u8>)| {
            Box::new(async move {
                charge_write(&mut cx, bytes.len())?;
                let table = &mut cx.data_mut().table;
                let result = Out::blocking_write_and_flush(table, s, bytes).await;
                Ok((lower_stream_result(table, result)?,))
            })
        },
    )?;
    i.func_wrap_async(
        "[method]output-stream.blocking-write-zeroes-and-flush",
        |mut cx: Cx, (s, len): (OutHandle, u64)| {
            Box::new(async move {
                charge_write(&mut cx, usize::try_from(len).unwrap_or(usize::MAX))?;
                let table = &mut cx.data_mut().table;
                let result = Out::blocking_write_zeroes_and_flush(table, s, len).await;
                Ok((lower_stream_result(table, result)?,))
            })
        },
    )?;
    Ok(())
}

fn charge_write(cx: &mut Cx<'_>, bytes: usize) -> wasmtime::Result<()> {
    charge_call(cx)?;
    charge_bytes(cx, bytes)
}

/// A stream result as `wasi:io/streams` returns it (what `bindgen!` would do).
fn lower_stream_result(
    table: &mut ResourceTable,
    result: wasmtime_wasi_io::streams::StreamResult<()>,
) -> wasmtime::Result<Result<(), wasmtime_wasi_io::bindings::wasi::io::streams::StreamError>> {
    use wasmtime_wasi_io::bindings::wasi::io::streams::Host;
    match result {
        Ok(()) => Ok(Ok(())),
        Err(e) => Ok(Err(Host::convert_stream_error(table, e)?)),
    }
}

struct HasIo;

impl HasData for HasIo {
    type Data<'a> = &'a mut ResourceTable;
}

/// The linker for every stage: `petri:stage` imports plus the virtual WASI subset.
pub(crate) fn linker(engine: &Engine) -> wasmtime::Result<Linker<StageState>> {
    use wasmtime_wasi_io::bindings::wasi::io;

    let mut l = Linker::new(engine);
    StageWorld::add_to_linker::<StageState, HasSelf<StageState>>(&mut l, |s| s)?;
    // The same functions again, each paying its fuel before the host works.
    l.allow_shadowing(true);
    crate::stage::streams::link_metered(&mut l)?;
    crate::stage::log::link_metered(&mut l)?;
    l.allow_shadowing(false);
    io::error::add_to_linker::<StageState, HasIo>(&mut l, |s| &mut s.table)?;
    io::poll::add_to_linker::<StageState, HasIo>(&mut l, |s| &mut s.table)?;
    io::streams::add_to_linker::<StageState, HasIo>(&mut l, |s| &mut s.table)?;
    l.allow_shadowing(true);
    link_metered_output(&mut l)?;
    l.allow_shadowing(false);
    clocks::wall_clock::add_to_linker::<StageState, WasiClocks>(&mut l, |s| s.clocks())?;
    clocks::monotonic_clock::add_to_linker::<StageState, WasiClocks>(&mut l, |s| s.clocks())?;
    filesystem::types::add_to_linker::<StageState, WasiFilesystem>(&mut l, |s| s.filesystem())?;
    filesystem::preopens::add_to_linker::<StageState, WasiFilesystem>(&mut l, |s| s.filesystem())?;
    random::random::add_to_linker::<StageState, WasiRandom>(&mut l, |s| s.wasi.random())?;
    random::insecure::add_to_linker::<StageState, WasiRandom>(&mut l, |s| s.wasi.random())?;
    random::insecure_seed::add_to_linker::<StageState, WasiRandom>(&mut l, |s| s.wasi.random())?;
    cli::exit::add_to_linker::<StageState, WasiCli>(&mut l, |s| s.cli())?;
    cli::environment::add_to_linker::<StageState, WasiCli>(&mut l, |s| s.cli())?;
    cli::stdin::add_to_linker::<StageState, WasiCli>(&mut l, |s| s.cli())?;
    cli::stdout::add_to_linker::<StageState, WasiCli>(&mut l, |s| s.cli())?;
    cli::stderr::add_to_linker::<StageState, WasiCli>(&mut l, |s| s.cli())?;
    cli::terminal_input::add_to_linker::<StageState, WasiCli>(&mut l, |s| s.cli())?;
    cli::terminal_output::add_to_linker::<StageState, WasiCli>(&mut l, |s| s.cli())?;
    cli::terminal_stdin::add_to_linker::<StageState, WasiCli>(&mut l, |s| s.cli())?;
    cli::terminal_stdout::add_to_linker::<StageState, WasiCli>(&mut l, |s| s.cli())?;
    cli::terminal_stderr::add_to_linker::<StageState, WasiCli>(&mut l, |s| s.cli())?;
    // Sockets: linked only for their types; `stub_forbidden` replaces every
    // function with a trap, and the context grants no network access anyway.
    let net = sockets::network::LinkOptions::default();
    sockets::network::add_to_linker::<StageState, WasiSockets>(&mut l, &net, |s| s.sockets())?;
    sockets::instance_network::add_to_linker::<StageState, WasiSockets>(&mut l, |s| s.sockets())?;
    sockets::tcp::add_to_linker::<StageState, WasiSockets>(&mut l, |s| s.sockets())?;
    sockets::tcp_create_socket::add_to_linker::<StageState, WasiSockets>(&mut l, |s| s.sockets())?;
    sockets::udp::add_to_linker::<StageState, WasiSockets>(&mut l, |s| s.sockets())?;
    sockets::udp_create_socket::add_to_linker::<StageState, WasiSockets>(&mut l, |s| s.sockets())?;
    sockets::ip_name_lookup::add_to_linker::<StageState, WasiSockets>(&mut l, |s| s.sockets())?;
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_keeps_the_cap_and_counts_the_rest() {
        let c = Capture::new(10);
        c.push(b"12345\n");
        c.push(b"67890\nab\ncd\n");
        c.push(b"ef");
        let (kept, dropped_lines) = c.take();
        assert_eq!(kept, b"12345\n6789");
        assert_eq!(dropped_lines, 3);
    }

    #[test]
    fn panic_message_is_found_after_any_amount_of_output() {
        let c = Capture::new(16);
        c.push(&vec![b'x'; 100_000]);
        c.push(
            b"\nthread '<unnamed>' panicked at src/lib.rs:3:5:\nboom: it broke\n\
              note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n",
        );
        assert_eq!(
            c.panic_message().as_deref(),
            Some("panicked at src/lib.rs:3:5: boom: it broke")
        );
        assert_eq!(Capture::new(16).panic_message(), None);
        let long = format!("panicked at x:\n{}", "é".repeat(2000));
        let m = panic_message(&long).unwrap();
        assert!(
            m.len() <= PANIC_MESSAGE_BYTES + '…'.len_utf8(),
            "{}",
            m.len()
        );
    }
}

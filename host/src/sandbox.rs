//! The sandbox a stage runs in: store state, a deterministic WASI, and the linker.
//!
//! A stage gets the `petri:stage` imports and the parts of WASI that Rust's std
//! needs, made virtual: no preopened directories, no environment or arguments,
//! a fixed wall clock, a monotonic clock that advances one microsecond per
//! reading, and a seeded "random" source. Sockets are not linked at all: every import outside this set
//! is defined as a stub that traps with a typed "forbidden import" error.

use std::time::Duration;

use wasmtime::Engine;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, HasData, HasSelf, Linker, ResourceTable};
use wasmtime_wasi::p2::bindings::{cli, clocks, filesystem, random, sockets};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{
    HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView,
    cli::{WasiCli, WasiCliView},
    clocks::{WasiClocks, WasiClocksView},
    filesystem::{WasiFilesystem, WasiFilesystemView},
    random::WasiRandom,
    sockets::{WasiSockets, WasiSocketsView},
};

use crate::bindings::StageWorld;
use crate::digest::Digest;
use crate::engine::EngineProfile;
use crate::limits::{Limiter, Limits};
use crate::stage_log::StageLog;
use crate::streams::{InputStream, OutputStream};

/// Everything a store holds for one stage execution.
pub struct StageState {
    wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: Limiter,
    pub(crate) inputs: Vec<InputStream>,
    pub(crate) outputs: Vec<OutputStream>,
    pub(crate) log: StageLog,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

impl StageState {
    pub(crate) fn new(
        profile: &EngineProfile,
        limits: Limits,
        inputs: Vec<InputStream>,
        outputs: Vec<OutputStream>,
    ) -> StageState {
        let cap = usize::try_from(limits.log_bytes).unwrap_or(usize::MAX);
        let stdout = MemoryOutputPipe::new(cap);
        let stderr = MemoryOutputPipe::new(cap);
        let seed = Digest::of(profile.random_seed.as_bytes());
        // 4 KiB of seeded bytes, cycled: deterministic, and not a secret.
        let mut bytes = Vec::with_capacity(4096);
        let mut block = seed;
        while bytes.len() < 4096 {
            block = Digest::of(block.as_bytes());
            bytes.extend_from_slice(block.as_bytes());
        }
        let seed128 =
            u128::from_le_bytes(<[u8; 16]>::try_from(&seed.as_bytes()[..16]).unwrap_or_default());
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
            log: StageLog::with_cap(limits.log_bytes),
            stdout,
            stderr,
        }
    }

    /// Moves what the stage printed into its log.
    pub(crate) fn collect_stdio(&mut self) {
        self.log.push_captured("stdout", &self.stdout.contents());
        self.log.push_captured("stderr", &self.stderr.contents());
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

struct HasIo;

impl HasData for HasIo {
    type Data<'a> = &'a mut ResourceTable;
}

/// The linker for every stage: `petri:stage` imports plus the virtual WASI subset.
pub(crate) fn linker(engine: &Engine) -> wasmtime::Result<Linker<StageState>> {
    use wasmtime_wasi_io::bindings::wasi::io;

    let mut l = Linker::new(engine);
    StageWorld::add_to_linker::<StageState, HasSelf<StageState>>(&mut l, |s| s)?;
    io::error::add_to_linker::<StageState, HasIo>(&mut l, |s| &mut s.table)?;
    io::poll::add_to_linker::<StageState, HasIo>(&mut l, |s| &mut s.table)?;
    io::streams::add_to_linker::<StageState, HasIo>(&mut l, |s| &mut s.table)?;
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

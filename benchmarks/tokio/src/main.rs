//! Tokio peer of unblock's benchmarks (BENCHMARKS.md): the same workloads with
//! the same parameters, printing the same `W<k> tokio key=value ...` lines.
//!
//!   tokio_bench w1 | w2 | w3 | w5 [--memory] | w7 | idle   [--smoke]
//!   tokio_bench w6-server     (W6's server, driven by w6_load)
//!
//! The loop is a current-thread runtime driven by `block_on` on the main thread
//! (what `#[tokio::main(flavor = "current_thread")]` builds); the pool is that
//! runtime's blocking pool, capped with `max_blocking_threads` at 2 threads
//! (64 for W3); an offload is `tokio::task::spawn_blocking(f).await`, Tokio's
//! counterpart of unblock's `co_await unblock::to_thread(f)`. Every workload
//! runs in a fresh runtime, so W3's first round meets a pool with no threads.
//! `--smoke` shrinks the sizes so ctest runs each workload in about a second.

use std::alloc::{GlobalAlloc, Layout, System};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::{Builder, Runtime};
use tokio::sync::Semaphore;
use tokio::task::{spawn_blocking, JoinHandle};

// --- Measuring (the counterparts of benchmarks/support/*.hpp) -----------------

/// Counts heap allocations made on every thread, like the replaced global
/// operator new of unblock's programs. A realloc counts as one too: it is how
/// Rust's collections grow, where C++'s call operator new again.
struct CountingAllocator;

// Relaxed: read after the measured work has been joined back to the main thread.
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn allocations() -> usize {
    ALLOCATIONS.load(Ordering::Relaxed)
}

/// Nearest-rank percentile of `samples` (sorts them).
fn percentile<T: Copy + PartialOrd>(samples: &mut [T], p: f64) -> T {
    samples.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    let rank = (p / 100.0 * samples.len() as f64 + 0.999_999) as usize;
    samples[rank.clamp(1, samples.len()) - 1]
}

/// Peak resident memory of this process in bytes (VmHWM of /proc/self/status).
fn peak_rss_bytes() -> i64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<i64>()
                .ok()
        })
        .map_or(-1, |kib| kib * 1024)
}

/// CPU time (user + system) this process has used, from getrusage like unblock's.
fn process_cpu_time() -> Duration {
    // SAFETY: getrusage only writes the rusage we hand it.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Duration::from_micros(micros(usage.ru_utime) + micros(usage.ru_stime))
}

/// CPU time per operation in nanoseconds (benchmarks/support/measure.hpp's cpu_ns_per_op).
fn cpu_ns_per_op(used: Duration, operations: usize) -> f64 {
    used.as_nanos() as f64 / operations as f64
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The loop (this thread, once `block_on` drives it) and its pool of
/// `pool_threads` blocking threads. enable_all() as `#[tokio::main]` does;
/// with the features we build ("rt", "time") that is the timer.
fn runtime(pool_threads: usize) -> Runtime {
    Builder::new_current_thread()
        .enable_time() // no I/O driver: W6's server alone has one (see Cargo.toml)
        .max_blocking_threads(pool_threads)
        .build()
        .expect("a tokio runtime")
}

/// Awaits every task in turn; meanwhile the loop (this thread) runs them all.
async fn join_all(handles: Vec<JoinHandle<()>>) {
    for handle in handles {
        handle.await.expect("a benchmark task panicked");
    }
}

// --- W1 round-trip latency -----------------------------------------------------

/// The loop sequentially awaits the offload of a no-op to a 2-thread pool and
/// must resume on the loop (main) thread: 1,000 warm-up round trips, then
/// 20,000 timed one by one. Exits 1 if any resumption was off the loop thread.
fn w1(smoke: bool) -> ExitCode {
    let (warmup, rounds) = if smoke { (10, 100) } else { (1_000, 20_000) };
    let loop_thread = std::thread::current().id();
    let off_loop = runtime(2).block_on(async move {
        let mut off_loop = 0;
        for _ in 0..warmup {
            spawn_blocking(|| {}).await.expect("no-op");
            off_loop += usize::from(std::thread::current().id() != loop_thread);
        }
        let mut samples: Vec<u64> = Vec::with_capacity(rounds);
        let cpu_before = process_cpu_time();
        for _ in 0..rounds {
            let start = Instant::now();
            spawn_blocking(|| {}).await.expect("no-op");
            let end = Instant::now();
            off_loop += usize::from(std::thread::current().id() != loop_thread);
            samples.push((end - start).as_nanos() as u64);
        }
        let cpu_ns = cpu_ns_per_op(process_cpu_time() - cpu_before, rounds);
        let median = percentile(&mut samples, 50.0);
        let p99 = percentile(&mut samples, 99.0);
        println!("W1 tokio median_ns={median} p99_ns={p99} cpu_ns_per_op={cpu_ns:.0}");
        off_loop
    });
    if off_loop == 0 {
        ExitCode::SUCCESS
    } else {
        eprintln!("W1 tokio: {off_loop} resumptions off the loop thread");
        ExitCode::FAILURE
    }
}

// --- W2 throughput -------------------------------------------------------------

/// One batch: n tasks started at once (tokio::spawn on the current-thread
/// runtime), each awaiting one offloaded no-op; first start to last completion.
async fn w2_batch(n: usize) -> Duration {
    let mut handles = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        handles.push(tokio::spawn(async {
            spawn_blocking(|| {}).await.expect("no-op");
        }));
    }
    join_all(handles).await;
    start.elapsed()
}

/// N = 10,000 and 100,000: a warm-up batch, then the median of 3; allocations
/// per task counted over the last batch, as unblock's w2 does (they include
/// the task itself and its JoinHandle's share of the Vec).
fn w2(smoke: bool) -> ExitCode {
    let sizes: &[usize] = if smoke { &[100] } else { &[10_000, 100_000] };
    runtime(2).block_on(async {
        for &n in sizes {
            w2_batch(n).await; // warm-up: pool threads started, queues grown
            let mut rates = Vec::new();
            let mut allocs = 0;
            let cpu_before = process_cpu_time();
            for _ in 0..3 {
                let before = allocations();
                let took = w2_batch(n).await;
                allocs = allocations() - before;
                rates.push(n as f64 / took.as_secs_f64());
            }
            println!(
                "W2 tokio n={n} tasks_per_s={:.0} allocs_per_task={:.2} cpu_ns_per_op={:.0}",
                percentile(&mut rates, 50.0),
                allocs as f64 / n as f64,
                cpu_ns_per_op(process_cpu_time() - cpu_before, 3 * n)
            );
        }
    });
    ExitCode::SUCCESS
}

// --- W7 limited offloading -----------------------------------------------------

/// One batch: n tasks started at once, each running one offloaded no-op while
/// holding a permit of a Semaphore(8); first start to last completion.
async fn w7_batch(n: usize, limiter: &Arc<Semaphore>) -> Duration {
    let mut handles = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        let limiter = Arc::clone(limiter);
        handles.push(tokio::spawn(async move {
            let _permit = limiter.acquire().await.expect("the semaphore is never closed");
            spawn_blocking(|| {}).await.expect("no-op");
        }));
    }
    join_all(handles).await;
    start.elapsed()
}

/// N = 100,000: a warm-up batch, then the median of 3; allocations per task
/// over the last batch, as unblock's w7 counts them.
fn w7(smoke: bool) -> ExitCode {
    let n = if smoke { 100 } else { 100_000 };
    runtime(2).block_on(async {
        let limiter = Arc::new(Semaphore::new(8));
        w7_batch(n, &limiter).await; // warm-up
        let mut rates = Vec::new();
        let mut allocs = 0;
        let cpu_before = process_cpu_time();
        for _ in 0..3 {
            let before = allocations();
            let took = w7_batch(n, &limiter).await;
            allocs = allocations() - before;
            rates.push(n as f64 / took.as_secs_f64());
        }
        println!(
            "W7 tokio n={n} tasks_per_s={:.0} allocs_per_task={:.2} cpu_ns_per_op={:.0}",
            percentile(&mut rates, 50.0),
            allocs as f64 / n as f64,
            cpu_ns_per_op(process_cpu_time() - cpu_before, 3 * n)
        );
    });
    ExitCode::SUCCESS
}

// --- W3 blocking concurrency ---------------------------------------------------

/// One round: `tasks` tasks each offload a `sleep` of the thread; wall ms.
async fn w3_round(tasks: usize, sleep: Duration) -> f64 {
    let start = Instant::now();
    let handles = (0..tasks)
        .map(|_| {
            tokio::spawn(async move {
                spawn_blocking(move || std::thread::sleep(sleep))
                    .await
                    .expect("sleep");
            })
        })
        .collect();
    join_all(handles).await;
    ms(start.elapsed())
}

/// 64 tasks x 10 ms sleep on a 64-thread pool: cold (the runtime's blocking
/// pool has no thread yet: it starts one per offload up to the cap) and the
/// median of the next 5 rounds (threads kept alive, 10 s by default).
fn w3(smoke: bool) -> ExitCode {
    let (tasks, sleep) = if smoke { (4, 1) } else { (64, 10) };
    let sleep = Duration::from_millis(sleep);
    runtime(tasks).block_on(async {
        let cold = w3_round(tasks, sleep).await;
        let mut warm = Vec::new();
        for _ in 0..5 {
            warm.push(w3_round(tasks, sleep).await);
        }
        println!(
            "W3 tokio cold_wall_ms={cold:.2} wall_ms={:.2}",
            percentile(&mut warm, 50.0)
        );
    });
    ExitCode::SUCCESS
}

// --- W5 loop overhead ----------------------------------------------------------

/// (a) 100,000 tasks each yield to the loop 10 times (tokio::task::yield_now).
async fn w5_yields(tasks: usize, per_task: usize) {
    let mut handles = Vec::with_capacity(tasks);
    let start = Instant::now();
    for _ in 0..tasks {
        handles.push(tokio::spawn(async move {
            for _ in 0..per_task {
                tokio::task::yield_now().await;
            }
        }));
    }
    join_all(handles).await;
    let yields = (tasks * per_task) as f64;
    println!(
        "W5 tokio yields_per_s={:.0}",
        yields / start.elapsed().as_secs_f64()
    );
}

/// Tasks that have been polled once, so are suspended on their timer. A static
/// counter: a per-task Arc would add its own bytes to what we measure.
static STARTED: AtomicUsize = AtomicUsize::new(0);

/// (b) 100,000 tasks all suspended on a 1 s timer (tokio::time::sleep):
/// bytes_per_task = (VmHWM after - before) / 100,000.
async fn w5_memory(tasks: usize) {
    let mut handles = Vec::with_capacity(tasks); // before the baseline: not per-task memory
    let before = peak_rss_bytes();
    for _ in 0..tasks {
        handles.push(tokio::spawn(async {
            STARTED.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }));
    }
    // The loop polls the new tasks in turns with this one: wait until every
    // task has started and is suspended on its timer.
    while STARTED.load(Ordering::Relaxed) < tasks {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let after = peak_rss_bytes();
    println!(
        "W5 tokio bytes_per_task={:.0}",
        (after - before) as f64 / tasks as f64
    );
    join_all(handles).await;
}

fn w5(smoke: bool, memory: bool) -> ExitCode {
    let tasks = if smoke { 1_000 } else { 100_000 };
    let rt = runtime(2);
    if memory {
        rt.block_on(w5_memory(tasks));
    } else {
        rt.block_on(w5_yields(tasks, 10));
    }
    ExitCode::SUCCESS
}

// --- IDLE ----------------------------------------------------------------------

/// The pool does 100 no-op offloads, then the loop's only task sleeps 1 s:
/// CPU time (user + system) of the process during that second, ms per s.
fn idle(smoke: bool) -> ExitCode {
    let window = Duration::from_millis(if smoke { 50 } else { 1_000 });
    runtime(2).block_on(async {
        for _ in 0..100 {
            spawn_blocking(|| {}).await.expect("no-op"); // the pool has just worked
        }
        let cpu_before = process_cpu_time();
        tokio::time::sleep(window).await;
        let used = process_cpu_time() - cpu_before;
        println!(
            "IDLE tokio cpu_ms_per_s={:.3}",
            ms(used) / window.as_secs_f64()
        );
    });
    ExitCode::SUCCESS
}

// --- W6 loopback server ----------------------------------------------------------

/// One connection: for each "req\n", a 1 ms blocking call through
/// spawn_blocking, then "ok\n"; ends when the client goes away.
async fn w6_connection(mut stream: TcpStream) {
    let (reader, mut writer) = stream.split();
    let mut reader = BufReader::new(reader);
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        spawn_blocking(|| std::thread::sleep(Duration::from_millis(1)))
            .await
            .expect("sleep");
        if writer.write_all(b"ok\n").await.is_err() {
            return;
        }
    }
}

/// W6's server (benchmarks/w6/load.cpp drives it): TcpListener on loopback, a
/// task per connection, prints "listening on <port>", runs until SIGTERM. The
/// blocking pool has the threads of unblock's and asyncio's default pools,
/// min(32, cores + 4), instead of Tokio's default 512.
fn w6_server() -> ExitCode {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(std::cmp::min(32, cores + 4))
        .build()
        .expect("a tokio runtime")
        .block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let port = listener.local_addr().expect("local address").port();
            println!("listening on {port}");
            std::io::Write::flush(&mut std::io::stdout()).expect("stdout");
            loop {
                let (stream, _) = listener.accept().await.expect("accept");
                // As unblock's tcp_stream and asyncio's transports do.
                stream.set_nodelay(true).expect("TCP_NODELAY");
                tokio::spawn(w6_connection(stream));
            }
        })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| args.iter().any(|a| a == name);
    let (smoke, memory) = (flag("--smoke"), flag("--memory"));
    match args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map(String::as_str)
    {
        Some("w1") => w1(smoke),
        Some("w2") => w2(smoke),
        Some("w3") => w3(smoke),
        Some("w5") => w5(smoke, memory),
        Some("w6-server") => w6_server(),
        Some("w7") => w7(smoke),
        Some("idle") => idle(smoke),
        _ => {
            eprintln!("usage: tokio_bench w1 | w2 | w3 | w5 [--memory] | w7 | idle   [--smoke] | w6-server");
            ExitCode::from(2)
        }
    }
}

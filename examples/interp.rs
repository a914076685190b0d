//! A small Scheme on pygc: the model of how to embed pygc in a language runtime.
//!
//! ```text
//! cargo run --release --example interp            # pygc vs refcount-only, 200,000 iterations
//! cargo run --release --example interp -- --quick # 20,000 iterations (CI)
//! ```
//!
//! # How it embeds pygc
//!
//! * **One heap type per kind of object.** Every Scheme object that can hold other values
//!   (pairs, vectors, closures, environments, weak tables) is a [`Gc<Obj>`]; files are a
//!   [`Gc<File>`] of their own because they have a finalizer. `#[derive(Trace)]` writes the
//!   collector's view of each.
//! * **Roots are Rust locals.** The evaluator keeps Scheme values in ordinary Rust variables
//!   (`Value`, which holds `Gc`s). Nothing is registered: any handle outside the heap is an
//!   external reference, so whatever the evaluator holds survives a collection, and whatever
//!   only garbage holds is freed.
//! * **Safe points.** The heap runs in safe-point mode ([`HeapConfig::safe_points`]): an
//!   allocation never collects, it only marks a collection due, and the evaluator calls
//!   [`Heap::collect_if_due`] at the top of each procedure call, where it holds no
//!   `RefCell` borrow of a Scheme object (a borrowed object would be traced as empty and its
//!   targets kept alive for one more round).
//! * **Byte accounting.** Vectors and strings own buffers outside their boxes; each reports
//!   them with an [`ExternalMemory`] token, and [`HeapConfig::byte_trigger`] starts a young
//!   collection when the heap grew by 4 MiB, whatever the object count says.
//! * **Weak tables** are [`WeakValueMap`]s in an object; **files** close themselves in a
//!   [`Finalize`] impl (PEP 442), reached by refcount or by the collector alike.
//!
//! The program below leaks on plain refcounting: each iteration defines a self-recursive
//! local procedure, whose closure captures the environment that binds it (a cycle), plus a
//! vector that holds the procedure and a file that is never closed explicitly. The same
//! interpreter with the collector disabled (`enabled: false`: refcounting only, which is what
//! an `Rc` build of this interpreter does) grows without bound; on pygc it runs flat.
use std::cell::{Cell, RefCell};
use std::process::Command;
use std::rc::Rc;
use std::time::{Duration, Instant};

use pygc::{ExternalMemory, Finalize, Gc, Heap, HeapConfig, Trace, WeakValueMap};

// ---- values --------------------------------------------------------------------------------

/// A Scheme value: immediates inline, everything else a handle.
#[derive(Clone, Trace)]
enum Value {
    Nil,
    Bool(bool),
    Int(i64),
    Sym(#[trace(skip)] Rc<str>),
    Prim(#[trace(skip)] Prim),
    Obj(Gc<Obj>),
    File(Gc<File>),
}

type Prim = fn(&Interp, &[Value]) -> Result<Value, String>;

/// The heap objects of the interpreter.
#[derive(Trace)]
enum Obj {
    Pair(RefCell<Value>, RefCell<Value>),
    Vector(RefCell<Vec<Value>>, ExternalMemory),
    Str(#[trace(skip)] String, ExternalMemory),
    Closure {
        #[trace(skip)]
        params: Vec<Rc<str>>,
        #[trace(skip)]
        body: Rc<Expr>,
        env: Gc<Obj>,
    },
    /// A frame: mutable bindings and the enclosing frame.
    Env {
        vars: RefCell<Vec<(Rc<str>, Value)>>,
        parent: Option<Gc<Obj>>,
    },
    WeakTable(WeakValueMap<i64, Obj>),
}

/// A file-like object: "closes" itself in its finalizer if the program forgot to.
#[derive(Trace)]
struct File {
    #[trace(skip)]
    name: String,
    #[trace(skip)]
    open: Cell<bool>,
}

thread_local! {
    static CLOSED_BY_FINALIZER: Cell<u64> = const { Cell::new(0) };
}

impl Finalize for File {
    fn finalize(this: &Gc<Self>) {
        if this.open.replace(false) {
            CLOSED_BY_FINALIZER.with(|c| c.set(c.get() + 1));
        }
    }
}

/// Parsed code (immutable, shared by closures: plain `Rc`, no handles inside).
#[derive(Debug)]
enum Expr {
    Int(i64),
    Bool(bool),
    Sym(Rc<str>),
    Str(String),
    List(Vec<Expr>),
}

// ---- reader ---------------------------------------------------------------------------------

fn parse(src: &str) -> Vec<Expr> {
    let spaced = src.replace('(', " ( ").replace(')', " ) ");
    let mut tokens = spaced.split_whitespace().peekable();
    let mut out = Vec::new();
    while tokens.peek().is_some() {
        out.push(read(&mut tokens));
    }
    out
}

fn read<'a>(tokens: &mut std::iter::Peekable<impl Iterator<Item = &'a str>>) -> Expr {
    let token = tokens.next().expect("unexpected end of input");
    match token {
        "(" => {
            let mut items = Vec::new();
            while tokens.peek() != Some(&")") {
                items.push(read(tokens));
            }
            tokens.next();
            Expr::List(items)
        }
        "#t" => Expr::Bool(true),
        "#f" => Expr::Bool(false),
        t if t.starts_with('"') => Expr::Str(t.trim_matches('"').to_string()),
        t => t
            .parse()
            .map(Expr::Int)
            .unwrap_or_else(|_| Expr::Sym(t.into())),
    }
}

// ---- evaluator ------------------------------------------------------------------------------

struct Interp {
    heap: Heap,
    global: Gc<Obj>,
    /// The largest `accounted_bytes` seen at a safe point.
    peak_bytes: Cell<usize>,
}

impl Interp {
    fn new(config: HeapConfig) -> Interp {
        let heap = Heap::with_config(config);
        let global = heap.alloc(Obj::Env {
            vars: RefCell::new(Vec::new()),
            parent: None,
        });
        let interp = Interp {
            heap,
            global,
            peak_bytes: Cell::new(0),
        };
        for (name, prim) in PRIMS {
            interp.define(&interp.global, (*name).into(), Value::Prim(*prim));
        }
        interp
    }

    fn define(&self, env: &Gc<Obj>, name: Rc<str>, value: Value) {
        let Obj::Env { vars, .. } = &**env else {
            unreachable!()
        };
        let mut vars = vars.borrow_mut();
        match vars.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => vars.push((name, value)),
        }
    }

    fn lookup(&self, env: &Gc<Obj>, name: &str, set: Option<Value>) -> Result<Value, String> {
        let mut frame = env.clone();
        loop {
            let Obj::Env { vars, parent } = &*frame else {
                unreachable!()
            };
            if let Some(slot) = vars.borrow_mut().iter_mut().find(|(n, _)| &**n == name) {
                if let Some(v) = set {
                    slot.1 = v;
                    return Ok(Value::Nil);
                }
                return Ok(slot.1.clone());
            }
            let next = parent
                .clone()
                .ok_or_else(|| format!("unbound variable {name}"))?;
            frame = next;
        }
    }

    fn eval(&self, expr: &Rc<Expr>, env: &Gc<Obj>) -> Result<Value, String> {
        self.eval_in(expr, expr, env)
    }

    /// Evaluate `expr`, a part of the shared tree `root` (closures keep `root` alive).
    fn eval_in(&self, root: &Rc<Expr>, expr: &Expr, env: &Gc<Obj>) -> Result<Value, String> {
        match expr {
            Expr::Int(i) => Ok(Value::Int(*i)),
            Expr::Bool(b) => Ok(Value::Bool(*b)),
            Expr::Str(s) => Ok(self.string(s.clone())),
            Expr::Sym(s) => self.lookup(env, s, None),
            Expr::List(items) => {
                let Some(Expr::Sym(head)) = items.first() else {
                    return self.apply_form(root, items, env);
                };
                match &**head {
                    "quote" => Ok(match &items[1] {
                        Expr::Sym(s) => Value::Sym(s.clone()),
                        other => self.eval_in(root, other, env)?,
                    }),
                    "if" => {
                        let test = self.eval_in(root, &items[1], env)?;
                        let branch = if matches!(test, Value::Bool(false)) {
                            3
                        } else {
                            2
                        };
                        match items.get(branch) {
                            Some(e) => self.eval_in(root, e, env),
                            None => Ok(Value::Nil),
                        }
                    }
                    "define" => match &items[1] {
                        // (define (f args...) body...)
                        Expr::List(sig) => {
                            let Expr::Sym(name) = &sig[0] else {
                                return Err("bad define".into());
                            };
                            let closure = self.lambda(root, &sig[1..], &items[2..], env)?;
                            self.define(env, name.clone(), closure);
                            Ok(Value::Nil)
                        }
                        Expr::Sym(name) => {
                            let v = self.eval_in(root, &items[2], env)?;
                            self.define(env, name.clone(), v);
                            Ok(Value::Nil)
                        }
                        _ => Err("bad define".into()),
                    },
                    "set!" => {
                        let Expr::Sym(name) = &items[1] else {
                            return Err("bad set!".into());
                        };
                        let v = self.eval_in(root, &items[2], env)?;
                        self.lookup(env, name, Some(v))
                    }
                    "lambda" => {
                        let Expr::List(params) = &items[1] else {
                            return Err("bad lambda".into());
                        };
                        self.lambda(root, params, &items[2..], env)
                    }
                    "begin" => self.body(root, &items[1..], env),
                    // (repeat n body...): a loop that needs no deep Rust recursion.
                    "repeat" => {
                        let Value::Int(n) = self.eval_in(root, &items[1], env)? else {
                            return Err("repeat: count".into());
                        };
                        for _ in 0..n {
                            self.body(root, &items[2..], env)?;
                        }
                        Ok(Value::Nil)
                    }
                    _ => self.apply_form(root, items, env),
                }
            }
        }
    }

    fn body(&self, root: &Rc<Expr>, body: &[Expr], env: &Gc<Obj>) -> Result<Value, String> {
        let mut last = Value::Nil;
        for e in body {
            last = self.eval_in(root, e, env)?;
        }
        Ok(last)
    }

    fn lambda(
        &self,
        _root: &Rc<Expr>,
        params: &[Expr],
        body: &[Expr],
        env: &Gc<Obj>,
    ) -> Result<Value, String> {
        let params = params
            .iter()
            .map(|p| match p {
                Expr::Sym(s) => Ok(s.clone()),
                _ => Err("bad parameter".to_string()),
            })
            .collect::<Result<_, _>>()?;
        // The body becomes its own shared tree: a copy of the code per closure creation (a
        // production interpreter would share `root`'s subtree instead).
        let body = Rc::new(Expr::List(
            std::iter::once(Expr::Sym("begin".into()))
                .chain(body.iter().map(clone_expr))
                .collect(),
        ));
        Ok(Value::Obj(self.heap.alloc(Obj::Closure {
            params,
            body,
            env: env.clone(),
        })))
    }

    fn apply_form(&self, root: &Rc<Expr>, items: &[Expr], env: &Gc<Obj>) -> Result<Value, String> {
        let f = self.eval_in(root, &items[0], env)?;
        let mut args = Vec::with_capacity(items.len() - 1);
        for e in &items[1..] {
            args.push(self.eval_in(root, e, env)?);
        }
        self.apply(f, args)
    }

    fn apply(&self, f: Value, args: Vec<Value>) -> Result<Value, String> {
        // The safe point: no `RefCell` of a Scheme object is borrowed here, and every live
        // value is in a Rust local (`f`, `args`, the callers' frames): collect if due.
        self.peak_bytes
            .set(self.peak_bytes.get().max(self.heap.accounted_bytes()));
        self.heap.collect_if_due();
        match f {
            Value::Prim(p) => p(self, &args),
            Value::Obj(obj) => {
                let Obj::Closure { params, body, env } = &*obj else {
                    return Err("not a procedure".into());
                };
                let frame = self.heap.alloc(Obj::Env {
                    vars: RefCell::new(params.iter().cloned().zip(args).collect()),
                    parent: Some(env.clone()),
                });
                self.eval(body, &frame)
            }
            _ => Err("not a procedure".into()),
        }
    }

    fn string(&self, s: String) -> Value {
        let external = self.heap.external_memory();
        external.set(s.capacity());
        Value::Obj(self.heap.alloc(Obj::Str(s, external)))
    }
}

fn clone_expr(e: &Expr) -> Expr {
    match e {
        Expr::Int(i) => Expr::Int(*i),
        Expr::Bool(b) => Expr::Bool(*b),
        Expr::Sym(s) => Expr::Sym(s.clone()),
        Expr::Str(s) => Expr::Str(s.clone()),
        Expr::List(items) => Expr::List(items.iter().map(clone_expr).collect()),
    }
}

// ---- primitives ----------------------------------------------------------------------------

fn int(v: &Value) -> Result<i64, String> {
    match v {
        Value::Int(i) => Ok(*i),
        _ => Err("expected an integer".into()),
    }
}

const PRIMS: &[(&str, Prim)] = &[
    ("+", |_, a| Ok(Value::Int(int(&a[0])? + int(&a[1])?))),
    ("-", |_, a| Ok(Value::Int(int(&a[0])? - int(&a[1])?))),
    ("=", |_, a| Ok(Value::Bool(int(&a[0])? == int(&a[1])?))),
    ("eq?", |_, a| {
        Ok(Value::Bool(match (&a[0], &a[1]) {
            (Value::Sym(x), Value::Sym(y)) => x == y,
            (Value::Int(x), Value::Int(y)) => x == y,
            (Value::Obj(x), Value::Obj(y)) => Gc::ptr_eq(x, y),
            _ => false,
        }))
    }),
    ("<", |_, a| Ok(Value::Bool(int(&a[0])? < int(&a[1])?))),
    ("cons", |i, a| {
        Ok(Value::Obj(i.heap.alloc(Obj::Pair(
            RefCell::new(a[0].clone()),
            RefCell::new(a[1].clone()),
        ))))
    }),
    ("make-vector", |i, a| {
        let slots = vec![a[1].clone(); int(&a[0])? as usize];
        let external = i.heap.external_memory();
        external.set(slots.capacity() * size_of::<Value>());
        Ok(Value::Obj(
            i.heap.alloc(Obj::Vector(RefCell::new(slots), external)),
        ))
    }),
    ("vector-set!", |_, a| match &a[0] {
        Value::Obj(o) => match &**o {
            Obj::Vector(slots, _) => {
                slots.borrow_mut()[int(&a[1])? as usize] = a[2].clone();
                Ok(Value::Nil)
            }
            _ => Err("not a vector".into()),
        },
        _ => Err("not a vector".into()),
    }),
    ("string-append", |i, a| {
        let mut s = String::new();
        for v in a {
            match v {
                Value::Obj(o) => match &**o {
                    Obj::Str(part, _) => s.push_str(part),
                    _ => return Err("not a string".into()),
                },
                Value::Int(n) => s.push_str(&n.to_string()),
                _ => return Err("not a string".into()),
            }
        }
        Ok(i.string(s))
    }),
    ("make-weak-table", |i, _| {
        Ok(Value::Obj(
            i.heap.alloc(Obj::WeakTable(WeakValueMap::new())),
        ))
    }),
    ("weak-set!", |_, a| match (&a[0], &a[2]) {
        (Value::Obj(t), Value::Obj(v)) => match &**t {
            Obj::WeakTable(map) => {
                map.insert(int(&a[1])?, v);
                Ok(Value::Nil)
            }
            _ => Err("not a weak table".into()),
        },
        _ => Err("weak-set!: table and object".into()),
    }),
    ("weak-count", |_, a| match &a[0] {
        Value::Obj(t) => match &**t {
            Obj::WeakTable(map) => Ok(Value::Int(map.len() as i64)),
            _ => Err("not a weak table".into()),
        },
        _ => Err("not a weak table".into()),
    }),
    ("open-file", |i, a| {
        let name = match &a[0] {
            Value::Obj(o) => match &**o {
                Obj::Str(s, _) => s.clone(),
                _ => return Err("file name".into()),
            },
            _ => return Err("file name".into()),
        };
        Ok(Value::File(i.heap.alloc(File {
            name,
            open: Cell::new(true),
        })))
    }),
    ("file-name-length", |_, a| match &a[0] {
        Value::File(f) => Ok(Value::Int(f.name.len() as i64)),
        _ => Err("not a file".into()),
    }),
];

// ---- the program ---------------------------------------------------------------------------

/// Each iteration: a self-recursive local procedure (closure <-> frame cycle), a vector of 64
/// slots that holds it (another cycle, with external bytes), a string, a weak-table entry for
/// the vector, and a file left open for the finalizer.
const PROGRAM: &str = r#"
(define table (make-weak-table))
(define total 0)
(define (work k)
  (define (count-down i acc)
    (if (= i 0) acc (count-down (- i 1) (+ acc 1))))
  (define v (make-vector 64 count-down))
  (vector-set! v 0 v)
  (weak-set! table k v)
  (define f (open-file (string-append "log-" k)))
  (set! total (+ total (+ (count-down 10 0) (file-name-length f)))))
(define k 0)
(repeat ITERATIONS (set! k (+ k 1)) (work k))
"#;

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn run(collector: bool, iterations: u64) {
    let config = HeapConfig {
        enabled: collector,
        safe_points: true,
        byte_trigger: collector.then_some(4 << 20),
        ..HeapConfig::default()
    };
    let interp = Interp::new(config);
    let src = PROGRAM.replace("ITERATIONS", &iterations.to_string());
    let started = Instant::now();
    let mut pauses = Vec::new();
    for expr in parse(&src) {
        interp
            .eval(&Rc::new(expr), &interp.global)
            .expect("program runs");
        pauses.extend(
            interp
                .heap
                .take_recent_pauses()
                .into_iter()
                .map(|p| p.duration),
        );
    }
    // The per-generation totals are exact; the percentiles come from the ring of recent
    // pauses, drained after each top-level form (a long-running runtime drains it from a
    // gc callback or its own timer).
    let peak_bytes = interp.peak_bytes.get();
    let elapsed = started.elapsed();
    let total = interp
        .lookup(&interp.global, "total", None)
        .map(|v| int(&v).unwrap_or(-1));
    let stats = interp.heap.stats();
    let pause_stats = interp.heap.pause_stats();
    pauses.sort();
    let mode = if collector { "pygc" } else { "refcount only" };
    println!(
        "== {mode} ({iterations} iterations, {:.2}s, total = {})",
        elapsed.as_secs_f64(),
        total.unwrap_or(-1)
    );
    println!(
        "   live objects {:>9}   peak accounted {:>8.1} MiB   peak RSS {:>8.1} MiB",
        interp.heap.live_objects(),
        peak_bytes as f64 / (1 << 20) as f64,
        peak_rss_mib()
    );
    println!(
        "   collections gen0/1/2 {}/{}/{}   collected {}   files closed by finalizer {}",
        stats[0].collections,
        stats[1].collections,
        stats[2].collections,
        stats.iter().map(|s| s.collected).sum::<usize>(),
        CLOSED_BY_FINALIZER.with(Cell::get)
    );
    let gc_time: Duration = pause_stats.iter().map(|s| s.total).sum();
    println!(
        "   pauses (last {}): p50 {:?}  p99 {:?}  max {:?}   total gc time {:?} ({:.1}% of run)",
        pauses.len(),
        percentile(&pauses, 0.50),
        percentile(&pauses, 0.99),
        pause_stats.iter().map(|s| s.max).max().unwrap_or_default(),
        gc_time,
        100.0 * gc_time.as_secs_f64() / elapsed.as_secs_f64().max(1e-9)
    );
    if collector {
        introspect(&interp);
    }
}

/// What a runtime's `(gc-report)` would print: the heap as a graph (`pygc::introspect`), its
/// census per type, the cycles the collector will have to break, and which objects retain
/// the most memory. A snapshot takes no counts and costs about 1.5–1.8 collections.
fn introspect(interp: &Interp) {
    use pygc::introspect::short_type_name;
    let snap = interp.heap.snapshot();
    println!("   heap snapshot: {} objects", snap.len());
    for line in snap.census().to_string().lines().take(6) {
        println!("     {line}");
    }
    let cycles = snap.cycles();
    println!(
        "   reference cycles: {} (largest: {} objects)",
        cycles.len(),
        cycles.first().map_or(0, |c| c.nodes.len())
    );
    for (node, bytes) in snap.retained_sizes().top(3) {
        println!(
            "   retains {bytes:>7} B: {}",
            short_type_name(snap.info(node).type_name)
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let iterations = if quick { 20_000 } else { 200_000 };
    match args
        .iter()
        .find(|a| a.starts_with("--mode="))
        .map(|a| &a[7..])
    {
        Some("pygc") => run(true, iterations),
        Some("rc") => run(false, iterations),
        _ => {
            // Each mode in its own process, so that each peak RSS is its own.
            let exe = std::env::current_exe().expect("own path");
            for mode in ["--mode=pygc", "--mode=rc"] {
                let mut cmd = Command::new(&exe);
                cmd.arg(mode);
                if quick {
                    cmd.arg("--quick");
                }
                assert!(cmd.status().expect("spawn").success());
            }
        }
    }
}

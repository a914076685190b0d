//! The op-sequence interpreter and its petgraph oracle (feature `testutil`; not public API).
//!
//! One interpreter, several drivers (STYLE habit 10): `tests/all/props.rs` feeds it proptest
//! sequences, `fuzz/fuzz_targets/graph_ops.rs` feeds it libFuzzer bytes (through
//! [`ops_from_bytes`]), and `tests/all/regressions.rs` replays what those found.
//!
//! # What runs
//! A [`Heap`] of [`TNode`]s (a CPython list: strong edges, plus a list of weak references it
//! holds) and [`Atom`]s (untracked leaves). The interpreter holds *handles* (the roots: things
//! outside the heap that refer into it), weak references, and atoms. Ops ([`Op`]) allocate,
//! link, unlink, clone and drop handles, make weak references (some with callbacks that
//! allocate, drop handles, resurrect through another weak reference, or collect), collect,
//! and turn the knobs (thresholds, enable, freeze, SAVEALL).
//!
//! # The oracle
//! A `StableDiGraph` mirrors every object and edge. Roots are the interpreter's handles, the
//! objects finalizers resurrected, and `gc.garbage`. Every object counts its drops in a shared
//! `Rc<Cell<u32>>`. After every op [`Interpreter::check`] asserts:
//!
//! 1. `Heap::check_invariants` passes and the trashcan is empty;
//! 2. no object was dropped twice; no object reachable from a root was dropped;
//! 3. every weak reference agrees with the model: `upgrade()` is `Some` only if the referent's
//!    value is alive (and is that referent); `None` only if it was dropped or may have been
//!    cleared as garbage (it was unreachable after some op, was resurrected, or was saved by
//!    SAVEALL); once `None`, always `None`;
//! 4. counts: every live object that is not an atom is tracked; `live_objects` is at least the
//!    live nodes + reachable weak-reference objects + atoms;
//! 5. no user callback failed and nothing was reported as unraisable.
//!
//! And after a full collection that involved no resurrecting or legacy finalizer among the
//! garbage, no SAVEALL, no frozen objects and no callback that changed the graph: every
//! object the model found unreachable before it was dropped exactly once, the collection
//! reported at least that many, and `live_objects` equals the model's count exactly.
//! [`Interpreter::finish`] drops every root, breaks the legacy-finalizer cycles left in
//! `gc.garbage` (which would otherwise leak, as documented), drops the heap, and checks that
//! every object was dropped exactly once.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::fmt;
use std::rc::{Rc, Weak as RcWeak};

use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use petgraph::visit::Dfs;

use crate::{DebugFlags, Finalize, Gc, Heap, HeapConfig, LegacyFinalize, Trace, Weak};

/// How a node is allocated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `Heap::alloc`.
    Plain,
    /// `alloc_with_finalizer`, a finalizer that does nothing.
    Finalizer,
    /// `alloc_with_finalizer`, a finalizer that stores a clone of the object (resurrection).
    Resurrecting,
    /// `alloc_with_legacy_finalizer` (uncollectable in cycles).
    Legacy,
    /// `alloc_with_finalizer`, a finalizer that panics (reported as unraisable).
    PanickingFinalizer,
}

/// What a node's `Drop` does besides counting (hostile programs, [`Op::SetOnDrop`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropAction {
    /// Nothing.
    Nothing,
    /// `Gc::downgrade` every strong edge (co-garbage edges are dead handles there) and keep
    /// the weak references.
    DowngradeEdges,
    /// Upgrade every weak reference the node holds and keep the strong handles as roots.
    UpgradeWeaks,
    /// Drop the interpreter's second heap (with a garbage cycle in it).
    DropOtherHeap,
}

/// What a weak-reference callback does when it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CbAction {
    /// Only checks that its weak reference is dead.
    Nothing,
    /// Allocates a node and keeps a handle to it.
    Allocate,
    /// Drops the newest handle.
    DropHandle,
    /// Upgrades the interpreter's weak reference number `n` (modulo) and keeps the result.
    Resurrect(u8),
    /// Calls `Heap::collect` (0 when nested in a collection).
    Collect,
}

/// One step of a program. Indices are taken modulo the current number of handles, weak
/// references or atoms; an op on an empty list does nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Allocate a node of this kind and keep a handle.
    New(Kind),
    /// Allocate a plain node holding a weak reference to handle `target`.
    NewHoldingWeak {
        /// Handle index.
        target: u8,
    },
    /// Allocate an untracked atom.
    NewAtom,
    /// Drop atom `n`.
    DropAtom(u8),
    /// `from.edges.push(to)`.
    AddEdge {
        /// Handle index.
        from: u8,
        /// Handle index.
        to: u8,
    },
    /// `from.weaks.push(downgrade(to))`.
    AddWeakEdge {
        /// Handle index.
        from: u8,
        /// Handle index.
        to: u8,
    },
    /// `from.edges.remove(index % len)`.
    RemoveEdge {
        /// Handle index.
        from: u8,
        /// Edge index.
        index: u8,
    },
    /// Clone handle `n`.
    CloneHandle(u8),
    /// Drop handle `n`.
    DropHandle(u8),
    /// `Gc::downgrade(handle n)`, kept.
    Downgrade(u8),
    /// Upgrade weak reference `n`; a `Some` result is kept as a new handle.
    Upgrade(u8),
    /// Drop weak reference `n`.
    DropWeak(u8),
    /// `Gc::downgrade_with_callback(handle target, action)`, kept.
    WeakCallback {
        /// Handle index.
        target: u8,
        /// What the callback does.
        action: CbAction,
    },
    /// `collect_generation(g % 3)`.
    Collect(u8),
    /// `set_threshold`.
    SetThreshold(u8, u8, u8),
    /// `enable` / `disable`.
    Enable(bool),
    /// `freeze`.
    Freeze,
    /// `unfreeze`.
    Unfreeze,
    /// `set_debug(SAVEALL)` or `set_debug(empty)`.
    SaveAll(bool),
    /// Empty `gc.garbage`.
    TakeGarbage,
    /// Hostile: set what node `target`'s `Drop` does.
    SetOnDrop {
        /// Handle index.
        target: u8,
        /// The action.
        action: DropAction,
    },
    /// Hostile: the unraisable hook panics after recording (or stops panicking).
    PanickingHook(bool),
    /// Hostile: install (or remove) a `tracing` subscriber that panics on every event and
    /// span entry, with the debug flags that make the collector emit events.
    PanickingSubscriber(bool),
    /// Hostile: give the interpreter a second heap holding a garbage 2-cycle (if it has none).
    NewOtherHeap,
}

impl Op {
    /// Decode one op of a *hostile* program (the `hostile_ops` fuzz target): the ops of
    /// [`Op::from_code`] plus user code that panics, acts from `Drop`, and drops a second heap.
    pub fn from_code_hostile(code: [u8; 4]) -> Op {
        let [a, b, c, _] = code;
        match a % 40 {
            32 => Op::New(Kind::PanickingFinalizer),
            33..=35 => Op::SetOnDrop {
                target: b,
                action: match c % 4 {
                    0 => DropAction::Nothing,
                    1 => DropAction::DowngradeEdges,
                    2 => DropAction::UpgradeWeaks,
                    _ => DropAction::DropOtherHeap,
                },
            },
            36 => Op::PanickingHook(b % 2 == 0),
            37 => Op::PanickingSubscriber(b % 3 == 0),
            38 | 39 => Op::NewOtherHeap,
            _ => Op::from_code([a % 32, b, c, code[3]]),
        }
    }

    /// Decode one op from four bytes (the fuzzer's and the regression files' encoding).
    pub fn from_code([a, b, c, d]: [u8; 4]) -> Op {
        match a % 32 {
            0 | 1 => Op::New(Kind::Plain),
            2 => Op::New(Kind::Finalizer),
            3 => Op::New(Kind::Resurrecting),
            4 => Op::New(Kind::Legacy),
            5 => Op::NewHoldingWeak { target: b },
            6 => Op::NewAtom,
            7 => Op::DropAtom(b),
            8..=10 => Op::AddEdge { from: b, to: c },
            11 => Op::AddWeakEdge { from: b, to: c },
            12 => Op::RemoveEdge { from: b, index: c },
            13 => Op::CloneHandle(b),
            14..=16 => Op::DropHandle(b),
            17 => Op::Downgrade(b),
            18 | 19 => Op::Upgrade(b),
            20 => Op::DropWeak(b),
            21 | 22 => Op::WeakCallback {
                target: b,
                action: match c % 6 {
                    0 | 1 => CbAction::Nothing,
                    2 => CbAction::Allocate,
                    3 => CbAction::DropHandle,
                    4 => CbAction::Resurrect(d),
                    _ => CbAction::Collect,
                },
            },
            23 | 24 => Op::Collect(b % 3),
            25 => Op::Collect(2),
            26 => Op::SetThreshold(b % 16, c % 4, d % 4),
            27 => Op::Enable(b % 4 != 0),
            28 => Op::Freeze,
            29 => Op::Unfreeze,
            30 => Op::SaveAll(b % 4 == 0),
            _ => Op::TakeGarbage,
        }
    }
}

/// Decode a byte string as ops, four bytes each (a short tail is padded with zeros, as
/// `arbitrary::Unstructured` pads).
pub fn ops_from_bytes(data: &[u8]) -> Vec<Op> {
    data.chunks(4)
        .map(|chunk| {
            let mut code = [0u8; 4];
            code[..chunk.len()].copy_from_slice(chunk);
            Op::from_code(code)
        })
        .collect()
}

/// Decode a byte string as a hostile program ([`Op::from_code_hostile`]).
pub fn hostile_ops_from_bytes(data: &[u8]) -> Vec<Op> {
    data.chunks(4)
        .map(|chunk| {
            let mut code = [0u8; 4];
            code[..chunk.len()].copy_from_slice(chunk);
            Op::from_code_hostile(code)
        })
        .collect()
}

/// Run `ops` on a fresh heap with small thresholds, checking the oracle after every op and
/// at teardown. Panics on the first disagreement.
pub fn run(ops: &[Op]) -> RunStats {
    let mut interp = Interpreter::new(HeapConfig {
        thresholds: [8, 4, 4],
        enabled: true,
        ..HeapConfig::default()
    });
    for &op in ops {
        interp.apply(op);
    }
    interp.finish()
}

/// What a run did (for reports).
#[derive(Clone, Copy, Debug, Default)]
pub struct RunStats {
    /// Ops applied.
    pub ops: usize,
    /// Nodes allocated.
    pub nodes: usize,
    /// Collections (all generations, explicit and automatic).
    pub collections: usize,
    /// Full collections after which the exact check ran.
    pub exact_checks: usize,
    /// Weak-reference callbacks that ran.
    pub callbacks: usize,
}

// ---- the objects ---------------------------------------------------------------------------

/// A test object: a list of strong edges and of weak references, counting its drops.
#[derive(Trace)]
#[trace(crate = "crate")]
pub struct TNode {
    #[trace(skip)]
    id: usize,
    #[trace(skip)]
    kind: Kind,
    edges: RefCell<Vec<Gc<TNode>>>,
    weaks: RefCell<Vec<Weak<TNode>>>,
    #[trace(skip)]
    drops: Rc<Cell<u32>>,
    #[trace(skip)]
    shared: RcWeak<Shared>,
    #[trace(skip)]
    on_drop: Cell<DropAction>,
}

impl fmt::Debug for TNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TNode#{}({:?})", self.id, self.kind)
    }
}

impl Drop for TNode {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
        let action = self.on_drop.get();
        if action == DropAction::Nothing {
            return;
        }
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        shared.mutations.set(shared.mutations.get() + 1);
        match action {
            DropAction::Nothing => {}
            DropAction::DowngradeEdges => {
                for edge in self.edges.borrow().iter() {
                    let weak = Gc::downgrade(edge);
                    match Gc::try_get(edge) {
                        Some(target) => shared.from_drops.borrow_mut().weaks.push(WeakEntry {
                            weak,
                            target: target.id,
                            seen_none: false,
                        }),
                        None => shared.from_drops.borrow_mut().dead_weaks.push(weak),
                    }
                }
            }
            DropAction::UpgradeWeaks => {
                for weak in self.weaks.borrow().iter() {
                    if let Some(gc) = weak.upgrade() {
                        if Gc::try_get(&gc).is_none() || gc.drops.get() != 0 {
                            shared.fail("Drop upgraded a weak reference to a dropped node".into());
                        }
                        shared.from_drops.borrow_mut().handles.push(gc);
                    }
                }
            }
            DropAction::DropOtherHeap => {
                let other = shared.other_heap.borrow_mut().take();
                drop(other);
            }
        }
    }
}

impl Finalize for TNode {
    fn finalize(this: &Gc<Self>) {
        if this.kind == Kind::PanickingFinalizer {
            panic!("{INJECTED} finalizer panic");
        }
        if this.kind == Kind::Resurrecting {
            if let Some(shared) = this.shared.upgrade() {
                shared.stash.borrow_mut().push(this.clone());
            }
        }
    }
}

impl LegacyFinalize for TNode {
    fn legacy_finalize(_: &Gc<Self>) {}
}

/// An untracked leaf object counting its drops.
#[derive(Trace, Debug)]
#[trace(crate = "crate")]
pub struct Atom {
    #[trace(skip)]
    drops: Rc<Cell<u32>>,
}

impl Drop for Atom {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
    }
}

/// The message of every panic a hostile program injects: such panics are expected to be
/// reported as unraisable (and counted), anything else reported is a failure.
pub const INJECTED: &str = "pygc-test: injected";

/// A node of the second heap (hostile programs): a counted 2-cycle left as garbage.
#[derive(Trace)]
#[trace(crate = "crate")]
struct OtherNode {
    next: RefCell<Option<Gc<OtherNode>>>,
    #[trace(skip)]
    drops: Rc<Cell<u32>>,
}

impl Drop for OtherNode {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
    }
}

/// A `tracing` subscriber made of three plain functions, for tests: every callsite enabled,
/// every span id 1. One skeleton for the panicking, counting and re-entering subscribers of
/// the tests.
#[derive(Clone, Copy, Debug)]
pub struct FnSubscriber {
    /// Called on every event.
    pub event: fn(&tracing::Event<'_>),
    /// Called on every span entry.
    pub enter: fn(),
    /// Called on every span exit.
    pub exit: fn(),
}

impl FnSubscriber {
    /// Does nothing on span entry or exit; `event` on every event.
    pub fn on_event(event: fn(&tracing::Event<'_>)) -> FnSubscriber {
        FnSubscriber {
            event,
            enter: || {},
            exit: || {},
        }
    }
}

impl tracing::Subscriber for FnSubscriber {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        (self.event)(event);
    }
    fn enter(&self, _: &tracing::span::Id) {
        (self.enter)();
    }
    fn exit(&self, _: &tracing::span::Id) {
        (self.exit)();
    }
}

/// The hostile programs' subscriber: panics on every event, span entry and exit.
const PANICKING_SUBSCRIBER: FnSubscriber = FnSubscriber {
    event: |_| panic!("{INJECTED} subscriber panic (event)"),
    enter: || panic!("{INJECTED} subscriber panic (enter)"),
    exit: || panic!("{INJECTED} subscriber panic (exit)"),
};

// ---- the model -----------------------------------------------------------------------------

struct ModelNode {
    kind: Kind,
    index: Option<NodeIndex>,
    /// The object's address (its identity in `Heap::snapshot`); 0 until allocated.
    addr: usize,
    drops: Rc<Cell<u32>>,
    /// Targets of the real `edges` vector, in order.
    edges: Vec<usize>,
    /// Weak-reference objects the node holds (by address; valid while the node lives).
    weak_ptrs: Vec<usize>,
    /// Its weak references may have been cleared by the collector while it lives on.
    maybe_cleared: bool,
}

struct WeakEntry {
    weak: Weak<TNode>,
    target: usize,
    seen_none: bool,
}

/// What `Drop`s did (hostile programs), merged into the state at the next check.
#[derive(Default)]
struct FromDrops {
    weaks: Vec<WeakEntry>,
    /// Weak references made from dead handles: they must never upgrade.
    dead_weaks: Vec<Weak<TNode>>,
    handles: Vec<Gc<TNode>>,
}

#[derive(Default)]
struct State {
    handles: Vec<Gc<TNode>>,
    weaks: Vec<WeakEntry>,
    dead_weaks: Vec<Weak<TNode>>,
    atoms: Vec<Gc<Atom>>,
    atom_drops: Vec<Rc<Cell<u32>>>,
    graph: StableDiGraph<usize, ()>,
    nodes: Vec<ModelNode>,
}

/// What callbacks and finalizers reach (through an `Rc` weak pointer, so nothing cycles).
struct Shared {
    state: RefCell<State>,
    /// Objects resurrected by finalizers (roots; moved to `handles` at each check).
    stash: RefCell<Vec<Gc<TNode>>>,
    /// Failures seen inside user code, where a panic would only be reported as unraisable.
    failures: Rc<RefCell<Vec<String>>>,
    callbacks: Cell<usize>,
    /// Callbacks that changed the graph or the roots.
    mutations: Cell<usize>,
    collections: Rc<Cell<usize>>,
    /// Panics reported as unraisable that a hostile op injected.
    expected_unraisable: Rc<Cell<u64>>,
    /// The unraisable hook panics after recording.
    panicking_hook: Rc<Cell<bool>>,
    /// What `Drop`s did since the last check.
    from_drops: RefCell<FromDrops>,
    /// The second heap and the drop counter of its garbage cycle.
    other_heap: RefCell<Option<Heap>>,
    other_drops: RefCell<Option<Rc<Cell<u32>>>>,
    me: RcWeak<Shared>,
    heap: Heap,
}

impl Shared {
    fn new_node(&self, kind: Kind) -> usize {
        let drops = Rc::new(Cell::new(0));
        let id = {
            let mut st = self.state.borrow_mut();
            let id = st.nodes.len();
            let index = st.graph.add_node(id);
            st.nodes.push(ModelNode {
                kind,
                index: Some(index),
                addr: 0,
                drops: drops.clone(),
                edges: Vec::new(),
                weak_ptrs: Vec::new(),
                maybe_cleared: false,
            });
            id
        };
        let value = TNode {
            id,
            kind,
            edges: RefCell::new(Vec::new()),
            weaks: RefCell::new(Vec::new()),
            drops,
            shared: self.me.clone(),
            on_drop: Cell::new(DropAction::Nothing),
        };
        // Allocation may collect and run callbacks: no borrow is held here.
        let gc = match kind {
            Kind::Plain => self.heap.alloc_unfinalized(value),
            Kind::Finalizer | Kind::Resurrecting | Kind::PanickingFinalizer => {
                self.heap.alloc_with_finalizer(value)
            }
            Kind::Legacy => self.heap.alloc_with_legacy_finalizer(value),
        };
        let mut st = self.state.borrow_mut();
        st.nodes[id].addr = Gc::id(&gc);
        st.handles.push(gc);
        id
    }

    fn handle(&self, n: u8) -> Option<Gc<TNode>> {
        let st = self.state.borrow();
        (!st.handles.is_empty()).then(|| st.handles[n as usize % st.handles.len()].clone())
    }

    fn fail(&self, message: String) {
        self.failures.borrow_mut().push(message);
    }

    fn run_callback(&self, action: CbAction) {
        self.callbacks.set(self.callbacks.get() + 1);
        if action != CbAction::Nothing {
            self.mutations.set(self.mutations.get() + 1);
        }
        match action {
            CbAction::Nothing => {}
            CbAction::Allocate => {
                self.new_node(Kind::Plain);
            }
            CbAction::DropHandle => {
                let h = self.state.borrow_mut().handles.pop();
                drop(h);
            }
            CbAction::Resurrect(n) => {
                let weak = {
                    let st = self.state.borrow();
                    (!st.weaks.is_empty())
                        .then(|| st.weaks[n as usize % st.weaks.len()].weak.clone())
                };
                if let Some(gc) = weak.and_then(|w| w.upgrade()) {
                    if gc.drops.get() != 0 || Gc::try_get(&gc).is_none() {
                        self.fail(format!(
                            "callback upgraded a weak reference to dropped {:?}",
                            gc.id
                        ));
                    }
                    self.state.borrow_mut().handles.push(gc);
                }
            }
            CbAction::Collect => {
                self.heap.collect();
            }
        }
    }
}

/// The model's view of the heap ([`Interpreter::model_view`]), by object address.
#[derive(Debug, Default)]
pub struct ModelView {
    /// Live nodes.
    pub nodes: Vec<usize>,
    /// Strong edges between nodes, one per handle (from, to).
    pub edges: Vec<(usize, usize)>,
    /// Weak references held by nodes: (node, weak-reference object), one per `Weak`.
    pub weak_edges: Vec<(usize, usize)>,
    /// Handles to nodes held outside the heap (the interpreter's roots and `gc.garbage`).
    pub external: std::collections::HashMap<usize, u32>,
    /// Atoms, all held only by the interpreter.
    pub atoms: usize,
}

/// The interpreter: a heap, the roots, and the model. See the module docs.
pub struct Interpreter {
    shared: Rc<Shared>,
    stats: RunStats,
    /// The panicking subscriber, while installed.
    subscriber: Option<tracing::subscriber::DefaultGuard>,
    saveall: bool,
}

impl fmt::Debug for Interpreter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interpreter")
            .field("heap", &self.shared.heap)
            .finish_non_exhaustive()
    }
}

impl Interpreter {
    /// A fresh interpreter on a heap with `config`.
    pub fn new(config: HeapConfig) -> Interpreter {
        let failures = Rc::new(RefCell::new(Vec::new()));
        let collections = Rc::new(Cell::new(0));
        let expected = Rc::new(Cell::new(0));
        let panicking_hook = Rc::new(Cell::new(false));
        let shared = Rc::new_cyclic(|me| Shared {
            state: RefCell::new(State::default()),
            stash: RefCell::new(Vec::new()),
            failures: failures.clone(),
            callbacks: Cell::new(0),
            mutations: Cell::new(0),
            collections: collections.clone(),
            expected_unraisable: expected.clone(),
            panicking_hook: panicking_hook.clone(),
            from_drops: RefCell::new(FromDrops::default()),
            other_heap: RefCell::new(None),
            other_drops: RefCell::new(None),
            me: me.clone(),
            heap: Heap::with_config(config),
        });
        let hook_failures = failures.clone();
        shared.heap.set_unraisable_hook(move |u| {
            if u.message.contains(INJECTED) {
                expected.set(expected.get() + 1);
            } else {
                hook_failures
                    .borrow_mut()
                    .push(format!("unraisable: {}: {}", u.context, u.message));
            }
            if panicking_hook.get() {
                panic!("{INJECTED} hook panic");
            }
        });
        shared.heap.add_callback(move |phase, _| {
            if phase == crate::CallbackPhase::Stop {
                collections.set(collections.get() + 1);
            }
        });
        Interpreter {
            shared,
            stats: RunStats::default(),
            subscriber: None,
            saveall: false,
        }
    }

    fn set_debug_flags(&self) {
        let mut flags = DebugFlags::empty();
        if self.saveall {
            flags = flags | DebugFlags::SAVEALL;
        }
        if self.subscriber.is_some() {
            flags = flags | DebugFlags::STATS | DebugFlags::COLLECTABLE | DebugFlags::UNCOLLECTABLE;
        }
        self.shared.heap.set_debug(flags);
    }

    /// The heap under test.
    pub fn heap(&self) -> &Heap {
        &self.shared.heap
    }

    /// Apply one op, then run every check.
    pub fn apply(&mut self, op: Op) {
        self.stats.ops += 1;
        let sh = &*self.shared;
        match op {
            Op::New(kind) => {
                sh.new_node(kind);
                self.stats.nodes += 1;
            }
            Op::NewHoldingWeak { target } => {
                let Some(target) = sh.handle(target) else {
                    return self.check(op);
                };
                let id = sh.new_node(Kind::Plain);
                self.stats.nodes += 1;
                let holder = sh
                    .state
                    .borrow()
                    .handles
                    .iter()
                    .rev()
                    .find(|h| h.id == id)
                    .cloned();
                if let Some(holder) = holder {
                    self.add_weak_edge(&holder, &target);
                }
            }
            Op::NewAtom => {
                let drops = Rc::new(Cell::new(0));
                let atom = sh.heap.alloc(Atom {
                    drops: drops.clone(),
                });
                let mut st = sh.state.borrow_mut();
                st.atoms.push(atom);
                st.atom_drops.push(drops);
            }
            Op::DropAtom(n) => {
                let atom = {
                    let mut st = sh.state.borrow_mut();
                    let len = st.atoms.len();
                    (len > 0).then(|| st.atoms.remove(n as usize % len))
                };
                if let Some(atom) = atom {
                    let drops = atom.drops.clone();
                    drop(atom);
                    assert_eq!(
                        drops.get(),
                        1,
                        "an atom's last handle dropped, but it was not dropped once"
                    );
                }
            }
            Op::AddEdge { from, to } => {
                if let (Some(f), Some(t)) = (sh.handle(from), sh.handle(to)) {
                    f.edges.borrow_mut().push(t.clone());
                    let mut st = sh.state.borrow_mut();
                    let (fi, ti) = (st.nodes[f.id].index.unwrap(), st.nodes[t.id].index.unwrap());
                    st.graph.add_edge(fi, ti, ());
                    st.nodes[f.id].edges.push(t.id);
                }
            }
            Op::AddWeakEdge { from, to } => {
                if let (Some(f), Some(t)) = (sh.handle(from), sh.handle(to)) {
                    self.add_weak_edge(&f, &t);
                }
            }
            Op::RemoveEdge { from, index } => {
                if let Some(f) = sh.handle(from) {
                    let removed = {
                        let mut edges = f.edges.borrow_mut();
                        let len = edges.len();
                        (len > 0).then(|| edges.remove(index as usize % len))
                    };
                    if let Some(removed) = removed {
                        {
                            let mut st = sh.state.borrow_mut();
                            let model_edges = &mut st.nodes[f.id].edges;
                            let model_target =
                                model_edges.remove(index as usize % model_edges.len());
                            assert_eq!(
                                model_target, removed.id,
                                "model edge list diverged from the object's"
                            );
                            let (fi, ti) = (
                                st.nodes[f.id].index.unwrap(),
                                st.nodes[model_target].index.unwrap(),
                            );
                            let e = st.graph.find_edge(fi, ti).expect("model edge");
                            st.graph.remove_edge(e);
                        }
                        drop(removed); // may free, finalize, run callbacks
                    }
                }
            }
            Op::CloneHandle(n) => {
                if let Some(h) = sh.handle(n) {
                    sh.state.borrow_mut().handles.push(h);
                }
            }
            Op::DropHandle(n) => {
                let h = {
                    let mut st = sh.state.borrow_mut();
                    let len = st.handles.len();
                    (len > 0).then(|| st.handles.remove(n as usize % len))
                };
                drop(h);
            }
            Op::Downgrade(n) => {
                if let Some(h) = sh.handle(n) {
                    let weak = Gc::downgrade(&h);
                    sh.state.borrow_mut().weaks.push(WeakEntry {
                        weak,
                        target: h.id,
                        seen_none: false,
                    });
                }
            }
            Op::Upgrade(n) => {
                let weak = {
                    let st = sh.state.borrow();
                    (!st.weaks.is_empty())
                        .then(|| st.weaks[n as usize % st.weaks.len()].weak.clone())
                };
                if let Some(gc) = weak.and_then(|w| w.upgrade()) {
                    sh.state.borrow_mut().handles.push(gc);
                }
            }
            Op::DropWeak(n) => {
                let w = {
                    let mut st = sh.state.borrow_mut();
                    let len = st.weaks.len();
                    (len > 0).then(|| st.weaks.remove(n as usize % len))
                };
                drop(w);
            }
            Op::WeakCallback { target, action } => {
                if let Some(h) = sh.handle(target) {
                    let me = sh.me.clone();
                    let weak = Gc::downgrade_with_callback(&h, move |w: Weak<TNode>| {
                        let Some(sh) = me.upgrade() else { return };
                        if w.upgrade().is_some() {
                            sh.fail("a weak-reference callback saw its referent alive".into());
                        }
                        sh.run_callback(action);
                    });
                    sh.state.borrow_mut().weaks.push(WeakEntry {
                        weak,
                        target: h.id,
                        seen_none: false,
                    });
                }
            }
            Op::Collect(g) => self.collect(g as usize % 3),
            Op::SetThreshold(t0, t1, t2) => sh.heap.set_threshold(t0.into(), t1.into(), t2.into()),
            Op::Enable(on) => {
                if on {
                    sh.heap.enable()
                } else {
                    sh.heap.disable()
                }
            }
            Op::Freeze => sh.heap.freeze(),
            Op::Unfreeze => sh.heap.unfreeze(),
            Op::SaveAll(on) => {
                self.saveall = on;
                self.set_debug_flags();
            }
            Op::TakeGarbage => drop(sh.heap.take_garbage()),
            Op::SetOnDrop { target, action } => {
                if let Some(h) = sh.handle(target) {
                    h.on_drop.set(action);
                }
            }
            Op::PanickingHook(on) => sh.panicking_hook.set(on),
            Op::PanickingSubscriber(on) => {
                if on && self.subscriber.is_none() {
                    self.subscriber = Some(tracing::subscriber::set_default(PANICKING_SUBSCRIBER));
                } else if !on {
                    self.subscriber = None;
                }
                self.set_debug_flags();
            }
            Op::NewOtherHeap => {
                if sh.other_heap.borrow().is_none() && sh.other_drops.borrow().is_none() {
                    let heap = Heap::new();
                    let drops = Rc::new(Cell::new(0));
                    let a = heap.alloc(OtherNode {
                        next: RefCell::new(None),
                        drops: drops.clone(),
                    });
                    let b = heap.alloc(OtherNode {
                        next: RefCell::new(Some(a.clone())),
                        drops: drops.clone(),
                    });
                    *a.next.borrow_mut() = Some(b);
                    drop(a);
                    *sh.other_heap.borrow_mut() = Some(heap);
                    *sh.other_drops.borrow_mut() = Some(drops);
                }
            }
        }
        self.check(op);
    }

    fn add_weak_edge(&self, from: &Gc<TNode>, to: &Gc<TNode>) {
        let weak = Gc::downgrade(to); // may allocate, hence collect
        let ptr = Weak::to_any(&weak).as_ptr() as usize;
        from.weaks.borrow_mut().push(weak);
        self.shared.state.borrow_mut().nodes[from.id]
            .weak_ptrs
            .push(ptr);
    }

    /// An explicit collection, with the exact check when the conditions allow it.
    fn collect(&mut self, generation: usize) {
        let sh = &*self.shared;
        let before = self.reachability();
        let exact = generation == 2
            && !sh.heap.debug().contains(DebugFlags::SAVEALL)
            && sh.heap.freeze_count() == 0
            && before.unreachable.iter().all(|&id| {
                let kind = sh.state.borrow().nodes[id].kind;
                kind != Kind::Resurrecting && kind != Kind::Legacy
            });
        let mutations = sh.mutations.get();
        let found = sh
            .heap
            .collect_generation(generation)
            .expect("valid generation");
        if exact && sh.mutations.get() == mutations && sh.stash.borrow().is_empty() {
            self.stats.exact_checks += 1;
            let st = sh.state.borrow();
            for &id in &before.unreachable {
                assert_eq!(
                    st.nodes[id].drops.get(),
                    1,
                    "full collection: node {id} was unreachable in the model but was dropped {} times",
                    st.nodes[id].drops.get()
                );
            }
            assert!(
                found >= before.unreachable.len(),
                "full collection reported {found}, but the model had {} unreachable nodes",
                before.unreachable.len()
            );
            drop(st);
            let after = self.reachability();
            assert_eq!(
                sh.heap.live_objects(),
                after.lower_bound,
                "after a clean full collection live_objects must equal the model's live count"
            );
        }
    }

    /// Model reachability from the roots (syncing resurrected objects into the handles).
    fn reachability(&self) -> Reach {
        let sh = &*self.shared;
        let stash = std::mem::take(&mut *sh.stash.borrow_mut());
        let from_drops = std::mem::take(&mut *sh.from_drops.borrow_mut());
        let garbage = sh.heap.garbage();
        let mut st = sh.state.borrow_mut();
        for gc in stash.iter().chain(&from_drops.handles) {
            st.nodes[gc.id].maybe_cleared = true;
        }
        st.handles.extend(stash);
        st.handles.extend(from_drops.handles);
        st.weaks.extend(from_drops.weaks);
        st.dead_weaks.extend(from_drops.dead_weaks);
        let mut roots: Vec<usize> = st.handles.iter().map(|h| h.id).collect();
        let mut weak_ptrs: HashSet<usize> = st
            .weaks
            .iter()
            .map(|w| &w.weak)
            .chain(&st.dead_weaks)
            .map(|w| Weak::to_any(w).as_ptr() as usize)
            .collect();
        for g in &garbage {
            if let Some(node) = g.downcast::<TNode>() {
                st.nodes[node.id].maybe_cleared = true;
                roots.push(node.id);
            } else if g.is_weakref() {
                weak_ptrs.insert(g.as_ptr() as usize);
            }
        }
        let mut reachable = vec![false; st.nodes.len()];
        for root in roots {
            let Some(start) = st.nodes[root].index else {
                panic!(
                    "root node {root} was dropped (drops = {})",
                    st.nodes[root].drops.get()
                );
            };
            let mut dfs = Dfs::new(&st.graph, start);
            while let Some(ix) = dfs.next(&st.graph) {
                reachable[st.graph[ix]] = true;
            }
        }
        let mut unreachable = Vec::new();
        let mut live = 0;
        for (id, node) in st.nodes.iter().enumerate() {
            let drops = node.drops.get();
            assert!(
                drops <= 1,
                "node {id} ({:?}) dropped {drops} times",
                node.kind
            );
            if reachable[id] {
                assert_eq!(
                    drops, 0,
                    "node {id} ({:?}) is reachable from a root but was dropped",
                    node.kind
                );
                weak_ptrs.extend(node.weak_ptrs.iter().copied());
            }
            if drops == 0 {
                live += 1;
                if !reachable[id] {
                    unreachable.push(id);
                }
            }
        }
        // Dropped nodes leave the model, with their edges.
        for id in 0..st.nodes.len() {
            if st.nodes[id].drops.get() > 0 {
                if let Some(ix) = st.nodes[id].index.take() {
                    st.graph.remove_node(ix);
                }
            }
        }
        for &id in &unreachable {
            st.nodes[id].maybe_cleared = true;
        }
        let atoms = st.atoms.len();
        Reach {
            unreachable,
            lower_bound: live + weak_ptrs.len() + atoms,
        }
    }

    /// The model's view of the heap, to compare with `Heap::snapshot` (`tests/all/introspect.rs`):
    /// call it between ops (after [`Interpreter::apply`]), and take the snapshot after it
    /// returns (it briefly holds `gc.garbage`).
    pub fn model_view(&self) -> ModelView {
        let sh = &*self.shared;
        let garbage: Vec<usize> = sh
            .heap
            .garbage()
            .iter()
            .filter(|g| g.downcast::<TNode>().is_some())
            .map(|g| g.as_ptr() as usize)
            .collect();
        let st = sh.state.borrow();
        let mut view = ModelView::default();
        for ix in st.graph.node_indices() {
            let node = &st.nodes[st.graph[ix]];
            if node.drops.get() > 0 {
                continue; // dropped since the last check: its edges are gone with it
            }
            view.nodes.push(node.addr);
            for &w in &node.weak_ptrs {
                view.weak_edges.push((node.addr, w));
            }
        }
        for e in st.graph.edge_indices() {
            let (from, to) = st.graph.edge_endpoints(e).expect("model edge");
            let (from, to) = (&st.nodes[st.graph[from]], &st.nodes[st.graph[to]]);
            if from.drops.get() == 0 {
                view.edges.push((from.addr, to.addr));
            }
        }
        for h in st.handles.iter() {
            *view.external.entry(Gc::id(h)).or_default() += 1;
        }
        for addr in garbage {
            *view.external.entry(addr).or_default() += 1;
        }
        view.atoms = st.atoms.len();
        view
    }

    /// Every check of the module docs; `op` names the op just applied in messages.
    pub fn check(&mut self, op: Op) {
        let sh = &*self.shared;
        let failures = std::mem::take(&mut *sh.failures.borrow_mut());
        assert!(
            failures.is_empty(),
            "after {op:?}: failures in user code: {failures:?}"
        );
        let tracked = sh.heap.check_invariants();
        assert_eq!(
            sh.heap.trashcan_len(),
            0,
            "after {op:?}: trashcan not empty while idle"
        );
        let reach = self.reachability();
        let mut st = sh.state.borrow_mut();
        let st = &mut *st;
        for h in &st.handles {
            assert!(
                Gc::try_get(h).is_some(),
                "after {op:?}: a root handle's value is gone"
            );
        }
        for w in &mut st.weaks {
            let node = &st.nodes[w.target];
            match w.weak.upgrade() {
                Some(gc) => {
                    assert!(
                        !w.seen_none,
                        "after {op:?}: weak reference to {} came back",
                        w.target
                    );
                    assert_eq!(
                        gc.id, w.target,
                        "after {op:?}: weak reference upgraded to the wrong object"
                    );
                    assert_eq!(
                        node.drops.get(),
                        0,
                        "after {op:?}: weak reference upgraded to dropped {}",
                        w.target
                    );
                }
                None => {
                    w.seen_none = true;
                    assert!(
                        node.drops.get() > 0 || node.maybe_cleared,
                        "after {op:?}: weak reference to live, never-garbage node {} is dead",
                        w.target
                    );
                }
            }
        }
        for w in &st.dead_weaks {
            assert!(
                w.upgrade().is_none(),
                "after {op:?}: a weak reference made from a dead handle upgraded"
            );
        }
        if sh.other_heap.borrow().is_none() {
            if let Some(drops) = sh.other_drops.borrow_mut().take() {
                assert_eq!(
                    drops.get(),
                    2,
                    "after {op:?}: the second heap was dropped without collecting its cycle"
                );
            }
        }
        for (i, d) in st.atom_drops.iter().enumerate() {
            assert!(
                d.get() <= 1,
                "after {op:?}: atom {i} dropped {} times",
                d.get()
            );
        }
        let live = sh.heap.live_objects();
        assert!(
            live >= reach.lower_bound,
            "after {op:?}: live_objects {live} < model's {}",
            reach.lower_bound
        );
        assert_eq!(
            tracked + st.atoms.len(),
            live,
            "after {op:?}: tracked objects + atoms != live_objects (an untracked non-atom, or a lost object)"
        );
        assert_eq!(
            sh.heap.unraisable_count(),
            sh.expected_unraisable.get(),
            "after {op:?}: unraisable reported that no op injected"
        );
    }

    /// Drop every root, break the legacy-finalizer cycles left in `gc.garbage`, drop the
    /// heap, and check that every node and atom was dropped exactly once. Returns the run's
    /// statistics.
    pub fn finish(mut self) -> RunStats {
        self.subscriber = None;
        let sh = &*self.shared;
        sh.panicking_hook.set(false);
        sh.heap.set_debug(DebugFlags::empty());
        sh.heap.unfreeze();
        let other = sh.other_heap.borrow_mut().take();
        drop(other);
        if let Some(drops) = sh.other_drops.borrow_mut().take() {
            assert_eq!(drops.get(), 2, "teardown: the second heap's cycle leaked");
        }
        loop {
            // Collect first, so uncollectable cycles are (back) in `garbage` to be broken.
            sh.heap.collect();
            let stash = std::mem::take(&mut *sh.stash.borrow_mut());
            let from_drops = std::mem::take(&mut *sh.from_drops.borrow_mut());
            let (handles, weaks, atoms, dead_weaks) = {
                let mut st = sh.state.borrow_mut();
                (
                    std::mem::take(&mut st.handles),
                    std::mem::take(&mut st.weaks),
                    std::mem::take(&mut st.atoms),
                    std::mem::take(&mut st.dead_weaks),
                )
            };
            // Nodes about to lose their last handle do nothing special in `Drop` any more.
            for h in handles.iter().chain(&from_drops.handles) {
                h.on_drop.set(DropAction::Nothing);
            }
            // Legacy-finalizer cycles are uncollectable and come back to `garbage` at every
            // collection; dropping the heap with them would leak them (as documented, and as
            // CPython does). Break them by hand, as a program would: clear their edges.
            let garbage = sh.heap.take_garbage();
            let mut cut = Vec::new();
            for g in &garbage {
                if let Some(value) = g.downcast::<TNode>().as_ref().and_then(Gc::try_get) {
                    cut.extend(std::mem::take(&mut *value.edges.borrow_mut()));
                }
            }
            let done = stash.is_empty()
                && handles.is_empty()
                && weaks.is_empty()
                && atoms.is_empty()
                && garbage.is_empty()
                && dead_weaks.is_empty()
                && from_drops.handles.is_empty()
                && from_drops.weaks.is_empty()
                && from_drops.dead_weaks.is_empty();
            drop((stash, handles, weaks, atoms, garbage, cut));
            drop((dead_weaks, from_drops));
            // Finalizers may resurrect into the stash again: go round until nothing is held.
            if done {
                break;
            }
        }
        self.stats.callbacks = sh.callbacks.get();
        self.stats.collections = sh.collections.get();
        let Ok(shared) = Rc::try_unwrap(self.shared) else {
            panic!("interpreter state still shared at teardown");
        };
        let Shared {
            state,
            stash,
            failures,
            heap,
            ..
        } = shared;
        drop(heap); // shutdown collection; callbacks and finalizers can no longer reach us
        assert!(
            stash.borrow().is_empty(),
            "teardown: resurrected after the last round"
        );
        let st = state.into_inner();
        for (id, node) in st.nodes.iter().enumerate() {
            let drops = node.drops.get();
            assert_eq!(
                drops, 1,
                "teardown: node {id} ({:?}) dropped {drops} times",
                node.kind
            );
        }
        for (i, d) in st.atom_drops.iter().enumerate() {
            assert_eq!(d.get(), 1, "teardown: atom {i} dropped {} times", d.get());
        }
        let failures = failures.borrow();
        assert!(
            failures.is_empty(),
            "teardown: failures in user code: {failures:?}"
        );
        self.stats
    }
}

struct Reach {
    /// Live nodes no root reaches.
    unreachable: Vec<usize>,
    /// Live nodes + weak-reference objects reachable + atoms.
    lower_bound: usize,
}

// ---- scoped subscribers in parallel tests -----------------------------------------------

/// Makes scoped `tracing` subscribers (`with_default`) reliable in a parallel test binary.
///
/// `tracing` caches each callsite's interest globally. If a callsite is first hit on another
/// test thread (no subscriber: interest "never") while a test installs its scoped subscriber,
/// the "never" can win the race and the test's subscriber sees no event. A global default
/// that answers "sometimes" for every callsite keeps every callsite live, so each event asks
/// the subscriber of its own thread. Call it before `with_default`.
pub fn reliable_scoped_subscribers() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = tracing::subscriber::set_global_default(Sometimes);
    });
}

/// Enables nothing itself, but keeps every callsite's interest at "sometimes".
struct Sometimes;

impl tracing::Subscriber for Sometimes {
    fn register_callsite(
        &self,
        _: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::sometimes()
    }
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        false
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, _: &tracing::Event<'_>) {}
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Runs `f` with the collector's visits applied at once instead of through its prefetching
/// queues (`gc/visit.rs`), on this thread: tests compare both ways to check that the queues
/// change nothing but timing (the same survivors, garbage and list order).
pub fn with_undelayed_visits<R>(f: impl FnOnce() -> R) -> R {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            crate::gc::visit::UNDELAYED.with(|u| u.set(false));
        }
    }
    crate::gc::visit::UNDELAYED.with(|u| u.set(true));
    let _reset = Reset;
    f()
}

//! Red-team attacks on pygc's soundness promise: each test is a way safe code (derive-only
//! `Trace`, user callbacks, hooks, subscribers) tried to break the heap. Findings 1-5 failed
//! on the restructured core before their fixes (a use-after-free through `Weak::upgrade`, a
//! double free in `LocalPool`, an abort at thread exit, two leaks); the others are attacks
//! that held up.

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

use pygc::{CallbackPhase, Finalize, Gc, Heap, HeapConfig, Trace, Unraisable, Weak};

fn quiet_heap() -> (Heap, Rc<RefCell<Vec<Unraisable>>>) {
    let heap = Heap::with_config(HeapConfig {
        enabled: false,
        ..HeapConfig::default()
    });
    let seen = Rc::new(RefCell::new(Vec::new()));
    let sink = seen.clone();
    heap.set_unraisable_hook(move |u| sink.borrow_mut().push(u.clone()));
    (heap, seen)
}

#[derive(Trace)]
struct Node {
    next: RefCell<Option<Gc<Node>>>,
    #[trace(skip)]
    tag: u64,
}

fn node(heap: &Heap, tag: u64) -> Gc<Node> {
    heap.alloc(Node {
        next: RefCell::new(None),
        tag,
    })
}

// ---- finding 1: `Gc::downgrade` races a basic weak reference made during its own allocation --

thread_local! {
    static TARGET: RefCell<Option<Gc<Big>>> = const { RefCell::new(None) };
    static INNER_WEAK: RefCell<Option<Weak<Big>>> = const { RefCell::new(None) };
}

#[derive(Trace)]
struct Big {
    next: RefCell<Option<Gc<Big>>>,
    /// Makes the box large (a block of its own), never read.
    #[trace(skip)]
    #[allow(dead_code)]
    pad: [u64; 80],
}

/// `Gc::downgrade` looks up the basic weak reference, finds none, allocates a new
/// weak-reference object, then lists it as the basic one. The allocation may run an automatic
/// collection, and that runs user code (here a gc callback) which calls `Gc::downgrade` on the
/// same referent: it creates and lists a basic reference first. The outer call then
/// (debug) trips `debug_assert!(list.basic.is_none())` and panics out of `Gc::downgrade`, or
/// (release) overwrites the inner basic reference in the weak list: that weak reference is no
/// longer listed, is never cleared when the referent dies, and upgrades to freed memory.
/// `cargo +nightly miri test --release --test all redteam::downgrade -- --ignored`:
/// "Undefined Behavior: ... encountered a dangling reference (use-after-free)" in
/// `Weak::upgrade` (src/object/weak.rs).
#[test]

fn downgrade_races_basic_weakref_created_by_gc_callback() {
    let heap = Heap::with_config(HeapConfig {
        thresholds: [1, 10, 10],
        ..HeapConfig::default()
    });
    let seen = Rc::new(RefCell::new(Vec::<Unraisable>::new()));
    let sink = seen.clone();
    heap.set_unraisable_hook(move |u| sink.borrow_mut().push(u.clone()));
    // Over 512 bytes: x's box is its own system allocation, so Miri sees its free.
    let x = heap.alloc(Big {
        next: RefCell::new(None),
        pad: [0; 80],
    });
    TARGET.with(|t| *t.borrow_mut() = Some(x.clone()));
    heap.add_callback(|phase, _| {
        if phase == CallbackPhase::Start {
            TARGET.with(|t| {
                if let Some(x) = t.borrow_mut().take() {
                    let w = Gc::downgrade(&x);
                    INNER_WEAK.with(|i| *i.borrow_mut() = Some(w));
                }
            });
        }
    });
    // count[0] is now 1 (x); the weak-reference object makes it 2 > threshold 1: the
    // allocation inside `downgrade` collects generation 0 first, running the callback.
    let outer = panic::catch_unwind(AssertUnwindSafe(|| Gc::downgrade(&x)));
    let outer = outer.expect("Gc::downgrade panicked (debug_assert in WeakTable::add)");
    let inner = INNER_WEAK
        .with(|i| i.borrow_mut().take())
        .expect("callback ran");
    // Release builds get here with two basic weak references, only `outer` listed.
    let same = Weak::ptr_eq(&outer, &inner);
    drop(outer);
    heap.check_invariants();
    drop(x); // x dies: every weak reference to it must be cleared
    // Release: `inner` still names x's freed box (Miri: use after free here).
    assert!(
        inner.upgrade().is_none(),
        "upgrade of a weakref to a freed object"
    );
    assert!(
        same,
        "ref(x) is ref(x): two different basic weak references to one object"
    );
    drop(inner);
    heap.check_invariants();
    assert!(seen.borrow().is_empty(), "unraisable: {:?}", seen.borrow());
    assert!(seen.borrow().is_empty(), "{:?}", seen.borrow());
}

// ---- finding 2: a panicking subscriber during `LocalPool::grow` --------------------------------

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static ALLOC_EVENTS: Cell<u32> = const { Cell::new(0) };
}

/// Panics on `pygc::alloc` events while `ARMED`.
fn armed_event(event: &tracing::Event<'_>) {
    if event.metadata().target() == "pygc::alloc" {
        ALLOC_EVENTS.with(|e| e.set(e.get() + 1));
        if ARMED.with(Cell::get) {
            ARMED.with(|a| a.set(false));
            panic!("subscriber panics on an arena event");
        }
    }
}

/// `LocalPool::with` runs the allocator call (here `realloc`, which moves the block and frees
/// the old one), *then* emits the arena events it recorded. A subscriber panicking there
/// unwinds out of `Allocator::grow` after the move: the collection (allocator_api2's `Vec`)
/// still holds the old, already freed pointer and frees it again when dropped. The double free
/// puts one block on its pool's free list twice; two later allocations get the same block.
#[test]

fn local_pool_grow_with_panicking_subscriber_double_frees() {
    use allocator_api2::boxed::Box as ABox;
    use allocator_api2::vec::Vec as AVec;
    use pygc::alloc::LocalPool;

    let pool: LocalPool = LocalPool::new();
    crate::support::reliable_scoped_subscribers();
    tracing::subscriber::with_default(pygc::testutil::FnSubscriber::on_event(armed_event), || {
        // v's 8-byte block, and a neighbour in the same pool so that the pool stays in use.
        let mut v: AVec<u8, &LocalPool> = AVec::with_capacity_in(8, &pool);
        v.push(1);
        let neighbour = ABox::new_in(0u64, &pool);
        // Fill every other pool of the first arena with 512-byte blocks, so the next new
        // size class needs a new arena ("arena acquired" event).
        let s = pool.stats();
        let pools_per_arena = s.arena_size / s.pool_size;
        let per_pool = (s.pool_size - s.pool_overhead) / 512;
        let fillers: Vec<ABox<[u8; 512], &LocalPool>> = (0..(pools_per_arena - 1) * per_pool)
            .map(|_| ABox::new_in([0u8; 512], &pool))
            .collect();
        assert_eq!(pool.stats().arenas_current, 1, "first arena exactly full");
        ARMED.with(|a| a.set(true));
        let grown = panic::catch_unwind(AssertUnwindSafe(|| v.reserve(64)));
        assert!(
            !ARMED.with(Cell::get),
            "the subscriber panicked inside grow"
        );
        // Fixed: the panic is contained in `LocalPool` (written to stderr): `grow` completes
        // and `v` holds the new block. Before, it unwound after the move.
        assert!(
            grown.is_ok(),
            "the subscriber's panic escaped the allocator"
        );
        assert_eq!(pool.stats().arenas_current, 2);
        // v still names its old block, which realloc already freed: dropping v frees it again.
        drop(v);
        let a = ABox::new_in(1u64, &pool);
        let b = ABox::new_in(2u64, &pool);
        let (pa, pb) = (&*a as *const u64, &*b as *const u64);
        if pa == pb {
            // Dropping both would free the shared block twice (and abort on the pool's
            // debug check during unwinding): leak them, then report.
            std::mem::forget((a, b, neighbour, fillers));
            panic!("two live boxes share one block {pa:p} (double free in LocalPool)");
        }
        pool.check();
        drop((a, b, neighbour, fillers));
    });
}

// ---- finding 3: a heap in a `thread_local!` aborts the process at thread exit ----------------

thread_local! {
    static TLS_HEAP: Heap = Heap::new();
}

/// Runs `test` (an `#[ignore]`d test of this binary) in a child process and returns whether it
/// exited successfully (an abort is a signal, not a test failure we could catch in-process).
#[cfg(not(miri))]
fn run_in_child(test: &str) -> (bool, String) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            test,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("PYGC_REDTEAM_CHILD", "1")
        .output()
        .expect("spawn the test binary");
    (
        out.status.success(),
        format!(
            "status {:?}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The child half: a thread whose heap lives in a `thread_local!` (the natural home of a
/// `!Send` heap), and which collected once.
#[test]
#[ignore = "child of tls_heap_dropped_at_thread_exit"]
fn tls_heap_child() {
    if std::env::var_os("PYGC_REDTEAM_CHILD").is_none() {
        return;
    }
    std::thread::spawn(|| {
        TLS_HEAP.with(|heap| {
            let a = node(heap, 1);
            *a.next.borrow_mut() = Some(a.clone());
        });
        // The first collection touches `PENDING_SHUTDOWNS` (in `run_pending_shutdowns`),
        // registering its TLS destructor *after* TLS_HEAP's: destructors run last-in first-out.
        TLS_HEAP.with(|heap| assert_eq!(heap.collect(), 1));
    })
    .join()
    .unwrap();
}

/// At thread exit `PENDING_SHUTDOWNS` is destroyed before `TLS_HEAP`; `Heap::drop` then calls
/// `run_pending_shutdowns`, whose `PENDING_SHUTDOWNS.with` panics ("cannot access a Thread
/// Local Storage value during or after destruction") inside a TLS destructor: the runtime
/// aborts the process ("thread local panicked on drop").
#[test]
#[cfg(not(miri))]
fn tls_heap_dropped_at_thread_exit() {
    let (ok, report) = run_in_child("redteam::tls_heap_child");
    assert!(
        ok,
        "the process died when a thread_local heap was dropped:\n{report}"
    );
}

// ---- finding 4: a panicking `Drop` on an object that outlived its heap --------------------

#[derive(Trace)]
struct Bomb {
    child: RefCell<Option<Gc<Marked>>>,
}

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("Bomb::drop panics");
    }
}

#[derive(Trace)]
struct Marked {
    /// Counted by `Rc::strong_count` (its drop is what the test watches), never read.
    #[trace(skip)]
    #[allow(dead_code)]
    token: Rc<()>,
}

/// The heap is dropped while `bomb` (holding `marked`) lives on. Dropping `bomb` runs its
/// `Drop`, which panics; unwinding drops its field, so `marked`'s count reaches zero inside
/// the teardown and its death is queued in the trashcan. The panic propagates (documented),
/// and the queue is left "for the next teardown or collection", but the heap is orphaned: no
/// collection will ever run, and no other object of it is left to die. `marked`'s value is
/// never dropped (its `Rc` leaks), nor its box, nor the heap state and its arenas
/// (`release_hook` skips `destroy_if_done` when `release` unwinds; Miri's leak check reports
/// the state even without `marked`).
#[test]

fn panicking_drop_after_heap_drop_leaks_queued_deaths() {
    let token = Rc::new(());
    let heap = Heap::new();
    let bomb = heap.alloc(Bomb {
        child: RefCell::new(Some(heap.alloc(Marked {
            token: token.clone(),
        }))),
    });
    drop(heap);
    let r = panic::catch_unwind(AssertUnwindSafe(|| drop(bomb)));
    assert!(
        r.is_err(),
        "the Drop panic propagates to whoever dropped the handle"
    );
    assert_eq!(
        Rc::strong_count(&token),
        1,
        "the queued death of `marked` never ran: its value leaked with the orphaned heap"
    );
}

// ---- attacks that held up ------------------------------------------------------------------

thread_local! {
    static OWNED_HEAP: RefCell<Option<Heap>> = const { RefCell::new(None) };
}

/// The heap is dropped by a gc callback during an automatic collection that `Gc::downgrade`
/// triggered (nobody borrows the `Heap` there). Held: the shutdown is queued until the
/// collection ends, and the referent keeps the state alive for the rest of `downgrade`.
#[test]
fn heap_dropped_by_gc_callback_inside_downgrade_collection() {
    let heap = Heap::with_config(HeapConfig {
        enabled: false,
        ..HeapConfig::default()
    });
    let x = node(&heap, 1);
    let cyc = node(&heap, 2);
    *cyc.next.borrow_mut() = Some(cyc.clone());
    drop(cyc);
    heap.add_callback(|phase, _| {
        if phase == CallbackPhase::Start {
            drop(OWNED_HEAP.with(|h| h.borrow_mut().take()));
        }
    });
    heap.set_threshold(1, 10, 10);
    heap.enable();
    let reports = Rc::new(Cell::new(0));
    let r = reports.clone();
    heap.set_unraisable_hook(move |_| r.set(r.get() + 1));
    OWNED_HEAP.with(|h| *h.borrow_mut() = Some(heap));
    let w = Gc::downgrade(&x); // count[0] 2 -> 3 > 1: collects inside the allocation
    assert!(
        OWNED_HEAP.with(|h| h.borrow().is_none()),
        "the callback dropped the heap"
    );
    assert_eq!(w.upgrade().map(|n| n.tag), Some(1));
    drop(x);
    assert!(w.upgrade().is_none());
    assert_eq!(reports.get(), 0, "a callback or Drop panicked");
}

/// Safety held (no use after free: `releasing` keeps the state alive through the final
/// collection and the rest of the dealloc). But the final collection runs *inside* `o`'s
/// teardown, where the dealloc's own count makes `o` look externally referenced, so the cycle
/// `o` alone kept alive is not garbage yet; once `o`'s value drops a moment later it is, but
/// the heap is orphaned and never collects again: `cyc`, its `Rc`, the heap state and its arena
/// leak (Miri's leak check reports them; this test checks `cyc`'s token).
#[test]

fn last_rc_heap_dropped_by_own_objects_finalizer() {
    #[derive(Trace)]
    struct Tok {
        me: RefCell<Option<Gc<Tok>>>,
        #[trace(skip)]
        #[allow(dead_code)]
        token: Rc<()>,
    }
    #[derive(Trace)]
    struct Owner2 {
        #[trace(skip)]
        heap: RefCell<Option<Rc<Heap>>>,
        next: RefCell<Option<Gc<Tok>>>,
    }
    impl Finalize for Owner2 {
        fn finalize(this: &Gc<Self>) {
            // Drop the last `Rc<Heap>` from inside this object's own refcount death.
            let heap = this.heap.borrow_mut().take();
            drop(heap);
        }
    }
    let token = Rc::new(());
    let heap = Rc::new(Heap::new());
    let reports = Rc::new(Cell::new(0));
    let r = reports.clone();
    heap.set_unraisable_hook(move |_| r.set(r.get() + 1));
    let cyc = heap.alloc(Tok {
        me: RefCell::new(None),
        token: token.clone(),
    });
    *cyc.me.borrow_mut() = Some(cyc.clone());
    let o = heap.alloc_with_finalizer(Owner2 {
        heap: RefCell::new(Some(heap.clone())),
        next: RefCell::new(Some(cyc.clone())),
    });
    drop(cyc);
    drop(heap);
    drop(o);
    assert_eq!(
        Rc::strong_count(&token),
        1,
        "the cycle only the dying object held was never collected (orphaned heap leaked)"
    );
    assert_eq!(reports.get(), 0, "the finalizer panicked");
}

thread_local! {
    static COLLECT_HEAP: RefCell<Option<Rc<Heap>>> = const { RefCell::new(None) };
    static FOUND: Cell<usize> = const { Cell::new(usize::MAX) };
}

#[derive(Trace)]
struct Collector {
    other: RefCell<Option<Gc<Collector>>>,
}

impl Finalize for Collector {
    fn finalize(this: &Gc<Self>) {
        // Tie `this` into a fresh cycle, freeze, collect, unfreeze, all from inside the
        // refcount-death finalizer (rc held only by the dealloc).
        let heap = COLLECT_HEAP.with(|h| h.borrow().clone()).unwrap();
        let peer = heap.alloc_unfinalized(Collector {
            other: RefCell::new(Some(this.clone())),
        });
        *this.other.borrow_mut() = Some(peer.clone());
        drop(peer);
        heap.freeze();
        heap.unfreeze();
        FOUND.with(|f| f.set(heap.collect()));
        heap.check_invariants();
    }
}

/// Held: the dealloc's own count makes the dying object look externally referenced, so the
/// nested collection keeps it and its new cycle; it resurrects through the cycle and is
/// collected (without a second finalizer run) later.
#[test]
fn collect_and_freeze_from_refcount_death_finalizer() {
    let heap = Rc::new(Heap::with_config(HeapConfig {
        enabled: false,
        ..HeapConfig::default()
    }));
    COLLECT_HEAP.with(|h| *h.borrow_mut() = Some(heap.clone()));
    let c = heap.alloc_with_finalizer(Collector {
        other: RefCell::new(None),
    });
    drop(c);
    assert_eq!(FOUND.with(Cell::get), 0);
    assert_eq!(heap.live_objects(), 2, "resurrected through the new cycle");
    heap.check_invariants();
    assert_eq!(heap.collect(), 2);
    assert_eq!(heap.live_objects(), 0);
    heap.check_invariants();
    // The finalizer's own `check_invariants` would only have been reported, not failed.
    assert_eq!(heap.unraisable_count(), 0, "the finalizer panicked");
    COLLECT_HEAP.with(|h| h.borrow_mut().take());
}

/// Weak references with callbacks crossing two heaps, both heaps dropped with the objects
/// still alive, in both orders. Held.
#[test]
fn cross_heap_weak_callbacks_outlive_both_heaps() {
    let (a, seen_a) = quiet_heap();
    let (b, seen_b) = quiet_heap();
    let calls = Rc::new(Cell::new(0));
    let xa = node(&a, 1);
    let xb = node(&b, 2);
    let c1 = calls.clone();
    let wa = Gc::downgrade_with_callback(&xa, move |_| c1.set(c1.get() + 1));
    let c2 = calls.clone();
    let wb = Gc::downgrade_with_callback(&xb, move |_| c2.set(c2.get() + 1));
    // A cross-heap cycle (leaks, as documented) holding the other heap's weak references.
    #[derive(Trace)]
    struct Holder {
        w: RefCell<Option<Weak<Node>>>,
        n: RefCell<Option<Gc<Node>>>,
    }
    let ha = a.alloc(Holder {
        w: RefCell::new(Some(wb.clone())),
        n: RefCell::new(Some(xb.clone())),
    });
    let hb = b.alloc(Holder {
        w: RefCell::new(Some(wa.clone())),
        n: RefCell::new(Some(xa.clone())),
    });
    drop(a);
    drop(xa);
    assert_eq!(calls.get(), 0, "xa still held from heap b");
    drop(hb);
    assert_eq!(calls.get(), 1);
    drop(b);
    drop(xb);
    assert_eq!(calls.get(), 1, "xb still held from heap a");
    drop(ha);
    assert_eq!(calls.get(), 2);
    assert!(wa.upgrade().is_none() && wb.upgrade().is_none());
    assert!(seen_a.borrow().is_empty() && seen_b.borrow().is_empty());
}

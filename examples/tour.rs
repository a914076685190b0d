//! A guided tour of pygc, reproducing the experiments of the course notebooks pygc was
//! specified from: the small-object allocator, refcounts going up and down, cascades of
//! frees, cycles that refcounting cannot free, the collector finding them, DEBUG_SAVEALL,
//! automatic collections driven by thresholds and counts, and (`pygc::introspect`) what a
//! snapshot of the heap tells about leaks.
//!
//! Run it with `cargo run --release --example tour`.

// The allocator section hands raw blocks back to the allocator it took them from.
#![allow(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use pygc::{CallbackPhase, DebugFlags, Gc, Heap, Trace};

/// A Python-like object: a list or a dict of handles.
#[derive(Trace)]
enum Obj {
    List(RefCell<Vec<Gc<Obj>>>),
    Dict(RefCell<HashMap<String, Gc<Obj>>>),
}

impl Obj {
    fn list() -> Obj {
        Obj::List(RefCell::new(Vec::new()))
    }
    fn dict() -> Obj {
        Obj::Dict(RefCell::new(HashMap::new()))
    }
    fn append(&self, item: &Gc<Obj>) {
        match self {
            Obj::List(items) => items.borrow_mut().push(item.clone()),
            Obj::Dict(_) => panic!("not a list"),
        }
    }
    fn set(&self, key: &str, item: &Gc<Obj>) {
        match self {
            Obj::Dict(map) => {
                map.borrow_mut().insert(key.to_string(), item.clone());
            }
            Obj::List(_) => panic!("not a dict"),
        }
    }
}

/// A child that announces its death, for the cascade demonstration.
#[derive(Trace)]
struct Child {
    #[trace(skip)]
    name: &'static str,
    #[trace(skip)]
    freed: Rc<Cell<u32>>,
}

impl Drop for Child {
    fn drop(&mut self) {
        self.freed.set(self.freed.get() + 1);
        println!("    freed child {}", self.name);
    }
}

#[derive(Trace)]
struct Parent {
    children: Vec<Gc<Child>>,
}

/// `sys.getrefcount(x)`: the count plus the temporary reference of the call's argument.
fn getrefcount<T>(x: &Gc<T>) -> usize {
    Gc::ref_count(x) + 1
}

fn main() {
    allocator_tour();
    refcount_tour();
    cycles_tour();
    saveall_tour();
    thresholds_tour();
    introspection_tour();
    gil_tour();
}

fn section(title: &str) {
    println!("\n=== {title} ===");
}

fn allocator_tour() {
    use pygc::alloc::{Allocator, DefaultGeometry, Geometry, SizeClass};
    use std::alloc::Layout;

    section("1. The small-object allocator (pymalloc)");
    println!(
        "arenas of {} KiB, pools of {} KiB, size classes every {} bytes up to 512",
        DefaultGeometry::ARENA_SIZE / 1024,
        DefaultGeometry::POOL_SIZE / 1024,
        DefaultGeometry::ALIGNMENT
    );
    for request in [1, 8, 9, 24, 100, 512, 513] {
        match SizeClass::for_request::<DefaultGeometry>(request) {
            Some(class) => println!(
                "  request {request:3} B -> class {:2}, block {:3} B, {:3} blocks per pool",
                class.index(),
                class.block_size::<DefaultGeometry>(),
                class.blocks_per_pool::<DefaultGeometry>()
            ),
            None => println!("  request {request:3} B -> the system allocator"),
        }
    }

    let mut pools = Allocator::<DefaultGeometry>::new();
    let layout = Layout::from_size_align(32, 8).expect("valid layout");
    let per_pool = SizeClass::for_request::<DefaultGeometry>(32)
        .expect("small")
        .blocks_per_pool::<DefaultGeometry>();
    let mut blocks = Vec::new();
    for _ in 0..per_pool {
        blocks.push(pools.alloc(layout).expect("memory"));
    }
    let s = pools.stats();
    println!(
        "\nfilled one pool of 32-byte blocks: {} pools, {} in use, {} available",
        s.classes[3].pools, s.classes[3].blocks_in_use, s.classes[3].blocks_available
    );
    blocks.push(pools.alloc(layout).expect("memory"));
    let s = pools.stats();
    println!(
        "one more block opens a second pool: {} pools, {} in use, {} available",
        s.classes[3].pools, s.classes[3].blocks_in_use, s.classes[3].blocks_available
    );
    let many = 3 * DefaultGeometry::ARENA_SIZE / 32;
    for _ in 0..many {
        blocks.push(pools.alloc(layout).expect("memory"));
    }
    let s = pools.stats();
    println!(
        "after {} more blocks: {} arenas in use (high-water mark {})",
        many, s.arenas_current, s.arenas_highwater
    );
    for block in blocks.drain(..) {
        // SAFETY: every block came from `pools.alloc(layout)` and is freed once.
        unsafe { pools.dealloc(block, layout) };
    }
    let s = pools.stats();
    println!(
        "after freeing everything: {} arena kept (the last empty one), {} reclaimed\n",
        s.arenas_current, s.arenas_reclaimed
    );
    let keep: Vec<_> = [8usize, 24, 64, 200, 512]
        .iter()
        .flat_map(|&size| {
            let l = Layout::from_size_align(size, 8).expect("valid layout");
            (0..50).map(move |_| l)
        })
        .map(|l| (pools.alloc(l).expect("memory"), l))
        .collect();
    println!("{}", pools.stats());
    for (block, l) in keep {
        // SAFETY: allocated above with `l`, freed once.
        unsafe { pools.dealloc(block, l) };
    }
}

fn refcount_tour() {
    section("2. Reference counting");
    let heap = Heap::new();
    println!("test_list = [1, 2, 3]");
    let test_list = heap.alloc(Obj::list());
    println!(
        "sys.getrefcount(test_list)   -> {}",
        getrefcount(&test_list)
    );
    println!("test_list_2 = test_list");
    let test_list_2 = test_list.clone();
    println!(
        "sys.getrefcount(test_list_2) -> {}",
        getrefcount(&test_list_2)
    );
    println!("del test_list_2");
    drop(test_list_2);
    println!(
        "sys.getrefcount(test_list)   -> {}",
        getrefcount(&test_list)
    );
    println!(
        "(getrefcount is one higher than Gc::ref_count = {}: its argument is a reference too)",
        Gc::ref_count(&test_list)
    );

    println!("\nA parent holding three children; dropping the parent frees them in a cascade:");
    let freed = Rc::new(Cell::new(0));
    let children = ["a", "b", "c"]
        .iter()
        .map(|&name| {
            heap.alloc(Child {
                name,
                freed: freed.clone(),
            })
        })
        .collect();
    let parent = heap.alloc(Parent { children });
    println!("  live objects: {}", heap.live_objects());
    println!("  del parent");
    drop(parent);
    println!(
        "  children freed: {}, live objects: {}",
        freed.get(),
        heap.live_objects()
    );
}

fn cycles_tour() {
    section("3. Cycles survive refcounting; the collector finds them");
    let heap = Heap::new();
    heap.disable();
    println!("lst = []; lst.append(lst)");
    let lst = heap.alloc(Obj::list());
    lst.append(&lst);
    let lst_weak = Gc::downgrade(&lst);
    println!(
        "object_1 = {{}}; object_2 = {{}}; object_1['obj2'] = object_2; object_2['obj1'] = object_1"
    );
    let object_1 = heap.alloc(Obj::dict());
    let object_2 = heap.alloc(Obj::dict());
    object_1.set("obj2", &object_2);
    object_2.set("obj1", &object_1);
    let obj_weak = Gc::downgrade(&object_1);
    println!("del lst, object_1, object_2");
    drop((lst, object_1, object_2));
    let count = |w: &pygc::Weak<Obj>| w.upgrade().map(|g| Gc::ref_count(&g) - 1);
    println!(
        "refcount of the list after del: {:?} (held by itself)",
        count(&lst_weak)
    );
    println!(
        "refcount of object_1 after del: {:?} (held by object_2)",
        count(&obj_weak)
    );
    println!("gc.collect() -> {}", heap.collect());
    println!(
        "list still there? {}; dict still there? {}",
        !lst_weak.is_dead(),
        !obj_weak.is_dead()
    );
}

fn saveall_tour() {
    section("4. DEBUG_SAVEALL keeps the garbage for inspection");
    let heap = Heap::new();
    heap.disable();
    heap.set_debug(DebugFlags::SAVEALL);
    println!("gc.get_count() -> {:?}", heap.count());
    let lst = heap.alloc(Obj::list());
    lst.append(&lst);
    println!("id(lst) = {:#x}", Gc::id(&lst));
    drop(lst);
    println!("gc.collect() -> {}", heap.collect());
    for item in heap.garbage() {
        println!("gc.garbage item: {item:?}");
    }
}

fn thresholds_tour() {
    section("5. Generations, thresholds and automatic collections");
    let heap = Heap::new();
    println!("gc.get_threshold() -> {:?}", heap.threshold());
    heap.set_threshold(50, 3, 3);
    println!("gc.set_threshold(50, 3, 3)");
    let log = Rc::new(RefCell::new(Vec::new()));
    let sink = log.clone();
    heap.add_callback(move |phase, info| {
        if phase == CallbackPhase::Stop {
            sink.borrow_mut().push((info.generation, info.collected));
        }
    });
    let mut keep = Vec::new();
    for i in 0..1200 {
        let obj = heap.alloc(Obj::list());
        if i % 5 == 0 {
            obj.append(&obj); // one in five becomes cyclic garbage
        } else if i % 5 == 1 {
            keep.push(obj.clone());
        }
        drop(obj);
        for (generation, collected) in log.borrow_mut().drain(..) {
            println!(
                "  after allocation {i:3}: automatic collection of generation {generation} \
                 collected {collected:2}; counts now {:?}",
                heap.count()
            );
        }
    }
    let stats = heap.stats();
    for (g, s) in stats.iter().enumerate() {
        println!("gc.get_stats()[{g}] = {s:?}");
    }
}

/// Chapter 6's program: a module whose session cache grows without bound (a leak), two
/// active sessions that are each other's peer (a live cycle), and a pair of closed sessions
/// that still point at each other (garbage for the collector).
#[derive(Trace)]
struct Module {
    cache: Gc<RefCell<Vec<Gc<Session>>>>,
    active: RefCell<Vec<Gc<Session>>>,
}

#[derive(Trace)]
struct Session {
    #[trace(skip)]
    id: u32,
    user: Gc<String>,
    buffer: Gc<[u8; 480]>,
    peer: RefCell<Option<Gc<Session>>>,
}

fn session(heap: &Heap, id: u32) -> Gc<Session> {
    heap.alloc(Session {
        id,
        user: heap.alloc(format!("user{id}")),
        buffer: heap.alloc([0; 480]),
        peer: RefCell::new(None),
    })
}

/// Chapter 6 (`pygc::introspect`): a snapshot of the heap of the program above. Census and
/// its growth, why a leaked buffer is alive, the cycles, what retains the most, and a
/// picture of the buffer's back-references: rendered with Graphviz's `dot` when it is
/// installed, printed as DOT text otherwise.
fn introspection_tour() {
    use pygc::introspect::{Direction, short_type_name};

    section("6. Introspection: why is this alive, what leaks, what retains memory");
    let heap = Heap::new();
    heap.disable();
    let module = heap.alloc(Module {
        cache: heap.alloc(RefCell::new(Vec::new())),
        active: RefCell::new(Vec::new()),
    });
    let (a, b) = (session(&heap, 1), session(&heap, 2));
    *a.peer.borrow_mut() = Some(b.clone());
    *b.peer.borrow_mut() = Some(a.clone());
    module.active.borrow_mut().extend([a, b]);
    let before = heap.snapshot().census();
    for id in 100..150 {
        module.cache.borrow_mut().push(session(&heap, id)); // nobody ever evicts
    }
    let (c, d) = (session(&heap, 3), session(&heap, 4));
    *c.peer.borrow_mut() = Some(d.clone());
    *d.peer.borrow_mut() = Some(c.clone());
    drop((c, d)); // closed, but the pair keeps itself alive until a collection
    let leaked = Gc::id(&module.cache.borrow()[7].buffer);

    let snap = heap.snapshot();
    println!(
        "{} objects, {} edges",
        snap.len(),
        snap.graph().edge_count()
    );
    print!("{}", snap.census());
    println!("what grew while the cache filled (census diff):");
    for d in snap.census().diff(&before) {
        let name = short_type_name(d.type_name);
        println!("  {:+4} objects {:+7} B  {name}", d.count, d.bytes);
    }

    let buffer = snap.node_by_id(leaked).expect("the buffer is alive");
    let chain = snap.why_alive(buffer).expect("reachable from `module`");
    println!("why is session 107's buffer alive? (the shortest chain from a root)");
    print!("{}", snap.describe_chain(&chain));

    for cycle in snap.cycles() {
        let types: Vec<String> = cycle
            .types
            .iter()
            .map(|(t, n)| format!("{n} x {}", short_type_name(t)))
            .collect();
        let state = if cycle.reachable {
            "alive"
        } else {
            "garbage: the next collection frees it"
        };
        println!(
            "cycle of {} objects, {} B ({}): {state}",
            cycle.nodes.len(),
            cycle.bytes,
            types.join(", ")
        );
    }

    let retained = snap.retained_sizes();
    println!("top retained sizes (bytes freed if the object went):");
    for (node, bytes) in retained.top(4) {
        let info = snap.info(node);
        println!("  {bytes:6} B  {}", short_type_name(info.type_name));
    }

    let dot = snap.dot(buffer, 4, Direction::Incoming);
    let path = std::env::temp_dir().join("pygc-tour-backrefs.dot");
    let png = path.with_extension("png");
    let rendered = std::fs::write(&path, &dot).is_ok()
        && std::process::Command::new("dot")
            .arg("-Tpng")
            .arg(&path)
            .arg("-o")
            .arg(&png)
            .status()
            .is_ok_and(|s| s.success());
    if rendered {
        println!("back-references of the buffer, 4 hops: {}", png.display());
    } else {
        println!("back-references of the buffer, 4 hops (install graphviz to render it):");
        print!("{dot}");
    }
    println!("gc.collect() -> {}", heap.collect());
    let ids: Vec<u32> = module.active.borrow().iter().map(|s| s.id).collect();
    println!("active sessions still there: {ids:?}");
}

fn gil_tour() {
    use pygc::gil::{Py, SharedHeap, SwitchPolicy};
    use std::time::Duration;

    section("7. The GIL: one heap, two threads");
    /// A list another thread may append to: it holds `Py` handles (which may cross threads
    /// with the lock), not `Gc` ones.
    #[derive(Trace)]
    struct SharedList {
        items: RefCell<Vec<Py<SharedList>>>,
    }
    let new_list = || SharedList {
        items: RefCell::new(Vec::new()),
    };

    let heap = SharedHeap::new(Default::default(), SwitchPolicy::New);
    heap.gil().set_switch_interval(Duration::from_micros(100));
    let root = heap.with_gil(|py| py.alloc(new_list()).unbind());
    println!("sys.setswitchinterval(0.0001); two threads append 100000 lists each to one list");
    let start = std::sync::Arc::new(std::sync::Barrier::new(2));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (heap, start) = (heap.clone(), start.clone());
            let root = heap.with_gil(|py| root.clone_ref(py));
            std::thread::spawn(move || {
                start.wait(); // both ask for the lock at once
                heap.with_gil(|py| {
                    for i in 0..100_000 {
                        let item = py.alloc(new_list());
                        if i % 2 == 0 {
                            // every other item a self-cycle: garbage once the list lets go
                            item.items.borrow_mut().push(item.clone().unbind());
                        }
                        root.bind(py).items.borrow_mut().push(item.unbind());
                        py.safe_point(); // the eval breaker: the other thread may run
                    }
                })
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    heap.with_gil(|py| {
        println!(
            "  the list holds {} items; live objects {}",
            root.bind(py).items.borrow().len(),
            py.live_objects()
        );
        root.bind(py).items.borrow_mut().clear();
        println!(
            "  cleared it: gc.collect() -> {} (the self-cycles); live objects {}",
            py.collect(),
            py.live_objects()
        );
    });
    let stats = heap.gil().stats();
    println!(
        "  GIL: {} acquisitions, {} switches, {} forced drops, {} drop requests; wait p50 {:?}, p99 {:?}",
        stats.acquisitions,
        stats.switches,
        stats.forced_drops,
        stats.drop_requests,
        stats.wait_histogram.percentile(0.5),
        stats.wait_histogram.percentile(0.99)
    );
    println!(
        "  The seeds' experiments, each beside CPython 3.11: cargo run --release --example \
         factorize\n  (threads vs processes), gil_fight (old vs new GIL), io_latency (the \
         convoy effect),\n  dining_philosophers, threads_tour (threading and multiprocessing \
         mapped onto std)."
    );
}

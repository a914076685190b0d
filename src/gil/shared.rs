//! One heap, many threads: a [`Heap`] behind a [`Gil`], reached only through a
//! lifetime-branded token ([`Python`]) and handles that either need the token ([`Bound`]) or
//! touch nothing without it ([`Py`]). The soundness argument is in DESIGN.md ("GIL"); the
//! `SAFETY` comments below name the invariants it rests on:
//!
//! - **(G1) Heap access under the lock.** The heap and every object of it are touched only
//!   by a thread for which `gil.is_held_by_current_thread()` is true: through a `Python<'py>`
//!   (made only by `with_gil`, which holds a guard for all of `'py` except inside
//!   `allow_threads`, whose closure is `Send` and so cannot capture the token or a `Bound`),
//!   or by a `Py` that found the lock held by its thread. The lock's mutex orders every such
//!   access after the previous holder's.
//! - **(G2) No `Gc` escapes.** Objects are `T: Send`, so they hold no `Gc` (which is `!Send`)
//!   of any heap, only `Py`; no method here returns a `Gc`, `AnyGc` or `&Heap`; `Bound` wraps
//!   its `Gc` privately and is `!Send` and branded with `'py`.
//! - **(G3) The heap slot changes once.** `heap` is `Some` from `new` until the last
//!   `SharedHeap` handle is dropped, which takes it under the lock; a `Python` token borrows
//!   a `SharedHeap`, so no token exists by then.
#![allow(unsafe_code)]

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use super::SwitchPolicy;
use super::lock::Gil;
use crate::gc::{GcError, GenerationStats};
use crate::{Finalize, Gc, Heap, HeapConfig, Trace, Visitor};

/// A heap shared by threads under a GIL. Cheap to clone (an `Arc` inside); every clone names
/// the same heap and lock.
///
/// Dropping the last `SharedHeap` runs the heap's final collection (as dropping a [`Heap`]
/// does) under the lock; objects still referenced by a [`Py`] stay valid until those go.
///
/// ```
/// use std::cell::RefCell;
/// use pygc::Trace;
/// use pygc::gil::{Py, SharedHeap, SwitchPolicy};
///
/// #[derive(Trace)]
/// struct Node(RefCell<Vec<Py<Node>>>);
///
/// let heap = SharedHeap::new(Default::default(), SwitchPolicy::New);
/// let root: Py<Node> = heap.with_gil(|py| py.alloc(Node(RefCell::new(vec![]))).unbind());
/// let workers: Vec<_> = (0..2)
///     .map(|_| {
///         let (heap, root) = (heap.clone(), heap.with_gil(|py| root.clone_ref(py)));
///         std::thread::spawn(move || {
///             heap.with_gil(|py| {
///                 let child = py.alloc(Node(RefCell::new(vec![])));
///                 // A cycle through the root: only the collector can free it.
///                 child.0.borrow_mut().push(root.clone_ref(py));
///                 root.bind(py).0.borrow_mut().push(child.unbind());
///             })
///         })
///     })
///     .collect();
/// for w in workers {
///     w.join().unwrap();
/// }
/// heap.with_gil(|py| {
///     assert_eq!(root.bind(py).0.borrow().len(), 2);
///     assert_eq!(py.live_objects(), 3);
/// });
/// drop(root);
/// heap.with_gil(|py| {
///     assert_eq!(py.collect(), 3);
///     assert_eq!(py.live_objects(), 0);
/// });
/// ```
pub struct SharedHeap {
    inner: Arc<Inner>,
}

struct Inner {
    gil: Gil,
    heap: HeapSlot,
    /// `Py` handles dropped by threads that did not hold the lock: their counts are given
    /// back by the next thread that takes it through `with_gil` (CPython's pending calls).
    deferred: Mutex<Vec<Deferred>>,
    /// `deferred.len()`, readable without the mutex.
    deferred_len: AtomicUsize,
    /// Live `SharedHeap` handles (the `Arc` also counts `Py` handles).
    handles: AtomicUsize,
}

/// The heap, touched only under the lock (G1), taken once (G3).
struct HeapSlot(UnsafeCell<Option<Heap>>);

// SAFETY: the `Heap` inside (and through it every object of the heap) is accessed only by the
// thread holding `Inner::gil` (G1); the lock's mutex orders those accesses, so moving that
// access between threads is as sound as a `Mutex<Heap>` would be. The objects themselves are
// `T: Send` (G2).
unsafe impl Send for HeapSlot {}
// SAFETY: as for `Send`: shared references to the slot are used only under the lock.
unsafe impl Sync for HeapSlot {}

/// A handle's count, parked until some thread holding the lock can give it back: a boxed
/// `Gc<T>` with its type erased.
struct Deferred {
    boxed: *mut (),
    drop_boxed: unsafe fn(*mut ()),
}

impl Deferred {
    fn new<T>(gc: Gc<T>) -> Deferred {
        /// # Safety
        /// `p` came from `Box::<Gc<T>>::into_raw` and is dropped once.
        unsafe fn drop_boxed<T>(p: *mut ()) {
            // SAFETY: caller's contract.
            drop(unsafe { Box::from_raw(p.cast::<Gc<T>>()) });
        }
        Deferred {
            boxed: Box::into_raw(Box::new(gc)).cast(),
            drop_boxed: drop_boxed::<T>,
        }
    }
}

impl Drop for Deferred {
    fn drop(&mut self) {
        // SAFETY: `boxed` and `drop_boxed` were made together by `new`, and this is the one
        // drop of the `Deferred`.
        unsafe { (self.drop_boxed)(self.boxed) }
    }
}

// SAFETY: a parked handle is only moved (no count touched) until it is dropped, and it is
// dropped only by `Inner::drain`, whose caller holds the lock (G1), or by `Inner`'s own drop,
// when no thread can reach the heap any more (see there).
unsafe impl Send for Deferred {}

impl Inner {
    /// The heap.
    ///
    /// # Safety
    /// The calling thread holds `gil` (G1) and the slot is still `Some` (G3): a `Python`
    /// token of this heap exists, or the caller holds a `SharedHeap` handle.
    unsafe fn heap(&self) -> &Heap {
        // SAFETY: only the thread holding the lock reads or writes the slot (caller's
        // contract); the one write (`take_heap`) needs no token to exist, so no reference
        // returned here is alive then.
        unsafe { (*self.heap.0.get()).as_ref() }.expect("pygc: shared heap already dropped")
    }

    /// Give back the counts of parked handles. The caller holds the lock.
    fn drain(&self) {
        debug_assert!(self.gil.is_held_by_current_thread());
        while self.deferred_len.load(Ordering::Acquire) > 0 {
            let parked = {
                let mut q = self.deferred.lock().unwrap_or_else(PoisonError::into_inner);
                let parked = q.pop();
                self.deferred_len.store(q.len(), Ordering::Release);
                parked
            };
            // One at a time, outside the queue's mutex: a `Drop` run by this decref may drop
            // more handles (and park them, for another heap), or panic (the rest stay parked).
            drop(parked);
        }
    }

    fn park(&self, handle: Deferred) {
        {
            let mut q = self.deferred.lock().unwrap_or_else(PoisonError::into_inner);
            q.push(handle);
            self.deferred_len.store(q.len(), Ordering::Release);
        }
        if self.handles.load(Ordering::SeqCst) == 0 {
            // No `SharedHeap` is left to drain the queue at its next `with_gil`: do it now.
            // (The last handle's drop stores 0 before it drains under the lock, so a handle
            // parked after that drain sees 0 here.)
            let _guard = self.gil.acquire();
            self.drain();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // No `SharedHeap` and no `Py` of this heap is left, so no thread can reach its
        // objects: every path to one goes through a `Py` (objects hold no `Gc`, G2) or a
        // parked handle. Parked handles can go now, without the lock; then the heap, if the
        // last `SharedHeap` left it here (it was dropped during a collection): every object
        // still alive was held by a `Py` or a parked handle, so none is left, and dropping
        // the heap frees its state.
        let parked = std::mem::take(
            self.deferred
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner),
        );
        drop(parked);
        drop(self.heap.0.get_mut().take());
    }
}

impl fmt::Debug for SharedHeap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedHeap")
            .field("gil", &self.inner.gil)
            .field("deferred", &self.inner.deferred_len.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl SharedHeap {
    /// A new heap behind a new lock.
    pub fn new(config: HeapConfig, policy: SwitchPolicy) -> SharedHeap {
        SharedHeap {
            inner: Arc::new(Inner {
                gil: Gil::new(policy),
                heap: HeapSlot(UnsafeCell::new(Some(Heap::with_config(config)))),
                deferred: Mutex::new(Vec::new()),
                deferred_len: AtomicUsize::new(0),
                handles: AtomicUsize::new(1),
            }),
        }
    }

    /// The heap's lock (to read its statistics, set its switch interval, or hold it without
    /// touching the heap).
    pub fn gil(&self) -> &Gil {
        &self.inner.gil
    }

    /// Handles dropped without the lock whose counts are still to be given back (they are,
    /// at the next [`with_gil`](SharedHeap::with_gil) or hand-over).
    pub fn deferred_decrefs(&self) -> usize {
        self.inner.deferred_len.load(Ordering::Acquire)
    }

    /// Run `f` holding the lock, with the token that opens the heap. Re-entrant: on a thread
    /// that holds the lock already, `f` runs at once (and its `safe_point`s and
    /// `allow_threads` keep the lock: only the outermost holder gives it away).
    ///
    /// Handles dropped by threads that did not hold the lock are given back first.
    pub fn with_gil<R>(&self, f: impl for<'py> FnOnce(Python<'py>) -> R) -> R {
        let guard = self.inner.gil.acquire();
        if self.inner.gil.held_outermost() {
            self.inner.drain();
        }
        let r = f(Python {
            inner: &self.inner,
            _not_send: PhantomData,
        });
        drop(guard);
        r
    }
}

impl Clone for SharedHeap {
    fn clone(&self) -> Self {
        self.inner.handles.fetch_add(1, Ordering::SeqCst);
        SharedHeap {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl Drop for SharedHeap {
    fn drop(&mut self) {
        if self.inner.handles.fetch_sub(1, Ordering::SeqCst) != 1 {
            return;
        }
        // The last handle: the heap's final collection, under the lock.
        let guard = self.inner.gil.acquire();
        self.inner.drain();
        if crate::gc::collecting() {
            // A collection runs on this thread (this is one of its `Drop`s): the heap's final
            // collection would be queued until it ends (`heap::state::PENDING_SHUTDOWNS`), and
            // by then this thread may no longer hold the lock. The heap stays in its slot
            // instead, and goes with `Inner` (see there), when no thread can reach it.
            tracing::debug!(
                target: "pygc::gil",
                "gil: last SharedHeap dropped during a collection; the heap goes with its last Py"
            );
        } else {
            // SAFETY: the lock is held (G1); no `Python` token exists (each borrows a
            // `SharedHeap`, and this was the last), so no reference from `Inner::heap` is
            // alive.
            let heap = unsafe { (*self.inner.heap.0.get()).take() };
            drop(heap);
        }
        drop(guard);
    }
}

/// Proof that this thread holds a [`SharedHeap`]'s lock, for the duration of `'py`: the key
/// to the heap. Made only by [`SharedHeap::with_gil`]; `Copy`, not `Send`, not `Sync`.
#[derive(Clone, Copy)]
pub struct Python<'py> {
    inner: &'py Arc<Inner>,
    _not_send: PhantomData<*mut ()>,
}

impl fmt::Debug for Python<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Python").finish_non_exhaustive()
    }
}

impl<'py> Python<'py> {
    fn heap(self) -> &'py Heap {
        // SAFETY: a token exists only inside `with_gil`, which holds the lock for all of
        // `'py` except inside `allow_threads`, whose `Send` closure cannot use the token
        // (G1); `with_gil` borrows a `SharedHeap`, so the slot is `Some` (G3).
        unsafe { self.inner.heap() }
    }

    /// Allocate `value` in the shared heap ([`Heap::alloc`]). `T: Send`: an object can move
    /// between threads with the lock, so it may hold [`Py`] handles but no `Gc`.
    pub fn alloc<T: Trace + Send + 'static>(self, value: T) -> Bound<'py, T> {
        Bound {
            gc: self.heap().alloc(value),
            py: self,
        }
    }

    /// Allocate an object with a finalizer ([`SharedFinalize`], PEP 442's `__del__` without
    /// resurrection): it runs at most once, before the object dies by refcount or in a
    /// garbage cycle, on whichever thread holds the lock then.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use pygc::Trace;
    /// use pygc::gil::{SharedFinalize, SharedHeap, SwitchPolicy};
    /// static RAN: AtomicUsize = AtomicUsize::new(0);
    ///
    /// #[derive(Trace)]
    /// struct Noisy;
    /// impl SharedFinalize for Noisy {
    ///     fn finalize(&self) { RAN.fetch_add(1, Ordering::SeqCst); }
    /// }
    ///
    /// let heap = SharedHeap::new(Default::default(), SwitchPolicy::New);
    /// let obj = heap.with_gil(|py| py.alloc_with_finalizer(Noisy).unbind());
    /// std::thread::spawn(move || drop(obj)).join().unwrap(); // parked, no lock held
    /// heap.with_gil(|_| {}); // given back here: the finalizer runs on this thread
    /// assert_eq!(RAN.load(Ordering::SeqCst), 1);
    /// ```
    pub fn alloc_with_finalizer<T: Trace + SharedFinalize>(self, value: T) -> Bound<'py, T> {
        Bound {
            gc: self.heap().alloc_with_finalizer(value),
            py: self,
        }
    }

    /// The eval breaker: if another thread asked for the lock (or, old GIL, the tick count
    /// ran out), hand it over and take it back. Handles parked meanwhile are given back.
    pub fn safe_point(self) {
        let gil = &self.inner.gil;
        if gil.held_outermost() && gil.safe_point_held() {
            self.inner.drain();
        }
    }

    /// Release the lock around `f` (`Py_BEGIN_ALLOW_THREADS`), as
    /// [`GilGuard::allow_threads`](super::GilGuard::allow_threads). `f` cannot capture this
    /// token or a [`Bound`] (they are not `Send`).
    pub fn allow_threads<R: Send>(self, f: impl FnOnce() -> R + Send) -> R {
        let gil = &self.inner.gil;
        if !gil.held_outermost() {
            return f();
        }
        let r = gil.allow_threads_held(f);
        self.inner.drain();
        r
    }

    /// `gc.collect()` ([`Heap::collect`]).
    pub fn collect(self) -> usize {
        self.heap().collect()
    }

    /// `gc.collect(generation)` ([`Heap::collect_generation`]).
    ///
    /// # Errors
    /// [`GcError::InvalidGeneration`] if `generation > 2`.
    pub fn collect_generation(self, generation: usize) -> Result<usize, GcError> {
        self.heap().collect_generation(generation)
    }

    /// Objects allocated and not yet freed ([`Heap::live_objects`]).
    pub fn live_objects(self) -> usize {
        self.heap().live_objects()
    }

    /// `gc.get_count()`.
    pub fn count(self) -> [usize; 3] {
        self.heap().count()
    }

    /// `gc.get_threshold()`.
    pub fn threshold(self) -> [usize; 3] {
        self.heap().threshold()
    }

    /// `gc.set_threshold(t0, t1, t2)`.
    pub fn set_threshold(self, t0: usize, t1: usize, t2: usize) {
        self.heap().set_threshold(t0, t1, t2);
    }

    /// `gc.enable()`.
    pub fn enable(self) {
        self.heap().enable();
    }

    /// `gc.disable()`.
    pub fn disable(self) {
        self.heap().disable();
    }

    /// `gc.isenabled()`.
    pub fn is_enabled(self) -> bool {
        self.heap().is_enabled()
    }

    /// `gc.get_stats()`.
    pub fn gc_stats(self) -> [GenerationStats; 3] {
        self.heap().stats()
    }

    /// Panics reported as unraisable so far ([`Heap::unraisable_count`]).
    pub fn unraisable_count(self) -> u64 {
        self.heap().unraisable_count()
    }

    /// `gc.is_tracked(obj)`.
    pub fn is_tracked<T>(self, obj: &Bound<'py, T>) -> bool {
        self.heap().is_tracked(&obj.gc)
    }
}

/// A finalizer for objects of a [`SharedHeap`] ([`Python::alloc_with_finalizer`]): CPython's
/// `__del__` (PEP 442), given the value only. It cannot resurrect the object or reach a
/// `Gc` (a shared heap hands out none); it runs with the lock held, nested (so a
/// `with_gil` inside it keeps the lock through `allow_threads`).
pub trait SharedFinalize: Send + Sized + 'static {
    /// Called once, before the object dies.
    fn finalize(&self);
}

// The shared finalizer, as the heap's finalizer: the `Gc` stays here (G2), the user sees the
// value only.
impl<T: SharedFinalize> Finalize for T {
    fn finalize(this: &Gc<Self>) {
        SharedFinalize::finalize(&**this);
    }
}

/// A strong handle usable while the lock is held: derefs to the value, clones and drops
/// without atomics. Branded with the token's `'py`, so it cannot leave `with_gil`, and not
/// `Send`/`Sync`. [`Bound::unbind`] turns it into a [`Py`] that can.
pub struct Bound<'py, T> {
    gc: Gc<T>,
    py: Python<'py>,
}

impl<'py, T> Bound<'py, T> {
    /// A handle that can be stored anywhere and sent to other threads.
    pub fn unbind(self) -> Py<T> {
        let inner = Arc::clone(self.py.inner);
        let this = ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again; its `Gc` is moved out exactly once,
        // its count going with it into the `Py`.
        let gc = unsafe { std::ptr::read(&this.gc) };
        Py {
            gc: ManuallyDrop::new(gc),
            heap: inner,
        }
    }

    /// Whether both name the same object (Python's `is`).
    pub fn ptr_eq(this: &Self, other: &Self) -> bool {
        Gc::ptr_eq(&this.gc, &other.gc)
    }

    /// The object's strong count ([`Gc::ref_count`]).
    pub fn ref_count(this: &Self) -> usize {
        Gc::ref_count(&this.gc)
    }

    /// The token this handle is bound to.
    pub fn py(&self) -> Python<'py> {
        self.py
    }
}

impl<T> Clone for Bound<'_, T> {
    fn clone(&self) -> Self {
        Bound {
            gc: self.gc.clone(),
            py: self.py,
        }
    }
}

impl<T> Deref for Bound<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.gc
    }
}

impl<T: fmt::Debug> fmt::Debug for Bound<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.gc, f)
    }
}

/// A strong handle to an object of a [`SharedHeap`] that needs no lock to hold: `Send` and
/// `Sync` (for `T: Send`), storable in other objects (it implements [`Trace`]). Open it with
/// [`Py::bind`]; dropping it without the lock parks its count for the next holder.
pub struct Py<T> {
    /// Touched only under `heap.gil` (G1); moved out only by `Drop`.
    gc: ManuallyDrop<Gc<T>>,
    heap: Arc<Inner>,
}

// SAFETY: the `Gc` inside is cloned, dereferenced or dropped only by a thread holding the
// heap's lock (G1: `bind`/`clone_ref` take a token of the same heap, `Drop` checks, `Trace`
// checks), which orders those accesses; `T: Send` because the value is then used on
// whichever thread holds the lock.
unsafe impl<T: Send> Send for Py<T> {}
// SAFETY: `&Py` gives no access to the object without a token of its heap (G1).
unsafe impl<T: Send> Sync for Py<T> {}

impl<T> Py<T> {
    fn check_heap(&self, py: Python<'_>) {
        assert!(
            Arc::ptr_eq(&self.heap, py.inner),
            "pygc: Py handle bound with another SharedHeap's token"
        );
    }

    /// The handle as a [`Bound`] (a new strong reference).
    ///
    /// # Panics
    /// If `py` is the token of another [`SharedHeap`].
    pub fn bind<'py>(&self, py: Python<'py>) -> Bound<'py, T> {
        self.check_heap(py);
        Bound {
            // The token proves the lock is held (G1).
            gc: Gc::clone(&self.gc),
            py,
        }
    }

    /// A new strong handle to the same object (`Py_INCREF`: needs the lock).
    ///
    /// # Panics
    /// If `py` is the token of another [`SharedHeap`].
    pub fn clone_ref(&self, py: Python<'_>) -> Py<T> {
        self.check_heap(py);
        Py {
            gc: ManuallyDrop::new(Gc::clone(&self.gc)),
            heap: Arc::clone(&self.heap),
        }
    }

    /// Whether both name the same object (compares addresses, touches neither).
    pub fn ptr_eq(this: &Self, other: &Self) -> bool {
        Gc::ptr_eq(&this.gc, &other.gc)
    }
}

impl<T> fmt::Debug for Py<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Py({:p})", Gc::as_ptr(&self.gc))
    }
}

impl<T> Drop for Py<T> {
    fn drop(&mut self) {
        // SAFETY: `gc` is taken exactly once, here, and not used afterwards.
        let gc = unsafe { ManuallyDrop::take(&mut self.gc) };
        if let Some(guard) = self.heap.gil.try_reenter() {
            // The lock is this thread's (G1): give the count back now, under a nested
            // guard so that user code run by the decref cannot give the lock away.
            drop(gc);
            drop(guard);
        } else {
            self.heap.park(Deferred::new(gc));
        }
    }
}

// SAFETY: reports the one handle this `Py` owns (contract items 1 and 2), and only when the
// calling thread holds the handle's heap's lock: reading the target's header is then ordered
// after every other thread's use (G1). Otherwise it reports nothing, which the contract
// allows (a missed handle keeps its target alive). Whether the lock is held does not change
// while no user code runs (item 3): only a safe point or `allow_threads` of the outermost
// holder gives it away, and the collector calls neither.
unsafe impl<T> Trace for Py<T> {
    fn trace(&self, visitor: &mut Visitor<'_>) {
        // Never to introspection (`Heap::referents` of a plain heap holding this `Py`): it
        // would turn the edge into an `AnyGc`, a `Gc` of this heap outside the lock (G2).
        if self.heap.gil.is_held_by_current_thread() && !visitor.hands_out_handles() {
            visitor.visit(&self.gc);
        }
    }
}

//! Weak references (CPython's `Objects/weakrefobject.c`).
//!
//! As in CPython, a weak reference is itself an object in the heap: a [`Weak<T>`] is a strong
//! handle to a *weak-reference object* that names its referent without counting it. The
//! referent keeps a list of its weak-reference objects in the heap's weak-list table (a flag
//! in its header says whether it has an entry), ordered as CPython orders them:
//!
//! 1. at most one *basic* reference (no callback), shared by every `downgrade`;
//! 2. then the references with callbacks, newest first.
//!
//! When the referent dies by refcount, its weak references are cleared (they upgrade to
//! `None`) and then the callbacks of those still alive run, newest first. Under the collector
//! the rules of `handle_weakrefs` apply (see `gc::collector`).

#![allow(unsafe_code)] // `unsafe impl Trace` only
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;
use std::rc::Rc;

use super::handle::{AnyGc, Gc, Handle};
use super::header::{ObjRef, flag};
use super::owner::{Owner, alloc_weakref};
use crate::{Trace, Visitor};

/// A weak-reference callback, type-erased; receives the (already cleared) weak reference.
///
/// CPython's weak reference owns its `wr_callback` and traverses it: whatever the callback
/// refers to is an edge of the weak-reference object. pygc's callbacks are a plain closure
/// (opaque: its captures are edges the collector cannot see) plus, for
/// [`Gc::downgrade_with_traced_callback`], a *state* that implements [`Trace`] and is
/// reported as the weak-reference object's own edges.
pub(crate) trait WeakCallback {
    /// Report the handles of the callback's traced state (none for an opaque closure).
    fn trace(&self, visitor: &mut Visitor<'_>);
    /// Run the callback once, with the (already cleared) weak reference.
    fn call(self: Box<Self>, weakref: AnyGc);
}

/// The type-erased callback a weak-reference object owns.
pub(crate) type Callback = Box<dyn WeakCallback>;

/// The state of an opaque callback: nothing to trace.
struct Opaque;

// SAFETY: holds nothing.
unsafe impl Trace for Opaque {
    const MAY_CONTAIN_HANDLES: bool = false;
    fn trace(&self, _: &mut Visitor<'_>) {}
}

/// A callback whose state the collector traverses.
struct TracedCallback<S, F, T> {
    state: S,
    f: F,
    _referent: PhantomData<fn() -> T>,
}

impl<S: Trace, T: 'static, F: FnOnce(S, Weak<T>)> WeakCallback for TracedCallback<S, F, T> {
    fn trace(&self, visitor: &mut Visitor<'_>) {
        self.state.trace(visitor);
    }
    fn call(self: Box<Self>, weakref: AnyGc) {
        let weakref = weakref
            .downcast_internal::<WeakRefObj>()
            .expect("weak reference object");
        let TracedCallback { state, f, .. } = *self;
        f(state, Weak::from_weakref(weakref));
    }
}

/// The value of a weak-reference object.
pub(crate) struct WeakRefObj {
    /// The referent, or `None` once cleared. Not counted.
    pub(crate) referent: Cell<Option<ObjRef>>,
    /// The callback; taken when it runs (or never, per CPython's rules).
    pub(crate) callback: RefCell<Option<Callback>>,
}

// SAFETY: the handles a weak-reference object owns are those of its callback's traced state
// (CPython's `weakref_traverse` visits `wr_callback`); an opaque callback reports none, which
// is safe (a leak at worst, Trace rule 2). The referent is never reported: it is not counted.
// The callback cell is borrowed mutably only to install or take the callback, never while
// user code or a collection runs, so `try_borrow` always succeeds here and two traces agree
// (rule 3). Weak-reference objects are GC-capable so that a weak reference held only by
// garbage is itself garbage, as CPython requires.
unsafe impl Trace for WeakRefObj {
    fn trace(&self, visitor: &mut Visitor<'_>) {
        if let Ok(callback) = self.callback.try_borrow() {
            if let Some(callback) = callback.as_ref() {
                WeakCallback::trace(&**callback, visitor);
            }
        }
    }
}

/// The weak references to one referent, in CPython's order.
#[derive(Default)]
pub(crate) struct WeakList {
    /// The shared reference without callback.
    pub(crate) basic: Option<ObjRef>,
    /// References with callbacks, oldest first (iterate in reverse for CPython's order).
    pub(crate) with_callbacks: Vec<ObjRef>,
}

impl WeakList {
    fn remove_ref(&mut self, weakref: ObjRef) {
        if self.basic == Some(weakref) {
            self.basic = None;
        } else if let Some(i) = self.with_callbacks.iter().position(|&w| w == weakref) {
            self.with_callbacks.remove(i);
        }
    }

    /// CPython's list order: basic first, then newest first.
    pub(crate) fn in_order(&self) -> impl Iterator<Item = ObjRef> + '_ {
        self.basic
            .iter()
            .copied()
            .chain(self.with_callbacks.iter().rev().copied())
    }

    pub(crate) fn len(&self) -> usize {
        self.basic.is_some() as usize + self.with_callbacks.len()
    }
}

/// Each referent's weak references (CPython keeps them in the referent's `tp_weaklistoffset`
/// slot; pygc keeps them in this side table so objects without weak references pay nothing).
///
/// # Invariants
/// - A key has an entry iff its header has HAS_WEAKREFS; an entry is never empty.
/// - Every listed object is a live, undead weak-reference object whose `referent` is the key;
///   a weak-reference object is listed under at most one key, at most once.
/// - No method runs user code (callbacks are handed back, never called or dropped here).
#[derive(Default)]
pub(crate) struct WeakTable {
    lists: RefCell<HashMap<ObjRef, WeakList>>,
}

impl fmt::Debug for WeakTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeakTable")
            .field("referents", &self.lists.borrow().len())
            .finish()
    }
}

impl WeakTable {
    /// The shared basic (callback-less) weak reference to `referent`, if any.
    pub(crate) fn basic(&self, referent: ObjRef) -> Option<ObjRef> {
        if !referent.header().has(flag::HAS_WEAKREFS) {
            return None;
        }
        self.lists.borrow().get(&referent).and_then(|l| l.basic)
    }

    /// List a new weak-reference object under its referent.
    pub(crate) fn add(&self, referent: ObjRef, weakref: ObjRef, with_callback: bool) {
        referent.header().set(flag::HAS_WEAKREFS);
        let mut table = self.lists.borrow_mut();
        let list = table.entry(referent).or_default();
        if with_callback {
            list.with_callbacks.push(weakref);
        } else {
            if list.basic.is_some() {
                // `Gc::downgrade` re-checks after its allocation; a second basic reference
                // would leave the first unlisted, never cleared.
                crate::object::corrupted("a second basic weak reference to one object");
            }
            list.basic = Some(weakref);
        }
    }

    /// `weakref.getweakrefcount`.
    pub(crate) fn count(&self, referent: ObjRef) -> usize {
        if !referent.header().has(flag::HAS_WEAKREFS) {
            return 0;
        }
        self.lists.borrow().get(&referent).map_or(0, WeakList::len)
    }

    /// The weak references to `referent`, in CPython's order (`weakref.getweakrefs`).
    pub(crate) fn snapshot(&self, referent: ObjRef) -> Vec<ObjRef> {
        if !referent.header().has(flag::HAS_WEAKREFS) {
            return Vec::new();
        }
        self.lists
            .borrow()
            .get(&referent)
            .map(|l| l.in_order().collect())
            .unwrap_or_default()
    }

    /// Remove `referent`'s list and clear every weak reference in it (they upgrade to `None`
    /// from now on). Returns them in CPython's order. Runs no user code.
    pub(crate) fn take(&self, referent: ObjRef) -> Vec<ObjRef> {
        referent.header().clear(flag::HAS_WEAKREFS);
        let list = self.lists.borrow_mut().remove(&referent);
        let order: Vec<ObjRef> = list.map(|l| l.in_order().collect()).unwrap_or_default();
        for &w in &order {
            if let Some(value) = w.weakref() {
                value.referent.set(None);
            }
        }
        order
    }

    /// A weak-reference object stops naming its referent (it died or was cleared as garbage).
    pub(crate) fn detach(&self, weakref: ObjRef) {
        let Some(value) = weakref.weakref() else {
            return;
        };
        let Some(referent) = value.referent.take() else {
            return;
        };
        let mut table = self.lists.borrow_mut();
        if let Some(list) = table.get_mut(&referent) {
            list.remove_ref(weakref);
            if list.len() == 0 {
                table.remove(&referent);
                referent.header().clear(flag::HAS_WEAKREFS);
            }
        }
    }

    /// Visit every (referent, weak references in order) pair (for the invariant checker).
    #[cfg(any(test, feature = "checked"))]
    pub(crate) fn for_each(&self, mut f: impl FnMut(ObjRef, &[ObjRef])) {
        for (&referent, list) in self.lists.borrow().iter() {
            let order: Vec<ObjRef> = list.in_order().collect();
            f(referent, &order);
        }
    }
}

/// Clear the weak references of a dying referent and take their callbacks out, running no
/// user code: returns a hold on each weak reference still alive, with its callback if it had
/// one. Callbacks of weak references that are themselves dying (count zero: queued in the
/// trashcan) are returned separately, to be dropped by the caller under its user-code guard.
///
/// Holding every survivor before any callback runs or is dropped is what keeps a callback's
/// captures (user code, dropped whenever the caller chooses) from freeing a weak reference
/// the caller still has to visit.
pub(crate) fn take_for_death(
    table: &WeakTable,
    referent: ObjRef,
) -> (Vec<(AnyGc, Option<Callback>)>, Vec<Callback>) {
    let cleared = table.take(referent);
    let mut alive = Vec::with_capacity(cleared.len());
    let mut orphaned = Vec::new();
    for w in cleared {
        let callback = w.weakref().and_then(|v| v.callback.borrow_mut().take());
        // A weak reference whose own count is zero is dying too: no callback, and no new
        // count on it, or it would be released twice. CPython tests `Py_REFCNT(current) > 0`
        // here for the same reason.
        if w.header().rc() > 0 {
            alive.push((AnyGc::new_ref(w), callback));
        } else if let Some(callback) = callback {
            orphaned.push(callback);
        }
    }
    (alive, orphaned)
}

/// A weak reference: names an object without keeping it alive.
///
/// Upgrade with [`Weak::upgrade`]; after the referent dies it returns `None`. Create one with
/// [`Gc::downgrade`] (shared, no callback) or [`Gc::downgrade_with_callback`].
///
/// ```
/// use pygc::{Gc, Heap};
/// let heap = Heap::new();
/// let x = heap.alloc(vec![1, 2, 3]);
/// let w = Gc::downgrade(&x);
/// assert_eq!(w.upgrade().map(|v| v.len()), Some(3));
/// drop(x);
/// assert!(w.upgrade().is_none());
/// ```
pub struct Weak<T> {
    /// The weak-reference object; `None` for a dangling [`Weak::new`].
    weakref: Option<Gc<WeakRefObj>>,
    _referent: PhantomData<fn() -> T>,
}

impl<T> Weak<T> {
    pub(crate) fn weakref_header_ptr(&self) -> Option<std::ptr::NonNull<super::header::Header>> {
        self.weakref.as_ref().map(Gc::header_ptr)
    }

    /// A weak reference to nothing, made without a heap (`rc::Weak::new`): it never
    /// upgrades, and it is not an object (introspection methods refuse it).
    ///
    /// ```
    /// let w: pygc::Weak<u32> = pygc::Weak::new();
    /// assert!(w.upgrade().is_none());
    /// assert_eq!(w.strong_count(), 0);
    /// ```
    pub const fn new() -> Weak<T> {
        Weak {
            weakref: None,
            _referent: PhantomData,
        }
    }

    /// The referent's strong count (handles plus references from other objects), 0 once it
    /// is gone (`rc::Weak::strong_count`).
    ///
    /// ```
    /// use pygc::{Gc, Heap};
    /// let heap = Heap::new();
    /// let x = heap.alloc(1u8);
    /// let w = Gc::downgrade(&x);
    /// assert_eq!(w.strong_count(), 1);
    /// drop(x);
    /// assert_eq!(w.strong_count(), 0);
    /// ```
    pub fn strong_count(&self) -> usize {
        self.upgrade()
            .map_or(0, |strong| Gc::ref_count(&strong) - 1)
    }

    pub(crate) fn from_weakref(weakref: Gc<WeakRefObj>) -> Weak<T> {
        Weak {
            weakref: Some(weakref),
            _referent: PhantomData,
        }
    }

    /// A strong handle to the referent, or `None` if it has died (or its value was dropped by
    /// the collector).
    pub fn upgrade(&self) -> Option<Gc<T>> {
        // The weak-reference object itself may be co-garbage seen from a `Drop` the collector
        // runs: its value is gone, and so is the referent as far as this handle knows.
        let referent = Gc::try_get(self.weakref.as_ref()?)?.referent.get()?;
        // A count of zero means the referent is dying: queued in the trashcan, its weak
        // references not cleared yet. Reviving it would let the trashcan free a live object
        // (CPython's `PyWeakref_GET_OBJECT` has the same test).
        if referent.header().has(flag::DEAD) || referent.header().rc() == 0 {
            return None;
        }
        referent.header().inc_rc();
        // SAFETY: a `Weak<T>` is only made for referents of type `T`; we took the count.
        Some(unsafe { Gc::from_obj(referent) })
    }

    /// Whether the referent is gone (Python's `ref() is None`).
    pub fn is_dead(&self) -> bool {
        self.upgrade().is_none()
    }

    /// Whether two weak handles are the same weak-reference object (Python's `is`); two
    /// dangling ones ([`Weak::new`]) are equal.
    pub fn ptr_eq(this: &Self, other: &Self) -> bool {
        match (&this.weakref, &other.weakref) {
            (Some(a), Some(b)) => Gc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }

    /// The weak-reference object, type-erased (it is an object in the heap, as in CPython).
    ///
    /// # Panics
    /// On a dangling weak reference ([`Weak::new`]), which is no object.
    pub fn to_any(this: &Self) -> AnyGc {
        Gc::to_any(this.weakref.as_ref().unwrap_or_else(|| dangling()))
    }

    /// Whether the weak reference still carries a callback that has not run.
    pub fn has_callback(&self) -> bool {
        self.weakref
            .as_ref()
            .and_then(Gc::try_get)
            .is_some_and(|w| w.callback.borrow().is_some())
    }
}

impl<T> Clone for Weak<T> {
    fn clone(&self) -> Self {
        Weak {
            weakref: self.weakref.clone(),
            _referent: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Weak<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self
            .weakref
            .as_ref()
            .and_then(Gc::try_get)
            .and_then(|w| w.referent.get())
        {
            Some(r) => write!(f, "<weakref to {} {:p}>", std::any::type_name::<T>(), r),
            None => write!(f, "<weakref; dead>"),
        }
    }
}

impl<T> Handle for Weak<T> {}
impl<T> super::handle::sealed::Sealed for Weak<T> {
    fn object_ptr(&self) -> std::ptr::NonNull<u8> {
        self.weakref
            .as_ref()
            .unwrap_or_else(|| dangling())
            .header_ptr()
            .cast()
    }
}

impl<T> Default for Weak<T> {
    fn default() -> Self {
        Weak::new()
    }
}

#[cold]
fn dangling() -> ! {
    panic!("pygc: a dangling Weak (Weak::new) names no object")
}

impl<T> Gc<T> {
    /// The shared weak reference to this object (created on first use): Python's
    /// `weakref.ref(x)`, where `ref(x) is ref(x)`.
    ///
    /// On a dead handle (co-garbage seen from a `Drop` the collector runs, see "Dead handles")
    /// the result is a weak reference that is already dead: it upgrades to `None`.
    pub fn downgrade(this: &Self) -> Weak<T> {
        let referent = this.obj();
        if !Gc::is_dead(this) {
            if let Some(basic) = Owner::of_obj(this).weak_table().basic(referent) {
                return Weak::from_weakref(handle_for(basic));
            }
        }
        // Allocation may run a collection, and with it user code that can downgrade this very
        // object (making the basic reference) or, in a collector-run `Drop`, find it dead: so
        // the new object names nothing until the checks below, made after it exists.
        let weakref = new_weakref(this, None);
        if Gc::is_dead(this) {
            return Weak::from_weakref(weakref);
        }
        let table = Owner::of_obj(this).weak_table();
        if let Some(basic) = table.basic(referent) {
            return Weak::from_weakref(handle_for(basic));
        }
        weakref.referent.set(Some(referent));
        table.add(referent, weakref.obj(), false);
        Weak::from_weakref(weakref)
    }

    /// A new weak reference whose `callback` runs once when this object dies, receiving the
    /// (already cleared) weak reference. Callbacks of one object run newest first. A callback
    /// does not run if the weak reference itself died first, or (under the collector) if the
    /// weak reference is garbage too.
    ///
    /// On a dead handle (see "Dead handles") the weak reference is dead from the start and
    /// `callback` is dropped without running: the object already died.
    ///
    /// The closure is opaque to the collector: handles it captures are strong edges the
    /// collector cannot see (they keep their targets alive). Capture `Weak`s or plain data.
    pub fn downgrade_with_callback(this: &Self, callback: impl FnOnce(Weak<T>) + 'static) -> Weak<T>
    where
        T: 'static,
    {
        // Made naming nothing: see `downgrade` (its allocation may collect).
        let weakref = new_weakref(this, None);
        if Gc::is_dead(this) {
            drop(callback);
            return Weak::from_weakref(weakref);
        }
        let erased: Callback = Box::new(TracedCallback {
            state: Opaque,
            f: move |_: Opaque, weakref: Weak<T>| callback(weakref),
            _referent: PhantomData,
        });
        Self::install_callback(this, weakref, erased)
    }

    /// A new weak reference with a callback whose *state* the collector traverses, as CPython
    /// traverses a weak reference's `wr_callback`: `callback(state, weak)` runs once when this
    /// object dies, and until then the handles in `state` are edges of the weak-reference
    /// object (not external references).
    ///
    /// So an object holding a weak reference to itself whose callback state mentions it is a
    /// plain cycle, freed by [`Heap::collect`](crate::Heap::collect); with
    /// [`Gc::downgrade_with_callback`] the captured handle would keep it alive forever.
    ///
    /// CPython's rules for the garbage apply (`handle_weakrefs`): when the referent is
    /// garbage and the weak reference is not, the callback runs (its state is reachable
    /// through the weak reference, so it is intact); when the weak reference is itself
    /// garbage, the callback never runs and its state is dropped with it. On refcount death
    /// the callback runs as for [`Gc::downgrade_with_callback`]. Put every handle the
    /// callback needs in `state`; the closure itself should capture only plain data.
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use pygc::{Gc, Heap, Trace, Weak};
    ///
    /// #[derive(Trace)]
    /// struct Node {
    ///     me: RefCell<Option<Weak<Node>>>,
    /// }
    ///
    /// let heap = Heap::new();
    /// let node = heap.alloc(Node { me: RefCell::new(None) });
    /// // The callback state holds the node itself: a traced edge, not a hidden root.
    /// let weak = Gc::downgrade_with_traced_callback(&node, node.clone(), |_state, _weak| {});
    /// *node.me.borrow_mut() = Some(weak);
    /// drop(node);
    /// assert_eq!(heap.live_objects(), 2); // the node and its weak-reference object
    /// heap.collect();
    /// assert_eq!(heap.live_objects(), 0);
    /// ```
    pub fn downgrade_with_traced_callback<S: Trace + 'static>(
        this: &Self,
        state: S,
        callback: impl FnOnce(S, Weak<T>) + 'static,
    ) -> Weak<T>
    where
        T: 'static,
    {
        // Made naming nothing: see `downgrade` (its allocation may collect).
        let weakref = new_weakref(this, None);
        if Gc::is_dead(this) {
            drop((state, callback));
            return Weak::from_weakref(weakref);
        }
        let erased: Callback = Box::new(TracedCallback {
            state,
            f: callback,
            _referent: PhantomData,
        });
        Self::install_callback(this, weakref, erased)
    }

    fn install_callback(this: &Self, weakref: Gc<WeakRefObj>, callback: Callback) -> Weak<T> {
        let referent = this.obj();
        *weakref.callback.borrow_mut() = Some(callback);
        weakref.referent.set(Some(referent));
        Owner::of_obj(this)
            .weak_table()
            .add(referent, weakref.obj(), true);
        Weak::from_weakref(weakref)
    }

    /// Number of weak-reference objects naming this object (`weakref.getweakrefcount`).
    pub fn weak_count(this: &Self) -> usize {
        Owner::of_obj(this).weak_table().count(this.obj())
    }
}

fn handle_for(weakref: ObjRef) -> Gc<WeakRefObj> {
    let hold = AnyGc::new_ref(weakref);
    hold.downcast_internal::<WeakRefObj>()
        .expect("a weak list holds weak-reference objects")
}

/// A new weak-reference object in `anchor`'s heap, naming nothing yet (dead, no callback).
fn new_weakref<T>(anchor: &Gc<T>, referent: Option<ObjRef>) -> Gc<WeakRefObj> {
    let value = WeakRefObj {
        referent: Cell::new(referent),
        callback: RefCell::new(None),
    };
    alloc_weakref(anchor, value)
}

// ---- WeakValueMap -------------------------------------------------------------------------

/// A map whose values are held weakly: an entry vanishes when its value dies
/// (Python's `weakref.WeakValueDictionary`).
///
/// Each entry holds a weak reference with a callback that removes the entry, but only if the
/// entry still holds that same weak reference (a later `insert` under the same key wins).
/// A value kept alive only by cyclic garbage keeps its entry until the collector runs.
///
/// ```
/// use pygc::{Heap, WeakValueMap};
/// let heap = Heap::new();
/// let map = WeakValueMap::new();
/// let v = heap.alloc(String::from("value"));
/// map.insert("k", &v);
/// assert_eq!(map.len(), 1);
/// drop(v);
/// assert_eq!(map.len(), 0);
/// assert!(map.get(&"k").is_none());
/// ```
pub struct WeakValueMap<K, V> {
    inner: Rc<RefCell<HashMap<K, Weak<V>>>>,
}

impl<K, V> fmt::Debug for WeakValueMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeakValueMap")
            .field("len", &self.inner.borrow().len())
            .finish()
    }
}

impl<K: Eq + Hash + Clone + 'static, V: 'static> Default for WeakValueMap<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Eq + Hash + Clone + 'static, V: 'static> WeakValueMap<K, V> {
    /// An empty map.
    pub fn new() -> Self {
        WeakValueMap {
            inner: Rc::new(RefCell::new(HashMap::new())),
        }
    }

    /// Insert `value` under `key` (weakly), returning the previous live value.
    pub fn insert(&self, key: K, value: &Gc<V>) -> Option<Gc<V>> {
        let map = Rc::downgrade(&self.inner);
        let k = key.clone();
        let weak = Gc::downgrade_with_callback(value, move |dead: Weak<V>| {
            let Some(map) = map.upgrade() else { return };
            // The map may be borrowed if the value died while the map was being used; the
            // entry is then found dead and dropped by the next access.
            if let Ok(mut map) = map.try_borrow_mut() {
                if map.get(&k).is_some_and(|w| Weak::ptr_eq(w, &dead)) {
                    map.remove(&k);
                }
            }
        });
        let old = self.inner.borrow_mut().insert(key, weak);
        old.and_then(|w| w.upgrade())
    }

    /// The live value under `key`.
    pub fn get(&self, key: &K) -> Option<Gc<V>> {
        let found = self.inner.borrow().get(key).map(|w| w.upgrade());
        match found {
            Some(Some(v)) => Some(v),
            Some(None) => {
                self.inner.borrow_mut().remove(key);
                None
            }
            None => None,
        }
    }

    /// Remove `key`, returning its live value.
    pub fn remove(&self, key: &K) -> Option<Gc<V>> {
        let removed = self.inner.borrow_mut().remove(key);
        removed.and_then(|w| w.upgrade())
    }

    /// Number of entries whose values are alive.
    pub fn len(&self) -> usize {
        self.purge();
        self.inner.borrow().len()
    }

    /// Whether no entry has a live value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The keys and live values, as a snapshot (so values may die while you iterate it).
    pub fn entries(&self) -> Vec<(K, Gc<V>)> {
        self.purge();
        let map = self.inner.borrow();
        map.iter()
            .filter_map(|(k, w)| w.upgrade().map(|v| (k.clone(), v)))
            .collect()
    }

    fn purge(&self) {
        let Ok(mut map) = self.inner.try_borrow_mut() else {
            return;
        };
        map.retain(|_, w| !w.is_dead());
    }
}

// SAFETY: the map owns its entries (the `Rc` is never shared strongly: the entries'
// callbacks hold only `rc::Weak`s to it, upgraded while user code runs, never during a
// collection). It reports each key and each weak handle once. A map borrowed mutably while
// the collector runs is skipped (conservative, as `RefCell`'s impl).
unsafe impl<K: Trace, V> Trace for WeakValueMap<K, V> {
    fn trace(&self, visitor: &mut Visitor<'_>) {
        if let Ok(map) = self.inner.try_borrow() {
            for (key, weak) in map.iter() {
                key.trace(visitor);
                visitor.visit_weak(weak);
            }
        }
    }
}

// ---- WeakKeyMap ---------------------------------------------------------------------------

/// A map whose keys are objects held weakly, by identity: an entry vanishes when its key
/// dies (Python's `weakref.WeakKeyDictionary`). Values are held strongly, as in CPython, so
/// a value that refers to its own key keeps it alive.
///
/// ```
/// use pygc::{Heap, WeakKeyMap};
/// let heap = Heap::new();
/// let map = WeakKeyMap::new();
/// let k = heap.alloc(String::from("key"));
/// map.insert(&k, 1);
/// assert_eq!(map.get(&k), Some(1));
/// drop(k);
/// assert!(map.is_empty());
/// ```
pub struct WeakKeyMap<K, V> {
    inner: Rc<RefCell<KeyEntries<K, V>>>,
}

/// A `WeakKeyMap`'s entries: key address to (weak key, value).
type KeyEntries<K, V> = HashMap<usize, (Weak<K>, V)>;

impl<K, V> fmt::Debug for WeakKeyMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeakKeyMap")
            .field("len", &self.inner.borrow().len())
            .finish()
    }
}

impl<K: 'static, V: 'static> Default for WeakKeyMap<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: 'static, V: 'static> WeakKeyMap<K, V> {
    /// An empty map.
    pub fn new() -> Self {
        WeakKeyMap {
            inner: Rc::new(RefCell::new(HashMap::new())),
        }
    }

    fn addr(key: &Gc<K>) -> usize {
        key.header_ptr().as_ptr().addr()
    }

    /// The entry's weak reference still names `key` (a dead key's address may be reused).
    fn names(weak: &Weak<K>, key: &Gc<K>) -> bool {
        weak.upgrade().is_some_and(|k| Gc::ptr_eq(&k, key))
    }

    /// Insert `value` under `key` (held weakly), returning the previous value.
    pub fn insert(&self, key: &Gc<K>, value: V) -> Option<V> {
        let map = Rc::downgrade(&self.inner);
        let addr = Self::addr(key);
        let weak = Gc::downgrade_with_callback(key, move |dead: Weak<K>| {
            let Some(map) = map.upgrade() else { return };
            // As `WeakValueMap`: a borrowed map leaves the entry to be found dead later.
            let removed = match map.try_borrow_mut() {
                Ok(mut map) if map.get(&addr).is_some_and(|(w, _)| Weak::ptr_eq(w, &dead)) => {
                    map.remove(&addr)
                }
                _ => None,
            };
            drop(removed); // the value's `Drop` runs outside the borrow
        });
        let old = self.inner.borrow_mut().insert(addr, (weak, value));
        old.and_then(|(w, v)| Self::names(&w, key).then_some(v))
    }

    /// A clone of the value under `key`.
    pub fn get(&self, key: &Gc<K>) -> Option<V>
    where
        V: Clone,
    {
        let map = self.inner.borrow();
        let (weak, value) = map.get(&Self::addr(key))?;
        Self::names(weak, key).then(|| value.clone())
    }

    /// Whether `key` has an entry.
    pub fn contains_key(&self, key: &Gc<K>) -> bool {
        let map = self.inner.borrow();
        map.get(&Self::addr(key))
            .is_some_and(|(weak, _)| Self::names(weak, key))
    }

    /// Remove `key`'s entry, returning its value.
    pub fn remove(&self, key: &Gc<K>) -> Option<V> {
        let addr = Self::addr(key);
        let mut map = self.inner.borrow_mut();
        if !map
            .get(&addr)
            .is_some_and(|(weak, _)| Self::names(weak, key))
        {
            return None;
        }
        map.remove(&addr).map(|(_, v)| v)
    }

    /// Number of entries whose keys are alive.
    pub fn len(&self) -> usize {
        self.purge();
        self.inner.borrow().len()
    }

    /// Whether no entry has a live key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The live keys and clones of their values, as a snapshot.
    pub fn entries(&self) -> Vec<(Gc<K>, V)>
    where
        V: Clone,
    {
        self.purge();
        let map = self.inner.borrow();
        map.values()
            .filter_map(|(w, v)| w.upgrade().map(|k| (k, v.clone())))
            .collect()
    }

    fn purge(&self) {
        let dead: Vec<(Weak<K>, V)> = {
            let Ok(mut map) = self.inner.try_borrow_mut() else {
                return;
            };
            let keys: Vec<usize> = map
                .iter()
                .filter(|(_, (w, _))| w.is_dead())
                .map(|(k, _)| *k)
                .collect();
            keys.iter().filter_map(|k| map.remove(k)).collect()
        };
        drop(dead); // values' `Drop`s run outside the borrow
    }
}

// SAFETY: as for `WeakValueMap`: the map owns its entries; each weak key handle and each
// value is reported once; a mutably borrowed map is skipped.
unsafe impl<K, V: Trace> Trace for WeakKeyMap<K, V> {
    fn trace(&self, visitor: &mut Visitor<'_>) {
        if let Ok(map) = self.inner.try_borrow() {
            for (weak, value) in map.values() {
                visitor.visit_weak(weak);
                value.trace(visitor);
            }
        }
    }
}

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
use super::vtable::WEAKREF_VTABLE;
use crate::heap::HeapInner;
use crate::{Trace, Visitor};

/// A weak-reference callback, type-erased; receives the (already cleared) weak reference.
pub(crate) type Callback = Box<dyn FnOnce(AnyGc)>;

/// The value of a weak-reference object.
pub(crate) struct WeakRefObj {
    /// The referent, or `None` once cleared. Not counted.
    pub(crate) referent: Cell<Option<ObjRef>>,
    /// The callback; taken when it runs (or never, per CPython's rules).
    pub(crate) callback: RefCell<Option<Callback>>,
}

// SAFETY: a weak-reference object owns no strong handle the collector could see (its callback
// is an opaque closure). It is still GC-capable (`MAY_CONTAIN_HANDLES = true`) so that a weak
// reference held only by garbage is itself garbage, as CPython requires.
unsafe impl Trace for WeakRefObj {
    fn trace(&self, _: &mut Visitor<'_>) {}
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
    weakref: Gc<WeakRefObj>,
    _referent: PhantomData<fn() -> T>,
}

impl<T> Weak<T> {
    pub(crate) fn weakref_header_ptr(&self) -> std::ptr::NonNull<super::header::Header> {
        self.weakref.header_ptr()
    }

    pub(crate) fn from_weakref(weakref: Gc<WeakRefObj>) -> Weak<T> {
        Weak {
            weakref,
            _referent: PhantomData,
        }
    }

    /// A strong handle to the referent, or `None` if it has died (or its value was dropped by
    /// the collector).
    pub fn upgrade(&self) -> Option<Gc<T>> {
        let referent = self.weakref.referent.get()?;
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

    /// Whether two weak handles are the same weak-reference object (Python's `is`).
    pub fn ptr_eq(this: &Self, other: &Self) -> bool {
        Gc::ptr_eq(&this.weakref, &other.weakref)
    }

    /// The weak-reference object, type-erased (it is an object in the heap, as in CPython).
    pub fn to_any(this: &Self) -> AnyGc {
        Gc::to_any(&this.weakref)
    }

    /// Whether the weak reference still carries a callback that has not run.
    pub fn has_callback(&self) -> bool {
        self.weakref.callback.borrow().is_some()
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
        match self.weakref.referent.get() {
            Some(r) => write!(f, "<weakref to {} {:p}>", std::any::type_name::<T>(), r.0),
            None => write!(f, "<weakref; dead>"),
        }
    }
}

impl<T> Handle for Weak<T> {}
impl<T> super::handle::sealed::Sealed for Weak<T> {
    fn object_ptr(&self) -> std::ptr::NonNull<u8> {
        self.weakref.header_ptr().cast()
    }
}

impl<T> Gc<T> {
    /// The shared weak reference to this object (created on first use): Python's
    /// `weakref.ref(x)`, where `ref(x) is ref(x)`.
    pub fn downgrade(this: &Self) -> Weak<T> {
        let referent = this.obj();
        let heap = HeapInner::of(referent);
        if let Some(basic) = heap.weak_list_basic(referent) {
            return Weak::from_weakref(handle_for(basic));
        }
        let weakref = new_weakref(heap, referent, None);
        heap.weak_list_add(referent, weakref.obj(), false);
        Weak::from_weakref(weakref)
    }

    /// A new weak reference whose `callback` runs once when this object dies, receiving the
    /// (already cleared) weak reference. Callbacks of one object run newest first. A callback
    /// does not run if the weak reference itself died first, or (under the collector) if the
    /// weak reference is garbage too.
    ///
    /// The closure is opaque to the collector: handles it captures are strong edges the
    /// collector cannot see (they keep their targets alive). Capture `Weak`s or plain data.
    pub fn downgrade_with_callback(
        this: &Self,
        callback: impl FnOnce(Weak<T>) + 'static,
    ) -> Weak<T> {
        let referent = this.obj();
        let heap = HeapInner::of(referent);
        let erased: Callback = Box::new(move |weakref: AnyGc| {
            let weakref = weakref
                .downcast_internal::<WeakRefObj>()
                .expect("weak reference object");
            callback(Weak::from_weakref(weakref));
        });
        let weakref = new_weakref(heap, referent, Some(erased));
        heap.weak_list_add(referent, weakref.obj(), true);
        Weak::from_weakref(weakref)
    }

    /// Number of weak-reference objects naming this object (`weakref.getweakrefcount`).
    pub fn weak_count(this: &Self) -> usize {
        let referent = this.obj();
        HeapInner::of(referent).weak_list_len(referent)
    }
}

fn handle_for(weakref: ObjRef) -> Gc<WeakRefObj> {
    weakref.header().inc_rc();
    // SAFETY: `weakref` is a live weak-reference object; we took the count we hand over.
    unsafe { Gc::from_obj(weakref) }
}

fn new_weakref(heap: &HeapInner, referent: ObjRef, callback: Option<Callback>) -> Gc<WeakRefObj> {
    let value = WeakRefObj {
        referent: Cell::new(Some(referent)),
        callback: RefCell::new(callback),
    };
    heap.alloc_object(WEAKREF_VTABLE, value)
        .unwrap_or_else(|_| std::alloc::handle_alloc_error(WEAKREF_VTABLE.layout))
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

//! Unsized handles through `coerce_gc!`: `Gc<dyn Trait>` and `Gc<[T]>` (issue 11).

use std::cell::RefCell;

use pygc::{Gc, Trace, coerce_gc};

use crate::support::TestHeap;

trait Named {
    fn name(&self) -> String;
}

#[derive(Trace)]
struct Dog {
    friend: RefCell<Option<Gc<Dog>>>,
}
impl Named for Dog {
    fn name(&self) -> String {
        "dog".into()
    }
}

#[derive(Trace)]
struct Cat(u8);
impl Named for Cat {
    fn name(&self) -> String {
        format!("cat {}", self.0)
    }
}

#[test]
fn dyn_trait_handles() {
    let heap = TestHeap::new();
    let dog = heap.alloc(Dog {
        friend: RefCell::new(None),
    });
    *dog.friend.borrow_mut() = Some(dog.clone()); // a cycle, seen through a dyn handle
    let zoo: Vec<Gc<dyn Named>> = vec![coerce_gc!(dog.clone()), coerce_gc!(heap.alloc(Cat(3)))];
    assert_eq!(zoo[0].name(), "dog");
    assert_eq!(zoo[1].name(), "cat 3");
    assert_eq!(Gc::ref_count(&dog), 3, "the coerced handle kept its count");
    assert!(heap.is_tracked(&zoo[0]));
    assert!(!heap.is_tracked(&zoo[1]));
    let clone = zoo[0].clone();
    assert!(Gc::ptr_eq(&clone, &zoo[0]));
    drop(clone);
    drop(dog);
    drop(zoo);
    assert_eq!(heap.live_objects(), 1, "the dog's cycle");
    assert_eq!(heap.collect(), 1);
    assert_eq!(heap.live_objects(), 0);
}

#[test]
fn slice_handles() {
    let heap = TestHeap::new();
    let s: Gc<[Gc<Dog>]> = coerce_gc!(heap.alloc([
        heap.alloc(Dog {
            friend: RefCell::new(None)
        }),
        heap.alloc(Dog {
            friend: RefCell::new(None)
        }),
    ]));
    assert_eq!(s.len(), 2);
    assert!(heap.is_tracked(&s));
    assert_eq!(heap.referents(&s).len(), 2);
    *s[0].friend.borrow_mut() = Some(s[1].clone());
    drop(s);
    assert_eq!(heap.live_objects(), 0);
}

#!/usr/bin/env bash
# Architecture check: knowledge flows one way, alloc <- object <- gc <- heap <- introspect (DESIGN.md,
# "Layers"). Fails on any code line (comments and doc links are ignored) of a lower layer that
# names a higher one, directly (`crate::gc::...`, `use crate::heap`) or through the crate
# root's re-exports of higher-layer items (`crate::Heap`, `crate::DebugFlags`, ...), and on
# `super::super` paths that could climb out of a layer.
set -euo pipefail
cd "$(dirname "$0")/.."

# Items the crate root re-exports, by the layer that defines them.
gc_items='Collector|DebugFlags|CallbackPhase|CallbackId|CollectionInfo|GcError|GenerationStats|Unraisable'
heap_items='Heap|HeapConfig|AllocatorGeometry|AllocError|DEFAULT_THRESHOLDS'
object_items='Gc|AnyGc|Handle|Weak|WeakValueMap|Trace|Visitor|Finalize|LegacyFinalize'

status=0
check() { # layer dir, forbidden regex, what
    local dir=$1 pattern=$2 what=$3 hits
    # Strip line comments (including doc comments) before matching.
    hits=$(grep -rnE --include='*.rs' "$pattern" "$dir" | grep -vE '^[^:]+:[0-9]+:\s*(//|\*)' || true)
    if [ -n "$hits" ]; then
        echo "layers: $dir must not name $what:"
        echo "$hits" | sed 's/^/    /'
        status=1
    fi
}
check src/alloc  "crate::(object|gc|heap)\b|crate::($object_items|$gc_items|$heap_items)\b" "object, gc or heap"
check src/object "crate::(gc|heap)\b|crate::($gc_items|$heap_items)\b" "gc or heap"
check src/gc     "crate::heap\b|crate::($heap_items)\b" "heap"
# `introspect` sits above `heap`: no layer of the core names it.
for core in src/alloc src/object src/gc src/heap; do
    check "$core" "crate::introspect\b" "introspect (above heap)"
done
check src       "super::super" "a grandparent module (use crate:: paths)"
if [ $status -eq 0 ]; then
    echo "layers: alloc <- object <- gc <- heap <- introspect holds"
fi
exit $status

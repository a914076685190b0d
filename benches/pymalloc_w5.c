/* W5a and W5b of benches/workloads.rs on CPython 3.11's own pymalloc (PyObject_Malloc /
 * PyObject_Free from libpython), for benches/cpython_workloads.py, which compiles and runs it.
 * Same loops, same xorshift64* sequence as the Rust bench. The interpreter is not
 * initialised: PyObject_Malloc works before Py_Initialize, so the allocator holds nothing
 * else (W5a's "otherwise empty allocator").
 *
 *     pymalloc_w5 W5a|W5b N  ->  prints the elapsed nanoseconds of one run
 */
#include <Python.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t rng = 0x5eed1234abcdef01ULL;
static size_t below(size_t n) {
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (size_t)((rng * 0x2545f4914f6cdd1dULL) >> 32) % n;
}

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    size_t n = strtoull(argv[2], NULL, 10);
    uint64_t start, end;
    if (strcmp(argv[1], "W5a") == 0) {
        start = now_ns();
        for (size_t i = 0; i < n; i++) {
            volatile uint64_t *p = PyObject_Malloc(32);
            if (!p) return 3;
            *p = i;
            PyObject_Free((void *)p);
        }
        end = now_ns();
    } else {
        enum { LIVE = 10000 };
        static void *live[LIVE];
        for (size_t i = 0; i < LIVE; i++) live[i] = PyObject_Malloc(8 + below(505));
        uint32_t *slot = malloc(n * sizeof *slot);
        uint16_t *size = malloc(n * sizeof *size);
        for (size_t i = 0; i < n; i++) {
            slot[i] = (uint32_t)below(LIVE);
            size[i] = (uint16_t)(8 + below(505));
        }
        start = now_ns();
        for (size_t i = 0; i < n; i++) {
            PyObject_Free(live[slot[i]]);
            uint64_t *q = PyObject_Malloc(size[i]);
            if (!q) return 3;
            *q = slot[i];
            live[slot[i]] = q;
        }
        end = now_ns();
        for (size_t i = 0; i < LIVE; i++) PyObject_Free(live[i]);
    }
    printf("%llu\n", (unsigned long long)(end - start));
    return 0;
}

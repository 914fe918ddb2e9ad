/* Default sanitizer settings linked into every program of a -DMT_SANITIZE=ON (or MT_FUZZ) build: the
 * runtimes call these hooks at start-up. Environment variables (ASAN_OPTIONS, LSAN_OPTIONS,
 * UBSAN_OPTIONS) still override them, one option at a time.
 *  - UBSan prints a stack trace for each report (the build makes every report fatal);
 *  - ASan unwinds the stack of each allocation with the full (DWARF) unwinder: Open MPI's plugins are
 *    built without frame pointers and unloaded by MPI_Finalize, so a frame-pointer walk stops in them
 *    and a leak report could not tell their memory from ours. Full stacks reach MPI_Init, which the
 *    suppressions of tests/lsan.supp name (compiled in as __lsan_default_suppressions, so every
 *    program of the build applies them, run by CTest or by hand); in the fuzz harnesses they reach the libhdf5 call a leak inside libhdf5 came from
 *    (libhdf5 has no frame pointers either). It makes allocation about twice as slow;
 *  - a request for more than 4 GiB returns NULL instead of being served. libhdf5 allocates sizes read
 *    from a damaged file's metadata (16 GiB for an object header, say) and then reads far less into it:
 *    in a normal build the untouched pages cost nothing, but ASan writes the shadow of the whole block
 *    (an eighth of its size), and the fuzzer stops at its memory limit. NULL is what such a request
 *    gets on a machine without overcommit, and libhdf5 handles it; nothing mpitrain allocates itself
 *    comes near this size in the tests;
 *  - no ODR check: Open MPI's components are plugins that share globals with the core library;
 *  - LeakSanitizer does not list the suppressions it used (it would add lines to stderr, which the
 *    command-line tests compare), and does not scan thread-local storage: gcc 12's LeakSanitizer crashes
 *    ("Tracer caught signal 11 ... LeakSanitizer has encountered a fatal error") on the stale dynamic-TLS
 *    ranges of the Open MPI plugins that MPI_Finalize unloads, in every program started without mpirun.
 *    mpitrain keeps no heap pointers in thread-local storage, and skipping it can only add leak reports,
 *    never hide one.
 * These hooks run before the C library is set up (getenv returns NULL, instrumented memory accesses
 * crash), so they only return constant strings. */

const char *__asan_default_options(void);
const char *__ubsan_default_options(void);
const char *__lsan_default_options(void);
const char *__lsan_default_suppressions(void);

#include "lsan_suppressions.h" /* MT_LSAN_SUPPRESSIONS: the leak: lines of tests/lsan.supp (CMake) */

const char *__asan_default_options(void)
{
    return "detect_odr_violation=0:allocator_may_return_null=1:max_allocation_size_mb=4096:fast_unwind_on_malloc=0";
}

const char *__ubsan_default_options(void)
{
    return "print_stacktrace=1:halt_on_error=1";
}

const char *__lsan_default_options(void)
{
    return "print_suppressions=0:use_tls=0";
}

const char *__lsan_default_suppressions(void)
{
    return MT_LSAN_SUPPRESSIONS;
}

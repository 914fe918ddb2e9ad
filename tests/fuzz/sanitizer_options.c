/* Default sanitizer settings linked into every program of a -DMT_SANITIZE=ON (or MT_FUZZ) build: the
 * runtimes call these hooks at start-up. Environment variables (ASAN_OPTIONS, LSAN_OPTIONS,
 * UBSAN_OPTIONS) still override them.
 *  - UBSan prints a stack trace for each report (the build makes every report fatal);
 *  - LeakSanitizer ignores memory that Open MPI, its transports and HDF5 keep until exit (allocations
 *    made inside those libraries for their own state, which they never free); leaks whose stack passes
 *    through mpitrain code first are still reported. Processes started by mpirun skip the leak check. */

const char *__asan_default_options(void);
const char *__ubsan_default_options(void);
const char *__lsan_default_suppressions(void);
const char *__lsan_default_options(void);

#include <stdlib.h>

const char *__asan_default_options(void)
{
    /* Under mpirun, Open MPI unloads its plugins at MPI_Finalize, so the memory they keep until exit shows
     * up as leaks from an "<unknown module>" that no suppression can name: no leak check there (unit
     * tests, run without a launcher, keep it). */
    if (getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK"))
        return "detect_odr_violation=0:allocator_may_return_null=1:detect_leaks=0";
    /* Open MPI loads its components as plugins that share globals with the core library. A request
     * for more than ASan supports (libhdf5 allocates sizes read from a damaged file's metadata) returns
     * NULL, as malloc does in a normal build, instead of stopping the program. */
    return "detect_odr_violation=0:allocator_may_return_null=1";
}

const char *__ubsan_default_options(void)
{
    return "print_stacktrace=1:halt_on_error=1";
}

/* LeakSanitizer reads its own defaults (detect_leaks among them) after ASan's. */
const char *__lsan_default_options(void)
{
    if (getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK"))
        return "detect_leaks=0";
    return "";
}

const char *__lsan_default_suppressions(void)
{
    return "leak:libmpi\n"
           "leak:libopen-pal.so\n"
           "leak:libopen-rte.so\n"
           "leak:libpmix.so\n"
           "leak:libhwloc.so\n"
           "leak:libevent\n"
           "leak:libucp.so\n"
           "leak:libucs.so\n"
           "leak:libuct.so\n"
           "leak:libfabric.so\n"
           "leak:mca_\n"
           "leak:libhdf5\n"
           "leak:libgfortran.so\n"
           "leak:libopenblas\n"
           "leak:libcrypto.so\n";
}

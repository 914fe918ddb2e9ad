/* mpitrain public API: status codes and version. Does not include mpi.h, hdf5.h or cblas.h. */
#ifndef MPITRAIN_H
#define MPITRAIN_H

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes returned by every fallible library function. */
typedef enum mt_status {
    MT_OK = 0,
    MT_ERR_USAGE,    /* bad command-line usage */
    MT_ERR_CONFIG,   /* bad configuration (YAML, --set) */
    MT_ERR_INPUT,    /* bad or missing input file (dataset, checkpoint) */
    MT_ERR_IO,       /* failure while writing or reading at run time */
    MT_ERR_NOMEM,    /* allocation failed */
    MT_ERR_MPI,      /* an MPI call failed */
    MT_ERR_NUMERIC,  /* NaN or Inf where a finite number was needed */
    MT_ERR_INTERNAL, /* a bug */
    MT_INTERRUPTED,  /* stopped on request (SIGTERM, SIGINT) after writing a checkpoint */
    MT_ERR_STALL     /* a collective waited past the watchdog's limit: some rank never arrived */
} mt_status;

/* An error: a status and a one-line message naming file, field/line or rank. Caller-owned. */
typedef struct mt_error {
    mt_status code;
    char msg[1024];
} mt_error;

/* Exit status the command line uses for a status: 0 ok, 2 usage/config/input, 1 run time. */
int mt_status_exit_code(mt_status code);

/* Short name of a status ("config error", ...). Never NULL. */
const char *mt_status_name(mt_status code);

/* Library version string, e.g. "0.1.0". */
const char *mt_version(void);

#ifdef __cplusplus
}
#endif
#endif

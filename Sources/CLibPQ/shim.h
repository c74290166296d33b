// Umbrella header for libpq. Only the `Postgres` module imports CLibPQ.
#ifndef CLIBPQ_SHIM_H
#define CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif

#ifndef PAYFLEET_CZLIB_SHIM_H
#define PAYFLEET_CZLIB_SHIM_H
// The system zlib (Debian: zlib1g-dev), for gzip bills.
#include <zlib.h>
#endif

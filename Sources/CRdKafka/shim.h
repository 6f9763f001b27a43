#ifndef PAYFLEET_CRDKAFKA_SHIM_H
#define PAYFLEET_CRDKAFKA_SHIM_H
// Debian installs the headers under librdkafka/; the mock cluster API is needed for the embedded broker.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#endif

/* Non-variadic wrappers around librdkafka calls Swift cannot make (rd_kafka_producev is variadic). */
#ifndef POS_KAFKA_SHIM_H
#define POS_KAFKA_SHIM_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

/** Produces one message (copied) with optional headers, whose ownership passes to librdkafka
 *  on success (on failure the caller still owns and must destroy them). `partition` may be
 *  RD_KAFKA_PARTITION_UA. Returns the librdkafka error code. */
rd_kafka_resp_err_t pos_kafka_produce(rd_kafka_t *rk, const char *topic, int32_t partition, const void *key,
                                      size_t key_len, const void *value, size_t value_len,
                                      rd_kafka_headers_t *headers, void *opaque);

#endif

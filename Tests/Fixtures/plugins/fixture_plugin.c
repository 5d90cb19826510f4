/*
 * A configurable test plugin. Tests compile it with -D options into the variant they need:
 * well-behaved (the default) or broken in one precise way.
 *
 *   FIXTURE_NAME="..."          descriptor name (default "fixture")
 *   FIXTURE_ABI_MAJOR / _MINOR  ABI version claimed (default: the header's)
 *   FIXTURE_NO_ENTRY            export no pos_plugin_entry
 *   FIXTURE_ENTRY_NULL          the entry returns NULL
 *   FIXTURE_NULL_VTABLE         descriptor without function table
 *   FIXTURE_NO_HANDLE           vtable without handle_event
 *   FIXTURE_BAD_SCHEMA          settings schema that is not JSON
 *   FIXTURE_UNSUPPORTED_SCHEMA  settings schema using a keyword the host does not enforce
 *   FIXTURE_BAD_DEFAULTS        defaults that violate the schema
 *   FIXTURE_CREATE_FAILS        create fails with a message
 *   FIXTURE_CRASH_ON_LOAD       a library constructor that segfaults
 *   FIXTURE_HANG_ON_LOAD        a library constructor that never returns
 *   FIXTURE_CONCURRENT          declares POS_PLUGIN_FLAG_CONCURRENT_KEYS
 *
 * Behaviour: for each event it reads "seq" from the payload, checks it is greater than the last
 * seq seen for the event's key (counting "order_violations" otherwise), stores it under
 * "last:<key>", counts "handled", and emits FIXTURE_SEEN. Settings: "sleep_us" (delay per event),
 * "threshold" (0-10, only validated), "fail_seq" (events with this seq ask for a retry until
 * attempt > "fail_attempts"), "reject_seq" (events with this seq are rejected as poison).
 * Misbehaviour for isolation tests, each on the event with that seq: "segfault_seq",
 * "abort_seq", "exit_seq" (exit(3) mid-call), "hang_seq" (infinite loop), "leak_seq" (allocates
 * until malloc fails, then aborts); "crash_always" (1: segfault on every event),
 * "exit_in_create" (1: exit(4) inside create). FIXTURE_VERSION sets the descriptor version.
 */
#include <pos_plugin.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef FIXTURE_NAME
#define FIXTURE_NAME "fixture"
#endif
#ifndef FIXTURE_VERSION
#define FIXTURE_VERSION "0.0.1"
#endif
#ifndef FIXTURE_ABI_MAJOR
#define FIXTURE_ABI_MAJOR POS_PLUGIN_ABI_MAJOR
#endif
#ifndef FIXTURE_ABI_MINOR
#define FIXTURE_ABI_MINOR POS_PLUGIN_ABI_MINOR
#endif

#ifdef FIXTURE_CRASH_ON_LOAD
__attribute__((constructor)) static void crash_on_load(void) { raise(SIGSEGV); }
#endif
#ifdef FIXTURE_HANG_ON_LOAD
__attribute__((constructor)) static void hang_on_load(void) { for (;;) pause(); }
#endif

typedef struct fixture {
    const pos_host_services *host;
    long sleep_us, fail_seq, fail_attempts, reject_seq;
    long segfault_seq, abort_seq, exit_seq, hang_seq, leak_seq, crash_always;
} fixture;

static long number_after(const char *json, size_t len, const char *key, long fallback) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\"", key);
    char *copy = strndup(json, len);
    long value = fallback;
    char *at = strstr(copy, pattern);
    if (at != NULL) {
        at += strlen(pattern);
        while (*at == ' ' || *at == ':') at++;
        value = strtol(at, NULL, 10);
    }
    free(copy);
    return value;
}

static void apply(fixture *self, const char *settings, size_t len) {
    self->sleep_us = number_after(settings, len, "sleep_us", 0);
    self->fail_seq = number_after(settings, len, "fail_seq", -1);
    self->fail_attempts = number_after(settings, len, "fail_attempts", 0);
    self->reject_seq = number_after(settings, len, "reject_seq", -1);
    self->segfault_seq = number_after(settings, len, "segfault_seq", -1);
    self->abort_seq = number_after(settings, len, "abort_seq", -1);
    self->exit_seq = number_after(settings, len, "exit_seq", -1);
    self->hang_seq = number_after(settings, len, "hang_seq", -1);
    self->leak_seq = number_after(settings, len, "leak_seq", -1);
    self->crash_always = number_after(settings, len, "crash_always", 0);
}

static void misbehave(const fixture *self, long seq) {
    if (self->crash_always || seq == self->segfault_seq) *(volatile int *)0 = 1;
    if (seq == self->abort_seq) abort();
    if (seq == self->exit_seq) exit(3);
    if (seq == self->hang_seq) for (;;) {}
    if (seq == self->leak_seq) {
        for (;;) {
            char *block = malloc(16 << 20);
            if (block == NULL) abort();
            memset(block, 1, 16 << 20);
        }
    }
}

static pos_status fixture_create(const pos_host_services *host, pos_call *call, const char *settings,
                                 size_t settings_len, void **out, pos_error *error) {
    (void)call;
#ifdef FIXTURE_CREATE_FAILS
    (void)host; (void)settings; (void)settings_len; (void)out;
    pos_error_set(error, "cannot reach the loyalty database: password missing");
    return POS_STATUS_ERROR;
#else
    (void)error;
    if (number_after(settings, settings_len, "exit_in_create", 0)) exit(4);
    fixture *self = calloc(1, sizeof *self);
    self->host = host;
    apply(self, settings, settings_len);
    *out = self;
    return POS_STATUS_OK;
#endif
}

static pos_status fixture_reconfigure(void *instance, pos_call *call, const char *settings, size_t len, pos_error *error) {
    (void)call; (void)error;
    apply(instance, settings, len);
    return POS_STATUS_OK;
}

static void fixture_destroy(void *instance) { free(instance); }

typedef struct small { char bytes[32]; size_t len; } small;
static pos_status collect(void *context, const uint8_t *bytes, size_t len) {
    small *s = context;
    if (s->len + len >= sizeof s->bytes) return POS_STATUS_ERROR;
    memcpy(s->bytes + s->len, bytes, len);
    s->len += len;
    s->bytes[s->len] = 0;
    return POS_STATUS_OK;
}

static pos_handle_result fixture_handle(void *instance, pos_call *call, const pos_event *event, pos_error *error) {
    fixture *self = instance;
    if (self->sleep_us > 0) usleep((useconds_t)self->sleep_us);
    long seq = number_after((const char *)event->payload, event->payload_len, "seq", -1);
    misbehave(self, seq);
    if (seq == self->reject_seq) {
        pos_error_set(error, "seq is configured as poison");
        return POS_HANDLE_REJECT;
    }
    if (seq == self->fail_seq && (long)event->attempt <= self->fail_attempts) {
        /* Writes made before asking for a retry must be discarded by the host. */
        self->host->state_put(call, (const uint8_t *)"dirty", 5, (const uint8_t *)"1", 1);
        pos_error_set(error, "downstream temporarily unavailable");
        return POS_HANDLE_RETRY;
    }
    char key[160];
    int key_len = snprintf(key, sizeof key, "last:%.*s", (int)event->key_len, event->key);
    small last = {{0}, 0};
    pos_writer writer = {sizeof writer, &last, collect};
    if (self->host->state_get(call, (const uint8_t *)key, (size_t)key_len, &writer) == POS_STATUS_OK && strtol(last.bytes, NULL, 10) >= seq)
        self->host->metric_add(call, "order_violations", 1);
    char value[24];
    int value_len = snprintf(value, sizeof value, "%ld", seq);
    self->host->state_put(call, (const uint8_t *)key, (size_t)key_len, (const uint8_t *)value, (size_t)value_len);
    self->host->metric_add(call, "handled", 1);
    char payload[64];
    int payload_len = snprintf(payload, sizeof payload, "{\"seq\": %ld}", seq);
    self->host->emit(call, "FIXTURE_SEEN", 12, "", 0, (const uint8_t *)payload, (size_t)payload_len, error);
    return POS_HANDLE_OK;
}

static pos_status fixture_query(void *instance, pos_call *call, const char *name, const uint8_t *request,
                                size_t request_len, pos_writer *response, pos_error *error) {
    fixture *self = instance;
    if (strcmp(name, "last") != 0) { pos_error_set(error, "only 'last' is known"); return POS_STATUS_NOT_FOUND; }
    char key[160];
    int key_len = snprintf(key, sizeof key, "last:%.*s", (int)request_len, (const char *)request);
    if (self->host->state_get(call, (const uint8_t *)key, (size_t)key_len, response) != POS_STATUS_OK)
        response->write(response->context, (const uint8_t *)"none", 4);
    return POS_STATUS_OK;
}

static const char *const subscriptions[] = {"ITEM_ADDED", "PAYMENT_PROCESSED", NULL};

static const pos_plugin_vtable vtable = {
    .struct_size = sizeof(pos_plugin_vtable),
    .create = fixture_create,
    .reconfigure = fixture_reconfigure,
    .destroy = fixture_destroy,
#ifndef FIXTURE_NO_HANDLE
    .handle_event = fixture_handle,
#endif
    .query = fixture_query,
};

#if defined(FIXTURE_BAD_SCHEMA)
#define SCHEMA "{not json"
#elif defined(FIXTURE_UNSUPPORTED_SCHEMA)
#define SCHEMA "{\"type\": \"object\", \"oneOf\": [{}]}"
#else
#define SCHEMA "{\"type\": \"object\", \"properties\": {\"threshold\": {\"type\": \"integer\", \"minimum\": 0, \"maximum\": 10}, " \
               "\"sleep_us\": {\"type\": \"integer\"}, \"fail_seq\": {\"type\": \"integer\"}, \"fail_attempts\": {\"type\": \"integer\"}, " \
               "\"reject_seq\": {\"type\": \"integer\"}, \"segfault_seq\": {\"type\": \"integer\"}, \"abort_seq\": {\"type\": \"integer\"}, " \
               "\"exit_seq\": {\"type\": \"integer\"}, \"hang_seq\": {\"type\": \"integer\"}, \"leak_seq\": {\"type\": \"integer\"}, " \
               "\"crash_always\": {\"type\": \"integer\"}, \"exit_in_create\": {\"type\": \"integer\"}}, \"additionalProperties\": false}"
#endif
#ifdef FIXTURE_BAD_DEFAULTS
#define DEFAULTS "{\"threshold\": 50}"
#else
#define DEFAULTS "{\"threshold\": 5}"
#endif

static const pos_plugin_descriptor descriptor = {
    .struct_size = sizeof(pos_plugin_descriptor),
    .abi_major = FIXTURE_ABI_MAJOR,
    .abi_minor = FIXTURE_ABI_MINOR,
    .name = FIXTURE_NAME,
    .version = FIXTURE_VERSION,
    .description = "test fixture",
    .subscriptions = subscriptions,
    .settings_schema = SCHEMA,
    .default_settings = DEFAULTS,
#ifdef FIXTURE_CONCURRENT
    .flags = POS_PLUGIN_FLAG_CONCURRENT_KEYS,
#endif
#ifdef FIXTURE_NULL_VTABLE
    .vtable = NULL,
#else
    .vtable = &vtable,
#endif
};

#ifndef FIXTURE_NO_ENTRY
const pos_plugin_descriptor *pos_plugin_entry(uint16_t host_major, uint16_t host_minor) {
    (void)host_major; (void)host_minor;
#ifdef FIXTURE_ENTRY_NULL
    return NULL;
#else
    return &descriptor;
#endif
}
#else
const pos_plugin_descriptor *some_other_symbol(void) { return &descriptor; }
#endif

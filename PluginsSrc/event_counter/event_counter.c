/*
 * event_counter: an example plugin in plain C, built against pos_plugin.h alone:
 *
 *     cc -std=c11 -O2 -shared -fPIC -I Sources/PluginABI/include \
 *        -Wl,-z,nodelete -Wl,--version-script=PluginsSrc/plugin.exports \
 *        -o plugins.d/event_counter.so PluginsSrc/event_counter/event_counter.c
 *
 * It counts events per type in the host's state service ("count:<TYPE>" -> decimal text),
 * answers the query "counts" with a JSON object of those counts, and shows the two failure
 * results of handle_event through its settings:
 *   - "reject_type": events of this type are rejected as poison (dead-lettered at once);
 *   - "fail_first_attempts": each event is answered "retry later" this many times first.
 * Settings arrive validated against the schema below, so the tiny reader here only has to find
 * two known keys; a real plugin would use a JSON library.
 */
#include <pos_plugin.h>

/* Several counters can run side by side under different names (the benchmark does):
 * build with -DEVENT_COUNTER_NAME='"counter_2"'. */
#ifndef EVENT_COUNTER_VERSION
#define EVENT_COUNTER_VERSION "1.0.0"
#endif
#ifndef EVENT_COUNTER_NAME
#define EVENT_COUNTER_NAME "event_counter"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct counter {
    const pos_host_services *host;
    char reject_type[65];
    long fail_first_attempts;
} counter;

static const char *const subscriptions[] = {"*", NULL};
/* Emits nothing (ABI 1.1): nobody waits for this plugin's progress. */
static const char *const emits[] = {NULL};

static const char settings_schema[] =
    "{\"type\": \"object\","
    " \"properties\": {"
    "   \"reject_type\": {\"type\": \"string\", \"maxLength\": 64},"
    "   \"fail_first_attempts\": {\"type\": \"integer\", \"minimum\": 0, \"maximum\": 100}"
    " },"
    " \"additionalProperties\": false}";

static const char default_settings[] = "{\"reject_type\": \"\", \"fail_first_attempts\": 0}";

/* Finds the value that follows "key": in a validated settings object. */
static const char *find_value(const char *json, size_t len, const char *key) {
    char pattern[80];
    snprintf(pattern, sizeof pattern, "\"%s\"", key);
    const char *end = json + len;
    const char *at = strstr(json, pattern);
    if (at == NULL || at >= end) return NULL;
    at += strlen(pattern);
    while (at < end && (*at == ' ' || *at == ':' || *at == '\t' || *at == '\n')) at++;
    return at < end ? at : NULL;
}

static pos_status apply_settings(counter *self, const char *json, size_t len, pos_error *error) {
    self->reject_type[0] = '\0';
    self->fail_first_attempts = 0;
    const char *value = find_value(json, len, "reject_type");
    if (value != NULL && *value == '"') {
        value++;
        size_t n = 0;
        while (value[n] != '"' && value[n] != '\0' && n < 64) n++;
        memcpy(self->reject_type, value, n);
        self->reject_type[n] = '\0';
    }
    value = find_value(json, len, "fail_first_attempts");
    if (value != NULL) self->fail_first_attempts = strtol(value, NULL, 10);
    if (self->fail_first_attempts < 0) {
        pos_error_set(error, "fail_first_attempts must not be negative");
        return POS_STATUS_ERROR;
    }
    return POS_STATUS_OK;
}

static pos_status counter_create(const pos_host_services *host, pos_call *call, const char *settings,
                                 size_t settings_len, void **out_instance, pos_error *error) {
    counter *self = calloc(1, sizeof *self);
    if (self == NULL) {
        pos_error_set(error, "out of memory");
        return POS_STATUS_ERROR;
    }
    self->host = host;
    if (apply_settings(self, settings, settings_len, error) != POS_STATUS_OK) {
        free(self);
        return POS_STATUS_ERROR;
    }
    static const char hello[] = "event_counter ready";
    host->log(call, POS_LOG_DEBUG, hello, sizeof hello - 1);
    *out_instance = self;
    return POS_STATUS_OK;
}

static pos_status counter_reconfigure(void *instance, pos_call *call, const char *settings,
                                      size_t settings_len, pos_error *error) {
    (void)call;
    counter *self = instance;
    counter next = *self;
    if (apply_settings(&next, settings, settings_len, error) != POS_STATUS_OK) return POS_STATUS_ERROR;
    *self = next;
    return POS_STATUS_OK;
}

static void counter_destroy(void *instance) { free(instance); }

/* Collects a state value (decimal text) into a small buffer. */
typedef struct text_buffer {
    char bytes[32];
    size_t len;
} text_buffer;

static pos_status collect(void *context, const uint8_t *bytes, size_t len) {
    text_buffer *buffer = context;
    if (buffer->len + len >= sizeof buffer->bytes) return POS_STATUS_ERROR;
    memcpy(buffer->bytes + buffer->len, bytes, len);
    buffer->len += len;
    buffer->bytes[buffer->len] = '\0';
    return POS_STATUS_OK;
}

static pos_handle_result counter_handle(void *instance, pos_call *call, const pos_event *event,
                                        pos_error *error) {
    counter *self = instance;
    if (self->reject_type[0] != '\0' && strlen(self->reject_type) == event->type_len &&
        memcmp(self->reject_type, event->type, event->type_len) == 0) {
        pos_error_set(error, "event type is configured as poison (reject_type)");
        return POS_HANDLE_REJECT;
    }
    if ((long)event->attempt <= self->fail_first_attempts) {
        pos_error_set(error, "configured to fail this attempt (fail_first_attempts)");
        return POS_HANDLE_RETRY;
    }

    char key[6 + 128];
    size_t type_len = event->type_len < 128 ? event->type_len : 128;
    memcpy(key, "count:", 6);
    memcpy(key + 6, event->type, type_len);

    text_buffer current = {{0}, 0};
    pos_writer writer = {sizeof writer, &current, collect};
    long count = 0;
    if (self->host->state_get(call, (const uint8_t *)key, 6 + type_len, &writer) == POS_STATUS_OK)
        count = strtol(current.bytes, NULL, 10);

    char value[24];
    int value_len = snprintf(value, sizeof value, "%ld", count + 1);
    if (self->host->state_put(call, (const uint8_t *)key, 6 + type_len, (const uint8_t *)value,
                              (size_t)value_len) != POS_STATUS_OK) {
        pos_error_set(error, "state_put failed");
        return POS_HANDLE_RETRY;
    }
    self->host->metric_add(call, "events_counted", 1);
    return POS_HANDLE_OK;
}

/* Query "counts": {"TYPE": n, ...}. */
typedef struct json_output {
    pos_writer *out;
    int first;
} json_output;

static int write_count(void *context, const uint8_t *key, size_t key_len, const uint8_t *value,
                       size_t value_len) {
    json_output *json = context;
    json->out->write(json->out->context, (const uint8_t *)(json->first ? "\"" : ",\""), json->first ? 1 : 2);
    json->out->write(json->out->context, key + 6, key_len - 6);
    json->out->write(json->out->context, (const uint8_t *)"\":", 2);
    json->out->write(json->out->context, value, value_len);
    json->first = 0;
    return 0;
}

static pos_status counter_query(void *instance, pos_call *call, const char *name, const uint8_t *request,
                                size_t request_len, pos_writer *response, pos_error *error) {
    (void)request;
    (void)request_len;
    counter *self = instance;
    if (strcmp(name, "counts") != 0) {
        pos_error_set(error, "unknown query; this plugin answers \"counts\"");
        return POS_STATUS_NOT_FOUND;
    }
    json_output json = {response, 1};
    response->write(response->context, (const uint8_t *)"{", 1);
    pos_status status = self->host->state_scan(call, (const uint8_t *)"count:", 6, write_count, &json);
    response->write(response->context, (const uint8_t *)"}", 1);
    return status;
}

static const pos_plugin_vtable vtable = {
    .struct_size = sizeof(pos_plugin_vtable),
    .create = counter_create,
    .reconfigure = counter_reconfigure,
    .destroy = counter_destroy,
    .handle_event = counter_handle,
    .query = counter_query,
};

static const pos_plugin_descriptor descriptor = {
    .struct_size = sizeof(pos_plugin_descriptor),
    .abi_major = POS_PLUGIN_ABI_MAJOR,
    .abi_minor = POS_PLUGIN_ABI_MINOR,
    .name = EVENT_COUNTER_NAME,
    .version = EVENT_COUNTER_VERSION,
    .description = "Counts events per type (example plugin in plain C)",
    .subscriptions = subscriptions,
    .emits = emits,
    .header_hash = POS_PLUGIN_HEADER_HASH,
    .settings_schema = settings_schema,
    .default_settings = default_settings,
    .flags = 0,
    .vtable = &vtable,
};

const pos_plugin_descriptor *pos_plugin_entry(uint16_t host_abi_major, uint16_t host_abi_minor) {
    (void)host_abi_minor;
    return host_abi_major == POS_PLUGIN_ABI_MAJOR ? &descriptor : NULL;
}

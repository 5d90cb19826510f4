/*
 * pos_plugin.h - the POS plugin host's stable C ABI, version 1.0.
 *
 * This header is the specification. A plugin is a shared object that exports exactly one
 * symbol, POS_PLUGIN_ENTRY_SYMBOL, and depends on nothing but libc unless it chooses to.
 * It can be written in C, Swift (see PluginSDK) or any language with a C FFI.
 *
 * VERSIONING (semver, as Falco's plugin API):
 *   - The host calls the entry with its own ABI version; the plugin returns a descriptor
 *     carrying the ABI version it was built against.
 *   - The plugin is accepted when plugin.major == host.major and plugin.minor <= host.minor.
 *   - Minor versions only ever append fields to the end of structs and add new function
 *     pointers at the end of tables. Every struct starts with `struct_size`; a reader must
 *     check `struct_size` before touching a field added in a later minor version.
 *   - Tables are always referred to by pointer, never embedded by value, so they can grow.
 *
 * OWNERSHIP (as Envoy's dynamic modules):
 *   - "host-owned, call-scoped": valid only during the call it was passed to; copy it if you
 *     need it later.
 *   - "plugin-owned, static": must stay valid and unchanged for as long as the library is
 *     loaded (the host never unloads plugins; link with -z nodelete).
 *   - Whoever allocates frees: the host never frees plugin memory and vice versa. Data that
 *     must outlive a call crosses the boundary by copy (see pos_writer).
 *
 * THREADING:
 *   - The entry and create/destroy are called from one host thread, never concurrently.
 *   - handle_event, query and reconfigure are never called concurrently on one instance,
 *     unless the descriptor sets POS_PLUGIN_FLAG_CONCURRENT_KEYS: then handle_event may run
 *     concurrently on different threads for events with *different* keys (events with equal
 *     keys are always delivered one at a time, in order), and query may run concurrently with
 *     handle_event. reconfigure is always exclusive.
 *   - Host services may be called from the thread the host called the plugin on, during that
 *     call, with the pos_call handle of that call. A plugin must not keep its own threads
 *     calling host services.
 *
 * STRINGS: every string crossing the boundary is UTF-8. Where a length is passed the bytes are
 * NOT NUL-terminated unless stated; `const char *` fields of the descriptor are NUL-terminated.
 *
 * ERRORS: functions that can fail return a status code and may write a human-readable reason
 * into the host-owned pos_error buffer (see pos_error_set below, or write it yourself: at
 * most `capacity - 1` bytes followed by a NUL).
 */
#ifndef POS_PLUGIN_H
#define POS_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** ABI version this header describes. */
#define POS_PLUGIN_ABI_MAJOR 1
#define POS_PLUGIN_ABI_MINOR 0

/** The one symbol a plugin exports, with the signature of pos_plugin_entry_fn. */
#define POS_PLUGIN_ENTRY_SYMBOL "pos_plugin_entry"

/** Plugin names: 1 to 64 characters from [a-z0-9_], starting with a letter. */
#define POS_PLUGIN_NAME_MAX 64

/* ------------------------------------------------------------------------------------------ */
/* Status codes                                                                                */
/* ------------------------------------------------------------------------------------------ */

/** Result of lifecycle, query and host-service calls. */
typedef enum pos_status {
    POS_STATUS_OK = 0,
    /** The call failed; a reason is in the pos_error buffer when one was passed. */
    POS_STATUS_ERROR = 1,
    /** The requested item does not exist (state_get of a missing key, unknown query name). */
    POS_STATUS_NOT_FOUND = 2,
    /** The call is not allowed in this context (for example emit from inside a query). */
    POS_STATUS_NOT_ALLOWED = 3,
} pos_status;

/** Result of handle_event. Any other value is treated as POS_HANDLE_RETRY. */
typedef enum pos_handle_result {
    /** Handled. The host commits the state changes and emitted events of this call. */
    POS_HANDLE_OK = 0,
    /** Transient failure. The host discards this call's state changes and emitted events and
     *  calls again later with exponential backoff; after the configured maximum attempts the
     *  event is dead-lettered. Later events with the same key wait (ordering per key). */
    POS_HANDLE_RETRY = 1,
    /** Poison: this event can never be handled. The host discards this call's changes and
     *  dead-letters the event at once with the error message. */
    POS_HANDLE_REJECT = 2,
} pos_handle_result;

typedef enum pos_log_level {
    POS_LOG_TRACE = 0,
    POS_LOG_DEBUG = 1,
    POS_LOG_INFO = 2,
    POS_LOG_WARNING = 3,
    POS_LOG_ERROR = 4,
} pos_log_level;

/* ------------------------------------------------------------------------------------------ */
/* Small boundary types                                                                        */
/* ------------------------------------------------------------------------------------------ */

/**
 * A host-provided buffer for a failure reason.
 * OWNERSHIP: host-owned, call-scoped. `message` has room for `capacity` bytes including the
 * terminating NUL. The plugin may leave it untouched (the host then reports a generic reason).
 */
typedef struct pos_error {
    uint32_t struct_size;
    char *message;
    size_t capacity;
} pos_error;

/**
 * A sink the plugin writes variable-length output into (query responses, state values).
 * The host copies the bytes during `write`; the plugin keeps ownership of what it passes.
 * `write` may be called several times; the output is the concatenation.
 * OWNERSHIP: host-owned, call-scoped.
 */
typedef struct pos_writer {
    uint32_t struct_size;
    void *context;
    /** Appends `len` bytes. Returns POS_STATUS_ERROR if the host refuses (output too large). */
    pos_status (*write)(void *context, const uint8_t *bytes, size_t len);
} pos_writer;

/** Opaque handle identifying one host->plugin call; pass it back to every host service. */
typedef struct pos_call pos_call;

/**
 * One event delivered to handle_event.
 * OWNERSHIP: host-owned, call-scoped (the struct and every buffer it points to).
 */
typedef struct pos_event {
    uint32_t struct_size;
    /** Unique event id (a UUID in canonical text form for events from the bus). */
    const char *id;
    size_t id_len;
    /** Canonical event type, for example "ITEM_ADDED". */
    const char *type;
    size_t type_len;
    /** Ordering key (basket id, else terminal id). Events with equal keys arrive in order. */
    const char *key;
    size_t key_len;
    /** When the event happened, in milliseconds since the Unix epoch (event time: use this, not
     *  the wall clock, for every time-based rule so replays give the same results). */
    int64_t event_time_ms;
    /** Payload: a UTF-8 JSON object. */
    const uint8_t *payload;
    size_t payload_len;
    /** 1 on first delivery, incremented on each retry of the same event. */
    uint32_t attempt;
} pos_event;

/* ------------------------------------------------------------------------------------------ */
/* Host services: what the plugin may call                                                     */
/* ------------------------------------------------------------------------------------------ */

/**
 * The services table the host passes to create.
 * OWNERSHIP: host-owned; valid from create until destroy returns (the pointer may be kept).
 * Every function takes the pos_call handle of the call in progress; calling a service with a
 * handle from an earlier call is undefined behaviour.
 *
 * State and emitted events are transactional per handle_event call: they become visible to
 * others (and durable, with a durable store) only if the call returns POS_HANDLE_OK. A
 * state_get in the same call sees the call's own puts and deletes.
 */
typedef struct pos_host_services {
    uint32_t struct_size;
    uint16_t abi_major;
    uint16_t abi_minor;

    /** Writes a log line attributed to the plugin. `message` need not be NUL-terminated. */
    void (*log)(pos_call *call, pos_log_level level, const char *message, size_t message_len);

    /**
     * Emits an event of canonical `type` with a JSON object `payload`, keyed by `key` (may be
     * empty: the key of the event being handled is used). The host copies everything. The new
     * event records the handled event as its causation. Allowed in handle_event only; in other
     * calls returns POS_STATUS_NOT_ALLOWED.
     */
    pos_status (*emit)(pos_call *call, const char *type, size_t type_len, const char *key,
                       size_t key_len, const uint8_t *payload, size_t payload_len,
                       pos_error *error);

    /**
     * Reads the value stored under `key` in this plugin's private namespace into `out`.
     * Returns POS_STATUS_NOT_FOUND (and writes nothing) when there is no such key.
     */
    pos_status (*state_get)(pos_call *call, const uint8_t *key, size_t key_len, pos_writer *out);

    /** Stores `value` under `key` (both copied). Allowed in create and handle_event. */
    pos_status (*state_put)(pos_call *call, const uint8_t *key, size_t key_len,
                            const uint8_t *value, size_t value_len);

    /** Deletes `key`; deleting a missing key is not an error. */
    pos_status (*state_delete)(pos_call *call, const uint8_t *key, size_t key_len);

    /**
     * Calls `visit` for every key starting with `prefix`, in ascending byte order, with host-
     * owned call-scoped key and value buffers. Stops early when `visit` returns non-zero.
     */
    pos_status (*state_scan)(pos_call *call, const uint8_t *prefix, size_t prefix_len,
                             int (*visit)(void *visit_context, const uint8_t *key,
                                          size_t key_len, const uint8_t *value,
                                          size_t value_len),
                             void *visit_context);

    /**
     * The host clock in milliseconds since the Unix epoch. In tests and replays this is a
     * controlled clock: prefer pos_event.event_time_ms for business rules.
     */
    int64_t (*clock_now_ms)(pos_call *call);

    /** Adds `delta` to the plugin's counter `name` (NUL-terminated, [a-z0-9_], <= 64 chars). */
    void (*metric_add)(pos_call *call, const char *name, int64_t delta);
} pos_host_services;

/* ------------------------------------------------------------------------------------------ */
/* The plugin: descriptor and function table                                                  */
/* ------------------------------------------------------------------------------------------ */

/**
 * The functions a plugin implements.
 * OWNERSHIP: plugin-owned, static.
 * REQUIRED: create, destroy, handle_event. OPTIONAL (may be NULL): reconfigure (the host then
 * destroys and re-creates the instance on a settings change), query.
 */
typedef struct pos_plugin_vtable {
    uint32_t struct_size;

    /**
     * Creates an instance with `settings_json`: a JSON object, already merged with the
     * descriptor's defaults and validated against its schema by the host (host-owned,
     * call-scoped, NUL-terminated and `settings_len` bytes long). `services` stays valid until
     * destroy. On success stores an opaque instance pointer in `*out_instance` and returns
     * POS_STATUS_OK; on failure returns POS_STATUS_ERROR with a reason in `error`.
     */
    pos_status (*create)(const pos_host_services *services, pos_call *call,
                         const char *settings_json, size_t settings_len, void **out_instance,
                         pos_error *error);

    /** Applies new validated settings to a live instance. Exclusive with every other call.
     *  On failure the instance must keep working with its previous settings. */
    pos_status (*reconfigure)(void *instance, pos_call *call, const char *settings_json,
                              size_t settings_len, pos_error *error);

    /** Frees the instance. No other call on it is in progress or will follow. */
    void (*destroy)(void *instance);

    /** Handles one event. See pos_handle_result for what each result makes the host do. */
    pos_handle_result (*handle_event)(void *instance, pos_call *call, const pos_event *event,
                                      pos_error *error);

    /**
     * Answers query `name` (NUL-terminated) with `request` bytes (JSON by convention, may be
     * empty), writing the response bytes into `response`. State may be read, not written;
     * emit is not allowed. Returns POS_STATUS_NOT_FOUND for an unknown query name.
     */
    pos_status (*query)(void *instance, pos_call *call, const char *name,
                        const uint8_t *request, size_t request_len, pos_writer *response,
                        pos_error *error);
} pos_plugin_vtable;

/** handle_event may be called concurrently for events with different keys. */
#define POS_PLUGIN_FLAG_CONCURRENT_KEYS (1u << 0)

/**
 * What a plugin is. Returned by the entry function.
 * OWNERSHIP: plugin-owned, static (the struct and everything it points to).
 */
typedef struct pos_plugin_descriptor {
    uint32_t struct_size;
    /** The ABI version the plugin was built against: POS_PLUGIN_ABI_MAJOR/MINOR. */
    uint16_t abi_major;
    uint16_t abi_minor;
    /** Unique plugin name, see POS_PLUGIN_NAME_MAX. */
    const char *name;
    /** The plugin's own version, semver text such as "1.4.2". */
    const char *version;
    /** One line for people; may be NULL. */
    const char *description;
    /** NULL-terminated array of canonical event types the plugin handles; {"*", NULL} means
     *  every type. An administrator may override it in the plugin's settings file. */
    const char *const *subscriptions;
    /** JSON Schema (draft 2020-12 subset, see docs/plugin-abi.md) of the settings object; NULL
     *  accepts any object. */
    const char *settings_schema;
    /** JSON object with default settings; NULL means {}. Must itself satisfy the schema. */
    const char *default_settings;
    /** POS_PLUGIN_FLAG_* bits. */
    uint32_t flags;
    /** The function table. */
    const pos_plugin_vtable *vtable;
} pos_plugin_descriptor;

/**
 * The entry point, exported as POS_PLUGIN_ENTRY_SYMBOL. Called once after dlopen with the
 * host's ABI version. Returns the plugin's descriptor (plugin-owned, static), or NULL if the
 * plugin cannot work with this host (the host then reports "entry returned no descriptor").
 * Must not call host services (there are none yet) and should do no work beyond returning
 * the descriptor.
 */
typedef const pos_plugin_descriptor *(*pos_plugin_entry_fn)(uint16_t host_abi_major,
                                                            uint16_t host_abi_minor);

/**
 * Convenience: copies the NUL-terminated `message` into `error`, truncating to fit. Safe to call
 * with a NULL `error` or a zero-capacity buffer.
 */
static inline void pos_error_set(pos_error *error, const char *message) {
    if (error == NULL || error->message == NULL || error->capacity == 0 || message == NULL) return;
    size_t i = 0;
    for (; i + 1 < error->capacity && message[i] != '\0'; i++) error->message[i] = message[i];
    error->message[i] = '\0';
}

#ifdef __cplusplus
}
#endif

#endif /* POS_PLUGIN_H */

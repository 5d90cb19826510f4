/* Test plugin: tries the size limits of the host services (docs/plugin-abi.md "Limits") on
 * every event and stores what each attempt returned under "result", answered by the query
 * "result". Built by FileRunAndReloadTests; runs in-process and in a worker. */
#include <pos_plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const subscriptions[] = {"ITEM_ADDED", NULL};
static const char *const emits[] = {"BASKET_TOTALLED", NULL};

static pos_status on_create(const pos_host_services *host, pos_call *call, const char *settings, size_t len, void **out, pos_error *error) {
    (void)call; (void)settings; (void)len; (void)error;
    *out = (void *)host;
    return POS_STATUS_OK;
}

static void on_destroy(void *instance) { (void)instance; }

static char code(pos_status status) { return status == POS_STATUS_OK ? 'O' : status == POS_STATUS_ERROR ? 'E' : '?'; }

static pos_handle_result on_event(void *instance, pos_call *call, const pos_event *event, pos_error *error) {
    (void)event;
    const pos_host_services *host = instance;
    size_t big = (1u << 20) + 1;
    uint8_t *bytes = malloc(big + 16);
    if (bytes == NULL) return POS_HANDLE_RETRY;
    memset(bytes, 'k', big + 16);
    char result[128];
    pos_status key_over = host->state_put(call, bytes, 1025, (const uint8_t *)"1", 1);
    pos_status key_at = host->state_put(call, bytes, 1024, (const uint8_t *)"1", 1);
    pos_status value_over = host->state_put(call, (const uint8_t *)"v", 1, bytes, big);
    pos_status value_at = host->state_put(call, (const uint8_t *)"v", 1, bytes, big - 1);
    /* {"basket_id":"kkk...k"} of 1 MiB + 1 bytes, then 1 MiB exactly. */
    memcpy(bytes, "{\"basket_id\":\"", 14);
    memcpy(bytes + big - 2, "\"}", 2);
    pos_error emit_error = {sizeof emit_error, error->message, error->capacity};
    pos_status emit_over = host->emit(call, "BASKET_TOTALLED", 15, "", 0, bytes, big, &emit_error);
    memcpy(bytes + big - 3, "\"}", 2);
    pos_status emit_at = host->emit(call, "BASKET_TOTALLED", 15, "", 0, bytes, big - 1, &emit_error);
    free(bytes);
    int n = snprintf(result, sizeof result, "key_over=%c key_at=%c value_over=%c value_at=%c emit_over=%c emit_at=%c",
                     code(key_over), code(key_at), code(value_over), code(value_at), code(emit_over), code(emit_at));
    host->state_put(call, (const uint8_t *)"result", 6, (const uint8_t *)result, (size_t)n);
    return POS_HANDLE_OK;
}

static pos_status on_query(void *instance, pos_call *call, const char *name, const uint8_t *request, size_t request_len,
                           pos_writer *response, pos_error *error) {
    (void)name; (void)request; (void)request_len; (void)error;
    const pos_host_services *host = instance;
    response->write(response->context, (const uint8_t *)"\"", 1);
    pos_status status = host->state_get(call, (const uint8_t *)"result", 6, response);
    response->write(response->context, (const uint8_t *)"\"", 1);
    return status;
}

static const pos_plugin_vtable vtable = {
    .struct_size = sizeof(pos_plugin_vtable), .create = on_create, .destroy = on_destroy, .handle_event = on_event, .query = on_query,
};

static const pos_plugin_descriptor descriptor = {
    .struct_size = sizeof(pos_plugin_descriptor), .abi_major = POS_PLUGIN_ABI_MAJOR, .abi_minor = POS_PLUGIN_ABI_MINOR,
    .name = "limits_probe", .version = "1.0.0", .subscriptions = subscriptions, .emits = emits, .vtable = &vtable,
    .header_hash = POS_PLUGIN_HEADER_HASH,
};

const pos_plugin_descriptor *pos_plugin_entry(uint16_t major, uint16_t minor) {
    (void)minor;
    return major == POS_PLUGIN_ABI_MAJOR ? &descriptor : NULL;
}

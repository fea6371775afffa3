// N-API helpers shared by the native I/O addons: Node-shaped errors and checked reads of option objects and
// typed-array buffers. Header-only: each addon is its own shared object.

#ifndef SWARMD_NAPI_HELPERS_H
#define SWARMD_NAPI_HELPERS_H

#include <node_api.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#define HELPER static __attribute__((unused))

// ---- memory ----------------------------------------------------------------------------------------------------

// Called when an addon loads, before the swarm store grows. The store's arrays are tens of megabytes and grow by
// reallocation (ArrayBuffer.prototype.transfer). glibc serves such blocks with mmap, but after one is freed it raises
// its mmap threshold to that size, so later (larger) arrays come from the heap, and the copies a reallocation leaves
// behind stay in RSS as holes. A fixed threshold keeps every large block mapped: freed at once, grown in place by
// mremap. Measured with the bench's memory run (1,000,000 peers): 43-45 bytes per peer without, 34-38 with.
#include <malloc.h>
HELPER void keep_large_blocks_mapped(void) {
#ifdef M_MMAP_THRESHOLD
  (void)mallopt(M_MMAP_THRESHOLD, 128 * 1024);  // glibc's initial threshold, now fixed
#endif
}

// ---- errors ----------------------------------------------------------------------------------------------------

#define CALL(env, call)                 \
  do {                                  \
    if ((call) != napi_ok) return NULL; \
  } while (0)

HELPER napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, NULL, msg);
  return NULL;
}

HELPER napi_value throw_range(napi_env env, const char *msg) {
  napi_throw_range_error(env, NULL, msg);
  return NULL;
}

// An Error shaped like Node's system errors: message "<syscall> <CODE> <address>:<port>", code, errno, syscall.
HELPER napi_value throw_sys(napi_env env, int err, const char *syscall, const char *address, int port,
                            const char *detail) {
  const char *code = uv_err_name(-err);
  char msg[256];
  if (address)
    snprintf(msg, sizeof msg, "%s %s %s:%d%s%s", syscall, code, address, port, detail ? " " : "", detail ? detail : "");
  else
    snprintf(msg, sizeof msg, "%s %s", syscall, code);
  napi_value m, c, error, v;
  if (napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m) != napi_ok) return NULL;
  if (napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &c) != napi_ok) return NULL;
  if (napi_create_error(env, c, m, &error) != napi_ok) return NULL;
  // napi_create_error sets code; errno (negative, as libuv and Node report it), syscall, address, port as Node does.
  if (napi_create_int32(env, -err, &v) == napi_ok) napi_set_named_property(env, error, "errno", v);
  if (napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &v) == napi_ok)
    napi_set_named_property(env, error, "syscall", v);
  if (address) {
    if (napi_create_string_utf8(env, address, NAPI_AUTO_LENGTH, &v) == napi_ok)
      napi_set_named_property(env, error, "address", v);
    if (napi_create_int32(env, port, &v) == napi_ok) napi_set_named_property(env, error, "port", v);
  }
  napi_throw(env, error);
  return NULL;
}

HELPER int get_prop(napi_env env, napi_value obj, const char *key, napi_valuetype want, napi_value *out) {
  napi_valuetype t;
  if (napi_get_named_property(env, obj, key, out) != napi_ok) return 0;
  if (napi_typeof(env, *out, &t) != napi_ok) return 0;
  if (t != want) {
    char msg[128];
    snprintf(msg, sizeof msg, "options.%s must be a %s", key, want == napi_number ? "number" : want == napi_boolean ? "boolean" : "string");
    throw_type(env, msg);
    return 0;
  }
  return 1;
}

HELPER int get_int(napi_env env, napi_value obj, const char *key, int64_t min, int64_t max, int64_t *out) {
  napi_value v;
  if (!get_prop(env, obj, key, napi_number, &v)) return 0;
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) return 0;
  if (!(d >= (double)min && d <= (double)max) || d != (double)(int64_t)d) {
    char msg[128];
    snprintf(msg, sizeof msg, "options.%s must be an integer from %lld to %lld", key, (long long)min, (long long)max);
    throw_range(env, msg);
    return 0;
  }
  *out = (int64_t)d;
  return 1;
}

HELPER int get_bool(napi_env env, napi_value obj, const char *key, int *out) {
  napi_value v;
  if (!get_prop(env, obj, key, napi_boolean, &v)) return 0;
  bool b;
  if (napi_get_value_bool(env, v, &b) != napi_ok) return 0;
  *out = b;
  return 1;
}

// Takes buffers.<key>, which must be a typed array of the given type and at least `length` elements long.
HELPER int get_buffer(napi_env env, napi_value obj, const char *key, napi_typedarray_type want, size_t length,
                      napi_ref *ref, void **data) {
  napi_value v;
  bool is;
  char msg[160];
  if (napi_get_named_property(env, obj, key, &v) != napi_ok) return 0;
  napi_typedarray_type type;
  size_t len;
  if (napi_is_typedarray(env, v, &is) != napi_ok) return 0;
  if (is && napi_get_typedarray_info(env, v, &type, &len, data, NULL, NULL) != napi_ok) return 0;
  if (!is || type != want) {
    snprintf(msg, sizeof msg, "buffers.%s must be %s", key, want == napi_uint8_array ? "a Uint8Array" : "an Int32Array");
    throw_type(env, msg);
    return 0;
  }
  if (len < length || (length > 0 && *data == NULL)) {
    snprintf(msg, sizeof msg, "buffers.%s has %zu elements, needs %zu", key, len, length);
    throw_type(env, msg);
    return 0;
  }
  return napi_create_reference(env, v, 1, ref) == napi_ok;
}

// ---- methods ---------------------------------------------------------------------------------------------------

// The native object behind `this` (methods are plain functions: a detached `const { close } = obj` has none);
// throws a TypeError saying `what` it should have been.
HELPER void *unwrap_this(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv, napi_value *self_out,
                         const char *what) {
  napi_value self;
  if (napi_get_cb_info(env, info, argc, argv, &self, NULL) != napi_ok) return NULL;
  if (self_out) *self_out = self;
  void *data = NULL;
  if (napi_unwrap(env, self, &data) != napi_ok || data == NULL) {
    char msg[96];
    snprintf(msg, sizeof msg, "not a %s", what);
    throw_type(env, msg);
    return NULL;
  }
  return data;
}

// What start(onBatch) needs of an addon's object: the fd to poll (-1 once closed) and where the polling state lives.
typedef struct {
  int fd;
  void *data;  // the poll handle's data, for `on_poll`
  uv_poll_cb on_poll;
  const char *resource;  // the async resource's name
  const char *closed_code, *started_code;
  napi_async_context *async;
  napi_ref *callback, *self;  // self: strong while polling, so that a started object is not collected under its peers
  uv_poll_t **poll;
} poll_start;

// start(onBatch), the same for every addon: checks the call, takes the references, polls the fd on the env's loop.
HELPER napi_value start_polling(napi_env env, napi_value self, size_t argc, napi_value *argv, poll_start p) {
  napi_valuetype t = napi_undefined;
  if (argc < 1 || napi_typeof(env, argv[0], &t) != napi_ok || t != napi_function)
    return throw_type(env, "start(onBatch): onBatch must be a function");
  if (p.fd < 0) {
    napi_throw_error(env, p.closed_code, "start() after close()");
    return NULL;
  }
  if (*p.poll) {
    napi_throw_error(env, p.started_code, "start() called twice");
    return NULL;
  }
  uv_loop_t *loop;
  CALL(env, napi_get_uv_event_loop(env, &loop));
  napi_value name;
  CALL(env, napi_create_string_utf8(env, p.resource, NAPI_AUTO_LENGTH, &name));
  CALL(env, napi_async_init(env, self, name, p.async));
  CALL(env, napi_create_reference(env, argv[0], 1, p.callback));
  CALL(env, napi_create_reference(env, self, 1, p.self));
  uv_poll_t *poll = malloc(sizeof *poll);
  if (poll == NULL) return throw_sys(env, ENOMEM, "uv_poll_init", NULL, 0, NULL);
  int r = uv_poll_init(loop, poll, p.fd);
  if (r < 0) {
    free(poll);
    return throw_sys(env, -r, "uv_poll_init", NULL, 0, NULL);
  }
  poll->data = p.data;
  *p.poll = poll;
  r = uv_poll_start(poll, UV_READABLE, p.on_poll);
  if (r < 0) return throw_sys(env, -r, "uv_poll_start", NULL, 0, NULL);
  return NULL;
}

#endif

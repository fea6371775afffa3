// Batched UDP I/O for swarmd: recvmmsg/sendmmsg on one non-blocking socket, polled by libuv.
//
// The addon does I/O only. JS allocates the buffers (see src/net/native-udp-addon.ts) and is called once per batch
// of received datagrams; after it returns, every slot it gave a reply length is sent back to that slot's source.
// Linux only. Context-aware (no global state), so it loads in worker_threads too.

#define _GNU_SOURCE
#define NAPI_VERSION 8

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <net/if.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "napi_helpers.h"

#define MAX_BATCH 1024   // UIO_MAXIOV: the kernel's cap on one recvmmsg/sendmmsg
#define MAX_SLOT 65536   // a UDP datagram is at most 65,507 bytes of payload
#define MAX_ROUNDS 8     // batches handled per readable event before yielding to the loop
#define DETACH_MIN 16    // a first batch this large takes the socket out of epoll until the event is handled
#define MAX_SPREAD 1024  // sockets in one SO_REUSEPORT group spread over at random (workers)
#define ADDR_SLOT 16     // bytes per source address in inAddr
#define MAX_ATOMIC_V4_REPLY (1280 - 28)  // the largest IPv4 reply sent with "don't fragment": 1280 less IP and UDP headers

enum { BUF_IN_DATA, BUF_IN_LENGTH, BUF_IN_ADDR, BUF_OUT_DATA, BUF_OUT_LENGTH, BUF_COUNT };

typedef struct {
  napi_env env;
  int fd;        // -1 once closed
  int ipv6;
  int port;
  uv_poll_t *poll;  // NULL until start(), and again once closed (the handle is freed in its close callback)
  napi_ref buffers[BUF_COUNT];
  napi_ref callback;
  napi_ref self;    // strong while polling, so a started socket is not collected
  napi_async_context async;
  int hook;         // env cleanup hook registered
  uint32_t batch, slot, out_slot;
  uint8_t *in_data;
  int32_t *in_length;
  uint8_t *in_addr;
  uint8_t *out_data;
  int32_t *out_length;
  struct mmsghdr *rmsgs;
  struct iovec *riov;
  struct sockaddr_storage *raddr;
  struct mmsghdr *smsgs;
  struct iovec *siov;
} batch_socket;

// ---- closing and freeing -----------------------------------------------------------------------------------------

static void free_poll(uv_handle_t *handle) { free(handle); }

static void cleanup_hook(void *arg);

// Stops polling, closes the fd, lets go of the buffers and callback. Idempotent. The struct itself stays until the
// JS object is collected (finalize), so a close() from inside the batch callback leaves it valid for on_poll.
static void close_socket(batch_socket *s, int from_hook) {
  if (s->fd < 0) return;
  if (s->poll) {
    uv_poll_stop(s->poll);
    s->poll->data = NULL;
    uv_close((uv_handle_t *)s->poll, free_poll);
    s->poll = NULL;
  }
  close(s->fd);
  s->fd = -1;
  napi_env env = s->env;
  for (int i = 0; i < BUF_COUNT; i++) {
    if (s->buffers[i]) napi_delete_reference(env, s->buffers[i]);
    s->buffers[i] = NULL;
  }
  s->in_data = s->in_addr = s->out_data = NULL;
  s->in_length = s->out_length = NULL;
  if (s->callback) napi_delete_reference(env, s->callback);
  s->callback = NULL;
  if (s->async) napi_async_destroy(env, s->async);
  s->async = NULL;
  if (s->self) napi_delete_reference(env, s->self);
  s->self = NULL;
  if (s->hook && !from_hook) napi_remove_env_cleanup_hook(env, cleanup_hook, s);
  s->hook = 0;
}

// The environment (main thread or a worker) is going away with the socket still open.
static void cleanup_hook(void *arg) { close_socket(arg, 1); }

static void free_socket(batch_socket *s) {
  free(s->rmsgs);
  free(s->riov);
  free(s->raddr);
  free(s->smsgs);
  free(s->siov);
  free(s);
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  batch_socket *s = data;
  close_socket(s, 0);
  free_socket(s);
}

// ---- I/O ---------------------------------------------------------------------------------------------------------

// Sends every slot of the batch that has a reply, back to where its request came from.
static void send_replies(batch_socket *s, uint32_t n) {
  uint32_t k = 0;
  for (uint32_t i = 0; i < n; i++) {
    int32_t len = s->out_length[i];
    if (len <= 0 || (uint32_t)len > s->out_slot) continue;
    struct msghdr *h = &s->smsgs[k].msg_hdr;
    s->siov[k].iov_base = s->out_data + (size_t)i * s->out_slot;
    s->siov[k].iov_len = (size_t)len;
    h->msg_name = &s->raddr[i];
    h->msg_namelen = s->rmsgs[i].msg_hdr.msg_namelen;
    h->msg_iov = &s->siov[k];
    h->msg_iovlen = 1;
    h->msg_control = NULL;
    h->msg_controllen = 0;
    h->msg_flags = 0;
    k++;
  }
  uint32_t off = 0;
  while (off < k) {
    int r = sendmmsg(s->fd, s->smsgs + off, k - off, MSG_DONTWAIT);
    if (r > 0) {
      off += (uint32_t)r;
    } else if (r < 0 && errno == EINTR) {
      continue;
    } else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
      return;  // the send queue is full: drop the rest of this batch, as UDP may
    } else {
      off++;  // this message failed on its own (EPERM from a firewall, EMSGSIZE, ...): skip it
    }
  }
}

// Calls the JS batch callback; returns 0 if it threw (the exception is then raised as uncaught).
static int call_batch(batch_socket *s, uint32_t n) {
  napi_env env = s->env;
  napi_value cb, self, arg, result;
  if (napi_get_reference_value(env, s->callback, &cb) != napi_ok || cb == NULL) return 0;
  if (napi_get_reference_value(env, s->self, &self) != napi_ok || self == NULL) return 0;
  if (napi_create_uint32(env, n, &arg) != napi_ok) return 0;
  napi_status st = napi_make_callback(env, s->async, self, cb, 1, &arg, &result);
  if (st == napi_ok) return 1;
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
    napi_value error;
    if (napi_get_and_clear_last_exception(env, &error) == napi_ok) napi_fatal_exception(env, error);
  }
  return 0;
}

// Each datagram sent wakes every waiter on the socket when the kernel frees it (sock_wfree), and epoll waits on it:
// a lock pair and a callback per reply, about 4 % of the tracker's CPU under UDP load. So once a batch shows load,
// the socket leaves epoll until the event is handled. That takes two epoll_ctl calls, which at one datagram per
// event cost more than they save (docs/benchmarks.md, sixth pass); hence DETACH_MIN. Level-triggered, the socket is
// readable again at once if datagrams came meanwhile.
static void on_poll(uv_poll_t *handle, int status, int events) {
  (void)events;
  batch_socket *s = handle->data;
  if (s == NULL || status < 0) return;
  napi_env env = s->env;
  int detached = 0;
  for (int round = 0; round < MAX_ROUNDS && s->fd >= 0; round++) {
    for (uint32_t i = 0; i < s->batch; i++) {
      s->rmsgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_storage);
      s->rmsgs[i].msg_hdr.msg_flags = 0;
    }
    int r;
    do r = recvmmsg(s->fd, s->rmsgs, s->batch, MSG_DONTWAIT, NULL);
    while (r < 0 && errno == EINTR);
    if (r <= 0) break;  // drained (EAGAIN), or an error: poll again later
    uint32_t n = (uint32_t)r;
    for (uint32_t i = 0; i < n; i++) {
      const struct msghdr *h = &s->rmsgs[i].msg_hdr;
      s->in_length[i] = (h->msg_flags & MSG_TRUNC) ? -1 : (int32_t)s->rmsgs[i].msg_len;
      uint8_t *a = s->in_addr + (size_t)i * ADDR_SLOT;
      if (s->raddr[i].ss_family == AF_INET6) {
        memcpy(a, &((const struct sockaddr_in6 *)&s->raddr[i])->sin6_addr, 16);
      } else {
        memcpy(a, &((const struct sockaddr_in *)&s->raddr[i])->sin_addr, 4);
        memset(a + 4, 0, ADDR_SLOT - 4);
      }
    }
    memset(s->out_length, 0, (size_t)n * sizeof(int32_t));
    if (!detached && n >= DETACH_MIN) {
      uv_poll_stop(handle);
      detached = 1;
    }
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) != napi_ok) break;
    int ok = call_batch(s, n);
    napi_close_handle_scope(env, scope);
    if (!ok) break;            // the callback threw: no replies from a half-done batch
    if (s->fd < 0) break;      // closed from inside the callback: this batch's replies are not sent
    send_replies(s, n);
    if (n < s->batch) break;   // fewer than asked for: the socket is drained
  }
  if (detached && s->poll == handle) uv_poll_start(handle, UV_READABLE, on_poll);  // close() clears s->poll
}

// ---- JS methods --------------------------------------------------------------------------------------------------

static batch_socket *this_socket(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv,
                                 napi_value *self_out) {
  return unwrap_this(env, info, argc, argv, self_out, "native UDP batch socket");
}

static napi_value js_start(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], self;
  batch_socket *s = this_socket(env, info, &argc, argv, &self);
  if (s == NULL) return NULL;
  return start_polling(env, self, argc, argv,
                       (poll_start){s->fd, s, on_poll, "swarmd:UdpBatch", "ERR_SOCKET_DGRAM_NOT_RUNNING",
                                    "ERR_SOCKET_ALREADY_STARTED", &s->async, &s->callback, &s->self, &s->poll});
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  batch_socket *s = this_socket(env, info, &argc, NULL, NULL);
  if (s == NULL) return NULL;
  close_socket(s, 0);
  return NULL;
}

// ---- open() ------------------------------------------------------------------------------------------------------

static void release_refs(napi_env env, napi_ref *refs) {
  for (int i = 0; i < BUF_COUNT; i++)
    if (refs[i]) napi_delete_reference(env, refs[i]);
}

// The kernel gives each datagram of a SO_REUSEPORT port to a socket by the hash of its source, so every datagram of
// one client reaches one worker, and a few busy clients can load one worker with most of the traffic. A tracker's
// UDP requests need no affinity (connection ids are good at every worker), so the group's sockets (`count`, bound in
// any order) get this classic BPF program instead: a random index per datagram. An index past the sockets bound so
// far falls back to the hash.
static int attach_random_spread(int fd, uint32_t count) {
  struct sock_filter code[] = {
      {BPF_LD | BPF_W | BPF_ABS, 0, 0, (uint32_t)(SKF_AD_OFF + SKF_AD_RANDOM)},
      {BPF_ALU | BPF_MOD | BPF_K, 0, 0, count},
      {BPF_RET | BPF_A, 0, 0, 0},
  };
  struct sock_fprog prog = {sizeof code / sizeof code[0], code};
  return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog);
}

static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  napi_valuetype t0 = napi_undefined, t1 = napi_undefined;
  if (argc >= 1) napi_typeof(env, argv[0], &t0);
  if (argc >= 2) napi_typeof(env, argv[1], &t1);
  if (t0 != napi_object || t1 != napi_object) return throw_type(env, "open(options, buffers): two objects expected");
  napi_value opts = argv[0], bufs = argv[1];

  int ipv6, reuse_port;
  int64_t port, rcvbuf, batch, slot, out_slot, spread;
  napi_value addr_v;
  char address[128];
  size_t address_len;
  if (!get_bool(env, opts, "ipv6", &ipv6) || !get_bool(env, opts, "reusePort", &reuse_port) ||
      !get_int(env, opts, "randomSpread", 0, MAX_SPREAD, &spread) ||
      !get_int(env, opts, "port", 0, 65535, &port) || !get_int(env, opts, "recvBufferBytes", 0, INT32_MAX, &rcvbuf) ||
      !get_int(env, opts, "batch", 1, MAX_BATCH, &batch) || !get_int(env, opts, "slotSize", 1, MAX_SLOT, &slot) ||
      !get_int(env, opts, "outSlotSize", 1, MAX_SLOT, &out_slot) ||
      !get_prop(env, opts, "address", napi_string, &addr_v))
    return NULL;
  CALL(env, napi_get_value_string_utf8(env, addr_v, address, sizeof address, &address_len));

  // The address: a literal of the socket's family; an IPv6 one may carry a %scope (interface name or index).
  struct sockaddr_storage ss;
  socklen_t sslen;
  memset(&ss, 0, sizeof ss);
  int valid = address_len < sizeof address - 1;
  if (ipv6) {
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)port);
    char host[sizeof address];
    memcpy(host, address, address_len + 1);
    char *pct = strchr(host, '%');
    if (pct) {
      *pct = 0;
      char *end;
      unsigned long idx = strtoul(pct + 1, &end, 10);
      a6->sin6_scope_id = (*end == 0 && end != pct + 1) ? (uint32_t)idx : if_nametoindex(pct + 1);
      if (a6->sin6_scope_id == 0) valid = 0;
    }
    if (valid) valid = inet_pton(AF_INET6, host, &a6->sin6_addr) == 1;
    sslen = sizeof *a6;
  } else {
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    if (valid) valid = inet_pton(AF_INET, address, &a4->sin_addr) == 1;
    sslen = sizeof *a4;
  }
  if (!valid) return throw_sys(env, EINVAL, "bind", address, (int)port, ipv6 ? "(not an IPv6 address)" : "(not an IPv4 address)");

  // The buffers, checked before any fd exists.
  napi_ref refs[BUF_COUNT] = {0};
  void *data[BUF_COUNT] = {0};
  size_t nb = (size_t)batch;
  if (!get_buffer(env, bufs, "inData", napi_uint8_array, nb * (size_t)slot, &refs[BUF_IN_DATA], &data[BUF_IN_DATA]) ||
      !get_buffer(env, bufs, "inLength", napi_int32_array, nb, &refs[BUF_IN_LENGTH], &data[BUF_IN_LENGTH]) ||
      !get_buffer(env, bufs, "inAddr", napi_uint8_array, nb * ADDR_SLOT, &refs[BUF_IN_ADDR], &data[BUF_IN_ADDR]) ||
      !get_buffer(env, bufs, "outData", napi_uint8_array, nb * (size_t)out_slot, &refs[BUF_OUT_DATA],
                  &data[BUF_OUT_DATA]) ||
      !get_buffer(env, bufs, "outLength", napi_int32_array, nb, &refs[BUF_OUT_LENGTH], &data[BUF_OUT_LENGTH])) {
    release_refs(env, refs);
    return NULL;
  }

  int fd = socket(ipv6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    int err = errno;
    release_refs(env, refs);
    return throw_sys(env, err, "socket", NULL, 0, NULL);
  }
  int one = 1;
  const char *failed = NULL;
  if (ipv6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) failed = "setsockopt";
#ifdef IPV6_AUTOFLOWLABEL
  if (!failed && ipv6) {
    // Best effort. An automatic flow label is a keyed hash of each datagram's addresses and ports (siphash, 1 % of
    // the tracker's CPU under UDP/IPv6 load); a reply is one datagram, which no router needs to keep on one path.
    int off = 0;
    (void)setsockopt(fd, IPPROTO_IPV6, IPV6_AUTOFLOWLABEL, &off, sizeof off);
  }
#endif
  if (!failed && reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) failed = "setsockopt";
  if (!failed && !ipv6 && out_slot <= MAX_ATOMIC_V4_REPLY) {
    // Best effort. Without "don't fragment" the kernel draws an IP id for every datagram from a shared, keyed table
    // (__ip_select_ident: 3.5 % of the tracker's CPU under UDP load); with it the id is 0, which RFC 6864 allows for
    // a datagram that is never fragmented. PROBE sets DF without consulting the path-MTU cache; the largest reply
    // fits a 1280-byte path (the floor IPv6 sets for every link), so no reply needs fragments.
    int probe = IP_PMTUDISC_PROBE;
    (void)setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &probe, sizeof probe);
  }
  if (!failed && rcvbuf > 0) {
    // Best effort: past net.core.rmem_max only with CAP_NET_ADMIN (SO_RCVBUFFORCE); otherwise the kernel clamps.
    int size = (int)rcvbuf;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0)
      (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  }
  if (!failed && bind(fd, (struct sockaddr *)&ss, sslen) < 0) failed = "bind";
  // Best effort: without it (kernels before 4.5) the kernel's hash still spreads the clients.
  if (!failed && reuse_port && spread > 1) (void)attach_random_spread(fd, (uint32_t)spread);
  struct sockaddr_storage bound;
  socklen_t boundlen = sizeof bound;
  if (!failed && getsockname(fd, (struct sockaddr *)&bound, &boundlen) < 0) failed = "getsockname";
  if (failed) {
    int err = errno;
    close(fd);
    release_refs(env, refs);
    return throw_sys(env, err, failed, address, (int)port, NULL);
  }

  batch_socket *s = calloc(1, sizeof *s);
  if (s) {
    s->rmsgs = calloc(nb, sizeof *s->rmsgs);
    s->riov = calloc(nb, sizeof *s->riov);
    s->raddr = calloc(nb, sizeof *s->raddr);
    s->smsgs = calloc(nb, sizeof *s->smsgs);
    s->siov = calloc(nb, sizeof *s->siov);
  }
  if (!s || !s->rmsgs || !s->riov || !s->raddr || !s->smsgs || !s->siov) {
    if (s) free_socket(s);
    close(fd);
    release_refs(env, refs);
    return throw_sys(env, ENOMEM, "open", NULL, 0, NULL);
  }
  s->env = env;
  s->fd = fd;
  s->ipv6 = ipv6;
  s->port = ntohs(ipv6 ? ((struct sockaddr_in6 *)&bound)->sin6_port : ((struct sockaddr_in *)&bound)->sin_port);
  s->batch = (uint32_t)batch;
  s->slot = (uint32_t)slot;
  s->out_slot = (uint32_t)out_slot;
  memcpy(s->buffers, refs, sizeof refs);
  s->in_data = data[BUF_IN_DATA];
  s->in_length = data[BUF_IN_LENGTH];
  s->in_addr = data[BUF_IN_ADDR];
  s->out_data = data[BUF_OUT_DATA];
  s->out_length = data[BUF_OUT_LENGTH];
  for (uint32_t i = 0; i < s->batch; i++) {
    s->riov[i].iov_base = s->in_data + (size_t)i * s->slot;
    s->riov[i].iov_len = s->slot;
    s->rmsgs[i].msg_hdr.msg_name = &s->raddr[i];
    s->rmsgs[i].msg_hdr.msg_iov = &s->riov[i];
    s->rmsgs[i].msg_hdr.msg_iovlen = 1;
  }

  napi_value obj, port_v;
  napi_status st = napi_create_object(env, &obj);
  if (st == napi_ok) st = napi_create_int32(env, s->port, &port_v);
  if (st == napi_ok) {
    napi_property_descriptor props[] = {
        {"port", NULL, NULL, NULL, NULL, port_v, napi_enumerable, NULL},
        {"start", NULL, js_start, NULL, NULL, NULL, napi_default, NULL},
        {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
    };
    st = napi_define_properties(env, obj, sizeof props / sizeof props[0], props);
  }
  if (st == napi_ok) st = napi_wrap(env, obj, s, finalize, NULL, NULL);
  if (st != napi_ok) {
    close_socket(s, 0);
    free_socket(s);
    return NULL;
  }
  // From here the socket belongs to obj: closed by close(), by the env's teardown, or when obj is collected.
  if (napi_add_env_cleanup_hook(env, cleanup_hook, s) == napi_ok) s->hook = 1;
  return obj;
}

NAPI_MODULE_INIT() {
  keep_large_blocks_mapped();
  napi_value fn;
  if (napi_create_function(env, "open", NAPI_AUTO_LENGTH, js_open, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "open", fn) != napi_ok) return NULL;
  return exports;
}

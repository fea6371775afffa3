// Batched plain-HTTP I/O for swarmd: one listening socket and its connections on an epoll instance that libuv polls.
// Every connection with unanswered request bytes goes to JS in a batch (bytes, address, id); JS answers into fixed
// slots (response bytes, bytes consumed, close/hold flags); C writes, keeps what the kernel did not take yet (and
// stops reading that connection until it is gone, so answers keep their order), and closes. Parsing and answering
// stay in TypeScript (src/net/native-http-server.ts). Linux only; no global state, so it loads in worker_threads.

#define _GNU_SOURCE
#define NAPI_VERSION 8

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <uv.h>

#include "napi_helpers.h"

#define IN_CAP 8192
#define MAX_EVENTS 256
#define FLAG_CLOSE 1
#define FLAG_HOLD 2
// The per-request socket calls go to the kernel through syscall(), not glibc's wrappers. send, recv, accept4 and close
// are cancellation points: in a multi-threaded process such as Node, each wrapper brackets the call with two atomic
// updates of the thread's cancellation state (2.8 % of the tracker's CPU under HTTP keep-alive load), and no thread
// of Node is ever cancelled. Same results and errno as the wrappers.
static inline ssize_t sock_send(int fd, const void *data, size_t len) {
  return syscall(SYS_sendto, fd, data, len, MSG_NOSIGNAL, NULL, 0);
}
static inline ssize_t sock_recv(int fd, void *data, size_t len) {
  return syscall(SYS_recvfrom, fd, data, len, 0, NULL, NULL);
}
static inline int sock_accept(int lfd, struct sockaddr *addr, socklen_t *len) {
  return (int)syscall(SYS_accept4, lfd, addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
}
static inline void sock_close(int fd) { (void)syscall(SYS_close, fd); }

// A connection's id for JS: its table index and 11 bits of the slot's generation, so that a late send() to a
// connection that has closed cannot reach a newer one in the same slot.
#define ID_INDEX_BITS 20
#define ID_INDEX_MASK ((1u << ID_INDEX_BITS) - 1)
#define ID_GEN_MASK 0x7ffu

typedef struct {
  int fd;           // -1: free slot
  uint32_t gen;
  uint8_t addr[16];
  uint32_t in_len;
  uint8_t *in;      // IN_CAP bytes
  uint8_t *out;     // bytes the kernel has not taken yet
  uint32_t out_len, out_cap;
  int held, queued, close_after, eof;
  int answered;     // a request of this connection was answered: from then on an empty buffer is an idle keep-alive
  int registered;   // in the epoll set (see watch)
  uint32_t events;  // what epoll watches for this connection now
  // monotonic ms: when the request head began (its first byte, or the accept for a connection's first request); the
  // last read or write progress
  uint64_t first_byte, last_active;
} conn;

typedef struct {
  napi_env env;
  int lfd, epfd, ipv6, port;
  uv_poll_t *poll;
  napi_ref refs[8];
  napi_ref callback, self;
  napi_async_context async;
  uint32_t batch, out_slot;
  uint8_t *in_data, *in_addr, *out_data;
  int32_t *in_length, *in_conn, *out_length, *out_consumed, *out_flags;
  conn *conns;
  uint32_t nconns, cap;
  int32_t *free_ids;
  uint32_t nfree;
  int32_t *ready;
  uint32_t nready;
  int running;  // inside run_batches: send() only queues
  uint32_t accepted;  // connections accepted since the last takeAccepted()
  uint32_t refused;   // connections closed at once because max_conns were open, since the last takeAccepted()
  uint32_t max_conns; // 0: no cap
  uint64_t now;       // monotonic ms, read once per poll round and on every other entry from JS (see tick)
} server;

// Timeouts are seconds long, so one reading of the clock serves a poll round: reading it for every recv cost 0.7-1.5 %
// of the tracker's CPU under HTTP keep-alive load.
static void tick(server *s) { s->now = uv_hrtime() / 1000000; }
static uint64_t now_ms(const server *s) { return s->now; }

static void conn_close(server *s, int id) {
  conn *c = &s->conns[id];
  if (c->fd < 0) return;
  sock_close(c->fd);  // also leaves the epoll set: the fd is never duplicated
  c->fd = -1;
  c->gen++;
  free(c->out);
  c->out = NULL;
  c->out_len = c->out_cap = 0;
  c->in_len = 0;
  s->free_ids[s->nfree++] = id;
  s->nconns--;
}

// Watches a connection for what it can use now: output to finish, else input — but no input while a reply is held or
// the input buffer is full. Edge-triggered: a read drains the socket (or fills the buffer, and then input is not
// watched), so nothing is left unread that a later edge would not report, and a connection answered in a poll round
// is not polled again in the next one just to be found idle, as level-triggered epoll does with every connection it
// reports. Watching input again (EPOLL_CTL_MOD) reports bytes that arrived meanwhile.
//
// A new connection joins the epoll set only when its first batch is done, or at once when it had nothing to read: a
// client that sends one request and is answered with a close (every connection-per-request client, as the request is
// there at the accept) then costs neither an EPOLL_CTL_ADD nor the removal from the set when its socket closes.
static void watch(server *s, int id) {
  conn *c = &s->conns[id];
  if (c->fd < 0) return;
  uint32_t want = c->out_len > 0 ? EPOLLOUT | EPOLLET : (c->held || c->in_len >= IN_CAP) ? 0 : EPOLLIN | EPOLLET;
  if (!c->registered) {
    if (c->queued) return;  // its batch calls watch() again
    struct epoll_event ev = {.events = want, .data.u32 = (uint32_t)id};
    if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
      conn_close(s, id);  // it could never be read again
      return;
    }
    c->registered = 1;
    c->events = want;
    return;
  }
  if (want == c->events) return;
  struct epoll_event ev = {.events = want, .data.u32 = (uint32_t)id};
  epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ev);
  c->events = want;
}

static void queue(server *s, int id) {
  conn *c = &s->conns[id];
  if (c->queued || c->held || c->fd < 0 || c->out_len > 0 || c->in_len == 0) return;
  c->queued = 1;
  s->ready[s->nready++] = id;
}

// Writes `len` bytes (after what is pending); keeps the rest and asks for EPOLLOUT. Returns 0, or -1 if closed.
// sendto/recvfrom rather than write/read throughout: they go to the socket without the file layer's checks, and
// MSG_NOSIGNAL turns a write to a reset connection into EPIPE rather than a signal.
static int conn_write(server *s, int id, const uint8_t *data, uint32_t len) {
  conn *c = &s->conns[id];
  if (c->out_len == 0) {
    while (len > 0) {
      ssize_t n = sock_send(c->fd, data, len);
      if (n > 0) {
        data += n;
        len -= (uint32_t)n;
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        break;
      } else {
        conn_close(s, id);
        return -1;
      }
    }
    if (len == 0) return 0;
  }
  if (c->out_len + len > c->out_cap) {
    uint32_t cap = c->out_cap ? c->out_cap : 4096;
    while (cap < c->out_len + len) cap *= 2;
    uint8_t *p = realloc(c->out, cap);
    if (!p) {
      conn_close(s, id);
      return -1;
    }
    c->out = p;
    c->out_cap = cap;
  }
  memcpy(c->out + c->out_len, data, len);
  c->out_len += len;
  watch(s, id);
  return 0;
}

static void conn_flush(server *s, int id) {
  conn *c = &s->conns[id];
  uint32_t done = 0;
  while (done < c->out_len) {
    ssize_t n = sock_send(c->fd, c->out + done, c->out_len - done);
    if (n > 0) {
      done += (uint32_t)n;
      c->last_active = now_ms(s);
    }
    else if (n < 0 && errno == EINTR) continue;
    else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    else {
      conn_close(s, id);
      return;
    }
  }
  memmove(c->out, c->out + done, c->out_len - done);
  c->out_len -= done;
  if (c->out_len > 0) return;
  if (c->close_after) {
    conn_close(s, id);
    return;
  }
  watch(s, id);
  queue(s, id);
}

static void do_read(server *s, int id);

static void do_accept(server *s) {
  for (;;) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int fd = sock_accept(s->lfd, (struct sockaddr *)&ss, &sl);
    if (fd < 0) return;  // EAGAIN, or an error the next readable event retries
    if (s->max_conns != 0 && s->nconns >= s->max_conns) {
      sock_close(fd);
      s->refused++;
      continue;
    }
    if (s->nfree == 0) {
      uint32_t cap = s->cap * 2;
      if (cap > ID_INDEX_MASK + 1) {  // ids carry 20 bits of index: a million connections per listener
        sock_close(fd);
        return;
      }
      conn *cs = realloc(s->conns, cap * sizeof(conn));
      int32_t *fr = realloc(s->free_ids, cap * sizeof(int32_t));
      int32_t *rd = realloc(s->ready, cap * sizeof(int32_t));
      if (!cs || !fr || !rd) {
        sock_close(fd);
        return;
      }
      s->conns = cs;
      s->free_ids = fr;
      s->ready = rd;
      for (uint32_t i = s->cap; i < cap; i++) {
        memset(&cs[i], 0, sizeof(conn));
        cs[i].fd = -1;
        s->free_ids[s->nfree++] = (int32_t)(cap - 1 - (i - s->cap));
      }
      s->cap = cap;
    }
    int id = s->free_ids[--s->nfree];
    conn *c = &s->conns[id];
    if (!c->in) c->in = malloc(IN_CAP);
    if (!c->in) {
      sock_close(fd);
      s->free_ids[s->nfree++] = id;
      return;
    }
    c->fd = fd;  // TCP_NODELAY comes from the listening socket
    s->accepted++;
    c->in_len = 0;
    c->held = c->queued = c->close_after = c->eof = c->answered = c->registered = 0;
    c->events = 0;
    memset(c->addr, 0, 16);
    if (ss.ss_family == AF_INET) memcpy(c->addr, &((struct sockaddr_in *)&ss)->sin_addr, 4);
    else memcpy(c->addr, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
    c->last_active = c->first_byte = now_ms(s);
    s->nconns++;
    // TCP_DEFER_ACCEPT: the request is normally here already, so read it now rather than after another epoll round;
    // watch() adds the connection to the epoll set when it is needed there.
    do_read(s, id);
  }
}

static void do_read(server *s, int id) {
  conn *c = &s->conns[id];
  while (c->fd >= 0 && c->in_len < IN_CAP) {
    ssize_t n = sock_recv(c->fd, c->in + c->in_len, IN_CAP - c->in_len);
    if (n > 0) {
      // The first request's time runs from the accept: a client cannot buy more by sending its first byte late.
      if (c->in_len == 0 && c->answered) c->first_byte = now_ms(s);
      c->in_len += (uint32_t)n;
      c->last_active = now_ms(s);
      if ((size_t)n < IN_CAP - c->in_len + (size_t)n) break;  // short read: drained
    } else if (n == 0) {
      c->eof = 1;
      break;
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      break;
    } else {
      conn_close(s, id);
      return;
    }
  }
  if (c->fd < 0) return;
  if (c->eof && c->in_len == 0) {
    conn_close(s, id);
    return;
  }
  queue(s, id);
  watch(s, id);
}

// Hands ready connections to JS in batches and applies its answers.
static void run_batches(server *s) {
  napi_env env = s->env;
  if (s->running) return;
  s->running = 1;
  while (s->nready > 0) {
    uint32_t n = 0, taken = 0;
    int32_t ids[1024];
    while (taken < s->nready && n < s->batch) {
      int id = s->ready[taken++];
      conn *c = &s->conns[id];
      c->queued = 0;
      if (c->fd < 0 || c->held || c->out_len > 0 || c->in_len == 0) continue;
      memcpy(s->in_data + (size_t)n * IN_CAP, c->in, c->in_len);
      s->in_length[n] = (int32_t)c->in_len;
      s->in_conn[n] = (int32_t)(((c->gen & ID_GEN_MASK) << ID_INDEX_BITS) | (uint32_t)id);
      memcpy(s->in_addr + (size_t)n * 16, c->addr, 16);
      s->out_length[n] = 0;
      s->out_consumed[n] = 0;
      s->out_flags[n] = 0;
      ids[n++] = id;
    }
    // Each connection is queued at most once at a time, so the list never holds more than `cap` ids.
    memmove(s->ready, s->ready + taken, (s->nready - taken) * sizeof(int32_t));
    s->nready -= taken;
    if (n == 0) continue;
    napi_handle_scope scope;
    napi_open_handle_scope(env, &scope);
    napi_value cb, recv, argv[1], result;
    napi_get_reference_value(env, s->callback, &cb);
    napi_get_global(env, &recv);
    napi_create_uint32(env, n, &argv[0]);
    napi_status st = napi_make_callback(env, s->async, recv, cb, 1, argv, &result);
    if (st == napi_pending_exception) {
      napi_value exc;
      napi_get_and_clear_last_exception(env, &exc);
      napi_fatal_exception(env, exc);
    }
    napi_close_handle_scope(env, scope);
    if (s->lfd < 0) {  // closed from inside the callback
      s->running = 0;
      return;
    }
    for (uint32_t i = 0; i < n; i++) {
      int id = ids[i];
      conn *c = &s->conns[id];
      if (c->fd < 0) continue;
      int32_t used = s->out_consumed[i];
      if (used > 0 && (uint32_t)used <= c->in_len) {
        memmove(c->in, c->in + used, c->in_len - used);
        c->in_len -= (uint32_t)used;
        c->first_byte = now_ms(s);
        c->answered = 1;
      }
      int32_t len = s->out_length[i];
      int flags = s->out_flags[i];
      if (flags & FLAG_HOLD) c->held = 1;
      if (len > 0 && (uint32_t)len <= s->out_slot) {
        if (conn_write(s, id, s->out_data + (size_t)i * s->out_slot, (uint32_t)len) < 0) continue;
      }
      if (flags & FLAG_CLOSE) {
        if (c->out_len == 0) conn_close(s, id);
        else c->close_after = 1;
        continue;
      }
      if (c->eof && (used == 0 || c->in_len == 0) && !c->held) {
        if (c->out_len == 0) conn_close(s, id);
        else c->close_after = 1;
        continue;
      }
      if (used > 0) queue(s, id);  // pipelined requests left over
      watch(s, id);
    }
  }
  s->running = 0;
}

static void on_poll(uv_poll_t *handle, int status, int events) {
  (void)status;
  (void)events;
  server *s = handle->data;
  if (!s) return;
  struct epoll_event evs[MAX_EVENTS];
  for (int round = 0; round < 8 && s->lfd >= 0; round++) {
    // Not glibc's epoll_wait, a cancellation point (see sock_send).
    int n = (int)syscall(SYS_epoll_pwait, s->epfd, evs, MAX_EVENTS, 0, NULL, 0);
    tick(s);
    if (n <= 0) break;
    for (int i = 0; i < n; i++) {
      uint32_t id = evs[i].data.u32;
      if (id == UINT32_MAX) {
        do_accept(s);
        continue;
      }
      conn *c = &s->conns[id];
      if (c->fd < 0) continue;
      if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
        conn_close(s, (int)id);
        continue;
      }
      if (evs[i].events & EPOLLOUT) conn_flush(s, (int)id);
      if (c->fd >= 0 && (evs[i].events & EPOLLIN)) do_read(s, (int)id);
    }
    run_batches(s);
    if (n < MAX_EVENTS) break;
  }
}

// ---- JS API --------------------------------------------------------------------------------------------------------

static server *this_server(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv,
                           napi_value *self_out) {
  return unwrap_this(env, info, argc, argv, self_out, "native TCP batch server");
}

static napi_value js_start(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], self;
  server *s = this_server(env, info, &argc, argv, &self);
  if (!s) return NULL;
  return start_polling(env, self, argc, argv,
                       (poll_start){s->lfd < 0 ? -1 : s->epfd, s, on_poll, "swarmd:TcpBatch", "ERR_SERVER_NOT_RUNNING",
                                    "ERR_SERVER_ALREADY_LISTEN", &s->async, &s->callback, &s->self, &s->poll});
}

static void free_poll(uv_handle_t *h) { free(h); }

static void cleanup_hook(void *arg);

static void server_close(server *s, int from_hook) {
  if (s->lfd < 0) return;
  if (!from_hook) napi_remove_env_cleanup_hook(s->env, cleanup_hook, s);
  for (uint32_t i = 0; i < s->cap; i++) conn_close(s, (int)i);
  if (s->poll) {
    uv_poll_stop(s->poll);
    s->poll->data = NULL;
    uv_close((uv_handle_t *)s->poll, free_poll);
    s->poll = NULL;
  }
  close(s->lfd);
  close(s->epfd);
  s->lfd = s->epfd = -1;
  for (int i = 0; i < 8; i++)
    if (s->refs[i]) napi_delete_reference(s->env, s->refs[i]);
  if (s->callback) napi_delete_reference(s->env, s->callback);
  s->callback = NULL;
  if (s->self) napi_delete_reference(s->env, s->self);
  s->self = NULL;
  if (s->async) napi_async_destroy(s->env, s->async);
  s->async = NULL;
}

// The environment (a worker thread, or the process) is going away with the server open.
static void cleanup_hook(void *arg) { server_close(arg, 1); }

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  server *s = this_server(env, info, &argc, NULL, NULL);
  if (s) server_close(s, 0);
  return NULL;
}

// send(id, bytes, close): the answer to a held request. Returns false when that connection is gone (closed, or its
// slot now serves another connection), true when the bytes were written or queued.
static napi_value js_send(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], out;
  server *s = this_server(env, info, &argc, argv, NULL);
  if (!s) return NULL;
  napi_valuetype t0 = napi_undefined, t2 = napi_undefined;
  bool is_array = false;
  napi_typedarray_type type = napi_int8_array;
  void *data = NULL;
  size_t len = 0;
  if (argc == 3) {
    napi_typeof(env, argv[0], &t0);
    napi_typeof(env, argv[2], &t2);
    napi_is_typedarray(env, argv[1], &is_array);
  }
  if (is_array) CALL(env, napi_get_typedarray_info(env, argv[1], &type, &len, &data, NULL, NULL));
  if (t0 != napi_number || !is_array || type != napi_uint8_array || t2 != napi_boolean)
    return throw_type(env, "send(id, bytes, close): a connection id, a Uint8Array and a boolean expected");
  if (len > UINT32_MAX / 2) return throw_range(env, "send(): bytes longer than 2 GiB");
  // Inside onBatch (or a microtask it queued, which runs before the batch's replies are applied) the answer would
  // overtake the replies of that batch and its hold flag would be applied after it: the caller must wait.
  if (s->running) {
    napi_throw_error(env, "ERR_INVALID_STATE", "send() inside onBatch: call it from a later turn of the loop");
    return NULL;
  }
  tick(s);
  int32_t raw;
  bool closing;
  CALL(env, napi_get_value_int32(env, argv[0], &raw));
  CALL(env, napi_get_value_bool(env, argv[2], &closing));
  uint32_t gen = ((uint32_t)raw >> ID_INDEX_BITS) & ID_GEN_MASK;
  int id = (int)((uint32_t)raw & ID_INDEX_MASK);
  int live = s->lfd >= 0 && (uint32_t)id < s->cap && s->conns[id].fd >= 0 && (s->conns[id].gen & ID_GEN_MASK) == gen;
  if (live && conn_write(s, id, data, (uint32_t)len) == 0) {
    conn *c = &s->conns[id];
    c->held = 0;
    c->last_active = now_ms(s);
    watch(s, id);
    if (closing) {
      if (c->out_len == 0) conn_close(s, id);
      else c->close_after = 1;
    } else {
      queue(s, id);
      run_batches(s);
    }
  } else {
    live = 0;
  }
  CALL(env, napi_get_boolean(env, live, &out));
  return out;
}

// sweep(headMs, idleMs): closes connections whose request head is late (the first one counted from the accept, so a
// connection that never sends is cut off as soon), that sat idle too long, or whose reply the client stopped reading
// for as long; a held one is answering and is spared. Returns how many it closed.
static napi_value js_sweep(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], out;
  server *s = this_server(env, info, &argc, argv, NULL);
  if (!s) return NULL;
  napi_valuetype t0 = napi_undefined, t1 = napi_undefined;
  if (argc == 2) {
    napi_typeof(env, argv[0], &t0);
    napi_typeof(env, argv[1], &t1);
  }
  if (t0 != napi_number || t1 != napi_number) return throw_type(env, "sweep(headMs, idleMs): two numbers expected");
  int32_t head_ms, idle_ms;
  CALL(env, napi_get_value_int32(env, argv[0], &head_ms));
  CALL(env, napi_get_value_int32(env, argv[1], &idle_ms));
  if (head_ms < 0 || idle_ms < 0) return throw_range(env, "sweep(headMs, idleMs): timeouts must not be negative");
  uint32_t closed = 0;
  tick(s);
  uint64_t now = now_ms(s);
  for (uint32_t i = 0; s->lfd >= 0 && i < s->cap; i++) {
    conn *c = &s->conns[i];
    if (c->fd < 0 || c->held) continue;
    int late_head = (c->in_len > 0 || !c->answered) && c->out_len == 0 && now - c->first_byte > (uint64_t)head_ms;
    if (late_head || now - c->last_active > (uint64_t)idle_ms) {
      conn_close(s, (int)i);
      closed++;
    }
  }
  CALL(env, napi_create_uint32(env, closed, &out));
  return out;
}

// takeAccepted() and takeRefused(): connections accepted, and connections closed at once because maxConnections were
// open, since the last call of the same (for the tracker's statistics). The function's data says which.
static char take_refused_tag;
static napi_value js_take_count(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  void *which;
  napi_value out;
  server *s = this_server(env, info, &argc, NULL, NULL);
  if (!s) return NULL;
  CALL(env, napi_get_cb_info(env, info, NULL, NULL, NULL, &which));
  uint32_t *count = which == &take_refused_tag ? &s->refused : &s->accepted;
  CALL(env, napi_create_uint32(env, *count, &out));
  *count = 0;
  return out;
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  server *s = data;
  server_close(s, 0);
  for (uint32_t i = 0; i < s->cap; i++) free(s->conns[i].in);
  free(s->conns);
  free(s->free_ids);
  free(s->ready);
  free(s);
}

// The address `address` of the family (`ipv6`) with `port`, into `ss`; 0 when it is not a literal of that family.
static int make_sockaddr(int ipv6, const char *address, int port, struct sockaddr_storage *ss, socklen_t *len) {
  memset(ss, 0, sizeof *ss);
  if (ipv6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    *len = sizeof *a;
    return inet_pton(AF_INET6, address, &a->sin6_addr) == 1;
  }
  struct sockaddr_in *a = (struct sockaddr_in *)ss;
  a->sin_family = AF_INET;
  a->sin_port = htons((uint16_t)port);
  *len = sizeof *a;
  return inet_pton(AF_INET, address, &a->sin_addr) == 1;
}

enum { BUF_IN_DATA, BUF_IN_LENGTH, BUF_IN_CONN, BUF_IN_ADDR, BUF_OUT_DATA, BUF_OUT_LENGTH, BUF_OUT_CONSUMED, BUF_OUT_FLAGS };

// listen({ipv6, address, port, reusePort, batch, outSlotSize, maxConnections}, buffers)
static napi_value js_listen(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) return throw_type(env, "listen(options, buffers): two objects expected");
  napi_value opts = argv[0], bufs = argv[1], addr_v;
  int ipv6, reuse;
  int64_t port, batch, out_slot, max_conns;
  char address[64];
  if (!get_bool(env, opts, "ipv6", &ipv6) || !get_bool(env, opts, "reusePort", &reuse) ||
      !get_int(env, opts, "port", 0, 65535, &port) || !get_int(env, opts, "batch", 1, 1024, &batch) ||
      !get_int(env, opts, "outSlotSize", 1, 1 << 24, &out_slot) ||
      !get_int(env, opts, "maxConnections", 0, ID_INDEX_MASK + 1, &max_conns) ||
      !get_prop(env, opts, "address", napi_string, &addr_v))
    return NULL;
  CALL(env, napi_get_value_string_utf8(env, addr_v, address, sizeof address, NULL));

  // The buffers first: nothing to undo but references when one is wrong.
  size_t n = (size_t)batch;
  const struct { const char *key; napi_typedarray_type type; size_t length; } want[8] = {
      {"inData", napi_uint8_array, n * IN_CAP}, {"inLength", napi_int32_array, n},
      {"inConn", napi_int32_array, n},         {"inAddr", napi_uint8_array, n * 16},
      {"outData", napi_uint8_array, n * (size_t)out_slot}, {"outLength", napi_int32_array, n},
      {"outConsumed", napi_int32_array, n},    {"outFlags", napi_int32_array, n},
  };
  napi_ref refs[8] = {0};
  void *data[8];
  for (int i = 0; i < 8; i++) {
    if (!get_buffer(env, bufs, want[i].key, want[i].type, want[i].length, &refs[i], &data[i])) {
      for (int k = 0; k < i; k++) napi_delete_reference(env, refs[k]);
      return NULL;
    }
  }
  int fd = -1, err = 0;
  const char *syscall = "bind";
  struct sockaddr_storage ss;
  socklen_t sl;
  if (!make_sockaddr(ipv6, address, (int)port, &ss, &sl)) err = EINVAL;
  if (!err && (fd = socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
    err = errno;
    syscall = "socket";
  }
  if (!err) {
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (reuse) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (ipv6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // inherited by every accepted connection
    // Wake accept only once a client has sent something (or after a second): a connection arrives with its request.
    setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0) err = errno;
    else if (listen(fd, 1024) < 0) {
      err = errno;
      syscall = "listen";
    }
  }
  if (err) {
    if (fd >= 0) close(fd);
    for (int k = 0; k < 8; k++) napi_delete_reference(env, refs[k]);
    return throw_sys(env, err, syscall, address, (int)port, NULL);
  }
  sl = sizeof ss;
  getsockname(fd, (struct sockaddr *)&ss, &sl);
  int bound = ntohs(ipv6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  server *s = ep < 0 ? NULL : calloc(1, sizeof(server));
  if (s) {
    s->cap = 64;
    s->conns = calloc(s->cap, sizeof(conn));
    s->free_ids = malloc(s->cap * sizeof(int32_t));
    s->ready = malloc(s->cap * sizeof(int32_t));
  }
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
  if (ep < 0) {
    err = errno;
    syscall = "epoll_create1";
  } else if (!s || !s->conns || !s->free_ids || !s->ready) {
    err = ENOMEM;
    syscall = "listen";
  } else if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
    err = errno;
    syscall = "epoll_ctl";
  }
  if (err) {
    if (s) {
      free(s->conns);
      free(s->free_ids);
      free(s->ready);
      free(s);
    }
    if (ep >= 0) close(ep);
    close(fd);
    for (int k = 0; k < 8; k++) napi_delete_reference(env, refs[k]);
    return throw_sys(env, err, syscall, address, (int)port, NULL);
  }
  s->env = env;
  s->lfd = fd;
  s->epfd = ep;
  s->ipv6 = ipv6;
  s->port = bound;
  s->batch = (uint32_t)batch;
  s->out_slot = (uint32_t)out_slot;
  s->max_conns = (uint32_t)max_conns;
  for (uint32_t i = 0; i < s->cap; i++) {
    s->conns[i].fd = -1;
    s->free_ids[s->nfree++] = (int32_t)(s->cap - 1 - i);
  }
  memcpy(s->refs, refs, sizeof refs);
  s->in_data = data[BUF_IN_DATA];
  s->in_length = data[BUF_IN_LENGTH];
  s->in_conn = data[BUF_IN_CONN];
  s->in_addr = data[BUF_IN_ADDR];
  s->out_data = data[BUF_OUT_DATA];
  s->out_length = data[BUF_OUT_LENGTH];
  s->out_consumed = data[BUF_OUT_CONSUMED];
  s->out_flags = data[BUF_OUT_FLAGS];

  napi_add_env_cleanup_hook(env, cleanup_hook, s);
  napi_value obj, fn, num;
  napi_create_object(env, &obj);
  napi_wrap(env, obj, s, finalize, NULL, NULL);
  napi_create_int32(env, bound, &num);
  napi_set_named_property(env, obj, "port", num);
  napi_create_function(env, "start", NAPI_AUTO_LENGTH, js_start, NULL, &fn);
  napi_set_named_property(env, obj, "start", fn);
  napi_create_function(env, "close", NAPI_AUTO_LENGTH, js_close, NULL, &fn);
  napi_set_named_property(env, obj, "close", fn);
  napi_create_function(env, "send", NAPI_AUTO_LENGTH, js_send, NULL, &fn);
  napi_set_named_property(env, obj, "send", fn);
  napi_create_function(env, "sweep", NAPI_AUTO_LENGTH, js_sweep, NULL, &fn);
  napi_set_named_property(env, obj, "sweep", fn);
  napi_create_function(env, "takeAccepted", NAPI_AUTO_LENGTH, js_take_count, NULL, &fn);
  napi_set_named_property(env, obj, "takeAccepted", fn);
  napi_create_function(env, "takeRefused", NAPI_AUTO_LENGTH, js_take_count, &take_refused_tag, &fn);
  napi_set_named_property(env, obj, "takeRefused", fn);
  return obj;
}

NAPI_MODULE_INIT() {
  keep_large_blocks_mapped();
  napi_value fn;
  napi_create_function(env, "listen", NAPI_AUTO_LENGTH, js_listen, NULL, &fn);
  napi_set_named_property(env, exports, "listen", fn);
  napi_value inCap;
  napi_create_int32(env, IN_CAP, &inCap);
  napi_set_named_property(env, exports, "inSlotSize", inCap);
  return exports;
}

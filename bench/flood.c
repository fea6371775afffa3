/*
 * flood.c - abusive load from ONE source address against a BitTorrent tracker, for bench/soak.ts.
 *
 * Everything leaves from --source (e.g. 127.0.0.9), so a per-address rate limiter sees one abuser:
 *   UDP   a paced stream of datagrams (sendmmsg, 1 ms ticks) mixing, by --mix G:B:A:S weights,
 *         G garbage (random lengths and bytes, wrong magic, unknown actions, truncated requests),
 *         B announces with random connection ids,
 *         A valid announces (connection id from a real connect, renewed every 30 s) cycling through --torrents
 *           distinct info hashes and many ports: the excess a rate limiter must throttle,
 *         S valid scrapes of several of those hashes.
 *   HTTP  --http-conns keep-alive connections pipelining valid announces (and a scrape in five) at --http-rate,
 *         at most WINDOW unanswered on each; and junk connections at --junk-rate, each sending one malformed head
 *         (bad escapes, no colon, unknown version, binary, oversized, a TLS hello...) and waiting for the answer or
 *         the close, then resetting (RST, so neither side keeps TIME_WAIT and one address can go on connecting).
 * Replies are read and classified (the tracker's error texts are counted) so that the flood also costs the tracker
 * its replies, as a real abuser's would.
 *
 * Stdout: a JSON progress line every second ({"type":"tick",...}) and a summary line at the end.
 *
 * Build: cc -O2 -Wall -o flood flood.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define GARBAGE_POOL 1024
#define MAX_DGRAM 1500
#define RECV_BUF 2048
#define MAX_HTTP_CONNS 64
#define WINDOW 32
#define IN_BUF (256 * 1024)
#define OUT_BUF (64 * 1024)
#define JUNK_TIMEOUT_NS 2000000000LL
#define CONNECT_RENEW_NS 30000000000LL
#define CONNECT_RETRY_NS 1000000000LL
/* A tick that falls further behind than this drops the backlog instead of bursting it. */
#define MAX_BACKLOG_S 0.1
#define ERROR_KINDS 16
#define UDP_MAX_SCRAPE 8

/* epoll tags: the UDP socket, or a TCP connection (kind in the top bits, index below). */
#define TAG_UDP 1ULL
#define TAG_HTTP (2ULL << 32)
#define TAG_JUNK (3ULL << 32)

static struct {
    char target[64], source[64];
    int udp_port, http_port;
    double duration, udp_rate, http_rate, junk_rate;
    unsigned mix[4];
    int http_conns, junk_max;
    uint32_t torrents;
    uint64_t seed;
} opt = {
    .udp_port = 0, .http_port = 0, .duration = 10, .udp_rate = 45000, .http_rate = 4000, .junk_rate = 1000,
    .mix = {1, 1, 2, 1}, .http_conns = 4, .junk_max = 2000, .torrents = 200000, .seed = 1,
};

static int family;
static struct sockaddr_storage target_addr, source_addr;
static socklen_t addr_len;
static int epfd;
static volatile sig_atomic_t stopping;

/* ------------------------------------------------------------------------------------------------ helpers */
static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static uint64_t rng_state;
static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Info hash number i of the flood's torrents: the same 20 bytes for the same i and seed. */
static void flood_hash(uint32_t i, uint8_t *out)
{
    uint64_t x = opt.seed * 0x100000001B3ULL + i;
    for (int k = 0; k < 20; k += 4) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        uint32_t v = (uint32_t)(x >> 32);
        memcpy(out + k, &v, 4);
    }
}

static void put32(uint8_t *p, uint32_t v) { p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v; }
static void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v; }
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }

static const char *errno_name(int err)
{
    const char *name = strerrorname_np(err);
    return name != NULL ? name : "E?";
}

/*
 * How many requests of a stream paced at `rate` per second are due after `elapsed` seconds, given `issued` so far.
 * A backlog beyond MAX_BACKLOG_S (the loop was starved of CPU) is added to `*skipped` instead of sent in a burst.
 */
static uint64_t due_now(double rate, double elapsed, uint64_t issued, uint64_t *skipped)
{
    double due = rate * elapsed;
    double behind = due - (double)(issued + *skipped);
    if (behind > rate * MAX_BACKLOG_S) *skipped += (uint64_t)(behind - rate * MAX_BACKLOG_S);
    uint64_t target = (uint64_t)due;
    return target > issued + *skipped ? target - issued - *skipped : 0;
}

static void die(const char *what)
{
    fprintf(stderr, "flood: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void parse_addr(const char *text, int port, struct sockaddr_storage *out)
{
    memset(out, 0, sizeof *out);
    struct sockaddr_in *v4 = (struct sockaddr_in *)out;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
    if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
    } else if (inet_pton(AF_INET6, text, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
    } else {
        fprintf(stderr, "flood: not an address: %s\n", text);
        exit(2);
    }
}

static void set_port(struct sockaddr_storage *a, int port)
{
    if (a->ss_family == AF_INET) ((struct sockaddr_in *)a)->sin_port = htons(port);
    else ((struct sockaddr_in6 *)a)->sin6_port = htons(port);
}

static void epoll_add(int fd, uint32_t events, uint64_t tag)
{
    struct epoll_event ev = {.events = events, .data.u64 = tag};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
}

/* A non-blocking TCP socket bound to the source address, connecting to the target's HTTP port. -1 on failure. */
static int tcp_connect(void)
{
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    /* The port is chosen at connect(), per destination: one source address can then hold far more connections. */
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_storage src = source_addr, dst = target_addr;
    set_port(&src, 0);
    set_port(&dst, opt.http_port);
    if (bind(fd, (struct sockaddr *)&src, addr_len) < 0 ||
        (connect(fd, (struct sockaddr *)&dst, addr_len) < 0 && errno != EINPROGRESS)) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/* Closes with a reset: no TIME_WAIT on either side, so the source address never runs out of ports. */
static void tcp_reset(int fd)
{
    struct linger hard = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
    close(fd);
}

/* Tally of distinct short texts (tracker error messages, failure reasons, errno names). */
struct tally {
    char text[ERROR_KINDS][64];
    uint64_t count[ERROR_KINDS];
    uint64_t other;
};

static void tally_add(struct tally *t, const char *text, size_t len)
{
    if (len > 63) len = 63;
    for (int i = 0; i < ERROR_KINDS; i++) {
        if (t->count[i] == 0) {
            memcpy(t->text[i], text, len);
            t->text[i][len] = 0;
            t->count[i] = 1;
            return;
        }
        if (strlen(t->text[i]) == len && memcmp(t->text[i], text, len) == 0) {
            t->count[i]++;
            return;
        }
    }
    t->other++;
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static void json_tally(FILE *f, const struct tally *t)
{
    fputc('{', f);
    int first = 1;
    for (int i = 0; i < ERROR_KINDS && t->count[i] > 0; i++) {
        if (!first) fputc(',', f);
        first = 0;
        json_string(f, t->text[i]);
        fprintf(f, ":%llu", (unsigned long long)t->count[i]);
    }
    if (t->other > 0) fprintf(f, "%s\"(other)\":%llu", first ? "" : ",", (unsigned long long)t->other);
    fputc('}', f);
}

/* ------------------------------------------------------------------------------------------------ UDP */
enum { K_GARBAGE, K_BADCONN, K_ANNOUNCE, K_SCRAPE };
static const char *KIND_NAMES[4] = {"garbage", "bad_connection_id", "announce", "scrape"};

static struct {
    int fd;
    uint8_t garbage[GARBAGE_POOL][MAX_DGRAM];
    uint16_t garbage_len[GARBAGE_POOL];
    uint8_t out[BATCH][MAX_DGRAM];
    struct iovec iov[BATCH];
    struct mmsghdr msgs[BATCH];
    uint8_t in[BATCH][RECV_BUF];
    struct iovec in_iov[BATCH];
    struct mmsghdr in_msgs[BATCH];
    uint8_t conn_id[8];
    int have_conn_id;
    int64_t last_connect_sent;
    uint64_t counter;
    uint64_t sent, sent_kind[4], send_errors, connects_sent, skipped;
    uint64_t replies[5]; /* connect, announce, scrape, error, other */
    struct tally errors, send_errnos;
} udp;

static void udp_prepare_garbage(void)
{
    for (int i = 0; i < GARBAGE_POOL; i++) {
        uint8_t *g = udp.garbage[i];
        for (int k = 0; k < MAX_DGRAM; k++) g[k] = (uint8_t)rnd();
        uint16_t len;
        switch (i % 8) {
        case 0: len = 1 + rnd() % 15; break;                                  /* shorter than any request */
        case 1: len = 16; memset(g, 0, 8); put32(g + 8, 0); break;            /* connect with a wrong magic */
        case 2: len = 16 + rnd() % 200; put32(g + 8, 4 + rnd() % 1000); break; /* unknown action */
        case 3: len = 20 + rnd() % 77; put32(g + 8, 1); break;               /* truncated announce */
        case 4: len = 16; put32(g + 8, 2); break;                            /* scrape of no hash */
        case 5: len = 98 + rnd() % 400; break;                               /* random, request-sized */
        case 6: len = 1200 + rnd() % 273; break;                             /* random, large */
        default: len = 8 + rnd() % 90; put32(g + 8, 3); break;               /* an "error" sent to the server */
        }
        udp.garbage_len[i] = len;
    }
}

static void udp_open(void)
{
    udp.fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (udp.fd < 0) die("udp socket");
    int size = 4 << 20;
    setsockopt(udp.fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    setsockopt(udp.fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    struct sockaddr_storage src = source_addr, dst = target_addr;
    set_port(&src, 0);
    set_port(&dst, opt.udp_port);
    if (bind(udp.fd, (struct sockaddr *)&src, addr_len) < 0) die("udp bind to --source");
    if (connect(udp.fd, (struct sockaddr *)&dst, addr_len) < 0) die("udp connect");
    for (int i = 0; i < BATCH; i++) {
        udp.iov[i].iov_base = udp.out[i];
        udp.msgs[i].msg_hdr.msg_iov = &udp.iov[i];
        udp.msgs[i].msg_hdr.msg_iovlen = 1;
        udp.in_iov[i].iov_base = udp.in[i];
        udp.in_iov[i].iov_len = RECV_BUF;
        udp.in_msgs[i].msg_hdr.msg_iov = &udp.in_iov[i];
        udp.in_msgs[i].msg_hdr.msg_iovlen = 1;
    }
    udp_prepare_garbage();
    epoll_add(udp.fd, EPOLLIN, TAG_UDP);
}

static const uint32_t CONNECT_TID = 0x5eed0001;

static size_t udp_fill(uint8_t *m, int kind)
{
    uint64_t n = udp.counter++;
    switch (kind) {
    case K_GARBAGE: {
        uint32_t i = n % GARBAGE_POOL;
        memcpy(m, udp.garbage[i], udp.garbage_len[i]);
        return udp.garbage_len[i];
    }
    case K_BADCONN:
    case K_ANNOUNCE: {
        uint32_t t = n % opt.torrents;
        if (kind == K_BADCONN || !udp.have_conn_id) {
            uint64_t bogus = rnd();
            memcpy(m, &bogus, 8);
        } else {
            memcpy(m, udp.conn_id, 8);
        }
        put32(m + 8, 1);
        put32(m + 12, (uint32_t)n);
        flood_hash(t, m + 16);
        memcpy(m + 36, "-FL0001-", 8);
        uint64_t id = rnd();
        memcpy(m + 44, &id, 8);
        memcpy(m + 52, &n, 4);
        memset(m + 56, 0, 8);                         /* downloaded */
        uint64_t left = (n & 3) == 0 ? 0 : 1000000;   /* a quarter seeders */
        for (int k = 0; k < 8; k++) m[64 + k] = (uint8_t)(left >> (56 - 8 * k));
        memset(m + 72, 0, 8);                         /* uploaded */
        put32(m + 80, 2);                             /* started */
        put32(m + 84, 0);                             /* ip */
        put32(m + 88, (uint32_t)rnd());               /* key */
        put32(m + 92, 50);                            /* numwant */
        put16(m + 96, (uint16_t)(1024 + (n / opt.torrents) % 60000));
        return 98;
    }
    default: {
        if (udp.have_conn_id) memcpy(m, udp.conn_id, 8);
        else memset(m, 0, 8);
        put32(m + 8, 2);
        put32(m + 12, (uint32_t)n);
        for (int k = 0; k < UDP_MAX_SCRAPE; k++) flood_hash((n + k * 7919) % opt.torrents, m + 16 + 20 * k);
        return 16 + 20 * UDP_MAX_SCRAPE;
    }
    }
}

static void udp_send_connect(int64_t now)
{
    uint8_t m[16];
    put32(m, 0x417);
    put32(m + 4, 0x27101980);
    put32(m + 8, 0);
    put32(m + 12, CONNECT_TID);
    if (send(udp.fd, m, sizeof m, 0) == 16) udp.connects_sent++;
    udp.last_connect_sent = now;
}

static unsigned mix_total;
static int pick_kind(void)
{
    unsigned r = rnd() % mix_total;
    for (int k = 0; k < 4; k++) {
        if (r < opt.mix[k]) return k;
        r -= opt.mix[k];
    }
    return K_GARBAGE;
}

static void udp_send_due(int64_t now, int64_t start)
{
    if (!udp.have_conn_id ? now - udp.last_connect_sent > CONNECT_RETRY_NS
                          : now - udp.last_connect_sent > CONNECT_RENEW_NS)
        udp_send_connect(now);
    uint64_t want = due_now(opt.udp_rate, (now - start) / 1e9, udp.sent + udp.send_errors, &udp.skipped);
    while (want > 0) {
        int n = want < BATCH ? (int)want : BATCH;
        int kinds[BATCH];
        for (int i = 0; i < n; i++) {
            kinds[i] = pick_kind();
            udp.iov[i].iov_len = udp_fill(udp.out[i], kinds[i]);
        }
        int done = sendmmsg(udp.fd, udp.msgs, n, 0);
        if (done < 0) {
            /* The tracker's port is closed (ECONNREFUSED) or the buffer is full: the batch is not sent. */
            const char *name = errno_name(errno);
            tally_add(&udp.send_errnos, name, strlen(name));
            udp.send_errors += (uint64_t)n;
            return;
        }
        for (int i = 0; i < done; i++) udp.sent_kind[kinds[i]]++;
        udp.sent += (uint64_t)done;
        if (done < n) {
            udp.send_errors += (uint64_t)(n - done);
            return;
        }
        want -= (uint64_t)n;
    }
}

static void udp_receive(void)
{
    for (;;) {
        for (int i = 0; i < BATCH; i++) udp.in_msgs[i].msg_hdr.msg_flags = 0;
        int n = recvmmsg(udp.fd, udp.in_msgs, BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0) return;
        for (int i = 0; i < n; i++) {
            const uint8_t *m = udp.in[i];
            unsigned len = udp.in_msgs[i].msg_len;
            uint32_t action = len >= 8 ? get32(m) : 99;
            if (action == 0 && len >= 16 && get32(m + 4) == CONNECT_TID) {
                memcpy(udp.conn_id, m + 8, 8);
                udp.have_conn_id = 1;
                udp.replies[0]++;
            } else if (action <= 3) {
                udp.replies[action]++;
                if (action == 3) tally_add(&udp.errors, (const char *)m + 8, strnlen((const char *)m + 8, len - 8));
            } else {
                udp.replies[4]++;
            }
        }
        if (n < BATCH) return;
    }
}

/* ------------------------------------------------------------------------------------------------ HTTP */
struct http_conn {
    int fd, connected;
    uint8_t out[OUT_BUF];
    size_t out_len, out_off;
    uint8_t in[IN_BUF];
    size_t in_len;
    int inflight;
};

static struct {
    struct http_conn *conns;
    uint64_t sent, responses, status[6], failures, connects, closed_by_server, connect_errors, skipped;
    uint64_t counter;
    struct tally reasons, errnos;
} http;

static void http_open(int i)
{
    struct http_conn *c = &http.conns[i];
    c->fd = tcp_connect();
    c->connected = 0;
    c->out_len = c->out_off = c->in_len = 0;
    c->inflight = 0;
    if (c->fd < 0) {
        http.connect_errors++;
        const char *name = errno_name(errno);
        tally_add(&http.errnos, name, strlen(name));
        return;
    }
    http.connects++;
    epoll_add(c->fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP, TAG_HTTP | (uint64_t)i);
}

static void http_drop(int i, int by_server)
{
    struct http_conn *c = &http.conns[i];
    if (c->fd < 0) return;
    if (by_server) http.closed_by_server++;
    tcp_reset(c->fd);
    c->fd = -1;
}

static void pct(char *out, const uint8_t *bytes, int n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (int k = 0; k < n; k++) {
        out[3 * k] = '%';
        out[3 * k + 1] = hex[bytes[k] >> 4];
        out[3 * k + 2] = hex[bytes[k] & 15];
    }
    out[3 * n] = 0;
}

static void http_flush(struct http_conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (w <= 0) break;
        c->out_off += (size_t)w;
    }
    if (c->out_off == c->out_len) c->out_off = c->out_len = 0;
}

/* Queues one announce (four in five) or scrape on `c`. */
static void http_queue(struct http_conn *c)
{
    uint64_t n = http.counter++;
    uint8_t hash[20];
    char enc[61];
    flood_hash(n % opt.torrents, hash);
    pct(enc, hash, 20);
    char *dst = (char *)c->out + c->out_len;
    size_t room = OUT_BUF - c->out_len;
    int w;
    if (n % 5 == 4) {
        w = snprintf(dst, room, "GET /scrape?info_hash=%s HTTP/1.1\r\nHost: flood\r\n\r\n", enc);
    } else {
        w = snprintf(dst, room,
                     "GET /announce?info_hash=%s&peer_id=-FL0001-%012llu&port=%u&uploaded=0&downloaded=0&left=%u"
                     "&compact=1&numwant=50&event=started HTTP/1.1\r\nHost: flood\r\nUser-Agent: flood/1\r\n\r\n",
                     enc, (unsigned long long)n, (unsigned)(1024 + (n / opt.torrents) % 60000),
                     (n & 3) == 0 ? 0u : 1000000u);
    }
    c->out_len += (size_t)w;
    c->inflight++;
    http.sent++;
}

/* Parses the complete responses in c->in; returns 0 if the stream is not HTTP (the connection is then dropped). */
static int http_parse(struct http_conn *c)
{
    size_t off = 0;
    while (off < c->in_len) {
        uint8_t *head = c->in + off;
        size_t avail = c->in_len - off;
        uint8_t *end = memmem(head, avail, "\r\n\r\n", 4);
        if (end == NULL) break;
        size_t head_len = (size_t)(end - head) + 4;
        if (avail < 12 || memcmp(head, "HTTP/1.", 7) != 0) return 0;
        int status = atoi((const char *)head + 9);
        size_t body = 0;
        for (uint8_t *p = head; p + 15 < end; p++) {
            if ((p[0] == '\n') && strncasecmp((const char *)p + 1, "content-length:", 15) == 0) {
                body = strtoul((const char *)p + 16, NULL, 10);
                break;
            }
        }
        if (avail < head_len + body) break;
        http.responses++;
        http.status[status >= 100 && status < 600 ? status / 100 : 0]++;
        uint8_t *reason = memmem(head + head_len, body, "failure reason", 14);
        if (reason != NULL) {
            http.failures++;
            /* "14:failure reason" then "N:text": keep the text. */
            char *colon = memchr(reason + 14, ':', body - (size_t)(reason + 14 - head - head_len));
            if (colon != NULL) {
                size_t len = strtoul((const char *)reason + 14, NULL, 10);
                size_t left = (size_t)(head + head_len + body - (uint8_t *)colon - 1);
                tally_add(&http.reasons, colon + 1, len < left ? len : left);
            }
        }
        if (c->inflight > 0) c->inflight--;
        off += head_len + body;
    }
    if (off > 0) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
    return c->in_len < IN_BUF;
}

static void http_event(int i, uint32_t events)
{
    struct http_conn *c = &http.conns[i];
    if (c->fd < 0) return;
    if (!c->connected && (events & (EPOLLOUT | EPOLLERR))) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
            http.connect_errors++;
            tally_add(&http.errnos, errno_name(err), strlen(errno_name(err)));
            http_drop(i, 0);
            return;
        }
        c->connected = 1;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u64 = TAG_HTTP | (uint64_t)i};
        epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
    }
    if (events & EPOLLIN) {
        for (;;) {
            ssize_t r = recv(c->fd, c->in + c->in_len, IN_BUF - c->in_len, MSG_DONTWAIT);
            if (r > 0) {
                c->in_len += (size_t)r;
                if (!http_parse(c)) {
                    http_drop(i, 0);
                    return;
                }
                continue;
            }
            if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
                http_drop(i, 1);
                return;
            }
            break;
        }
    }
    if (events & (EPOLLHUP | EPOLLERR)) http_drop(i, 1);
}

static void http_send_due(int64_t now, int64_t start)
{
    for (int i = 0; i < opt.http_conns; i++)
        if (http.conns[i].fd < 0) http_open(i);
    uint64_t want = due_now(opt.http_rate, (now - start) / 1e9, http.sent, &http.skipped);
    int progress = 1;
    while (want > 0 && progress) {
        progress = 0;
        for (int i = 0; i < opt.http_conns && want > 0; i++) {
            struct http_conn *c = &http.conns[i];
            if (c->fd < 0 || !c->connected || c->inflight >= WINDOW || OUT_BUF - c->out_len < 1024) continue;
            http_queue(c);
            want--;
            progress = 1;
        }
    }
    for (int i = 0; i < opt.http_conns; i++)
        if (http.conns[i].fd >= 0 && http.conns[i].connected) http_flush(&http.conns[i]);
}

/* ------------------------------------------------------------------------------------------------ junk */
static const char *JUNK_NAMES[] = {
    "bad-escape", "not-http", "bad-version", "no-colon", "nul-bytes", "huge-body", "long-target", "tls-hello",
    "oversized-head", "bad-chunked", "lf-only", "bare-cr",
};
#define JUNK_KINDS (sizeof JUNK_NAMES / sizeof JUNK_NAMES[0])
static char *junk_payload[JUNK_KINDS];
static size_t junk_len[JUNK_KINDS];

static void junk_prepare(void)
{
    static const char *fixed[] = {
        "GET /announce?info_hash=%ZZ%G1&port=-1 HTTP/1.1\r\nHost: x\r\n\r\n",
        "GARBAGE GARBAGE GARBAGE\r\n\r\n",
        "GET /announce HTTP/9.9\r\nHost: x\r\n\r\n",
        "GET /announce HTTP/1.1\r\nNoColonHere\r\n\r\n",
        "GET /an\0nounce\0 HTTP/1.1\r\nHo\0st: x\r\n\r\n",
        "POST /announce HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\nxxxxxxxx",
        NULL, /* long target, built below */
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not really a client hello",
        NULL, /* oversized head, built below */
        "POST /scrape HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\njunk\r\n",
        "GET /scrape?info_hash=aaaaaaaaaaaaaaaaaaaa HTTP/1.1\nHost: x\n\n",
        "GET /stats\r HTTP/1.1\r\r\r\r",
    };
    size_t fixed_len[] = {0, 0, 0, 0, 38, 0, 0, 41, 0, 0, 0, 0};
    for (size_t k = 0; k < JUNK_KINDS; k++) {
        if (fixed[k] != NULL) {
            junk_len[k] = fixed_len[k] ? fixed_len[k] : strlen(fixed[k]);
            junk_payload[k] = malloc(junk_len[k]);
            memcpy(junk_payload[k], fixed[k], junk_len[k]);
        }
    }
    size_t n = 6000;
    junk_payload[6] = malloc(n + 64);
    junk_len[6] = (size_t)sprintf(junk_payload[6], "GET /announce?info_hash=");
    memset(junk_payload[6] + junk_len[6], 'A', n);
    junk_len[6] += n;
    junk_len[6] += (size_t)sprintf(junk_payload[6] + junk_len[6], " HTTP/1.1\r\n\r\n");
    n = 20000;
    junk_payload[8] = malloc(n + 64);
    junk_len[8] = (size_t)sprintf(junk_payload[8], "GET /announce HTTP/1.1\r\nX-Junk: ");
    memset(junk_payload[8] + junk_len[8], 'j', n);
    junk_len[8] += n;
    junk_len[8] += (size_t)sprintf(junk_payload[8] + junk_len[8], "\r\n\r\n");
}

struct junk_conn {
    int fd, kind, sent;
    int64_t opened;
};

static struct {
    struct junk_conn *conns;
    int *free_slots, nfree;
    uint64_t opened, answered, status[6], closed_silently, timeouts, connect_errors, skipped, by_kind[JUNK_KINDS];
    struct tally errnos;
} junk;

static void junk_close(int i)
{
    struct junk_conn *c = &junk.conns[i];
    tcp_reset(c->fd);
    c->fd = -1;
    junk.free_slots[junk.nfree++] = i;
}

static void junk_event(int i, uint32_t events)
{
    struct junk_conn *c = &junk.conns[i];
    if (c->fd < 0) return;
    if (!c->sent && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
            junk.connect_errors++;
            tally_add(&junk.errnos, errno_name(err), strlen(errno_name(err)));
            junk_close(i);
            return;
        }
        (void)send(c->fd, junk_payload[c->kind], junk_len[c->kind], MSG_NOSIGNAL);
        c->sent = 1;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u64 = TAG_JUNK | (uint64_t)i};
        epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
        return;
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        char buf[512];
        ssize_t r = recv(c->fd, buf, sizeof buf - 1, MSG_DONTWAIT);
        if (r >= 12 && memcmp(buf, "HTTP/1.", 7) == 0) {
            int status = atoi(buf + 9);
            junk.answered++;
            junk.status[status >= 100 && status < 600 ? status / 100 : 0]++;
        } else {
            junk.closed_silently++;
        }
        junk_close(i);
    }
}

static void junk_open_due(int64_t now, int64_t start)
{
    uint64_t want = due_now(opt.junk_rate, (now - start) / 1e9, junk.opened + junk.connect_errors, &junk.skipped);
    for (; want > 0 && junk.nfree > 0; want--) {
        int fd = tcp_connect();
        if (fd < 0) {
            junk.connect_errors++;
            const char *name = errno_name(errno);
            tally_add(&junk.errnos, name, strlen(name));
            continue;
        }
        int i = junk.free_slots[--junk.nfree];
        struct junk_conn *c = &junk.conns[i];
        c->fd = fd;
        c->kind = (int)(junk.opened % JUNK_KINDS);
        c->sent = 0;
        c->opened = now;
        junk.by_kind[c->kind]++;
        junk.opened++;
        epoll_add(fd, EPOLLOUT | EPOLLIN | EPOLLRDHUP, TAG_JUNK | (uint64_t)i);
    }
}

static void junk_expire(int64_t now)
{
    for (int i = 0; i < opt.junk_max; i++) {
        if (junk.conns[i].fd >= 0 && now - junk.conns[i].opened > JUNK_TIMEOUT_NS) {
            junk.timeouts++;
            junk_close(i);
        }
    }
}

/* ------------------------------------------------------------------------------------------------ report */
static void print_tick(double t)
{
    printf("{\"type\":\"tick\",\"t\":%.3f,\"udp_sent\":%llu,\"udp_replies\":%llu,\"http_sent\":%llu,"
           "\"http_responses\":%llu,\"junk_opened\":%llu,\"has_connection_id\":%s}\n",
           t, (unsigned long long)udp.sent,
           (unsigned long long)(udp.replies[0] + udp.replies[1] + udp.replies[2] + udp.replies[3] + udp.replies[4]),
           (unsigned long long)http.sent, (unsigned long long)http.responses, (unsigned long long)junk.opened,
           udp.have_conn_id ? "true" : "false");
    fflush(stdout);
}

static void print_status(FILE *f, const uint64_t *s)
{
    fprintf(f, "{\"other\":%llu,\"1xx\":%llu,\"2xx\":%llu,\"3xx\":%llu,\"4xx\":%llu,\"5xx\":%llu}",
            (unsigned long long)s[0], (unsigned long long)s[1], (unsigned long long)s[2], (unsigned long long)s[3],
            (unsigned long long)s[4], (unsigned long long)s[5]);
}

static void print_summary(double t)
{
    FILE *f = stdout;
    fprintf(f, "{\"type\":\"summary\",\"seconds\":%.3f,", t);
    fprintf(f, "\"udp\":{\"target_rate\":%.0f,\"sent\":%llu,\"rate\":%.0f,\"sent_by_kind\":{", opt.udp_rate,
            (unsigned long long)udp.sent, udp.sent / t);
    for (int k = 0; k < 4; k++)
        fprintf(f, "%s\"%s\":%llu", k ? "," : "", KIND_NAMES[k], (unsigned long long)udp.sent_kind[k]);
    fprintf(f, "},\"send_errors\":%llu,\"send_errnos\":", (unsigned long long)udp.send_errors);
    json_tally(f, &udp.send_errnos);
    fprintf(f, ",\"skipped_behind\":%llu,\"connects_sent\":%llu,\"had_connection_id\":%s,", 
            (unsigned long long)udp.skipped, (unsigned long long)udp.connects_sent,
            udp.have_conn_id ? "true" : "false");
    fprintf(f, "\"replies\":{\"connect\":%llu,\"announce\":%llu,\"scrape\":%llu,\"error\":%llu,\"other\":%llu},",
            (unsigned long long)udp.replies[0], (unsigned long long)udp.replies[1], (unsigned long long)udp.replies[2],
            (unsigned long long)udp.replies[3], (unsigned long long)udp.replies[4]);
    fprintf(f, "\"error_texts\":");
    json_tally(f, &udp.errors);
    fprintf(f, "},\"http\":{\"target_rate\":%.0f,\"connections\":%d,\"sent\":%llu,\"rate\":%.0f,\"responses\":%llu,"
               "\"status\":",
            opt.http_rate, opt.http_conns, (unsigned long long)http.sent, http.sent / t,
            (unsigned long long)http.responses);
    print_status(f, http.status);
    fprintf(f, ",\"failures\":%llu,\"failure_reasons\":", (unsigned long long)http.failures);
    json_tally(f, &http.reasons);
    fprintf(f, ",\"connects\":%llu,\"closed_by_server\":%llu,\"connect_errors\":%llu,\"connect_errnos\":",
            (unsigned long long)http.connects, (unsigned long long)http.closed_by_server,
            (unsigned long long)http.connect_errors);
    json_tally(f, &http.errnos);
    fprintf(f, ",\"skipped_behind\":%llu},", (unsigned long long)http.skipped);
    fprintf(f, "\"junk\":{\"target_rate\":%.0f,\"opened\":%llu,\"rate\":%.0f,\"answered\":%llu,\"status\":",
            opt.junk_rate, (unsigned long long)junk.opened, junk.opened / t, (unsigned long long)junk.answered);
    print_status(f, junk.status);
    fprintf(f, ",\"closed_silently\":%llu,\"timeouts\":%llu,\"connect_errors\":%llu,\"connect_errnos\":",
            (unsigned long long)junk.closed_silently, (unsigned long long)junk.timeouts,
            (unsigned long long)junk.connect_errors);
    json_tally(f, &junk.errnos);
    fprintf(f, ",\"skipped_behind\":%llu,\"by_kind\":{", (unsigned long long)junk.skipped);
    for (size_t k = 0; k < JUNK_KINDS; k++)
        fprintf(f, "%s\"%s\":%llu", k ? "," : "", JUNK_NAMES[k], (unsigned long long)junk.by_kind[k]);
    fprintf(f, "}},\"total_rate\":%.0f}\n", (udp.sent + http.sent + junk.opened) / t);
    fflush(f);
}

/* ------------------------------------------------------------------------------------------------ main */
static void on_signal(int sig) { (void)sig; stopping = 1; }

static void usage(void)
{
    fprintf(stderr,
            "usage: flood --target ADDR --source ADDR [--udp-port N] [--http-port N] [--duration S]\n"
            "             [--udp-rate R] [--mix G:B:A:S] [--http-rate R] [--http-conns N] [--junk-rate R]\n"
            "             [--junk-max N] [--torrents N] [--seed N]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static struct option longs[] = {
        {"target", required_argument, 0, 't'},     {"source", required_argument, 0, 's'},
        {"udp-port", required_argument, 0, 'u'},   {"http-port", required_argument, 0, 'h'},
        {"duration", required_argument, 0, 'd'},   {"udp-rate", required_argument, 0, 'r'},
        {"mix", required_argument, 0, 'm'},        {"http-rate", required_argument, 0, 'R'},
        {"http-conns", required_argument, 0, 'c'}, {"junk-rate", required_argument, 0, 'j'},
        {"junk-max", required_argument, 0, 'J'},   {"torrents", required_argument, 0, 'T'},
        {"seed", required_argument, 0, 'S'},       {0, 0, 0, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (ch) {
        case 't': snprintf(opt.target, sizeof opt.target, "%s", optarg); break;
        case 's': snprintf(opt.source, sizeof opt.source, "%s", optarg); break;
        case 'u': opt.udp_port = atoi(optarg); break;
        case 'h': opt.http_port = atoi(optarg); break;
        case 'd': opt.duration = atof(optarg); break;
        case 'r': opt.udp_rate = atof(optarg); break;
        case 'm':
            if (sscanf(optarg, "%u:%u:%u:%u", &opt.mix[0], &opt.mix[1], &opt.mix[2], &opt.mix[3]) != 4) usage();
            break;
        case 'R': opt.http_rate = atof(optarg); break;
        case 'c': opt.http_conns = atoi(optarg); break;
        case 'j': opt.junk_rate = atof(optarg); break;
        case 'J': opt.junk_max = atoi(optarg); break;
        case 'T': opt.torrents = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'S': opt.seed = strtoull(optarg, NULL, 10); break;
        default: usage();
        }
    }
    mix_total = opt.mix[0] + opt.mix[1] + opt.mix[2] + opt.mix[3];
    if (!opt.target[0] || !opt.source[0] || mix_total == 0 || opt.torrents == 0 || opt.http_conns < 0 ||
        opt.http_conns > MAX_HTTP_CONNS || opt.junk_max < 1)
        usage();
    parse_addr(opt.target, 0, &target_addr);
    parse_addr(opt.source, 0, &source_addr);
    if (target_addr.ss_family != source_addr.ss_family) {
        fprintf(stderr, "flood: --target and --source must be of one family\n");
        return 2;
    }
    family = target_addr.ss_family;
    addr_len = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    rng_state = opt.seed;
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);

    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) die("epoll_create1");
    int use_udp = opt.udp_port > 0 && opt.udp_rate > 0;
    int use_http = opt.http_port > 0 && opt.http_rate > 0 && opt.http_conns > 0;
    int use_junk = opt.http_port > 0 && opt.junk_rate > 0;
    if (use_udp) udp_open();
    http.conns = calloc(MAX_HTTP_CONNS, sizeof *http.conns);
    for (int i = 0; i < MAX_HTTP_CONNS; i++) http.conns[i].fd = -1;
    junk.conns = calloc((size_t)opt.junk_max, sizeof *junk.conns);
    junk.free_slots = calloc((size_t)opt.junk_max, sizeof(int));
    for (int i = 0; i < opt.junk_max; i++) {
        junk.conns[i].fd = -1;
        junk.free_slots[junk.nfree++] = opt.junk_max - 1 - i;
    }
    junk_prepare();

    int64_t start = now_ns(), end = start + (int64_t)(opt.duration * 1e9), next_tick = start + 1000000000LL;
    int64_t next_expiry = start;
    struct epoll_event events[256];
    while (!stopping) {
        int64_t now = now_ns();
        if (now >= end) break;
        if (use_udp) udp_send_due(now, start);
        if (use_http) http_send_due(now, start);
        if (use_junk) junk_open_due(now, start);
        int n = epoll_wait(epfd, events, 256, 1);
        for (int i = 0; i < n; i++) {
            uint64_t tag = events[i].data.u64;
            if (tag == TAG_UDP) udp_receive();
            else if ((tag & ~0xffffffffULL) == TAG_HTTP) http_event((int)(tag & 0xffffffff), events[i].events);
            else junk_event((int)(tag & 0xffffffff), events[i].events);
        }
        now = now_ns();
        if (use_junk && now >= next_expiry) {
            junk_expire(now);
            next_expiry = now + 10000000LL;
        }
        if (now >= next_tick) {
            print_tick((now - start) / 1e9);
            next_tick += 1000000000LL;
        }
    }
    print_summary((now_ns() - start) / 1e9);
    return 0;
}

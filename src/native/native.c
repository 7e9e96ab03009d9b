/*
 * lispwg's native addon: the few system calls Node cannot make itself.
 *
 *   tunOpen(name, netns)                  open /dev/net/tun, TUNSETIFF (IFF_TUN | IFF_NO_PI), non-blocking
 *   netlinkOpen(protocol, groups, netns, freshNetns, nonBlocking)
 *                                         an AF_NETLINK socket (rtnetlink, generic netlink...)
 *   readFd(fd, buffer)                    one read(); -1 when nothing is waiting (EAGAIN)
 *   writeFd(fd, buffer)                   one write() (a whole packet on a TUN)
 *   pollStart(fd, callback) / pollStop(h) call back on the event loop whenever fd is readable
 *   udpOpen(address, port, device, rcvbuf) a bound UDP socket, optionally bound to one interface
 *                                         (SO_BINDTODEVICE) before bind(2), so not one datagram that
 *                                         arrived on another interface is ever queued on it
 *   strerror(errno)
 *
 * `netns` (a name under /var/run/netns) opens the TUN or socket inside that namespace: the calling
 * thread enters it with setns(2), opens, and returns to its own namespace within the same
 * synchronous call, so JavaScript never runs in the foreign namespace. A TUN device and a socket
 * stay in the namespace they were created in. `freshNetns` does the same in a new, anonymous
 * namespace that lives as long as the socket (used to probe kernel features without side effects).
 *
 * Failures throw an Error whose `code` is the errno name (ENOENT...), with `errno` and `syscall`
 * set; the TypeScript side (native.ts) turns them into LispwgErrors.
 *
 * Only node_api.h, plus uv.h for uv_poll: the event loop is libuv's, and polling the fd there
 * costs no thread and no wake-up latency (a read on the libuv thread pool would pin one of its
 * four threads per device).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <arpa/inet.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif

/* How long a blocking netlink socket waits for the kernel's answer before recv fails (EAGAIN). */
#define NETLINK_RECV_TIMEOUT_MS 5000

static const char *errno_name(int e) {
  switch (e) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case ENODEV: return "ENODEV";
    case ENOTDIR: return "ENOTDIR";
    case EINVAL: return "EINVAL";
    case ENFILE: return "ENFILE";
    case EMFILE: return "EMFILE";
    case ENOTTY: return "ENOTTY";
    case ENOSPC: return "ENOSPC";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ENOSYS: return "ENOSYS";
    case EMSGSIZE: return "EMSGSIZE";
    case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EADDRINUSE: return "EADDRINUSE";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case ENOBUFS: return "ENOBUFS";
    case ENETDOWN: return "ENETDOWN";
    case ENETUNREACH: return "ENETUNREACH";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case ENXIO: return "ENXIO";
    default: return "EUNKNOWN";
  }
}

/* Throws an Error{code: errno name, errno, syscall} describing what failed. Returns NULL. */
static napi_value throw_errno(napi_env env, int e, const char *syscall) {
  char msg[512];
  snprintf(msg, sizeof msg, "%s: %s", syscall, strerror(e));
  napi_value code, text, err, num, sys;
  napi_create_string_utf8(env, errno_name(e), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
  napi_create_error(env, code, text, &err);
  napi_create_int32(env, e, &num);
  napi_set_named_property(env, err, "errno", num);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sys);
  napi_set_named_property(env, err, "syscall", sys);
  napi_throw(env, err);
  return NULL;
}

static napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return NULL;
}

#define CHECK_ARGS(n)                                                                        \
  size_t argc = (n);                                                                         \
  napi_value argv[(n) > 0 ? (n) : 1];                                                        \
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < (n))         \
    return throw_type(env, "wrong number of arguments");

static int get_int(napi_env env, napi_value v, int32_t *out) {
  return napi_get_value_int32(env, v, out) == napi_ok;
}

static int get_bool(napi_env env, napi_value v) {
  bool b = false;
  napi_get_value_bool(env, v, &b);
  return b;
}

/* Copies a JS string into buf; 1 on success, 0 (exception thrown) on a non-string or overflow;
 * -1 when v is null/undefined (no value given). */
static int get_string(napi_env env, napi_value v, char *buf, size_t size, const char *what) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_null || t == napi_undefined) return -1;
  size_t len = 0;
  if (t != napi_string || napi_get_value_string_utf8(env, v, buf, size, &len) != napi_ok) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s must be a string", what);
    throw_type(env, msg);
    return 0;
  }
  if (len >= size - 1) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s is too long", what);
    throw_type(env, msg);
    return 0;
  }
  return 1;
}

static int get_buffer(napi_env env, napi_value v, void **data, size_t *len) {
  bool is_buf = false;
  napi_is_buffer(env, v, &is_buf);
  if (is_buf) return napi_get_buffer_info(env, v, data, len) == napi_ok;
  bool is_ta = false;
  napi_is_typedarray(env, v, &is_ta);
  if (!is_ta) return 0;
  napi_typedarray_type type;
  size_t length, offset;
  napi_value ab;
  if (napi_get_typedarray_info(env, v, &type, &length, data, &ab, &offset) != napi_ok) return 0;
  if (type != napi_uint8_array) return 0;
  *len = length;
  return 1;
}

/* ---- namespaces ---------------------------------------------------------------------------- */

typedef struct {
  int saved; /* this thread's own namespace, or -1 when we did not move */
} netns_guard;

/* Enters the named namespace (name != NULL) or a new anonymous one (fresh). On failure throws and
 * returns 0, leaving the thread where it was. */
static int netns_enter(napi_env env, const char *name, int fresh, netns_guard *g) {
  g->saved = -1;
  if (!name && !fresh) return 1;
  int target = -1;
  char path[300];
  if (name) {
    if (!*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..")) {
      throw_type(env, "netns must be a namespace name as listed by `ip netns list`");
      return 0;
    }
    snprintf(path, sizeof path, "/var/run/netns/%s", name);
    target = open(path, O_RDONLY | O_CLOEXEC);
    if (target < 0) {
      char what[340];
      snprintf(what, sizeof what, "open %s", path);
      throw_errno(env, errno, what);
      return 0;
    }
  }
  g->saved = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (g->saved < 0) {
    int e = errno;
    if (target >= 0) close(target);
    throw_errno(env, e, "open /proc/thread-self/ns/net");
    return 0;
  }
  int rc = name ? setns(target, CLONE_NEWNET) : unshare(CLONE_NEWNET);
  int e = errno;
  if (target >= 0) close(target);
  if (rc < 0) {
    close(g->saved);
    g->saved = -1;
    throw_errno(env, e, name ? "setns" : "unshare(CLONE_NEWNET)");
    return 0;
  }
  return 1;
}

/* Returns the thread to its own namespace. Failing here would leave JavaScript running in a
 * foreign namespace, silently wrong from then on: that is fatal. */
static void netns_leave(netns_guard *g) {
  if (g->saved < 0) return;
  if (setns(g->saved, CLONE_NEWNET) < 0) {
    napi_fatal_error("lispwg native", NAPI_AUTO_LENGTH, "cannot return to the original network namespace",
                     NAPI_AUTO_LENGTH);
  }
  close(g->saved);
  g->saved = -1;
}

/* ---- TUN ----------------------------------------------------------------------------------- */

/* tunOpen(name: string, netns: string | null) -> { fd, name } */
static napi_value tun_open(napi_env env, napi_callback_info info) {
  CHECK_ARGS(2);
  char name[IFNAMSIZ + 1];
  int r = get_string(env, argv[0], name, sizeof name, "TUN interface name");
  if (r == 0) return NULL;
  if (r < 0) name[0] = 0;
  char ns[256];
  r = get_string(env, argv[1], ns, sizeof ns, "netns");
  if (r == 0) return NULL;
  netns_guard g;
  if (!netns_enter(env, r > 0 ? ns : NULL, 0, &g)) return NULL;

  /* the device is created in the namespace of the process that opened /dev/net/tun */
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  int e = errno;
  netns_leave(&g);
  if (fd < 0) return throw_errno(env, e, "open /dev/net/tun");

  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  memcpy(ifr.ifr_name, name, strlen(name)); /* get_string bounded it to IFNAMSIZ - 1 */
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    e = errno;
    close(fd);
    return throw_errno(env, e, "ioctl TUNSETIFF");
  }
  napi_value out, v;
  napi_create_object(env, &out);
  napi_create_int32(env, fd, &v);
  napi_set_named_property(env, out, "fd", v);
  napi_create_string_utf8(env, ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ), &v);
  napi_set_named_property(env, out, "name", v);
  return out;
}

/* ---- netlink ------------------------------------------------------------------------------- */

/* netlinkOpen(protocol, groups, netns: string | null, freshNetns: boolean, nonBlocking: boolean) -> fd */
static napi_value netlink_open(napi_env env, napi_callback_info info) {
  CHECK_ARGS(5);
  int32_t protocol, groups;
  if (!get_int(env, argv[0], &protocol) || !get_int(env, argv[1], &groups))
    return throw_type(env, "protocol and groups must be numbers");
  char ns[256];
  int r = get_string(env, argv[2], ns, sizeof ns, "netns");
  if (r == 0) return NULL;
  int fresh = get_bool(env, argv[3]);
  int nonblock = get_bool(env, argv[4]);

  netns_guard g;
  if (!netns_enter(env, r > 0 ? ns : NULL, fresh, &g)) return NULL;
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), protocol);
  int e = errno;
  netns_leave(&g);
  if (fd < 0) return throw_errno(env, e, "socket(AF_NETLINK)");

  struct sockaddr_nl sa;
  memset(&sa, 0, sizeof sa);
  sa.nl_family = AF_NETLINK;
  sa.nl_groups = (uint32_t)groups;
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    e = errno;
    close(fd);
    return throw_errno(env, e, "bind(AF_NETLINK)");
  }
  /* errors carry the kernel's own explanation (extack), and echo only the failed header */
  int one = 1;
  setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  if (!nonblock) {
    struct timeval tv = {NETLINK_RECV_TIMEOUT_MS / 1000, (NETLINK_RECV_TIMEOUT_MS % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  napi_value out;
  napi_create_int32(env, fd, &out);
  return out;
}

/* ---- read / write -------------------------------------------------------------------------- */

/* readFd(fd, buffer) -> bytes read, or -1 when nothing is waiting */
static napi_value read_fd(napi_env env, napi_callback_info info) {
  CHECK_ARGS(2);
  int32_t fd;
  void *data;
  size_t len;
  if (!get_int(env, argv[0], &fd) || !get_buffer(env, argv[1], &data, &len))
    return throw_type(env, "readFd(fd: number, buffer: Uint8Array)");
  ssize_t n;
  do n = read(fd, data, len);
  while (n < 0 && errno == EINTR);
  if (n < 0 && errno != EAGAIN) return throw_errno(env, errno, "read");
  napi_value out;
  napi_create_int32(env, n < 0 ? -1 : (int32_t)n, &out);
  return out;
}

/* writeFd(fd, buffer) -> bytes written */
static napi_value write_fd(napi_env env, napi_callback_info info) {
  CHECK_ARGS(2);
  int32_t fd;
  void *data;
  size_t len;
  if (!get_int(env, argv[0], &fd) || !get_buffer(env, argv[1], &data, &len))
    return throw_type(env, "writeFd(fd: number, buffer: Uint8Array)");
  ssize_t n;
  do n = write(fd, data, len);
  while (n < 0 && errno == EINTR);
  if (n < 0) return throw_errno(env, errno, "write");
  napi_value out;
  napi_create_int32(env, (int32_t)n, &out);
  return out;
}

/* ---- polling on the event loop ------------------------------------------------------------- */

typedef struct {
  uv_poll_t handle;
  napi_env env;
  napi_ref callback;
  napi_async_context context;
  int stopped;   /* pollStop ran: the callback is released and uv_close requested */
  int closed;    /* libuv is done with the handle */
  int finalized; /* the JS handle was garbage-collected */
} poller;

/* Freed once both libuv (closed) and JavaScript (finalized) have let go of it. */
static void poller_closed(uv_handle_t *h) {
  poller *p = h->data;
  p->closed = 1;
  if (p->finalized) free(p);
}

static void on_readable(uv_poll_t *h, int status, int events) {
  (void)events;
  poller *p = h->data;
  if (p->stopped) return;
  napi_env env = p->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value cb, recv, arg;
  napi_get_reference_value(env, p->callback, &cb);
  napi_get_global(env, &recv); /* make_callback needs an object receiver */
  napi_create_int32(env, status, &arg);
  /* make_callback, not call_function: it drains the microtask queue afterwards, so promises
   * resolved by the callback settle now rather than at some later unrelated callback */
  napi_status s = napi_make_callback(env, p->context, recv, cb, 1, &arg, NULL);
  if (s == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
  napi_close_handle_scope(env, scope);
}

/* A poller whose handle is dropped without pollStop stays active (it holds its callback), so
 * the fd keeps being watched and the loop alive: forgetting to stop is visible, not a crash. */
static void poller_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  poller *p = data;
  p->finalized = 1;
  if (p->closed) free(p);
}

/* pollStart(fd, callback: (status: number) => void) -> handle */
static napi_value poll_start(napi_env env, napi_callback_info info) {
  CHECK_ARGS(2);
  int32_t fd;
  napi_valuetype t;
  napi_typeof(env, argv[1], &t);
  if (!get_int(env, argv[0], &fd) || t != napi_function) return throw_type(env, "pollStart(fd: number, callback: function)");
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return throw_type(env, "no event loop");
  poller *p = calloc(1, sizeof *p);
  if (!p) return throw_errno(env, ENOMEM, "pollStart");
  p->env = env;
  int rc = uv_poll_init(loop, &p->handle, fd);
  if (rc < 0) {
    free(p);
    return throw_errno(env, -rc, "uv_poll_init");
  }
  p->handle.data = p;
  napi_create_reference(env, argv[1], 1, &p->callback);
  napi_value name;
  napi_create_string_utf8(env, "lispwg:poll", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &p->context);
  rc = uv_poll_start(&p->handle, UV_READABLE, on_readable);
  if (rc < 0) {
    napi_delete_reference(env, p->callback);
    napi_async_destroy(env, p->context);
    p->stopped = p->finalized = 1;
    uv_close((uv_handle_t *)&p->handle, poller_closed);
    return throw_errno(env, -rc, "uv_poll_start");
  }
  napi_value ext;
  napi_create_external(env, p, poller_finalize, NULL, &ext);
  return ext;
}

/* pollStop(handle): stops and releases the poller; call it before closing the fd. Idempotent. */
static napi_value poll_stop(napi_env env, napi_callback_info info) {
  CHECK_ARGS(1);
  poller *p;
  if (napi_get_value_external(env, argv[0], (void **)&p) != napi_ok) return throw_type(env, "pollStop(handle)");
  if (p && !p->stopped) {
    p->stopped = 1;
    uv_poll_stop(&p->handle);
    napi_delete_reference(env, p->callback);
    napi_async_destroy(env, p->context);
    uv_close((uv_handle_t *)&p->handle, poller_closed);
  }
  return NULL;
}

/* ---- UDP ---------------------------------------------------------------------------------- */

/* udpOpen(address: string, port: number, device: string | null, rcvbuf: number) -> fd
 * A non-blocking UDP socket bound to address:port (IPv6 sockets are v6-only). With `device`, it
 * is bound to that interface first: the kernel then delivers to it only datagrams that arrived on
 * that interface (for a WireGuard interface: only what came through the tunnel). */
static napi_value udp_open(napi_env env, napi_callback_info info) {
  CHECK_ARGS(4);
  char addr[INET6_ADDRSTRLEN + 1];
  if (get_string(env, argv[0], addr, sizeof addr, "address") != 1) return NULL;
  int32_t port, rcvbuf;
  if (!get_int(env, argv[1], &port) || port < 0 || port > 65535) return throw_type(env, "port must be 0-65535");
  char dev[IFNAMSIZ + 1];
  int has_dev = get_string(env, argv[2], dev, sizeof dev, "device");
  if (has_dev == 0) return NULL;
  if (!get_int(env, argv[3], &rcvbuf)) return throw_type(env, "rcvbuf must be a number");

  struct sockaddr_storage ss;
  socklen_t sl;
  memset(&ss, 0, sizeof ss);
  int family;
  struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
    family = AF_INET;
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    sl = sizeof *s4;
  } else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
    family = AF_INET6;
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons((uint16_t)port);
    sl = sizeof *s6;
  } else {
    return throw_type(env, "address must be an IPv4 or IPv6 literal");
  }
  int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "socket(AF_INET, SOCK_DGRAM)");
  int one = 1;
  if (family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) goto fail_v6only;
  if (has_dev > 0 && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, dev, (socklen_t)strlen(dev)) < 0) goto fail_dev;
  /* a refused buffer size is not fatal: the kernel keeps its default (capped by rmem_max) */
  if (rcvbuf > 0) (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  if (bind(fd, (struct sockaddr *)&ss, sl) < 0) goto fail_bind;
  napi_value out;
  napi_create_int32(env, fd, &out);
  return out;
  int e;
fail_v6only:
  e = errno;
  close(fd);
  return throw_errno(env, e, "setsockopt IPV6_V6ONLY");
fail_dev:
  e = errno;
  close(fd);
  return throw_errno(env, e, "setsockopt SO_BINDTODEVICE");
fail_bind:
  e = errno;
  close(fd);
  return throw_errno(env, e, "bind");
}

/* strerror(errno) -> the C library's text for it */
static napi_value str_error(napi_env env, napi_callback_info info) {
  CHECK_ARGS(1);
  int32_t e;
  if (!get_int(env, argv[0], &e)) return throw_type(env, "strerror(errno: number)");
  napi_value out;
  napi_create_string_utf8(env, strerror(e < 0 ? -e : e), NAPI_AUTO_LENGTH, &out);
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"tunOpen", NULL, tun_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"netlinkOpen", NULL, netlink_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"readFd", NULL, read_fd, NULL, NULL, NULL, napi_enumerable, NULL},
      {"writeFd", NULL, write_fd, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pollStart", NULL, poll_start, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pollStop", NULL, poll_stop, NULL, NULL, NULL, napi_enumerable, NULL},
      {"udpOpen", NULL, udp_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"strerror", NULL, str_error, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)

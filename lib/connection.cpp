// Pipes and socket connections: Python's multiprocessing.connection, with
// its framing and its authentication, so both interoperate.
//
// Every end is a stream socket used with MSG_DONTWAIT | MSG_NOSIGNAL, so the
// descriptor stays in blocking mode (it can be handed to anyone) and SIGPIPE
// never fires. A call tries the system call without waiting and on EAGAIN
// waits in ppoll() on the socket and on a wake-up eventfd that close()
// signals (a receive that found nothing last time waits first: see
// recv_some()); the eventfd is made the first time a call has to wait, so
// a connection that never waits costs one descriptor.
//
// Closing from another thread: `Life` counts the calls inside a handle; close
// sets a closed bit and signals the eventfd, and whoever leaves last (the
// closer or the last call) closes the descriptor, so no call ever uses a
// descriptor number after it was closed (and maybe reused).
//
// Receiving reads ahead into a buffer kept in the handle (one system call
// fetches many small messages) and copies big bodies straight into the
// caller's buffer. A receive cut by a timeout keeps the header and the body
// bytes that arrived, and the next receive continues, into whatever buffer
// it is given.
//
// Authentication is CPython 3.12's challenge and response
// (multiprocessing/connection.py: deliver_challenge, answer_challenge,
// _create_response, _verify_challenge), with HMAC from OpenSSL's libcrypto.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <weft/connection.h>

#include "internal/boundary.hpp"
#include "internal/deadline.hpp"
#include "internal/handle.hpp"
#include "internal/word_lock.hpp"

namespace weft::detail {
namespace {

constexpr std::size_t kReadAhead = 16384;          // bytes read ahead per handle
constexpr std::size_t kDirectRead = 4096;          // bodies at least this big go straight to the caller
constexpr std::size_t kHandshakeMax = 256;         // Python's recv_bytes(256) in the handshake
constexpr std::int64_t kHandshakeDefaultNs = 5000000000;
constexpr int kDefaultBacklog = 128;

// The calls inside a handle and its closed bit; see the file comment.
class Life {
public:
    static constexpr std::uint32_t kClosed = 0x80000000u;

    explicit Life(int fd) noexcept : fd_(fd) {}
    Life(const Life &) = delete;
    Life &operator=(const Life &) = delete;

    // False (and nothing held) when closed.
    bool enter() noexcept {
        std::uint32_t s = state_.fetch_add(1, std::memory_order_seq_cst);
        if (__builtin_expect(s & kClosed, 0)) {
            leave();
            return false;
        }
        return true;
    }

    void leave() noexcept {
        std::uint32_t s = state_.fetch_sub(1, std::memory_order_seq_cst);
        if (s == (kClosed | 1u)) release();
    }

    bool closed() const noexcept { return state_.load(std::memory_order_seq_cst) & kClosed; }

    // False when it was closed already.
    bool close() noexcept {
        std::uint32_t s = state_.fetch_or(kClosed, std::memory_order_seq_cst);
        if (s & kClosed) return false;
        int w = wake_.load(std::memory_order_seq_cst);
        // An eventfd inherited across fork is shared with the parent: only
        // the process that made it signals it.
        if (w >= 0 && wake_pid_.load(std::memory_order_relaxed) == ::getpid()) {
            std::uint64_t one = 1;
            ssize_t r;
            do r = ::write(w, &one, sizeof one);
            while (r < 0 && errno == EINTR);
        }
        if ((s & ~kClosed) == 0) release();
        return true;
    }

    int fd() const noexcept { return fd_; }

    // For destroy, with no call inside: close the descriptors. (A forked
    // child may have inherited a count of calls that were inside in the
    // parent; they never leave in the child, so release regardless.)
    void destroy() noexcept {
        (void)close();
        release();
        int w = wake_.exchange(-1, std::memory_order_relaxed);
        if (w >= 0) ::close(w);
    }

    enum class Wait { ready, timed_out, closed, error };

    // Wait until `events` on the socket, the deadline, or close(). On error
    // errno is set.
    Wait wait(short events, Deadline &d) noexcept {
        int w = wake_.load(std::memory_order_seq_cst);
        pid_t me = ::getpid();
        if (w >= 0 && wake_pid_.load(std::memory_order_relaxed) != me) {
            // Inherited across fork (only the forking thread lives on in the
            // child): the parent's close would signal it. Make our own.
            if (wake_.compare_exchange_strong(w, -1, std::memory_order_seq_cst)) ::close(w);
            w = wake_.load(std::memory_order_seq_cst);
        }
        if (w < 0) {
            int mine = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
            if (mine < 0) return Wait::error;
            wake_pid_.store(me, std::memory_order_relaxed);
            if (wake_.compare_exchange_strong(w, mine, std::memory_order_seq_cst)) {
                w = mine;
            } else {
                ::close(mine);  // another call won; `w` holds its descriptor
            }
        }
        // close() sets the bit before it reads wake_, we set wake_ before we
        // read the bit: one of us sees the other.
        if (closed()) return Wait::closed;
        struct pollfd p[2] = {{fd_, events, 0}, {w, POLLIN, 0}};
        for (;;) {
            struct timespec ts;
            const struct timespec *tsp = nullptr;
            if (!d.infinite()) {
                std::int64_t left = d.remaining();
                if (left == Deadline::kNever) {
                    tsp = nullptr;
                } else {
                    ts.tv_sec = static_cast<time_t>(left / 1000000000);
                    ts.tv_nsec = static_cast<long>(left % 1000000000);
                    tsp = &ts;
                }
            }
            int r = ::ppoll(p, 2, tsp, nullptr);
            if (r < 0) {
                if (errno == EINTR) continue;
                return Wait::error;
            }
            if (p[1].revents) return Wait::closed;
            if (r > 0 && p[0].revents) return Wait::ready;
            if (d.expired() || d.poll()) return Wait::timed_out;
        }
    }

private:
    void release() noexcept {
        if (!released_.exchange(true, std::memory_order_acq_rel)) ::close(fd_);
    }

    std::atomic<std::uint32_t> state_{0};
    std::atomic<int> wake_{-1};
    std::atomic<pid_t> wake_pid_{0};  // the process that made wake_
    std::atomic<bool> released_{false};
    int fd_;
};

// RAII for Life::enter/leave.
class Inside {
public:
    explicit Inside(Life &l) noexcept : life_(l), in_(l.enter()) {}
    ~Inside() {
        if (in_) life_.leave();
    }
    Inside(const Inside &) = delete;
    Inside &operator=(const Inside &) = delete;
    explicit operator bool() const noexcept { return in_; }

private:
    Life &life_;
    bool in_;
};

// A WordLock held for a scope.
class Held {
public:
    explicit Held(WordLock &l) noexcept : lock_(l) {}
    ~Held() {
        if (held_) lock_.unlock();
    }
    Held(const Held &) = delete;
    Held &operator=(const Held &) = delete;
    weft_status take(Deadline &d) noexcept {
        weft_status s = lock_.lock(d);
        held_ = s == WEFT_OK;
        return s;
    }

private:
    WordLock &lock_;
    bool held_ = false;
};

inline std::size_t max_or_default(std::size_t m) noexcept { return m ? m : WEFT_CONN_MAX_MESSAGE_DEFAULT; }

}  // namespace
}  // namespace weft::detail

struct weft_conn : weft::detail::Handle<weft::detail::Magic::connection> {
    explicit weft_conn(int fd) noexcept : life(fd) {}
    ~weft_conn() {
        std::free(rbuf);
        std::free(partial);
    }

    weft::detail::Life life;
    bool can_send = true;
    bool can_recv = true;
    std::atomic<std::size_t> max_message{WEFT_CONN_MAX_MESSAGE_DEFAULT};

    weft::detail::WordLock send_lock;  // guards the send state
    bool send_broken = false;          // a send timed out mid-message

    weft::detail::WordLock recv_lock;  // guards everything below
    char *rbuf = nullptr;              // read-ahead, kReadAhead bytes, made on first receive
    std::size_t rpos = 0, rend = 0;    // unread bytes are rbuf[rpos, rend)
    bool have_header = false;          // msg_size is the next message's size
    std::uint64_t msg_size = 0;
    char *partial = nullptr;           // body bytes of that message kept by a timeout
    std::size_t partial_len = 0;
    bool recv_broken = false;          // the stream is not our framing
    bool found_empty = false;          // the last look found nothing to read
    unsigned wait_first_count = 0;     // see recv_some()
};

struct weft_listener : weft::detail::Handle<weft::detail::Magic::listener> {
    explicit weft_listener(int fd) noexcept : life(fd) {}
    weft::detail::Life life;
    std::string address;      // the bound address, weft form
    std::string unlink_path;  // a socket file to remove at close; empty: none
    pid_t creator = 0;
    std::vector<unsigned char> authkey;
    std::size_t max_message = WEFT_CONN_MAX_MESSAGE_DEFAULT;
    std::int64_t handshake_ns = weft::detail::kHandshakeDefaultNs;
    std::atomic<bool> unlinked{false};
};

namespace weft::detail {
namespace {

// ---------------------------------------------------------------- creation

weft_conn *new_conn(int fd, bool can_send, bool can_recv, std::size_t max_message) noexcept {
    weft_conn *c = new (std::nothrow) weft_conn(fd);
    if (!c) return nullptr;
    c->can_send = can_send;
    c->can_recv = can_recv;
    c->max_message.store(max_or_default(max_message), std::memory_order_relaxed);
    return c;
}

void free_conn(weft_conn *c) noexcept {
    c->poison();
    c->life.destroy();
    delete c;
}

// ---------------------------------------------------------------- sending

void put_be32(unsigned char *p, std::uint32_t v) noexcept {
    p[0] = static_cast<unsigned char>(v >> 24);
    p[1] = static_cast<unsigned char>(v >> 16);
    p[2] = static_cast<unsigned char>(v >> 8);
    p[3] = static_cast<unsigned char>(v);
}

std::uint64_t get_be(const unsigned char *p, int n) noexcept {
    std::uint64_t v = 0;
    for (int i = 0; i < n; i++) v = (v << 8) | p[i];
    return v;
}

weft_status peer_gone(const char *func, int err) noexcept {
    return fail_sys(WEFT_ECLOSED, err, "%s: the peer closed its end", func);
}

// Send one frame. The caller holds send_lock and is inside the handle.
weft_status send_frame(const char *func, weft_conn *c, const void *buf, std::size_t len, Deadline &d) noexcept {
    if (c->send_broken)
        return fail(WEFT_EBROKEN, "%s: an earlier send timed out in the middle of a message; "
                                  "the connection cannot send any more", func);
    unsigned char hdr[12];
    std::size_t hlen;
    if (len > 0x7fffffffu) {
        put_be32(hdr, 0xffffffffu);  // -1: an 8-byte length follows
        put_be32(hdr + 4, static_cast<std::uint32_t>(static_cast<std::uint64_t>(len) >> 32));
        put_be32(hdr + 8, static_cast<std::uint32_t>(len));
        hlen = 12;
    } else {
        put_be32(hdr, static_cast<std::uint32_t>(len));
        hlen = 4;
    }
    struct iovec iov[2] = {{hdr, hlen}, {const_cast<void *>(buf), len}};
    struct iovec *v = iov;
    int nv = len ? 2 : 1;
    std::size_t total = hlen + len, sent = 0;
    int fd = c->life.fd();
    for (;;) {
        struct msghdr m{};
        m.msg_iov = v;
        m.msg_iovlen = static_cast<decltype(m.msg_iovlen)>(nv);
        ssize_t n = ::sendmsg(fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            sent += static_cast<std::size_t>(n);
            if (sent == total) return WEFT_OK;
            std::size_t k = static_cast<std::size_t>(n);
            while (k >= v->iov_len) {
                k -= v->iov_len;
                ++v;
                --nv;
            }
            v->iov_base = static_cast<char *>(v->iov_base) + k;
            v->iov_len -= k;
            continue;
        }
        int err = errno;
        if (n < 0 && err == EINTR) continue;
        if (n < 0 && (err == EAGAIN || err == EWOULDBLOCK)) {
            switch (c->life.wait(POLLOUT, d)) {
            case Life::Wait::ready:
                continue;
            case Life::Wait::closed:
                if (sent) c->send_broken = true;
                return fail(WEFT_ECLOSED, "%s: the connection was closed while sending", func);
            case Life::Wait::error:
                err = errno;
                if (sent) c->send_broken = true;
                return fail_sys(WEFT_ESYS, err, "%s: ppoll failed", func);
            case Life::Wait::timed_out:
                if (sent == 0)
                    return fail(WEFT_ETIMEDOUT, "%s: the peer did not read; nothing of the %zu-byte message was sent",
                                func, len);
                c->send_broken = true;
                return fail(WEFT_EBROKEN,
                            "%s: timed out after sending %zu of %zu bytes; the connection cannot send any more",
                            func, sent, total);
            }
        }
        if (err == EPIPE || err == ECONNRESET || err == ENOTCONN || err == ESHUTDOWN) {
            if (sent) c->send_broken = true;
            return peer_gone(func, err);
        }
        if (sent) c->send_broken = true;
        return fail_sys(WEFT_ESYS, err, "%s: sendmsg failed", func);
    }
}

// ---------------------------------------------------------------- receiving

// Where a message body goes: a caller's buffer, or one allocated once the
// size is known.
struct Sink {
    char *buf;
    std::size_t cap;
    bool alloc;
};

enum class Got { data, eof, timed_out, closed, error };

// Receive some bytes into dst, waiting up to the deadline. The caller holds
// recv_lock.
//
// Whether to look before waiting: a receive that found nothing the last time
// it looked waits first (ppoll, then recv: the two calls a blocking read
// costs) instead of looking first (recv, EAGAIN, ppoll, recv: four, which
// made ping-pong 0.7x a raw socketpair). Every 16th time it looks first
// anyway, so a stream that speeds up goes back to looking first.
Got recv_some(weft_conn *c, char *dst, std::size_t cap, std::size_t &got, Deadline &d, int &err) noexcept {
    bool wait_first = c->found_empty && !d.poll() && (++c->wait_first_count & 15u) != 0;
    bool looked_first = !wait_first;
    for (;;) {
        if (wait_first) {
            wait_first = false;
            switch (c->life.wait(POLLIN, d)) {
            case Life::Wait::ready:
                break;
            case Life::Wait::timed_out:
                return Got::timed_out;
            case Life::Wait::closed:
                return Got::closed;
            case Life::Wait::error:
                err = errno;
                return Got::error;
            }
        }
        ssize_t n = ::recv(c->life.fd(), dst, cap, MSG_DONTWAIT);
        if (n > 0) {
            if (looked_first) c->found_empty = false;
            got = static_cast<std::size_t>(n);
            return Got::data;
        }
        if (n == 0) return Got::eof;
        err = errno;
        if (err == EINTR) continue;
        if (err == ECONNRESET) return Got::eof;
        if (err != EAGAIN && err != EWOULDBLOCK) return Got::error;
        if (looked_first) c->found_empty = true;
        looked_first = false;
        wait_first = true;
    }
}

// Read more into the read-ahead buffer.
Got fill(weft_conn *c, Deadline &d, int &err) noexcept {
    if (c->rpos == c->rend) {
        c->rpos = c->rend = 0;
    } else if (c->rpos > 0 && c->rend == kReadAhead) {
        std::memmove(c->rbuf, c->rbuf + c->rpos, c->rend - c->rpos);
        c->rend -= c->rpos;
        c->rpos = 0;
    }
    std::size_t n = 0;
    Got g = recv_some(c, c->rbuf + c->rend, kReadAhead - c->rend, n, d, err);
    if (g == Got::data) c->rend += n;
    return g;
}

// Read straight into dst (a body too big to bounce through the buffer).
Got read_direct(weft_conn *c, char *dst, std::size_t want, std::size_t &got, Deadline &d, int &err) noexcept {
    return recv_some(c, dst, want, got, d, err);
}

weft_status recv_failure(const char *func, Got g, int err, bool mid_message) noexcept {
    switch (g) {
    case Got::timed_out:
        return fail(WEFT_ETIMEDOUT, "%s: no whole message arrived in time%s", func,
                    mid_message ? " (the part that did is kept for the next receive)" : "");
    case Got::closed:
        return fail(WEFT_ECLOSED, "%s: the connection was closed", func);
    case Got::eof:
        if (mid_message) return fail(WEFT_ECLOSED, "%s: the peer closed its end in the middle of a message", func);
        return fail(WEFT_ECLOSED, "%s: the peer closed its end; no more messages", func);
    default:
        return fail_sys(WEFT_ESYS, err, "%s: recv failed", func);
    }
}

// Receive one frame into the sink. The caller holds recv_lock and is inside
// the handle. On success the sink's buffer holds the message (allocated when
// sink.alloc) and *len its size.
weft_status recv_frame(const char *func, weft_conn *c, Sink &sink, std::size_t *len, Deadline &d) noexcept {
    if (c->recv_broken)
        return fail(WEFT_EBROKEN, "%s: the stream was found corrupt or cut earlier; no more messages", func);
    if (!c->rbuf) {
        c->rbuf = static_cast<char *>(std::malloc(kReadAhead));
        if (!c->rbuf) return fail(WEFT_ENOMEM, "%s: out of memory for the receive buffer", func);
    }
    int err = 0;
    // 1. The header.
    while (!c->have_header) {
        std::size_t avail = c->rend - c->rpos;
        const unsigned char *p = reinterpret_cast<const unsigned char *>(c->rbuf + c->rpos);
        if (avail >= 4) {
            std::uint32_t raw = static_cast<std::uint32_t>(get_be(p, 4));
            if (raw == 0xffffffffu) {
                if (avail >= 12) {
                    c->msg_size = get_be(p + 4, 8);
                    c->rpos += 12;
                    c->have_header = true;
                    break;
                }
            } else if (raw & 0x80000000u) {
                c->recv_broken = true;
                return fail(WEFT_EBROKEN, "%s: corrupt length prefix %d (not multiprocessing.connection framing)",
                            func, static_cast<int>(raw - 0x80000000u) - 0x7fffffff - 1);
            } else {
                c->msg_size = raw;
                c->rpos += 4;
                c->have_header = true;
                break;
            }
        }
        Got g = fill(c, d, err);
        if (g != Got::data) return recv_failure(func, g, err, avail > 0);
    }
    // 2. The size checks: the message stays when refused.
    std::size_t max = c->max_message.load(std::memory_order_relaxed);
    if (c->msg_size > max) {
        *len = c->msg_size > SIZE_MAX ? SIZE_MAX : static_cast<std::size_t>(c->msg_size);
        return fail(WEFT_EMSGSIZE, "%s: the next message has %llu bytes, over the connection's largest message (%zu)",
                    func, static_cast<unsigned long long>(c->msg_size), max);
    }
    std::size_t size = static_cast<std::size_t>(c->msg_size);
    if (sink.alloc) {
        sink.buf = static_cast<char *>(std::malloc(size ? size : 1));
        if (!sink.buf) return fail(WEFT_ENOMEM, "%s: out of memory for a %zu-byte message", func, size);
        sink.cap = size;
    } else if (size > sink.cap) {
        *len = size;
        return fail(WEFT_EMSGSIZE, "%s: the next message has %zu bytes, the buffer %zu; it stays for the next receive",
                    func, size, sink.cap);
    }
    // 3. The body.
    char *dst = sink.buf;
    std::size_t got = 0;
    if (c->partial_len) {
        std::memcpy(dst, c->partial, c->partial_len);
        got = c->partial_len;
    }
    Got g = Got::data;
    while (got < size) {
        std::size_t avail = c->rend - c->rpos;
        if (avail) {
            std::size_t k = std::min(avail, size - got);
            std::memcpy(dst + got, c->rbuf + c->rpos, k);
            c->rpos += k;
            got += k;
            continue;
        }
        if (size - got >= kDirectRead) {
            std::size_t n = 0;
            g = read_direct(c, dst + got, size - got, n, d, err);
            if (g != Got::data) break;
            got += n;
        } else {
            g = fill(c, d, err);
            if (g != Got::data) break;
        }
    }
    if (got < size) {
        // Keep the part that arrived for the next receive (after a timeout;
        // at the end of the stream the rest never comes).
        if (g == Got::timed_out || g == Got::closed) {
            if (got > c->partial_len) {
                if (!c->partial) c->partial = static_cast<char *>(std::malloc(size ? size : 1));
                if (!c->partial) {
                    c->recv_broken = true;
                    if (sink.alloc) std::free(sink.buf);
                    sink.buf = nullptr;
                    return fail(WEFT_ENOMEM, "%s: out of memory keeping a message cut by a timeout; it is lost",
                                func);
                }
                std::memcpy(c->partial + c->partial_len, dst + c->partial_len, got - c->partial_len);
                c->partial_len = got;
            }
        }
        if (sink.alloc) std::free(sink.buf);
        sink.buf = nullptr;
        return recv_failure(func, g, err, true);
    }
    std::free(c->partial);
    c->partial = nullptr;
    c->partial_len = 0;
    c->have_header = false;
    *len = size;
    return WEFT_OK;
}

weft_status recv_common(const char *func, weft_conn *c, Sink &sink, std::size_t *len, std::int64_t timeout_ns) noexcept {
    if (!c->can_recv) return fail(WEFT_ENOTSUP, "%s: this is the sending end of a one-way pipe", func);
    Inside in(c->life);
    if (!in) return fail(WEFT_ECLOSED, "%s: the connection is closed", func);
    Deadline d(timeout_ns);
    Held h(c->recv_lock);
    if (h.take(d) != WEFT_OK) return fail(WEFT_ETIMEDOUT, "%s: another thread is receiving", func);
    return recv_frame(func, c, sink, len, d);
}

// ---------------------------------------------------------------- authentication

constexpr char kChallenge[] = "#CHALLENGE#";
constexpr char kWelcome[] = "#WELCOME#";
constexpr char kFailure[] = "#FAILURE#";
constexpr std::size_t kMd5OnlyMessage = 20;  // CPython's _MD5ONLY_MESSAGE_LENGTH
constexpr std::size_t kMd5Digest = 16;
constexpr std::size_t kMessage = 40;         // CPython 3.12's _MESSAGE_LENGTH

struct Digest {
    const char *python;  // the name in the {prefix}
    const char *openssl;
};
constexpr Digest kDigests[] = {
    {"md5", "MD5"}, {"sha256", "SHA256"}, {"sha384", "SHA384"}, {"sha3_256", "SHA3-256"}, {"sha3_384", "SHA3-384"},
};
constexpr std::size_t kMaxDigestName = 8;  // len("sha3_256")

struct Handshake {
    const char *func;
    weft_conn *c;
    const unsigned char *key;
    std::size_t keylen;
    Deadline &d;
};

weft_status hs_send(Handshake &h, const void *buf, std::size_t len) noexcept {
    Held lk(h.c->send_lock);
    (void)lk.take(h.d);  // nobody else holds it during a handshake
    return send_frame(h.func, h.c, buf, len, h.d);
}

weft_status hs_recv(Handshake &h, unsigned char *buf, std::size_t *len) noexcept {
    Held lk(h.c->recv_lock);
    (void)lk.take(h.d);
    Sink s{reinterpret_cast<char *>(buf), kHandshakeMax, false};
    weft_status st = recv_frame(h.func, h.c, s, len, h.d);
    if (st == WEFT_EMSGSIZE)
        return fail(WEFT_EPERM, "authentication failed: %s: a handshake message of %zu bytes (at most %zu)",
                    h.func, *len, kHandshakeMax);
    if (st == WEFT_EBROKEN)
        return fail(WEFT_EPERM, "authentication failed: %s: the peer does not speak this protocol", h.func);
    return st;
}

// HMAC with the named digest; false when OpenSSL cannot.
bool hmac(const Digest &dg, const unsigned char *key, std::size_t keylen, const unsigned char *msg, std::size_t n,
          unsigned char *out, std::size_t &outlen) noexcept {
    std::size_t got = 0;
    unsigned char *r = EVP_Q_mac(nullptr, "HMAC", nullptr, dg.openssl, nullptr, key, keylen, msg, n, out,
                                 EVP_MAX_MD_SIZE, &got);
    if (!r) return false;
    outlen = got;
    return true;
}

// CPython's _get_digest_name_and_payload: nullptr digest = legacy (raw MD5).
// False when the message is neither form.
bool digest_and_payload(const unsigned char *m, std::size_t n, const Digest *&dg, std::size_t &payload_at) noexcept {
    if (n == kMd5OnlyMessage || n == kMd5Digest) {
        dg = nullptr;
        payload_at = 0;
        return true;
    }
    if (n == 0 || m[0] != '{') return false;
    for (std::size_t i = 1; i < n && i <= kMaxDigestName + 1; i++) {
        if (m[i] != '}') continue;
        for (const Digest &x : kDigests) {
            if (std::strlen(x.python) == i - 1 && std::memcmp(m + 1, x.python, i - 1) == 0) {
                dg = &x;
                payload_at = i + 1;
                return true;
            }
        }
        return false;
    }
    return false;
}

weft_status auth_failed(Handshake &h, const char *why) noexcept {
    return fail(WEFT_EPERM, "authentication failed: %s: %s", h.func, why);
}

// Send a challenge and check the peer's answer (CPython's deliver_challenge).
weft_status deliver_challenge(Handshake &h) noexcept {
    unsigned char msg[sizeof kChallenge - 1 + 8 + kMessage];
    std::size_t pre = sizeof kChallenge - 1;
    std::memcpy(msg, kChallenge, pre);
    std::memcpy(msg + pre, "{sha256}", 8);
    unsigned char *rnd = msg + pre + 8;
    for (std::size_t got = 0; got < kMessage;) {
        ssize_t r = ::getrandom(rnd + got, kMessage - got, 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            return fail_sys(WEFT_ESYS, errno, "%s: getrandom failed", h.func);
        }
        got += static_cast<std::size_t>(r);
    }
    const unsigned char *challenge = msg + pre;  // what the MAC covers: prefix and random bytes
    std::size_t clen = 8 + kMessage;
    if (weft_status s = hs_send(h, msg, sizeof msg)) return s;
    unsigned char resp[kHandshakeMax];
    std::size_t rlen = 0;
    if (weft_status s = hs_recv(h, resp, &rlen)) return s;
    const Digest *dg = nullptr;
    std::size_t at = 0;
    bool ok = false;
    const char *why = "digest received was wrong (the keys differ)";
    if (!digest_and_payload(resp, rlen, dg, at)) {
        why = "the response is neither a legacy MD5 digest nor a {digest} one";
    } else {
        unsigned char want[EVP_MAX_MD_SIZE];
        std::size_t wlen = 0;
        if (!hmac(dg ? *dg : kDigests[0], h.key, h.keylen, challenge, clen, want, wlen)) {
            why = "the response's digest is not available";
        } else if (wlen == rlen - at && CRYPTO_memcmp(want, resp + at, wlen) == 0) {
            ok = true;
        }
    }
    if (!ok) {
        (void)hs_send(h, kFailure, sizeof kFailure - 1);
        return auth_failed(h, why);
    }
    return hs_send(h, kWelcome, sizeof kWelcome - 1);
}

// Answer the peer's challenge (CPython's answer_challenge and _create_response).
weft_status answer_challenge(Handshake &h) noexcept {
    unsigned char m[kHandshakeMax];
    std::size_t n = 0;
    if (weft_status s = hs_recv(h, m, &n)) return s;
    std::size_t pre = sizeof kChallenge - 1;
    if (n < pre || std::memcmp(m, kChallenge, pre) != 0)
        return auth_failed(h, "expected a challenge from the peer (does it have an authkey?)");
    const unsigned char *msg = m + pre;
    std::size_t mlen = n - pre;
    if (mlen < kMd5OnlyMessage) return auth_failed(h, "the challenge is too short");
    const Digest *dg = nullptr;
    std::size_t at = 0;
    if (!digest_and_payload(msg, mlen, dg, at)) return auth_failed(h, "the challenge names no digest we know");
    unsigned char out[2 + kMaxDigestName + EVP_MAX_MD_SIZE];
    std::size_t olen = 0;
    if (dg) {
        std::size_t nl = std::strlen(dg->python);
        out[0] = '{';
        std::memcpy(out + 1, dg->python, nl);
        out[1 + nl] = '}';
        olen = 2 + nl;
    }
    std::size_t maclen = 0;
    if (!hmac(dg ? *dg : kDigests[0], h.key, h.keylen, msg, mlen, out + olen, maclen))
        return auth_failed(h, "the challenge's digest is not available");
    olen += maclen;
    if (weft_status s = hs_send(h, out, olen)) return s;
    unsigned char r[kHandshakeMax];
    std::size_t rl = 0;
    if (weft_status s = hs_recv(h, r, &rl)) return s;
    if (rl != sizeof kWelcome - 1 || std::memcmp(r, kWelcome, rl) != 0)
        return auth_failed(h, "the peer rejected our digest (the keys differ)");
    return WEFT_OK;
}

weft_status handshake_failure(weft_status s, const char *func) noexcept {
    if (s == WEFT_ETIMEDOUT) return fail(WEFT_ETIMEDOUT, "%s: the authentication handshake did not finish in time", func);
    return s;  // EPERM, ECLOSED, ESYS, ENOMEM: the detail is set already
}

// ---------------------------------------------------------------- addresses

struct Address {
    sockaddr_storage sa{};
    socklen_t len = 0;
    int family = 0;
    std::string unix_path;  // a file path (not abstract), for unlink
};

// Inside guarded(): std::string may throw.
weft_status parse_address(const char *func, const char *address, Address &a, bool listening) {
    if (std::strncmp(address, "unix:", 5) == 0) {
        const char *p = address + 5;
        std::size_t n = std::strlen(p);
        auto *un = reinterpret_cast<sockaddr_un *>(&a.sa);
        un->sun_family = AF_UNIX;
        a.family = AF_UNIX;
        if (n == 0 || (p[0] == '@' && n == 1))
            return fail(WEFT_EINVAL, "%s: address \"%s\" has an empty path", func, address);
        if (n >= sizeof un->sun_path)
            return fail(WEFT_EINVAL, "%s: address \"%s\": the path is %zu bytes, at most %zu", func, address, n,
                        sizeof un->sun_path - 1);
        std::memcpy(un->sun_path, p, n);
        if (p[0] == '@') {
            un->sun_path[0] = '\0';  // abstract: no file
            a.len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + n);
        } else {
            a.len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + n + 1);
            a.unix_path = p;
        }
        return WEFT_OK;
    }
    if (std::strncmp(address, "tcp:", 4) == 0) {
        const char *hp = address + 4;
        const char *colon = std::strrchr(hp, ':');
        if (!colon)
            return fail(WEFT_EINVAL, "%s: address \"%s\" has no port; use tcp:HOST:PORT", func, address);
        std::string host(hp, static_cast<std::size_t>(colon - hp));
        const char *ps = colon + 1;
        char *end = nullptr;
        errno = 0;
        unsigned long port = std::strtoul(ps, &end, 10);
        if (*ps == '\0' || *end != '\0' || errno || port > 65535 || *ps == '-' || *ps == '+' || *ps == ' ')
            return fail(WEFT_EINVAL, "%s: address \"%s\": the port is not a number from 0 to 65535", func, address);
        if (port == 0 && !listening)
            return fail(WEFT_EINVAL, "%s: address \"%s\": port 0 names no listener", func, address);
        if (host == "localhost") host = "127.0.0.1";
        if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
            auto *in6 = reinterpret_cast<sockaddr_in6 *>(&a.sa);
            std::string h6 = host.substr(1, host.size() - 2);
            if (inet_pton(AF_INET6, h6.c_str(), &in6->sin6_addr) != 1)
                return fail(WEFT_EINVAL, "%s: address \"%s\": \"%s\" is not an IPv6 address", func, address,
                            h6.c_str());
            in6->sin6_family = AF_INET6;
            in6->sin6_port = htons(static_cast<std::uint16_t>(port));
            a.family = AF_INET6;
            a.len = sizeof(sockaddr_in6);
            return WEFT_OK;
        }
        auto *in4 = reinterpret_cast<sockaddr_in *>(&a.sa);
        if (inet_pton(AF_INET, host.c_str(), &in4->sin_addr) != 1)
            return fail(WEFT_EINVAL,
                        "%s: address \"%s\": \"%s\" is not a numeric IPv4 address, [IPv6] or localhost", func,
                        address, host.c_str());
        in4->sin_family = AF_INET;
        in4->sin_port = htons(static_cast<std::uint16_t>(port));
        a.family = AF_INET;
        a.len = sizeof(sockaddr_in);
        return WEFT_OK;
    }
    return fail(WEFT_EINVAL, "%s: address \"%s\" must start with \"unix:\" or \"tcp:\"", func, address);
}

std::string format_bound(int fd, const Address &a, const char *given) {  // may throw
    if (a.family == AF_UNIX) return given;
    sockaddr_storage ss{};
    socklen_t sl = sizeof ss;
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (::getsockname(fd, reinterpret_cast<sockaddr *>(&ss), &sl) == 0) {
        if (ss.ss_family == AF_INET6) {
            auto *in6 = reinterpret_cast<sockaddr_in6 *>(&ss);
            inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
            port = ntohs(in6->sin6_port);
            return std::string("tcp:[") + host + "]:" + std::to_string(port);
        }
        auto *in4 = reinterpret_cast<sockaddr_in *>(&ss);
        inet_ntop(AF_INET, &in4->sin_addr, host, sizeof host);
        port = ntohs(in4->sin_port);
    }
    return std::string("tcp:") + host + ":" + std::to_string(port);
}

weft_status check_key(const char *func, const void *key, std::size_t len) noexcept {
    if (len > 0 && !key) return fail(WEFT_EINVAL, "%s: opts->authkey is NULL but opts->authkey_len is %zu", func, len);
    return WEFT_OK;
}

void tune_tcp(int fd, int family) noexcept {
    if (family == AF_INET || family == AF_INET6) {
        int one = 1;
        (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
}

weft_status connect_socket(const char *func, const Address &a, const char *address, Deadline &d, int &out_fd) noexcept {
    int backoff_us = 100;
    for (;;) {
        int fd = ::socket(a.family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) return fail_sys(WEFT_ESYS, errno, "%s: socket failed", func);
        int r = ::connect(fd, reinterpret_cast<const sockaddr *>(&a.sa), a.len);
        int err = r == 0 ? 0 : errno;
        if (err == EINPROGRESS || err == EINTR) {
            // Wait for the connection with a private Life (no close to race).
            struct pollfd p = {fd, POLLOUT, 0};
            for (;;) {
                std::int64_t left = d.remaining();
                struct timespec ts;
                const struct timespec *tsp = nullptr;
                if (left != Deadline::kNever) {
                    ts.tv_sec = static_cast<time_t>(left / 1000000000);
                    ts.tv_nsec = static_cast<long>(left % 1000000000);
                    tsp = &ts;
                }
                int pr = ::ppoll(&p, 1, tsp, nullptr);
                if (pr < 0 && errno == EINTR) continue;
                if (pr < 0) {
                    err = errno;
                    ::close(fd);
                    return fail_sys(WEFT_ESYS, err, "%s: ppoll failed", func);
                }
                if (pr == 0) {
                    if (!d.expired()) continue;
                    ::close(fd);
                    return fail(WEFT_ETIMEDOUT, "%s: connecting to \"%s\" did not finish in time", func, address);
                }
                break;
            }
            socklen_t sl = sizeof err;
            if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) != 0) err = errno;
        }
        if (err == 0) {
            int fl = ::fcntl(fd, F_GETFL);
            if (fl >= 0) (void)::fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
            tune_tcp(fd, a.family);
            out_fd = fd;
            return WEFT_OK;
        }
        ::close(fd);
        if (err == EAGAIN && a.family == AF_UNIX) {
            // The listener's backlog is full: try again until the deadline.
            if (d.expired() || d.poll())
                return fail(WEFT_ETIMEDOUT, "%s: \"%s\" has a full backlog of waiting clients", func, address);
            struct timespec ts = {0, backoff_us * 1000L};
            nanosleep(&ts, nullptr);
            backoff_us = std::min(backoff_us * 2, 10000);
            continue;
        }
        if (err == ENOENT || err == ECONNREFUSED)
            return fail_sys(WEFT_ENOENT, err, "%s: nobody listens at \"%s\"", func, address);
        if (err == EACCES || err == EPERM)
            return fail_sys(WEFT_EPERM, err, "%s: access to \"%s\" denied", func, address);
        if (err == ETIMEDOUT) return fail_sys(WEFT_ETIMEDOUT, err, "%s: connecting to \"%s\" timed out", func, address);
        return fail_sys(WEFT_ESYS, err, "%s: connect to \"%s\" failed", func, address);
    }
}

}  // namespace
}  // namespace weft::detail

using namespace weft::detail;

extern "C" {

WEFT_API weft_status weft_pipe(weft_conn **a, weft_conn **b, int duplex) noexcept {
    if (a) *a = nullptr;
    if (b) *b = nullptr;
    if (!a) return null_arg("weft_pipe", "a");
    if (!b) return null_arg("weft_pipe", "b");
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return fail_sys(WEFT_ESYS, errno, "weft_pipe: socketpair failed");
    if (!duplex) (void)::shutdown(sv[0], SHUT_WR);  // sv[0] reads, sv[1] writes
    weft_conn *x = new_conn(sv[0], duplex != 0, true, 0);
    weft_conn *y = x ? new_conn(sv[1], true, duplex != 0, 0) : nullptr;
    if (!x || !y) {
        if (x) free_conn(x);
        else ::close(sv[0]);
        ::close(sv[1]);
        return fail(WEFT_ENOMEM, "weft_pipe: out of memory");
    }
    *a = x;
    *b = y;
    return WEFT_OK;
}

WEFT_API weft_status weft_conn_send(weft_conn *c, const void *buf, size_t len, int64_t timeout_ns) noexcept {
    WEFT_CHECK_HANDLE("weft_conn_send", c);
    WEFT_CHECK_TIMEOUT("weft_conn_send", timeout_ns);
    if (!buf && len) return null_arg("weft_conn_send", "buf");
    if (!c->can_send) return fail(WEFT_ENOTSUP, "weft_conn_send: this is the receiving end of a one-way pipe");
    Inside in(c->life);
    if (!in) return fail(WEFT_ECLOSED, "weft_conn_send: the connection is closed");
    Deadline d(timeout_ns);
    Held h(c->send_lock);
    if (h.take(d) != WEFT_OK) return fail(WEFT_ETIMEDOUT, "weft_conn_send: another thread is sending");
    return send_frame("weft_conn_send", c, buf, len, d);
}

WEFT_API weft_status weft_conn_recv(weft_conn *c, void *buf, size_t cap, size_t *len, int64_t timeout_ns) noexcept {
    WEFT_CHECK_HANDLE("weft_conn_recv", c);
    WEFT_CHECK_TIMEOUT("weft_conn_recv", timeout_ns);
    if (!len) return null_arg("weft_conn_recv", "len");
    if (!buf && cap) return null_arg("weft_conn_recv", "buf");
    Sink s{static_cast<char *>(buf), cap, false};
    return recv_common("weft_conn_recv", c, s, len, timeout_ns);
}

WEFT_API weft_status weft_conn_recv_alloc(weft_conn *c, void **buf, size_t *len, int64_t timeout_ns) noexcept {
    if (buf) *buf = nullptr;
    WEFT_CHECK_HANDLE("weft_conn_recv_alloc", c);
    WEFT_CHECK_TIMEOUT("weft_conn_recv_alloc", timeout_ns);
    if (!buf) return null_arg("weft_conn_recv_alloc", "buf");
    if (!len) return null_arg("weft_conn_recv_alloc", "len");
    Sink s{nullptr, 0, true};
    weft_status st = recv_common("weft_conn_recv_alloc", c, s, len, timeout_ns);
    if (st == WEFT_OK) *buf = s.buf;
    return st;
}

WEFT_API void weft_conn_free(void *buf) noexcept {
    std::free(buf);
}

WEFT_API weft_status weft_conn_poll(weft_conn *c, int64_t timeout_ns) noexcept {
    WEFT_CHECK_HANDLE("weft_conn_poll", c);
    WEFT_CHECK_TIMEOUT("weft_conn_poll", timeout_ns);
    if (!c->can_recv) return fail(WEFT_ENOTSUP, "weft_conn_poll: this is the sending end of a one-way pipe");
    Inside in(c->life);
    if (!in) return fail(WEFT_ECLOSED, "weft_conn_poll: the connection is closed");
    Deadline d(timeout_ns);
    {
        Held h(c->recv_lock);
        if (h.take(d) != WEFT_OK) return fail(WEFT_ETIMEDOUT, "weft_conn_poll: another thread is receiving");
        if (c->rend > c->rpos || c->partial_len || c->recv_broken) return WEFT_OK;
    }
    switch (c->life.wait(POLLIN, d)) {
    case Life::Wait::ready:
        return WEFT_OK;
    case Life::Wait::timed_out:
        return fail(WEFT_ETIMEDOUT, "weft_conn_poll: nothing arrived in time");
    case Life::Wait::closed:
        return fail(WEFT_ECLOSED, "weft_conn_poll: the connection was closed");
    case Life::Wait::error:
        break;
    }
    return fail_sys(WEFT_ESYS, errno, "weft_conn_poll: ppoll failed");
}

WEFT_API weft_status weft_conn_set_max_message(weft_conn *c, size_t max_message) noexcept {
    WEFT_CHECK_HANDLE("weft_conn_set_max_message", c);
    c->max_message.store(max_or_default(max_message), std::memory_order_relaxed);
    return WEFT_OK;
}

WEFT_API int weft_conn_fd(const weft_conn *c) noexcept {
    WEFT_CHECK_HANDLE("weft_conn_fd", c);
    if (c->life.closed()) return fail(WEFT_ECLOSED, "weft_conn_fd: the connection is closed");
    return c->life.fd();
}

WEFT_API weft_status weft_conn_close(weft_conn *c) noexcept {
    WEFT_CHECK_HANDLE("weft_conn_close", c);
    (void)c->life.close();
    return WEFT_OK;
}

WEFT_API void weft_conn_destroy(weft_conn *c) noexcept {
    if (!valid(c)) return;
    free_conn(c);
}

WEFT_API weft_status weft_listener_create(weft_listener **out, const char *address,
                                          const weft_listener_options *opts) noexcept {
    static const char *const F = "weft_listener_create";
    if (!out) return null_arg(F, "out");
    *out = nullptr;
    if (!address) return null_arg(F, "address");
    if (weft_status s = check_version(F, opts, WEFT_LISTENER_OPTIONS_VERSION)) return s;
    weft_listener_options o = WEFT_LISTENER_OPTIONS_INIT;
    if (opts) o = *opts;
    if (o.backlog < 0) return fail(WEFT_EINVAL, "%s: opts->backlog is %d; use 0 (default) or more", F, o.backlog);
    if (weft_status s = check_key(F, o.authkey, o.authkey_len)) return s;
    if (o.handshake_timeout_ns < WEFT_FOREVER)
        return fail(WEFT_EINVAL, "%s: opts->handshake_timeout_ns is %lld; use 0 (default), WEFT_FOREVER or more", F,
                    static_cast<long long>(o.handshake_timeout_ns));
    return guarded(F, [&]() -> weft_status {
        Address a;
        if (weft_status s = parse_address(F, address, a, true)) return s;
        int fd = ::socket(a.family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) return fail_sys(WEFT_ESYS, errno, "%s: socket failed", F);
        if (a.family != AF_UNIX) {
            int one = 1;
            (void)::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // as Python does
        }
        if (::bind(fd, reinterpret_cast<const sockaddr *>(&a.sa), a.len) != 0) {
            int err = errno;
            ::close(fd);
            if (err == EADDRINUSE) return fail_sys(WEFT_EEXIST, err, "%s: address \"%s\" is in use", F, address);
            if (err == ENOENT || err == ENOTDIR)
                return fail_sys(WEFT_ENOENT, err, "%s: the directory of \"%s\" does not exist", F, address);
            if (err == EACCES || err == EPERM)
                return fail_sys(WEFT_EPERM, err, "%s: binding \"%s\" is not permitted", F, address);
            if (err == EADDRNOTAVAIL)
                return fail_sys(WEFT_EINVAL, err, "%s: \"%s\" is not an address of this machine", F, address);
            return fail_sys(WEFT_ESYS, err, "%s: bind \"%s\" failed", F, address);
        }
        if (::listen(fd, o.backlog ? o.backlog : kDefaultBacklog) != 0) {
            int err = errno;
            ::close(fd);
            if (!a.unix_path.empty()) ::unlink(a.unix_path.c_str());
            return fail_sys(WEFT_ESYS, err, "%s: listen failed", F);
        }
        weft_listener *l = new (std::nothrow) weft_listener(fd);
        if (!l) {
            ::close(fd);
            if (!a.unix_path.empty()) ::unlink(a.unix_path.c_str());
            return fail(WEFT_ENOMEM, "%s: out of memory", F);
        }
        try {
            l->address = format_bound(fd, a, address);
            if (o.unlink_on_close) l->unlink_path = a.unix_path;
            if (o.authkey_len)
                l->authkey.assign(static_cast<const unsigned char *>(o.authkey),
                                  static_cast<const unsigned char *>(o.authkey) + o.authkey_len);
        } catch (...) {
            if (!a.unix_path.empty()) ::unlink(a.unix_path.c_str());
            l->poison();
            l->life.destroy();
            delete l;
            throw;
        }
        l->creator = ::getpid();
        l->max_message = max_or_default(o.max_message);
        l->handshake_ns = o.handshake_timeout_ns ? o.handshake_timeout_ns : kHandshakeDefaultNs;
        *out = l;
        return WEFT_OK;
    });
}

WEFT_API const char *weft_listener_address(const weft_listener *l) noexcept {
    if (!valid(l)) {
        (void)misuse("weft_listener_address", "l", l);
        return nullptr;
    }
    return l->address.c_str();
}

WEFT_API weft_status weft_listener_accept(weft_listener *l, weft_conn **out, int64_t timeout_ns) noexcept {
    static const char *const F = "weft_listener_accept";
    if (out) *out = nullptr;
    WEFT_CHECK_HANDLE(F, l);
    WEFT_CHECK_TIMEOUT(F, timeout_ns);
    if (!out) return null_arg(F, "out");
    Inside in(l->life);
    if (!in) return fail(WEFT_ECLOSED, "%s: the listener is closed", F);
    Deadline d(timeout_ns);
    int fd;
    for (;;) {
        fd = ::accept4(l->life.fd(), nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0) break;
        int err = errno;
        // A connection that failed before we took it: take the next one
        // (accept(2): treat the network errors like EAGAIN).
        if (err == EINTR || err == ECONNABORTED || err == EPROTO || err == ENETDOWN || err == ENOPROTOOPT ||
            err == EHOSTDOWN || err == ENONET || err == EHOSTUNREACH || err == ENETUNREACH)
            continue;
        if (err == EAGAIN || err == EWOULDBLOCK) {
            switch (l->life.wait(POLLIN, d)) {
            case Life::Wait::ready:
                continue;
            case Life::Wait::timed_out:
                return fail(WEFT_ETIMEDOUT, "%s: no client connected in time", F);
            case Life::Wait::closed:
                return fail(WEFT_ECLOSED, "%s: the listener was closed", F);
            case Life::Wait::error:
                return fail_sys(WEFT_ESYS, errno, "%s: ppoll failed", F);
            }
        }
        if (err == EMFILE || err == ENFILE) return fail_sys(WEFT_ESYS, err, "%s: out of descriptors", F);
        if (err == ENOMEM || err == ENOBUFS) return fail_sys(WEFT_ENOMEM, err, "%s: accept4 failed", F);
        return fail_sys(WEFT_ESYS, err, "%s: accept4 failed", F);
    }
    sockaddr_storage ss{};
    socklen_t sl = sizeof ss;
    int family = ::getsockname(fd, reinterpret_cast<sockaddr *>(&ss), &sl) == 0 ? ss.ss_family : AF_UNIX;
    tune_tcp(fd, family);
    weft_conn *c = new_conn(fd, true, true, l->max_message);
    if (!c) {
        ::close(fd);
        return fail(WEFT_ENOMEM, "%s: out of memory", F);
    }
    if (!l->authkey.empty()) {
        // Nobody else knows the connection yet: no Inside needed.
        Deadline hd(l->handshake_ns);
        Handshake h{F, c, l->authkey.data(), l->authkey.size(), hd};
        weft_status s = deliver_challenge(h);
        if (s == WEFT_OK) s = answer_challenge(h);
        if (s != WEFT_OK) {
            free_conn(c);
            // WEFT_ECLOSED from accept means the listener was closed, and
            // nothing else: a client that hangs up mid-handshake failed to
            // authenticate.
            if (s == WEFT_ECLOSED)
                return fail(WEFT_EPERM, "authentication failed: %s: the client hung up during the handshake", F);
            return handshake_failure(s, F);
        }
    }
    *out = c;
    return WEFT_OK;
}

WEFT_API int weft_listener_fd(const weft_listener *l) noexcept {
    WEFT_CHECK_HANDLE("weft_listener_fd", l);
    if (l->life.closed()) return fail(WEFT_ECLOSED, "weft_listener_fd: the listener is closed");
    return l->life.fd();
}

WEFT_API weft_status weft_listener_close(weft_listener *l) noexcept {
    WEFT_CHECK_HANDLE("weft_listener_close", l);
    if (l->life.close() && !l->unlink_path.empty() && l->creator == ::getpid() &&
        !l->unlinked.exchange(true, std::memory_order_relaxed))
        (void)::unlink(l->unlink_path.c_str());
    return WEFT_OK;
}

WEFT_API void weft_listener_destroy(weft_listener *l) noexcept {
    if (!valid(l)) return;
    (void)weft_listener_close(l);
    l->poison();
    l->life.destroy();
    delete l;
}

WEFT_API weft_status weft_client_connect(weft_conn **out, const char *address, const weft_client_options *opts,
                                         int64_t timeout_ns) noexcept {
    static const char *const F = "weft_client_connect";
    if (!out) return null_arg(F, "out");
    *out = nullptr;
    if (!address) return null_arg(F, "address");
    WEFT_CHECK_TIMEOUT(F, timeout_ns);
    if (weft_status s = check_version(F, opts, WEFT_CLIENT_OPTIONS_VERSION)) return s;
    weft_client_options o = WEFT_CLIENT_OPTIONS_INIT;
    if (opts) o = *opts;
    if (weft_status s = check_key(F, o.authkey, o.authkey_len)) return s;
    return guarded(F, [&]() -> weft_status {
        Address a;
        if (weft_status s = parse_address(F, address, a, false)) return s;
        Deadline d(timeout_ns);
        int fd = -1;
        if (weft_status s = connect_socket(F, a, address, d, fd)) return s;
        weft_conn *c = new_conn(fd, true, true, o.max_message);
        if (!c) {
            ::close(fd);
            return fail(WEFT_ENOMEM, "%s: out of memory", F);
        }
        if (o.authkey_len) {
            Handshake h{F, c, static_cast<const unsigned char *>(o.authkey), o.authkey_len, d};
            weft_status s = answer_challenge(h);
            if (s == WEFT_OK) s = deliver_challenge(h);
            if (s != WEFT_OK) {
                free_conn(c);
                return handshake_failure(s, F);
            }
        }
        *out = c;
        return WEFT_OK;
    });
}

}  // extern "C"

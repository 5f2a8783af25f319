// Processes: Python's multiprocessing.Process with the start methods fork,
// spawn and forkserver, programs over posix_spawn, pid/ppid, join with a
// timeout (pidfd + poll), exit codes, terminate/kill/kill_tree, daemon
// children that die with their parent, and reaping of detached children.
//
// - fork: fork() in the caller; the child runs fn(arg, len) and _exits.
// - spawn: posix_spawn("/proc/self/exe", "--weft-spawn=<task>,<ack>"): the
//   task (function name, process name, identity, argument bytes) is in a
//   memfd the child inherits; weft_main() in the child reads it, writes one
//   byte on the ack pipe and runs the function. The ack tells the parent the
//   program called weft_main() (else it would run its own main again).
// - forkserver: a spawned server ("--weft-forkserver=<ctrl>,<ask>[,b]", this
//   program or one chosen with weft_forkserver_start_program()) forks each
//   child ahead of its request, a "spare" blocked on a SOCK_SEQPACKET socket
//   of its own, and offers it to the client over the control socket: {pid}
//   with the client's end of that socket and a pidfd of the child (opened
//   before the server could reap it). A start takes the oldest offer, tells
//   the server {taken} (it forks the next one meanwhile) and sends the
//   request (header + names + inline argument, or a memfd for big ones) to
//   the child itself: a start costs the client two sends and no wait, and no
//   fork. The child reports its exit code on its socket just before it
//   _exits, so a join waits on the pidfd alone: one wake-up when the child
//   ends, as with fork. The server reaps its children and sends {wait
//   status} on their sockets: the answer for a child that did not report
//   (killed, or exited by itself). It reaps when a {taken} wakes it, when the
//   client asks ({reap} on the ask socket: a child's pidfd fired without a
//   report), and on SIGCHLD only once no start came for kQuietMs: a
//   start+join wakes the server once, never on the join's path. The server
//   ends when the control socket closes or its parent's pidfd fires; an idle
//   spare leaves when the client's end of its socket closes (the client
//   drops the offers of a dead server), a daemon child dies with the server
//   (PR_SET_PDEATHSIG, armed when it takes its task).
//   What a start costs is mostly page faults (each a page-table update, very
//   dear under some hypervisors): a spare shares every written page with the
//   server, so each page either writes after the fork is copied. Hence the
//   server starts with its symbols bound (",b": LD_BIND_NOW, taken out of its
//   environment again), keeps its per-child state in one static object, and
//   the spare's path writes few pages and touches its code before its
//   request comes (warm_up).
//
// Handles are owned by the process that created them: after fork the child
// keeps a copy it may only read and destroy (owner != getpid()).
#include <atomic>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio_ext.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <weft/process.h>

#include "internal/boundary.hpp"
#include "internal/builtin_fns.hpp"
#include "internal/deadline.hpp"
#include "internal/handle.hpp"
#include "internal/word_lock.hpp"

extern "C" char **environ;

namespace weft::detail::proc {

constexpr std::uint32_t kNew = 0, kStarting = 1, kRunning = 2, kEnded = 3;
constexpr std::size_t kMaxFnName = 255;
constexpr std::int64_t kAckTimeoutNs = 10 * WEFT_SEC;
constexpr std::size_t kInlineArg = 32 * 1024;  // bigger forkserver arguments go in a memfd

// Messages {kind, value}. On the control socket, from the server: kMsgSpare
// {pid} with two descriptors (an offer) or kMsgForkFailed {errno}; from the
// client: kMsgTaken (fork the next one). On a child's socket, to the client:
// kMsgReport {exit code} (from the child, just before it _exits) and/or
// kMsgStatus {wait status} (from the server once reaped), in that order.
// On the ask socket, from the client: kMsgReap (a child ended without a
// report: reap now, and send its status).
constexpr int kMsgStatus = 2, kMsgForkFailed = 3, kMsgReport = 4, kMsgSpare = 5, kMsgTaken = 6, kMsgReap = 7;

// Children a forkserver keeps offered ahead. One is enough for starts one
// after another (the server forks the next while the child runs); a second
// hides the fork when starts come in bursts.
constexpr int kSpares = 1;

// How long after a start the server leaves its children's SIGCHLD pending
// (it reaps at the next start, or when the client asks; see serve).
constexpr int kQuietMs = 50;

class Guard {
public:
    explicit Guard(WordLock &l) noexcept : l_(l) { l_.lock_forever(); }
    ~Guard() { (void)l_.unlock(); }
    Guard(const Guard &) = delete;
    Guard &operator=(const Guard &) = delete;

private:
    WordLock &l_;
};

}  // namespace weft::detail::proc

// A forkserver: the process-wide one (this program, created on first use,
// never freed) or one from weft_forkserver_start_program().
struct weft_forkserver : weft::detail::Handle<weft::detail::Magic::forkserver> {
    weft::detail::WordLock lk;  // starting and stopping
    std::atomic<int> ctrl{-1};
    int ask = -1;  // lk; our end of the server's "reap now" socket (see kMsgReap), or -1
    pid_t pid = 0;
    pid_t owner = 0;
    std::string program;            // "" = this program (/proc/self/exe)
    std::vector<std::string> args;  // put between the program and weft's argument
    bool process_wide = false;      // the one weft_forkserver_start() starts; never freed
    struct Offer {
        pid_t pid;  // a child the server forked ahead, idle
        int sock;   // our end of its socket: the request goes there, its exit code comes back; -1: err
        int pidfd;
        int err;    // sock < 0: the server's fork failed with this errno
    };
    std::vector<Offer> offers;  // lk; oldest first
    weft_forkserver *prev = nullptr, *next = nullptr;  // the servers list (its lock)
};

struct weft_process : weft::detail::Handle<weft::detail::Magic::process> {
    weft::detail::WordLock lk;  // reaping and the fields it writes; names
    std::atomic<std::uint32_t> state{weft::detail::proc::kNew};
    std::atomic<char *> name{nullptr};  // malloc'd
    std::vector<char *> retired;        // earlier names, freed with the handle
    std::string identity;               // "1", "1:2": Python's _identity
    std::atomic<int> daemon{0};
    int method = WEFT_START_FORK;
    pid_t owner = 0;      // the process that created the handle
    pid_t pid = 0;        // written before state becomes RUNNING
    int pidfd = -1;       // the child's pidfd (forkserver children too), or -1
    int statusfd = -1;    // a forkserver child's status socket, or -1
    int askfd = -1;       // a forkserver child: a copy of its server's "reap now" socket, or -1
    bool asked = false;   // lk; kMsgReap sent for it
    weft_forkserver *server = nullptr;  // forkserver: the one to ask; NULL = the process-wide one
    std::atomic<bool> gone{false};      // forkserver: the pidfd fired; the answer is on statusfd
    bool via_server = false;
    bool lost = false;    // reaped behind weft's back (waitpid gave ECHILD)
    int exitcode = 0;     // valid once ENDED
    weft_process *prev = nullptr, *next = nullptr;  // registry list (registry lock)
    bool listed = false;
};

namespace weft::detail::proc {
namespace {

// ------------------------------------------------------------ small helpers

int sys_pidfd_open(pid_t pid) noexcept {
#ifdef SYS_pidfd_open
    long r = syscall(SYS_pidfd_open, pid, 0);
    return r < 0 ? -1 : static_cast<int>(r);
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

void close_fd(int &fd) noexcept {
    if (fd >= 0) (void)::close(fd);
    fd = -1;
}

int decode_status(int st) noexcept {
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    if (WIFSIGNALED(st)) return -WTERMSIG(st);
    return 0;
}

bool write_all(int fd, const void *buf, std::size_t n) noexcept {
    const char *p = static_cast<const char *>(buf);
    while (n > 0) {
        ssize_t w = ::write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        p += w;
        n -= static_cast<std::size_t>(w);
    }
    return true;
}

bool pread_all(int fd, void *buf, std::size_t n, off_t off) noexcept {
    char *p = static_cast<char *>(buf);
    while (n > 0) {
        ssize_t r = ::pread(fd, p, n, off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        p += r;
        off += r;
        n -= static_cast<std::size_t>(r);
    }
    return true;
}

// Wait up to the deadline for fd to become readable (or hang up).
// 1 readable, 0 timed out, -1 error.
int wait_readable(int fd, Deadline &d) noexcept {
    for (;;) {
        struct pollfd pfd = {fd, POLLIN, 0};
        struct timespec ts, *tsp = nullptr;
        if (!d.infinite()) {
            std::int64_t left = d.poll() ? 0 : d.remaining();
            ts.tv_sec = static_cast<time_t>(left / WEFT_SEC);
            ts.tv_nsec = static_cast<long>(left % WEFT_SEC);
            tsp = &ts;
        }
        int r = ::ppoll(&pfd, 1, tsp, nullptr);
        if (r > 0) return 1;
        if (r == 0) {
            if (d.poll() || d.expired()) return 0;
            continue;
        }
        if (errno == EINTR) continue;
        return -1;
    }
}

// The program's own path, for argv[0] of spawned copies (cached).
const char *self_exe() noexcept {
    struct Path {
        char buf[PATH_MAX];
        Path() noexcept {
            ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
            if (n <= 0) {
                std::strcpy(buf, "weft-child");
                n = static_cast<ssize_t>(std::strlen(buf));
            }
            buf[n] = '\0';
        }
    };
    static const Path path;  // thread-safe initialisation, trivially destructible
    return path.buf;
}

// --------------------------------------------------- registered functions

struct FnRegistry {
    WordLock lk;
    std::unordered_map<std::string, weft_process_fn> by_name;
};

FnRegistry &fns() {
    static FnRegistry *r = new FnRegistry;  // never freed: used until _exit
    return *r;
}

// In a child about to run its task (one thread, nobody registering) the
// look-up takes no lock: a lock would write a page it shares with its parent.
weft_process_fn lookup_fn(const char *name, bool in_child = false) noexcept {
    // (the first letter first: a child reads no page of our constants for other names)
    if (name[0] == kPoolWorkerFn[0] && std::strcmp(name, kPoolWorkerFn) == 0) return process_pool_worker_entry;
    try {
        FnRegistry &r = fns();
        if (in_child) {
            auto it = r.by_name.find(name);
            return it == r.by_name.end() ? nullptr : it->second;
        }
        Guard g(r.lk);
        auto it = r.by_name.find(name);
        return it == r.by_name.end() ? nullptr : it->second;
    } catch (...) {
        return nullptr;
    }
}

// The name fn is registered under ("" when it is not).
std::string name_of(weft_process_fn fn) {
    FnRegistry &r = fns();
    Guard g(r.lk);
    for (auto &kv : r.by_name)
        if (kv.second == fn) return kv.first;
    return std::string();
}

// ------------------------------------------------- this process's identity

struct alignas(128) Self {  // (within one page: a forkserver child writes it)
    std::string name = "MainProcess";
    std::string identity;  // "" in the main process
    pid_t parent = 0;      // 0: getppid()
    // A forkserver child: its name and identity where its task holds them
    // (kept until it exits: no copy, no allocation), and its status socket,
    // where run_and_exit reports the exit code (only in the process it was
    // given to: report_pid; a fork of the child forgets it).
    const char *task_name = nullptr, *task_ident = nullptr;
    int report_fd = -1;
    pid_t report_pid = 0;

    const char *current_name() const noexcept { return task_name ? task_name : name.c_str(); }
    const char *current_identity() const noexcept { return task_ident ? task_ident : identity.c_str(); }
};

Self *made_self = nullptr;  // self() once it exists (for the at-fork handler, which must not make it)

Self &self() {
    static Self *s = made_self = new Self;  // never freed
    return *s;
}

void become_child(const char *name, const char *identity, pid_t parent) noexcept {
    try {
        Self &s = self();
        s.name = name;
        s.identity = identity;
        s.task_name = s.task_ident = nullptr;
        s.parent = parent;
    } catch (...) {
    }
}

// ------------------------------------------------------- process registry

struct Detached {
    pid_t pid;
    int statusfd;  // forkserver children: their status socket; else -1
};

struct Registry {
    WordLock lk;
    weft_process *head = nullptr;
    std::vector<Detached> detached;
    std::uint64_t counter = 0;  // Python's _process_counter
};

// Every forkserver handle of this process (for the at-fork handlers).
struct Servers {
    WordLock lk;
    weft_forkserver *head = nullptr;
};

Servers &servers() {
    static Servers *s = new Servers;  // never freed
    return *s;
}

void server_list_add(weft_forkserver *f) noexcept {
    Servers &s = servers();
    Guard g(s.lk);
    f->prev = nullptr;
    f->next = s.head;
    if (s.head) s.head->prev = f;
    s.head = f;
}

void server_list_remove(weft_forkserver *f) noexcept {
    Servers &s = servers();
    Guard g(s.lk);
    if (f->prev) f->prev->next = f->next;
    else if (s.head == f) s.head = f->next;
    if (f->next) f->next->prev = f->prev;
    f->prev = f->next = nullptr;
}

// The process-wide server (this program).
weft_forkserver &forkserver() {
    static weft_forkserver *f = [] {
        auto *d = new weft_forkserver;  // never freed
        d->process_wide = true;
        server_list_add(d);
        return d;
    }();
    return *f;
}

void fork_prepare() noexcept;
void fork_parent() noexcept;
void fork_child() noexcept;

Registry &registry() {
    static Registry *r = [] {
        Registry *reg = new Registry;
        (void)pthread_atfork(fork_prepare, fork_parent, fork_child);
        return reg;
    }();
    return *r;
}

void fork_prepare() noexcept {
    registry().lk.lock_forever();
    Servers &s = servers();
    s.lk.lock_forever();
    for (weft_forkserver *f = s.head; f; f = f->next) f->lk.lock_forever();
}

void fork_parent() noexcept {
    Servers &s = servers();
    for (weft_forkserver *f = s.head; f; f = f->next) (void)f->lk.unlock();
    (void)s.lk.unlock();
    (void)registry().lk.unlock();
}

void fork_child() noexcept {
    // The parent's children are not ours: forget them (the handles stay, owned
    // by the parent), and the forkserver's control socket belongs to the parent.
    Registry &r = registry();
    new (&r.lk) WordLock;
    for (weft_process *p = r.head; p;) {
        weft_process *nx = p->next;
        p->prev = p->next = nullptr;
        p->listed = false;
        // Their descriptors are the parent's business: a copy kept here would
        // hide the forkserver's end from the parent.
        if (p->pidfd >= 0) (void)::close(p->pidfd);
        if (p->statusfd >= 0) (void)::close(p->statusfd);
        if (p->askfd >= 0) (void)::close(p->askfd);
        p->pidfd = p->statusfd = p->askfd = -1;
        p = nx;
    }
    r.head = nullptr;
    for (Detached &d : r.detached)
        if (d.statusfd >= 0) (void)::close(d.statusfd);
    r.detached.clear();
    r.counter = 0;
    if (made_self && made_self->report_fd >= 0) {  // our parent's report, not ours
        (void)::close(made_self->report_fd);
        made_self->report_fd = -1;
    }
    // The servers are the parent's: a handle starts one of our own on use.
    Servers &s = servers();
    new (&s.lk) WordLock;
    for (weft_forkserver *f = s.head; f; f = f->next) {
        new (&f->lk) WordLock;
        int c = f->ctrl.exchange(-1, std::memory_order_relaxed);
        if (c >= 0) (void)::close(c);
        if (f->ask >= 0) (void)::close(f->ask);
        f->ask = -1;
        for (auto &o : f->offers) {
            if (o.sock >= 0) (void)::close(o.sock);
            if (o.pidfd >= 0) (void)::close(o.pidfd);
        }
        f->offers.clear();
        f->pid = 0;
        f->owner = 0;
    }
}

// Caller holds r.lk.
void list_add(Registry &r, weft_process *p) noexcept {
    p->prev = nullptr;
    p->next = r.head;
    if (r.head) r.head->prev = p;
    r.head = p;
    p->listed = true;
}

void list_remove(Registry &r, weft_process *p) noexcept {
    if (!p->listed) return;
    if (p->prev) p->prev->next = p->next;
    else r.head = p->next;
    if (p->next) p->next->prev = p->prev;
    p->prev = p->next = nullptr;
    p->listed = false;
}

// Reap finished detached children; caller holds r.lk. Returns how many run.
std::size_t reap_detached(Registry &r, std::int64_t *pids, std::size_t cap, std::size_t n) noexcept {
    std::size_t keep = 0;
    for (std::size_t i = 0; i < r.detached.size(); ++i) {
        Detached d = r.detached[i];
        bool ended;
        if (d.statusfd >= 0) {
            int msg[2];
            ssize_t got = ::recv(d.statusfd, msg, sizeof msg, MSG_DONTWAIT);
            ended = got >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
            if (ended) (void)::close(d.statusfd);
        } else {
            int st;
            pid_t w;
            do w = ::waitpid(d.pid, &st, WNOHANG);
            while (w < 0 && errno == EINTR);
            ended = w != 0;
        }
        if (ended) continue;
        r.detached[keep++] = d;
        if (n < cap && pids) pids[n] = d.pid;
        ++n;
    }
    r.detached.resize(keep);
    return n;
}

void cleanup() noexcept {
    try {
        Registry &r = registry();
        Guard g(r.lk);
        (void)reap_detached(r, nullptr, 0, 0);
    } catch (...) {
    }
}

// ---------------------------------------------------------------- reaping

void set_ended(weft_process *p, int code) noexcept {
    p->exitcode = code;
    p->state.store(kEnded, std::memory_order_release);
}

// One non-blocking look at whether p ended; records it. Caller holds p->lk
// and p is RUNNING or ENDED.
bool try_reap(weft_process *p) noexcept {
    if (p->state.load(std::memory_order_acquire) == kEnded) return true;
    if (p->via_server) {
        // The child's end (its pidfd) first; then its own report or, if it
        // ended without one, the server's.
        if (p->pidfd >= 0 && !p->gone.load(std::memory_order_relaxed)) {
            struct pollfd pf = {p->pidfd, POLLIN, 0};
            if (::poll(&pf, 1, 0) != 1) return false;
            p->gone.store(true, std::memory_order_relaxed);
        }
        for (;;) {
            int msg[2];
            ssize_t got;
            do got = ::recv(p->statusfd, msg, sizeof msg, MSG_DONTWAIT);
            while (got < 0 && errno == EINTR);
            if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                // Ended without a report: the server has the answer once it
                // reaps the child, which it does when told (else it may wait
                // until no start came for a while).
                if (p->gone.load(std::memory_order_relaxed) && !p->asked && p->askfd >= 0) {
                    int m[2] = {kMsgReap, 0};
                    (void)::send(p->askfd, m, sizeof m, MSG_NOSIGNAL | MSG_DONTWAIT);
                    p->asked = true;
                }
                return false;
            }
            if (got == static_cast<ssize_t>(sizeof msg) && msg[0] == kMsgReport) {
                set_ended(p, msg[1]);
                return true;
            }
            if (got == static_cast<ssize_t>(sizeof msg) && msg[0] == kMsgStatus) {
                set_ended(p, decode_status(msg[1]));
                return true;
            }
            if (got <= 0) {
                set_ended(p, -SIGKILL);  // the server died before telling
                return true;
            }
            // anything else: skip it
        }
    }
    int st = 0;
    pid_t w;
    do w = ::waitpid(p->pid, &st, WNOHANG);
    while (w < 0 && errno == EINTR);
    if (w == 0) return false;
    if (w < 0) {
        p->lost = true;
        set_ended(p, -SIGKILL);
        return true;
    }
    set_ended(p, decode_status(st));
    return true;
}

bool poll_ended(weft_process *p) noexcept {
    if (p->state.load(std::memory_order_acquire) == kEnded) return true;
    Guard g(p->lk);
    return try_reap(p);
}

// ---------------------------------------------------------------- checks

weft_status not_mine(const char *func, const weft_process *p) noexcept {
    return fail(WEFT_ESTATE, "%s: process %p (%s) belongs to process %d, not to this one (%d)", func,
                static_cast<const void *>(p), p->name.load(std::memory_order_relaxed), static_cast<int>(p->owner),
                static_cast<int>(::getpid()));
}

// For calls that need a started child of this process.
weft_status check_started(const char *func, const weft_process *p) noexcept {
    if (p->owner != ::getpid()) return not_mine(func, p);
    std::uint32_t s = p->state.load(std::memory_order_acquire);
    if (s == kNew || s == kStarting)
        return fail(WEFT_ESTATE, "%s: process %p (%s) was never started", func, static_cast<const void *>(p),
                    p->name.load(std::memory_order_relaxed));
    return WEFT_OK;
}

weft_status check_method(const char *func, int m) noexcept {
    if (m < WEFT_START_DEFAULT || m > WEFT_START_FORKSERVER)
        return fail(WEFT_EINVAL, "%s: start_method is %d; use WEFT_START_DEFAULT, _FORK, _SPAWN or _FORKSERVER",
                    func, m);
    return WEFT_OK;
}

weft_status check_fn_name(const char *func, const char *name) noexcept {
    if (!name) return null_arg(func, "name");
    std::size_t n = std::strlen(name);
    if (n == 0 || n > kMaxFnName)
        return fail(WEFT_EINVAL, "%s: function name has %zu bytes; use 1 to %zu", func, n, kMaxFnName);
    return WEFT_OK;
}

// ------------------------------------------------------------- the child

// PR_SET_PDEATHSIG, then make sure the parent did not die before it took.
void die_with_parent(pid_t parent) noexcept {
    (void)::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) {
        (void)::kill(::getpid(), SIGKILL);
        ::_exit(128 + SIGKILL);
    }
}

// Whether fp holds output not yet written (a wide stream: assume so).
bool pending_output(FILE *fp) noexcept {
#if defined(__GLIBC__)
    return fp->_mode > 0 || fp->_IO_write_ptr > fp->_IO_write_base;  // __fpending, inline
#else
    return __fpending(fp) > 0;
#endif
}

// Flush what the child's function left in stdout and stderr (only then: an
// fflush locks the stream, a write to a page shared with the parent).
void flush_std() noexcept {
    if (pending_output(stdout)) std::fflush(stdout);
    if (pending_output(stderr)) std::fflush(stderr);
}

[[noreturn]] void run_and_exit(weft_process_fn fn, const char *fn_name, void *arg, std::size_t len) noexcept {
    if (!fn && fn_name) fn = lookup_fn(fn_name, true);
    if (!fn) {
        std::fprintf(stderr, "weft: %s: no function registered as \"%s\"\n", self().current_name(),
                     fn_name ? fn_name : "");
        std::fflush(stderr);
        ::_exit(WEFT_PROCESS_EXIT_NO_FUNCTION);
    }
    int rc = fn(arg, len);
    flush_std();
    const Self *me = made_self;
    if (me && me->report_fd >= 0 && me->report_pid == ::getpid()) {
        int msg[2] = {kMsgReport, rc & 255};
        (void)::send(me->report_fd, msg, sizeof msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    ::_exit(rc & 255);
}

// -------------------------------------------------------------- the task

// The bytes a spawn or forkserver child receives.
struct TaskHeader {
    std::uint32_t magic;  // kTaskMagic
    std::uint32_t daemon;
    std::int32_t parent;
    std::uint32_t fn_len, name_len, ident_len;
    std::uint64_t arg_len;
    std::uint32_t arg_inline;  // forkserver: the argument follows the strings (else in a memfd)
    std::uint32_t pad;
};
constexpr std::uint32_t kTaskMagic = 0x5754534Bu;  // "WTSK"

std::size_t align16(std::size_t n) noexcept { return (n + 15) & ~static_cast<std::size_t>(15); }

// Header, then fn name, process name and identity (NUL-terminated), then
// (when inline) the argument at a 16-aligned offset.
std::vector<char> build_task(const weft_process *p, const std::string &fn, const void *arg, std::size_t len,
                             bool with_arg) {
    const char *nm = p->name.load(std::memory_order_relaxed);
    TaskHeader h{};
    h.magic = kTaskMagic;
    h.daemon = p->daemon.load(std::memory_order_relaxed) ? 1 : 0;
    h.parent = static_cast<std::int32_t>(::getpid());
    h.fn_len = static_cast<std::uint32_t>(fn.size());
    h.name_len = static_cast<std::uint32_t>(std::strlen(nm));
    h.ident_len = static_cast<std::uint32_t>(p->identity.size());
    h.arg_len = len;
    h.arg_inline = with_arg ? 1 : 0;
    std::size_t strs = sizeof h + h.fn_len + 1 + h.name_len + 1 + h.ident_len + 1;
    std::size_t total = with_arg ? align16(strs) + len : strs;
    std::vector<char> buf(total, 0);
    char *q = buf.data();
    std::memcpy(q, &h, sizeof h);
    q += sizeof h;
    std::memcpy(q, fn.data(), h.fn_len);
    q += h.fn_len + 1;
    std::memcpy(q, nm, h.name_len);
    q += h.name_len + 1;
    std::memcpy(q, p->identity.data(), h.ident_len);
    if (with_arg && len) std::memcpy(buf.data() + align16(strs), arg, len);
    return buf;
}

struct Task {
    TaskHeader h;
    const char *fn, *name, *ident;
    std::size_t arg_off;  // of the inline argument
};

// Check and split a task buffer of n bytes.
bool parse_task(const char *buf, std::size_t n, Task &t) noexcept {
    if (n < sizeof(TaskHeader)) return false;
    std::memcpy(&t.h, buf, sizeof t.h);
    if (t.h.magic != kTaskMagic || t.h.fn_len > kMaxFnName || t.h.name_len > 65536 || t.h.ident_len > 65536)
        return false;
    std::size_t strs = sizeof t.h + t.h.fn_len + 1 + t.h.name_len + 1 + t.h.ident_len + 1;
    if (strs > n) return false;
    t.fn = buf + sizeof t.h;
    t.name = t.fn + t.h.fn_len + 1;
    t.ident = t.name + t.h.name_len + 1;
    if (t.fn[t.h.fn_len] || t.name[t.h.name_len] || t.ident[t.h.ident_len]) return false;
    t.arg_off = align16(strs);
    if (t.h.arg_inline && (t.arg_off > n || n - t.arg_off != t.h.arg_len)) return false;
    return true;
}

int make_memfd(const char *what, const void *data, std::size_t n) noexcept {
    int fd = static_cast<int>(syscall(SYS_memfd_create, what, MFD_CLOEXEC));
    if (fd < 0) return -1;
    if (!write_all(fd, data, n)) {
        int e = errno;
        (void)::close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

// ---------------------------------------------------------------- names

std::string next_identity() {
    Registry &r = registry();
    std::uint64_t n;
    {
        Guard g(r.lk);
        n = ++r.counter;
    }
    std::string mine = self().current_identity();
    std::string id = mine.empty() ? std::string() : mine + ":";
    id += std::to_string(n);
    return id;
}

// ----------------------------------------------------------------- starts

// Claim the NEW -> STARTING transition; the winner finishes with
// publish_start() or abort_start().
weft_status claim_start(const char *func, weft_process *p) noexcept {
    if (p->owner != ::getpid()) return not_mine(func, p);
    std::uint32_t s = kNew;
    if (!p->state.compare_exchange_strong(s, kStarting, std::memory_order_acq_rel))
        return fail(WEFT_ESTATE, "%s: process %p (%s) was started already; a process starts once", func,
                    static_cast<void *>(p), p->name.load(std::memory_order_relaxed));
    cleanup();
    return WEFT_OK;
}

void abort_start(weft_process *p) noexcept { p->state.store(kNew, std::memory_order_release); }

void publish_start(weft_process *p) noexcept {
    Registry &r = registry();
    {
        Guard g(r.lk);
        list_add(r, p);
    }
    p->state.store(kRunning, std::memory_order_release);
}

weft_status start_fork(const char *func, weft_process *p, weft_process_fn fn, const char *fn_name, const void *arg,
                       std::size_t len) noexcept {
    (void)registry();  // the at-fork handlers exist before the first fork
    std::fflush(stdout);
    std::fflush(stderr);
    pid_t parent = ::getpid();
    bool daemon = p->daemon.load(std::memory_order_relaxed) != 0;
    // A daemon child tells when its PR_SET_PDEATHSIG is in place: until then
    // the end of the starting thread would go unnoticed (the kernel ties the
    // signal to the parent thread at the time of the prctl), so the
    // documented behaviour holds whatever the timing.
    int hs[2] = {-1, -1};
    if (daemon && ::pipe2(hs, O_CLOEXEC) != 0) return fail_sys(WEFT_ESYS, errno, "%s: pipe failed", func);
    pid_t pid = ::fork();
    if (pid < 0) {
        int e = errno;
        close_fd(hs[0]);
        close_fd(hs[1]);
        return fail_sys(WEFT_ESYS, e, "%s: fork failed", func);
    }
    if (pid == 0) {
        if (daemon) {
            die_with_parent(parent);
            (void)::close(hs[0]);
            char one = 1;
            (void)write_all(hs[1], &one, 1);
            (void)::close(hs[1]);
        }
        become_child(p->name.load(std::memory_order_relaxed), p->identity.c_str(), parent);
        run_and_exit(fn, fn_name, const_cast<void *>(arg), len);
    }
    if (daemon) {
        close_fd(hs[1]);
        char byte;
        while (::read(hs[0], &byte, 1) < 0 && errno == EINTR) {
        }
        close_fd(hs[0]);
    }
    p->pid = pid;
    p->pidfd = sys_pidfd_open(pid);  // -1 on old kernels: join polls waitpid
    return WEFT_OK;
}

weft_status start_spawn(const char *func, weft_process *p, const std::string &fn, const void *arg,
                        std::size_t len) {
    std::vector<char> task = build_task(p, fn, arg, len, true);
    int memfd = make_memfd("weft-task", task.data(), task.size());
    if (memfd < 0) return fail_sys(WEFT_ESYS, errno, "%s: memfd for the task failed", func);
    int ack[2];
    if (::pipe2(ack, O_CLOEXEC) != 0) {
        int e = errno;
        (void)::close(memfd);
        return fail_sys(WEFT_ESYS, e, "%s: pipe failed", func);
    }
    char marker[64];
    std::snprintf(marker, sizeof marker, "--weft-spawn=%d,%d", memfd, ack[1]);
    char *argv[] = {const_cast<char *>(self_exe()), marker, nullptr};
    posix_spawn_file_actions_t fa;
    int rc = posix_spawn_file_actions_init(&fa);
    if (rc == 0) rc = posix_spawn_file_actions_adddup2(&fa, memfd, memfd);  // clears FD_CLOEXEC
    if (rc == 0) rc = posix_spawn_file_actions_adddup2(&fa, ack[1], ack[1]);
    pid_t pid = 0;
    if (rc == 0) rc = ::posix_spawn(&pid, "/proc/self/exe", &fa, nullptr, argv, environ);
    (void)posix_spawn_file_actions_destroy(&fa);
    (void)::close(memfd);
    (void)::close(ack[1]);
    if (rc != 0) {
        (void)::close(ack[0]);
        return fail_sys(WEFT_ESYS, rc, "%s: posix_spawn of /proc/self/exe failed", func);
    }
    Deadline d(kAckTimeoutNs);
    char byte = 0;
    ssize_t got = 0;
    if (wait_readable(ack[0], d) == 1) {
        do got = ::read(ack[0], &byte, 1);
        while (got < 0 && errno == EINTR);
    }
    (void)::close(ack[0]);
    if (got != 1) {
        (void)::kill(pid, SIGKILL);
        int st;
        while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
        }
        return fail(WEFT_ENOTSUP,
                    "%s: the spawned copy of %s never took its task: does main() call weft_main(argc, argv) first?",
                    func, self_exe());
    }
    p->pid = pid;
    p->pidfd = sys_pidfd_open(pid);
    return WEFT_OK;
}

// ------------------------------------------------------------ forkserver

struct Hello {
    std::uint32_t magic;
    std::int32_t pid;
};
constexpr std::uint32_t kHelloMagic = 0x57465352u;  // "WFSR"
constexpr std::size_t kMaxServerArgs = 64;

// Send {kind, value} with up to two descriptors (-1: none).
bool send_msg(int sock, int kind, int value, int fd0, int fd1 = -1) noexcept {
    int msg[2] = {kind, value};
    int fds[2] = {fd0, fd1};
    int nfds = fd0 < 0 ? 0 : fd1 < 0 ? 1 : 2;
    char cbuf[CMSG_SPACE(sizeof fds)];
    std::memset(cbuf, 0, sizeof cbuf);
    struct iovec iov = {msg, sizeof msg};
    struct msghdr mh {};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    if (nfds > 0) {
        mh.msg_control = cbuf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * static_cast<std::size_t>(nfds));
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * static_cast<std::size_t>(nfds));
        std::memcpy(CMSG_DATA(c), fds, sizeof(int) * static_cast<std::size_t>(nfds));
    }
    ssize_t r;
    do r = ::sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (r < 0 && errno == EINTR);
    return r == static_cast<ssize_t>(sizeof msg);
}

// Receive one message into buf; the descriptors it carried (up to `max`) in
// fds, the others closed. Returns recvmsg's result; *truncated when the
// message did not fit.
ssize_t recv_msg(int sock, void *buf, std::size_t cap, int *fds, int max, int *nfds, bool *truncated,
                 int flags) noexcept {
    char cbuf[CMSG_SPACE(sizeof(int) * 4)];
    struct iovec iov = {buf, cap};
    struct msghdr mh {};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = cbuf;
    mh.msg_controllen = sizeof cbuf;
    ssize_t n;
    do n = ::recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | flags);
    while (n < 0 && errno == EINTR);
    *nfds = 0;
    if (truncated) *truncated = (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0;
    if (n < 0) return n;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        std::size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < k; ++i) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            if (*nfds < max) fds[(*nfds)++] = fd;
            else (void)::close(fd);
        }
    }
    return n;
}

// Close the children f's server offered and nobody took (each sees end of
// file and leaves). Caller holds f.lk.
void drop_offers(weft_forkserver &f) noexcept {
    for (auto &o : f.offers) {
        if (o.sock >= 0) (void)::close(o.sock);
        if (o.pidfd >= 0) (void)::close(o.pidfd);
    }
    f.offers.clear();
}

// Forget f's dead server: close its socket and its offers, reap it
// (blocking). Caller holds f.lk.
void forget_server(weft_forkserver &f) noexcept {
    int ctrl = f.ctrl.exchange(-1, std::memory_order_relaxed);
    if (ctrl >= 0) (void)::close(ctrl);
    close_fd(f.ask);
    drop_offers(f);
    if (f.pid > 0 && f.owner == ::getpid()) {
        int st;
        while (::waitpid(f.pid, &st, 0) < 0 && errno == EINTR) {
        }
    }
    f.pid = 0;
}

// Whether f's server runs (in this process); forgets (and reaps) a dead one.
// Caller holds f.lk.
bool server_running(weft_forkserver &f) noexcept {
    int ctrl = f.ctrl.load(std::memory_order_relaxed);
    if (ctrl < 0 || f.owner != ::getpid()) return false;
    int st;
    pid_t w = ::waitpid(f.pid, &st, WNOHANG);
    if (w == 0) return true;
    if (w < 0 && errno != ECHILD) return true;  // EINTR: assume alive; the next call looks again
    f.pid = 0;  // reaped
    forget_server(f);
    return false;
}

const char *server_program(const weft_forkserver &f) noexcept {
    return f.program.empty() ? self_exe() : f.program.c_str();
}

// Spawn f's server and wait for its hello. bind_now: with LD_BIND_NOW=1
// added to its environment (see start_server_locked). *loader_failed: the
// server exited with 127 before its hello (the dynamic loader's failure).
// Caller holds f.lk.
weft_status spawn_server(const char *func, weft_forkserver &f, bool bind_now, bool *loader_failed) {
    *loader_failed = false;
    int sv[2], ak[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
        return fail_sys(WEFT_ESYS, errno, "%s: socketpair failed", func);
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ak) != 0) {
        int e = errno;
        (void)::close(sv[0]);
        (void)::close(sv[1]);
        return fail_sys(WEFT_ESYS, e, "%s: socketpair failed", func);
    }
    std::vector<char *> envp;
    static char bind_now_var[] = "LD_BIND_NOW=1";
    if (bind_now) {
        for (char **e = environ; e && *e; ++e) envp.push_back(*e);
        envp.push_back(bind_now_var);
        envp.push_back(nullptr);
    }
    char marker[64];
    std::snprintf(marker, sizeof marker, "--weft-forkserver=%d,%d%s", sv[1], ak[1], bind_now ? ",b" : "");
    std::vector<char *> argv;
    argv.reserve(f.args.size() + 3);
    argv.push_back(const_cast<char *>(server_program(f)));
    for (std::string &a : f.args) argv.push_back(a.data());
    argv.push_back(marker);
    argv.push_back(nullptr);
    const char *path = f.program.empty() ? "/proc/self/exe" : f.program.c_str();
    posix_spawn_file_actions_t fa;
    int rc = posix_spawn_file_actions_init(&fa);
    if (rc == 0) rc = posix_spawn_file_actions_adddup2(&fa, sv[1], sv[1]);  // clears FD_CLOEXEC
    if (rc == 0) rc = posix_spawn_file_actions_adddup2(&fa, ak[1], ak[1]);
    pid_t pid = 0;
    if (rc == 0) rc = ::posix_spawn(&pid, path, &fa, nullptr, argv.data(), bind_now ? envp.data() : environ);
    (void)posix_spawn_file_actions_destroy(&fa);
    (void)::close(sv[1]);
    (void)::close(ak[1]);
    if (rc != 0) {
        (void)::close(sv[0]);
        (void)::close(ak[0]);
        weft_status code = rc == ENOENT || rc == ENOTDIR ? WEFT_ENOENT
                           : rc == EACCES || rc == EPERM ? WEFT_EPERM
                                                         : WEFT_ESYS;
        return fail_sys(code, rc, "%s: cannot start the forkserver \"%.200s\"", func, path);
    }
    Deadline d(kAckTimeoutNs);
    Hello h{};
    ssize_t got = -1;
    if (wait_readable(sv[0], d) == 1) {
        do got = ::recv(sv[0], &h, sizeof h, 0);
        while (got < 0 && errno == EINTR);
    }
    if (got != static_cast<ssize_t>(sizeof h) || h.magic != kHelloMagic || h.pid != pid) {
        (void)::close(sv[0]);
        (void)::close(ak[0]);
        (void)::kill(pid, SIGKILL);
        int st = 0;
        while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
        }
        *loader_failed = got == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 127;
        return fail(WEFT_ENOTSUP,
                    "%s: the forkserver (%.200s) did not start: does its main() call weft_main() first, with "
                    "weft's argument as argv[1]?",
                    func, server_program(f));
    }
    f.pid = pid;
    f.owner = ::getpid();
    f.ask = ak[0];
    f.ctrl.store(sv[0], std::memory_order_release);
    return WEFT_OK;
}

// Start f's server unless it runs. Caller holds f.lk.
weft_status start_server_locked(const char *func, weft_forkserver &f) {
    if (server_running(f)) return WEFT_OK;
    if (f.owner != ::getpid()) {  // a parent's server (after fork): not ours to stop or reap
        int c = f.ctrl.exchange(-1, std::memory_order_relaxed);
        if (c >= 0) (void)::close(c);
        close_fd(f.ask);
        drop_offers(f);
        f.pid = 0;
    }
    // A server running this program starts with every symbol bound
    // (LD_BIND_NOW, which it takes out of its environment again: ",b"): else
    // each child would resolve the ones it calls first, writing pages it
    // shares with the server. Not for another program: an interpreter keeps
    // its own copy of the environment, which its children would see. A
    // program that cannot bind every symbol (the loader fails: 127) starts
    // again without.
    bool bind_now = f.program.empty() && std::getenv("LD_BIND_NOW") == nullptr;
    bool loader_failed = false;
    weft_status s = spawn_server(func, f, bind_now, &loader_failed);
    if (s == WEFT_ENOTSUP && bind_now && loader_failed) s = spawn_server(func, f, false, &loader_failed);
    return s;
}

weft_status forkserver_start_impl(const char *func, weft_forkserver &f) {
    (void)registry();  // at-fork handlers: a forked child must not inherit our server
    Guard g(f.lk);
    return start_server_locked(func, f);
}

// Stop f's server (if it is ours) and wait for it, at most 2 s before SIGKILL.
void forkserver_stop(weft_forkserver &f) noexcept {
    Guard g(f.lk);
    drop_offers(f);
    close_fd(f.ask);
    int ctrl = f.ctrl.exchange(-1, std::memory_order_relaxed);
    if (ctrl < 0) return;
    (void)::close(ctrl);
    if (f.owner != ::getpid()) return;
    int pfd = sys_pidfd_open(f.pid);
    if (pfd >= 0) {
        Deadline d(2 * WEFT_SEC);
        if (wait_readable(pfd, d) != 1) (void)::kill(f.pid, SIGKILL);
        (void)::close(pfd);
    } else {
        (void)::kill(f.pid, SIGKILL);
    }
    int st;
    while (::waitpid(f.pid, &st, 0) < 0 && errno == EINTR) {
    }
    f.pid = 0;
}

// Queue the offers waiting on the control socket; false (with errno, 0 for
// end of file) when the socket failed: the server is gone. Caller holds f.lk.
bool collect_offers(weft_forkserver &f, int ctrl) noexcept {
    for (;;) {
        int msg[2] = {0, 0}, fds[2] = {-1, -1}, n = 0;
        ssize_t got = recv_msg(ctrl, msg, sizeof msg, fds, 2, &n, nullptr, MSG_DONTWAIT);
        if (got < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
        if (got == 0) {
            errno = 0;
            return false;
        }
        weft_forkserver::Offer o{0, -1, -1, 0};
        if (got == static_cast<ssize_t>(sizeof msg) && msg[0] == kMsgSpare && n == 2) {
            o.pid = msg[1];
            o.sock = fds[0];
            o.pidfd = fds[1];
        } else {
            for (int i = 0; i < n; ++i) (void)::close(fds[i]);
            if (got != static_cast<ssize_t>(sizeof msg) || msg[0] != kMsgForkFailed) continue;  // not for us
            o.err = msg[1] ? msg[1] : EAGAIN;
        }
        try {
            f.offers.push_back(o);
        } catch (...) {
            if (o.sock >= 0) (void)::close(o.sock);
            if (o.pidfd >= 0) (void)::close(o.pidfd);
        }
    }
}

enum class Take { ok, lost, failed };

// Take the oldest offer of f's server, waiting up to 10 s for one. Caller
// holds f.lk; the server runs. The caller tells the server (kMsgTaken) once it
// has sent the child its task, or dropped the offer.
Take take_offer(const char *func, weft_forkserver &f, weft_forkserver::Offer &out, weft_status &err) noexcept {
    int ctrl = f.ctrl.load(std::memory_order_relaxed);
    Deadline d(kAckTimeoutNs);
    while (f.offers.empty()) {
        if (!collect_offers(f, ctrl)) return Take::lost;
        if (!f.offers.empty()) break;
        int r = wait_readable(ctrl, d);
        if (r == 0) {
            err = fail(WEFT_ESYS, "%s: the forkserver (pid %d) offered no child within 10 s", func,
                       static_cast<int>(f.pid));
            return Take::failed;
        }
        if (r < 0) {
            err = fail_sys(WEFT_ESYS, errno, "%s: poll failed", func);
            return Take::failed;
        }
    }
    out = f.offers.front();
    f.offers.erase(f.offers.begin());
    return Take::ok;
}

// Tell f's server an offer was taken: it forks the next one. A dead server
// shows at the next collect (end of file). Caller holds f.lk.
void offer_taken(weft_forkserver &f) noexcept {
    (void)send_msg(f.ctrl.load(std::memory_order_relaxed), kMsgTaken, 0, -1);
}

// Send the task (and the memfd, if any) to an offered child.
ssize_t send_task(int sock, const std::vector<char> &task, int memfd) noexcept {
    int fds[1] = {memfd};
    char cbuf[CMSG_SPACE(sizeof fds)];
    std::memset(cbuf, 0, sizeof cbuf);
    struct iovec iov = {const_cast<char *>(task.data()), task.size()};
    struct msghdr mh {};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    if (memfd >= 0) {
        mh.msg_control = cbuf;
        mh.msg_controllen = sizeof cbuf;
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof fds);
        std::memcpy(CMSG_DATA(c), fds, sizeof fds);
    }
    ssize_t sent;
    do sent = ::sendmsg(sock, &mh, MSG_NOSIGNAL);
    while (sent < 0 && errno == EINTR);
    return sent;
}

weft_status start_forkserver(const char *func, weft_process *p, const std::string &fn, const void *arg,
                             std::size_t len) {
    if (p->server && !p->server->alive())
        return misuse(func, "the process's forkserver (destroyed?)", p->server);
    weft_forkserver &f = p->server ? *p->server : forkserver();
    bool inline_arg = len <= kInlineArg;
    std::vector<char> task = build_task(p, fn, arg, len, inline_arg);
    int memfd = -1;
    if (!inline_arg) {
        memfd = make_memfd("weft-arg", arg, len);
        if (memfd < 0) return fail_sys(WEFT_ESYS, errno, "%s: memfd for the argument failed", func);
    }
    (void)registry();  // at-fork handlers: a forked child must not inherit our server
    for (int attempt = 0;; ++attempt) {
        Guard g(f.lk);
        int ctrl = f.ctrl.load(std::memory_order_relaxed);
        if (ctrl < 0 || f.owner != ::getpid()) {
            weft_status s = start_server_locked(func, f);
            if (s != WEFT_OK) {
                close_fd(memfd);
                return s;
            }
        }
        weft_forkserver::Offer o{};
        weft_status err = WEFT_OK;
        Take t = take_offer(func, f, o, err);
        if (t == Take::lost) {
            forget_server(f);
            if (attempt < 2) continue;  // start a new one
            close_fd(memfd);
            return fail(WEFT_ESYS, "%s: the forkserver died", func);
        }
        if (t == Take::failed) {
            close_fd(memfd);
            return err;
        }
        if (o.sock < 0) {
            offer_taken(f);
            close_fd(memfd);
            return fail_sys(WEFT_ESYS, o.err, "%s: the forkserver's fork failed", func);
        }
        // An offered child that died idle (killed by someone): take the next.
        struct pollfd dead = {o.pidfd, POLLIN, 0};
        if (::poll(&dead, 1, 0) == 1 && attempt < 8) {
            offer_taken(f);
            (void)::close(o.sock);
            (void)::close(o.pidfd);
            continue;
        }
        // The task goes to the child itself; then the server hears of it and
        // forks the next one while the child runs (the child first).
        ssize_t sent = send_task(o.sock, task, memfd);
        offer_taken(f);
        if (sent != static_cast<ssize_t>(task.size())) {
            int e = sent < 0 ? errno : EIO;
            (void)::close(o.sock);
            if (o.pidfd >= 0) (void)::close(o.pidfd);
            if (attempt < 8) continue;  // that child died idle: take the next
            close_fd(memfd);
            return fail_sys(WEFT_ESYS, e, "%s: sending the request to the forkserver's child %d failed", func,
                            static_cast<int>(o.pid));
        }
        close_fd(memfd);
        p->pid = o.pid;
        p->pidfd = o.pidfd;
        p->statusfd = o.sock;
        // Without it (out of descriptors) the server reaps this child a little
        // later (see serve), and a join of a child that did not report waits
        // that long.
        p->askfd = f.ask >= 0 ? ::fcntl(f.ask, F_DUPFD_CLOEXEC, 0) : -1;
        p->via_server = true;
        return WEFT_OK;
    }
}

// The server's state, shared with the spares it forks.
struct ServerState {
    int ctrl = -1, ask = -1, sfd = -1, pfd = -1;
    pid_t me = 0;
    // Children, offered or running: the pid and the server's copy of the
    // child's end of its socket (for its wait status). The first ones in
    // here, a page the server writes anyway, the others in `more`.
    struct Kid {
        pid_t pid;
        int sock;
    };
    static constexpr std::size_t kFewKids = 32;
    Kid few[kFewKids];
    std::size_t nfew = 0;
    std::vector<Kid> more;
    char *buf = nullptr;                  // a request (each spare's copy is its own)
    std::size_t cap = 0;
    struct sigaction old_int {}, old_chld {};  // the program's own, restored in children

    bool add_kid(pid_t pid, int sock) noexcept {
        if (nfew < kFewKids) {
            few[nfew++] = {pid, sock};
            return true;
        }
        try {
            more.push_back({pid, sock});
            return true;
        } catch (...) {
            return false;
        }
    }
    // The socket of child pid, forgotten; -1 if not ours.
    int take_kid(pid_t pid) noexcept {
        for (std::size_t i = 0; i < nfew; ++i) {
            if (few[i].pid != pid) continue;
            int sock = few[i].sock;
            few[i] = few[--nfew];
            return sock;
        }
        for (std::size_t i = 0; i < more.size(); ++i) {
            if (more[i].pid != pid) continue;
            int sock = more[i].sock;
            more[i] = more.back();
            more.pop_back();
            return sock;
        }
        return -1;
    }
    void close_kids() noexcept {  // in a spare: they are the server's
        for (std::size_t i = 0; i < nfew; ++i) (void)::close(few[i].sock);
        for (Kid &k : more) (void)::close(k.sock);
    }
};

// A spare: wait for its request on its socket, run the task. Never returns.
[[noreturn]] void spare_main(ServerState &S, int sock) noexcept {
    Task t;
    int memfd = -1, nfds = 0;
    for (;;) {
        bool trunc = false;
        ssize_t n = recv_msg(sock, S.buf, S.cap, &memfd, 1, &nfds, &trunc, 0);
        if (n <= 0) ::_exit(0);  // never taken: the client closed its offer, or is gone
        if (!trunc && parse_task(S.buf, static_cast<std::size_t>(n), t) && (t.h.arg_inline || nfds == 1)) break;
        if (nfds == 1) (void)::close(memfd);  // not a request: drop it
        memfd = -1;
    }
    if (t.h.daemon) die_with_parent(S.me);  // and if the server is gone already, now
    (void)::sigaction(SIGINT, &S.old_int, nullptr);
    (void)::sigaction(SIGCHLD, &S.old_chld, nullptr);
    sigset_t none;
    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, nullptr);
    Self *me = made_self;  // made in the server (warm_up): no allocation here
    if (!me) {
        try {
            me = &self();
        } catch (...) {
            ::_exit(WEFT_PROCESS_EXIT_BAD_TASK);
        }
    }
    me->task_name = t.name;  // S.buf is never reused from here on
    me->task_ident = t.ident;
    me->parent = static_cast<pid_t>(t.h.parent);
    me->report_fd = sock;  // run_and_exit reports the exit code there
    me->report_pid = ::getpid();
    void *arg = nullptr;
    if (t.h.arg_inline) {
        arg = t.h.arg_len ? S.buf + t.arg_off : nullptr;  // S.buf is 16-aligned, and so is arg_off
    } else if (t.h.arg_len) {
        arg = std::aligned_alloc(16, align16(t.h.arg_len));
        if (!arg || !pread_all(memfd, arg, t.h.arg_len, 0)) ::_exit(WEFT_PROCESS_EXIT_BAD_TASK);
    }
    if (memfd >= 0) (void)::close(memfd);
    run_and_exit(nullptr, t.fn, arg, t.h.arg_len);
}

// Walk the path a spare takes once it has a request, without its effects:
// in the server, once, so that the spares inherit resolved symbols (lazy
// binding would resolve them in every spare); in each spare as it is born, so
// that the pages it needs are its own (a fork maps no code page and shares
// every data page) before a client waits on it.
void warm_up(ServerState &S, bool in_spare) noexcept {
    struct sigaction sa {};
    (void)::sigaction(SIGINT, nullptr, &sa);
    sigset_t mask;
    (void)sigprocmask(SIG_BLOCK, nullptr, &mask);
    if (!in_spare) {  // a daemon child's path: resolved, not faulted in (rarer)
        int sig = 0;
        (void)::prctl(PR_GET_PDEATHSIG, &sig);
        (void)::getppid();
    }
    (void)::send(-1, &mask, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    char none[1] = {'\0'};  // not a constant: a spare then reads no page of ours it need not
    (void)lookup_fn(none, true);
    static const char w1[] = "weft", w2[] = "weft";
    volatile std::size_t n = sizeof w1;
    (void)std::memcmp(w1, w2, n);  // as the registry's look-up does
    flush_std();
    if (!in_spare) {
        try {
            (void)self();  // so that no spare makes it
        } catch (...) {
        }
    } else if (made_self) {
        made_self->report_pid = 0;  // the page spare_main writes, now ours
    }
    if (in_spare) {
        volatile char *b = S.buf;  // the first page of the request buffer
        b[0] = 0;
    }
}

// Fork a spare and offer it to the client: {kMsgSpare, pid} with the
// client's end of its socket and its pidfd; or {kMsgForkFailed, errno}.
void offer_spare(ServerState &S) noexcept {
    int sp[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) != 0) {
        (void)send_msg(S.ctrl, kMsgForkFailed, errno, -1);
        return;
    }
    // fork(), not _Fork(): fewer pages written, but no at-fork handler would
    // run, and weft's own and the program's must (robust_mutex.hpp).
    pid_t pid = ::fork();
    if (pid == 0) {
        (void)::close(sp[0]);
        (void)::close(S.ctrl);
        if (S.ask >= 0) (void)::close(S.ask);
        if (S.sfd >= 0) (void)::close(S.sfd);
        if (S.pfd >= 0) (void)::close(S.pfd);
        S.close_kids();
        warm_up(S, true);
        spare_main(S, sp[1]);
    }
    if (pid < 0) {
        int e = errno;
        (void)::close(sp[0]);
        (void)::close(sp[1]);
        (void)send_msg(S.ctrl, kMsgForkFailed, e, -1);
        return;
    }
    // A pidfd opened before we could reap the child, so it is this child's.
    int pidfd = sys_pidfd_open(pid);
    if (!S.add_kid(pid, sp[1])) (void)::close(sp[1]);  // out of memory: no wait status for it
    if (pidfd >= 0) {
        (void)send_msg(S.ctrl, kMsgSpare, static_cast<int>(pid), sp[0], pidfd);
        (void)::close(pidfd);
    } else {
        (void)::kill(pid, SIGKILL);  // reaped with the others
        (void)send_msg(S.ctrl, kMsgForkFailed, errno, -1);
    }
    (void)::close(sp[0]);
}

// Reap the children that ended; send each one's wait status on its socket
// (the answer for a child that did not report), unless the client closed its
// end already (a send would fail there, and write errno: a page copy).
void reap_children(ServerState &S) noexcept {
    int st;
    pid_t w;
    while ((w = ::waitpid(-1, &st, WNOHANG)) > 0) {
        int sock = S.take_kid(w);
        if (sock < 0) continue;
        struct pollfd pf = {sock, 0, 0};
        if (::poll(&pf, 1, 0) == 0 || !(pf.revents & (POLLHUP | POLLERR))) (void)send_msg(sock, kMsgStatus, st, -1);
        (void)::close(sock);
    }
}

[[noreturn, gnu::noinline]] void serve_loop(ServerState &S, pid_t parent) noexcept;

// The server's main loop (in the spawned program). Never returns. bound_now:
// the client added LD_BIND_NOW=1 to our environment (see start_server_locked);
// take it out again so that our children see the client's environment.
[[noreturn]] void serve(int ctrl, int ask, bool bound_now) noexcept {
    static ServerState S;  // the spares use it after fork; never destroyed (we _exit)
    if (bound_now) (void)::unsetenv("LD_BIND_NOW");
    S.ctrl = ctrl;
    S.ask = ask;
    S.me = ::getpid();
    pid_t parent = ::getppid();
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    (void)sigprocmask(SIG_BLOCK, &chld, nullptr);
    S.sfd = ::signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    struct sigaction ign {}, dfl {};
    ign.sa_handler = SIG_IGN;
    dfl.sa_handler = SIG_DFL;
    (void)::sigaction(SIGINT, &ign, &S.old_int);     // Ctrl-C is the parent's business
    (void)::sigaction(SIGCHLD, &dfl, &S.old_chld);  // an ignored SIGCHLD (inherited) would reap behind our back
    S.pfd = sys_pidfd_open(parent);
    if (::getppid() != parent) ::_exit(0);
    // Requests go to the spares; allocated, not touched, so a fork copies no page of it.
    S.cap = sizeof(TaskHeader) + 3 * 65536 + kInlineArg + 64;
    S.buf = static_cast<char *>(std::aligned_alloc(16, align16(S.cap)));
    if (!S.buf) ::_exit(0);
    // Nothing buffered to be written again by every child; then the spares' path.
    std::fflush(stdout);
    std::fflush(stderr);
    warm_up(S, false);
    Hello h{kHelloMagic, static_cast<std::int32_t>(S.me)};
    if (::send(ctrl, &h, sizeof h, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof h)) ::_exit(0);
    // The loop runs just below a page boundary of the stack: a cycle (wake,
    // fork, offer, reap) then writes one page of it, not two (each a copy
    // while a spare shares it).
    char here;
    std::size_t below = (reinterpret_cast<std::uintptr_t>(&here) & 4095) + 64;
    volatile char *pad = static_cast<char *>(__builtin_alloca(below));
    pad[0] = 0;
    serve_loop(S, parent);
}

[[noreturn, gnu::noinline]] void serve_loop(ServerState &S, pid_t parent) noexcept {
    const int ctrl = S.ctrl;
    for (int i = 0; i < kSpares; ++i) offer_spare(S);
    // Children are reaped when a start comes (it wakes us anyway) or when the
    // client asks (a child ended without a report); a SIGCHLD wakes us only
    // when no start came for kQuietMs, so a start+join costs one wake-up here.
    bool quiet = false;  // a start came within kQuietMs: SIGCHLD waits
    for (;;) {
        struct pollfd pf[4];
        int n = 0, ip = -1, ia = -1, is = -1;
        pf[n++] = {ctrl, POLLIN, 0};
        if (S.pfd >= 0) pf[ip = n++] = {S.pfd, POLLIN, 0};
        if (S.ask >= 0) pf[ia = n++] = {S.ask, POLLIN, 0};
        if (S.sfd >= 0 && !quiet) pf[is = n++] = {S.sfd, POLLIN, 0};
        int timeout = quiet ? kQuietMs : S.pfd >= 0 && S.sfd >= 0 ? -1 : 200;
        int r = ::poll(pf, static_cast<nfds_t>(n), timeout);
        if (r < 0 && errno != EINTR) ::_exit(0);
        if (S.pfd < 0 && ::getppid() != parent) ::_exit(0);
        if (ip >= 0 && (pf[ip].revents & POLLIN)) ::_exit(0);
        bool reap = r == 0;  // quiet time over, or no signalfd: reap, then SIGCHLD wakes us again
        if ((r == 0 && quiet) || (is >= 0 && (pf[is].revents & POLLIN))) {
            struct signalfd_siginfo si;  // SIGCHLD does not queue: one read takes it
            if (S.sfd >= 0) (void)!::read(S.sfd, &si, sizeof si);
            reap = true;
            quiet = false;
        }
        if (ia >= 0 && pf[ia].revents) {
            for (;;) {
                int msg[2];
                ssize_t got = ::recv(S.ask, msg, sizeof msg, MSG_DONTWAIT);
                if (got > 0) continue;
                if (got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
                    close_fd(S.ask);  // nobody can ask any more
                break;
            }
            reap = true;
        }
        if (pf[0].revents & POLLIN) {
            int msg[2] = {0, 0}, fds[2] = {-1, -1}, k = 0;
            ssize_t got = recv_msg(ctrl, msg, sizeof msg, fds, 2, &k, nullptr, MSG_DONTWAIT);
            for (int i = 0; i < k; ++i) (void)::close(fds[i]);
            if (got == 0) ::_exit(0);  // the parent is gone
            if (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK) ::_exit(0);
            if (got == static_cast<ssize_t>(sizeof msg) && msg[0] == kMsgTaken) {
                offer_spare(S);
                quiet = true;
                reap = true;
            }
        } else if (pf[0].revents & (POLLHUP | POLLERR)) {
            ::_exit(0);
        }
        if (reap) reap_children(S);
    }
}

// ------------------------------------------------------------- weft_main

// The spawned child: read the task, ack, run.
[[noreturn]] void spawned(const char *spec) noexcept {
    char *end = nullptr;
    long tfd = std::strtol(spec, &end, 10);
    if (!end || *end != ',') ::_exit(WEFT_PROCESS_EXIT_BAD_TASK);
    long afd = std::strtol(end + 1, &end, 10);
    if (!end || *end != '\0' || tfd < 0 || afd < 0) ::_exit(WEFT_PROCESS_EXIT_BAD_TASK);
    struct stat sb;
    if (::fstat(static_cast<int>(tfd), &sb) != 0 || sb.st_size <= 0) ::_exit(WEFT_PROCESS_EXIT_BAD_TASK);
    std::size_t n = static_cast<std::size_t>(sb.st_size);
    char *buf = static_cast<char *>(std::aligned_alloc(16, align16(n)));
    if (!buf || !pread_all(static_cast<int>(tfd), buf, n, 0)) ::_exit(WEFT_PROCESS_EXIT_BAD_TASK);
    (void)::close(static_cast<int>(tfd));
    Task t;
    if (!parse_task(buf, n, t) || !t.h.arg_inline) ::_exit(WEFT_PROCESS_EXIT_BAD_TASK);
    if (t.h.daemon) die_with_parent(static_cast<pid_t>(t.h.parent));  // before the ack: see start_fork
    char one = 1;
    (void)write_all(static_cast<int>(afd), &one, 1);
    (void)::close(static_cast<int>(afd));
    become_child(t.name, t.ident, static_cast<pid_t>(t.h.parent));
    // buf is 16-aligned and so is arg_off.
    run_and_exit(nullptr, t.fn, t.h.arg_len ? buf + t.arg_off : nullptr, t.h.arg_len);
}

// ------------------------------------------------------------- kill_tree

// State letter of /proc/<pid>/stat, and its parent pid; false when gone.
bool proc_stat(pid_t pid, char *state, pid_t *ppid) noexcept {
    char path[64], buf[512];
    std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
    int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    ssize_t n = ::read(fd, buf, sizeof buf - 1);
    (void)::close(fd);
    if (n <= 0) return false;
    buf[n] = '\0';
    const char *rp = std::strrchr(buf, ')');
    if (!rp) return false;
    char st = 0;
    int pp = 0;
    if (std::sscanf(rp + 1, " %c %d", &st, &pp) != 2) return false;
    *state = st;
    *ppid = static_cast<pid_t>(pp);
    return true;
}

// Wait (bounded) until pid is stopped or dead.
void wait_stopped(pid_t pid) noexcept {
    for (int i = 0; i < 2000; ++i) {
        char s;
        pid_t pp;
        if (!proc_stat(pid, &s, &pp)) return;
        if (s == 'T' || s == 't' || s == 'Z' || s == 'X' || s == 'x') return;
        struct timespec ts = {0, 100000};
        (void)::nanosleep(&ts, nullptr);
    }
}

// The children of every pid in `of` not yet in `seen`.
std::vector<pid_t> children_of(const std::vector<pid_t> &of, const std::unordered_set<pid_t> &seen, bool &ok) {
    std::vector<pid_t> out;
    ok = true;
    // /proc/<pid>/task/<tid>/children (CONFIG_PROC_CHILDREN).
    bool have_children_file = false;
    for (pid_t p : of) {
        char path[64];
        std::snprintf(path, sizeof path, "/proc/%d/task", static_cast<int>(p));
        DIR *d = ::opendir(path);
        if (!d) continue;
        while (struct dirent *e = ::readdir(d)) {
            if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
            char cpath[320];
            std::snprintf(cpath, sizeof cpath, "/proc/%d/task/%s/children", static_cast<int>(p), e->d_name);
            FILE *fp = std::fopen(cpath, "re");
            if (!fp) continue;
            have_children_file = true;
            int kid;
            while (std::fscanf(fp, "%d", &kid) == 1)
                if (!seen.count(kid)) out.push_back(kid);
            std::fclose(fp);
        }
        ::closedir(d);
        if (!have_children_file) break;
    }
    if (have_children_file) return out;
    // Else scan every process's parent pid.
    std::unordered_set<pid_t> parents(of.begin(), of.end());
    DIR *d = ::opendir("/proc");
    if (!d) {
        ok = false;
        return out;
    }
    while (struct dirent *e = ::readdir(d)) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
        char s;
        pid_t pp;
        if (proc_stat(pid, &s, &pp) && parents.count(pp) && !seen.count(pid)) out.push_back(pid);
    }
    ::closedir(d);
    return out;
}

weft_status kill_tree_impl(const char *func, pid_t root, int sig) {
    std::vector<pid_t> tree{root};
    std::unordered_set<pid_t> seen{root};
    (void)::kill(root, SIGSTOP);
    wait_stopped(root);
    std::vector<pid_t> frontier{root};
    bool ok = true;
    while (!frontier.empty()) {
        std::vector<pid_t> kids = children_of(frontier, seen, ok);
        if (!ok) break;
        for (pid_t k : kids) {
            seen.insert(k);
            tree.push_back(k);
            (void)::kill(k, SIGSTOP);
        }
        for (pid_t k : kids) wait_stopped(k);
        frontier.swap(kids);
    }
    for (pid_t p : tree) (void)::kill(p, sig);
    for (pid_t p : tree) (void)::kill(p, SIGCONT);
    if (!ok) return fail_sys(WEFT_ESYS, errno, "%s: cannot read /proc to find the descendants of %d", func,
                             static_cast<int>(root));
    return WEFT_OK;
}

// --------------------------------------------------------------- programs

// PATH lookup for the fork+execve path (posix_spawnp does its own).
std::string search_path(const char *name) {
    const char *path = std::getenv("PATH");
    std::string p = path ? path : "/usr/local/bin:/usr/bin:/bin";
    std::size_t start = 0;
    for (;;) {
        std::size_t colon = p.find(':', start);
        std::size_t dlen = (colon == std::string::npos ? p.size() : colon) - start;
        std::string cand;
        if (dlen == 0) cand.push_back('.');
        else cand.append(p, start, dlen);
        cand.push_back('/');
        cand.append(name);
        if (::access(cand.c_str(), X_OK) == 0) return cand;
        if (colon == std::string::npos) break;
        start = colon + 1;
    }
    return std::string();
}

weft_status exec_error(const char *func, int err, const char *path, const char *cwd) {
    weft_status code = err == ENOENT || err == ENOTDIR ? WEFT_ENOENT
                       : err == EACCES || err == EPERM ? WEFT_EPERM
                                                       : WEFT_ESYS;
    if (cwd)
        return fail_sys(code, err, "%s: cannot start \"%.100s\" in directory \"%.80s\"", func, path, cwd);
    return fail_sys(code, err, "%s: cannot start \"%.160s\"", func, path);
}

// Daemon programs: fork, die-with-parent, redirect, chdir, execve.
weft_status program_fork(const char *func, weft_process *p, const char *path, char *const argv[], char *const envp[],
                         const weft_exec_options *o) {
    std::string resolved = path;
    if (o && o->search_path && !std::strchr(path, '/')) {
        resolved = search_path(path);
        if (resolved.empty()) return exec_error(func, ENOENT, path, nullptr);
    }
    int ep[2];
    if (::pipe2(ep, O_CLOEXEC) != 0) return fail_sys(WEFT_ESYS, errno, "%s: pipe failed", func);
    (void)registry();
    std::fflush(stdout);
    std::fflush(stderr);
    pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0) {
        int e = errno;
        (void)::close(ep[0]);
        (void)::close(ep[1]);
        return fail_sys(WEFT_ESYS, e, "%s: fork failed", func);
    }
    if (pid == 0) {
        (void)::close(ep[0]);
        die_with_parent(parent);
        int want[3] = {o ? o->stdin_fd : WEFT_FD_INHERIT, o ? o->stdout_fd : WEFT_FD_INHERIT,
                       o ? o->stderr_fd : WEFT_FD_INHERIT};
        int tmp[3];
        for (int i = 0; i < 3; ++i) {  // out of the way of 0..2 first
            tmp[i] = -1;
            if (want[i] >= 0) tmp[i] = ::fcntl(want[i], F_DUPFD_CLOEXEC, 3);
            else if (want[i] == WEFT_FD_NULL) tmp[i] = ::open("/dev/null", O_RDWR | O_CLOEXEC);
            if (want[i] != WEFT_FD_INHERIT && tmp[i] < 0) goto failed;
        }
        for (int i = 0; i < 3; ++i)
            if (tmp[i] >= 0 && ::dup2(tmp[i], i) < 0) goto failed;
        if (o && o->cwd && ::chdir(o->cwd) != 0) goto failed;
        ::execve(resolved.c_str(), argv, envp);
    failed:
        int e = errno;
        (void)write_all(ep[1], &e, sizeof e);
        ::_exit(127);
    }
    (void)::close(ep[1]);
    int err = 0;
    ssize_t got;
    do got = ::read(ep[0], &err, sizeof err);
    while (got < 0 && errno == EINTR);
    (void)::close(ep[0]);
    if (got == static_cast<ssize_t>(sizeof err)) {
        int st;
        while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
        }
        return exec_error(func, err, path, o ? o->cwd : nullptr);
    }
    p->pid = pid;
    p->pidfd = sys_pidfd_open(pid);
    return WEFT_OK;
}

weft_status program_spawn(const char *func, weft_process *p, const char *path, char *const argv[], char *const envp[],
                          const weft_exec_options *o) {
    posix_spawn_file_actions_t fa;
    int rc = posix_spawn_file_actions_init(&fa);
    if (rc != 0) return fail_sys(WEFT_ESYS, rc, "%s: posix_spawn_file_actions_init failed", func);
    int want[3] = {o ? o->stdin_fd : WEFT_FD_INHERIT, o ? o->stdout_fd : WEFT_FD_INHERIT,
                   o ? o->stderr_fd : WEFT_FD_INHERIT};
    for (int i = 0; i < 3 && rc == 0; ++i) {
        if (want[i] >= 0) rc = posix_spawn_file_actions_adddup2(&fa, want[i], i);
        else if (want[i] == WEFT_FD_NULL) rc = posix_spawn_file_actions_addopen(&fa, i, "/dev/null", O_RDWR, 0);
    }
    if (rc == 0 && o && o->cwd) rc = posix_spawn_file_actions_addchdir_np(&fa, o->cwd);
    pid_t pid = 0;
    if (rc == 0) {
        if (o && o->search_path) rc = ::posix_spawnp(&pid, path, &fa, nullptr, argv, envp);
        else rc = ::posix_spawn(&pid, path, &fa, nullptr, argv, envp);
        (void)posix_spawn_file_actions_destroy(&fa);
        if (rc != 0) return exec_error(func, rc, path, o ? o->cwd : nullptr);
    } else {
        (void)posix_spawn_file_actions_destroy(&fa);
        return fail_sys(WEFT_ESYS, rc, "%s: preparing the file actions failed", func);
    }
    p->pid = pid;
    p->pidfd = sys_pidfd_open(pid);
    return WEFT_OK;
}

// --------------------------------------------------------------- handles

weft_status create_impl(const char *func, weft_process **out, const weft_process_options *opts) noexcept {
    if (!out) return null_arg(func, "out");
    *out = nullptr;
    if (weft_status s = check_version_range(func, opts, 1, WEFT_PROCESS_OPTIONS_VERSION)) return s;
    if (opts)
        if (weft_status s = check_method(func, opts->start_method)) return s;
    weft_forkserver *server = opts && opts->version >= 2 ? opts->forkserver : nullptr;
    if (server) {
        if (!server->alive()) return misuse(func, "opts->forkserver", server);
        if (opts->start_method != WEFT_START_FORKSERVER)
            return fail(WEFT_EINVAL, "%s: opts->forkserver is set but start_method is %d; it needs "
                        "WEFT_START_FORKSERVER", func, opts->start_method);
    }
    return guarded(func, [&]() -> weft_status {
        cleanup();
        std::string id = next_identity();
        std::string nm = opts && opts->name ? std::string(opts->name) : "Process-" + id;
        char *copy = strdup(nm.c_str());
        if (!copy) throw std::bad_alloc();
        auto *p = new (std::nothrow) weft_process;
        if (!p) {
            std::free(copy);
            throw std::bad_alloc();
        }
        p->identity.swap(id);
        p->name.store(copy, std::memory_order_relaxed);
        p->daemon.store(opts && opts->daemon ? 1 : 0, std::memory_order_relaxed);
        p->method = opts && opts->start_method != WEFT_START_DEFAULT ? opts->start_method : WEFT_START_FORK;
        p->server = server;
        p->owner = ::getpid();
        *out = p;
        return WEFT_OK;
    });
}

weft_status start_impl(const char *func, weft_process *p, weft_process_fn fn, const char *fn_name, const void *arg,
                       std::size_t len) noexcept {
    if (!fn && !fn_name) return null_arg(func, "fn");
    if (!arg && len > 0)
        return fail(WEFT_EINVAL, "%s: arg is NULL but len is %zu", func, len);
    std::string name;
    if (p->method != WEFT_START_FORK) {
        if (fn_name) {
            name = fn_name;
        } else {
            try {
                name = name_of(fn);
            } catch (...) {
                return fail(WEFT_ENOMEM, "%s: out of memory", func);
            }
            if (name.empty())
                return fail(WEFT_EINVAL,
                            "%s: function %p is not registered; spawn and forkserver find functions by name: "
                            "use WEFT_REGISTER_FUNCTION or weft_register",
                            func, reinterpret_cast<void *>(fn));
        }
    }
    if (weft_status s = claim_start(func, p)) return s;
    weft_status s = guarded(func, [&]() -> weft_status {
        switch (p->method) {
        case WEFT_START_SPAWN: return start_spawn(func, p, name, arg, len);
        case WEFT_START_FORKSERVER: return start_forkserver(func, p, name, arg, len);
        default: return start_fork(func, p, fn, fn_name, arg, len);
        }
    });
    if (s != WEFT_OK) {
        abort_start(p);
        return s;
    }
    publish_start(p);
    return WEFT_OK;
}

weft_status signal_impl(const char *func, weft_process *p, int sig) noexcept {
    if (weft_status s = check_started(func, p)) return s;
    Guard g(p->lk);
    if (try_reap(p)) return WEFT_OK;  // never signal a pid that may be reused
    if (::kill(p->pid, sig) != 0 && errno != ESRCH)
        return fail_sys(WEFT_ESYS, errno, "%s: kill(%d, %d) failed", func, static_cast<int>(p->pid), sig);
    return WEFT_OK;
}

}  // namespace
}  // namespace weft::detail::proc

using namespace weft::detail;
using namespace weft::detail::proc;

extern "C" {

WEFT_API weft_status weft_process_create(weft_process **out, const weft_process_options *opts) noexcept {
    return create_impl("weft_process_create", out, opts);
}

WEFT_API weft_status weft_process_start(weft_process *p, weft_process_fn fn, const void *arg, size_t len) noexcept {
    WEFT_CHECK_HANDLE("weft_process_start", p);
    if (!fn) return null_arg("weft_process_start", "fn");
    return start_impl("weft_process_start", p, fn, nullptr, arg, len);
}

WEFT_API weft_status weft_process_start_named(weft_process *p, const char *name, const void *arg,
                                              size_t len) noexcept {
    WEFT_CHECK_HANDLE("weft_process_start_named", p);
    if (weft_status s = check_fn_name("weft_process_start_named", name)) return s;
    return start_impl("weft_process_start_named", p, nullptr, name, arg, len);
}

WEFT_API weft_status weft_process_start_program(weft_process *p, const char *path, char *const argv[],
                                                char *const envp[], const weft_exec_options *opts) noexcept {
    const char *func = "weft_process_start_program";
    WEFT_CHECK_HANDLE(func, p);
    if (!path) return null_arg(func, "path");
    if (weft_status s = check_version(func, opts, WEFT_EXEC_OPTIONS_VERSION)) return s;
    if (opts && (opts->stdin_fd < WEFT_FD_NULL || opts->stdout_fd < WEFT_FD_NULL || opts->stderr_fd < WEFT_FD_NULL))
        return fail(WEFT_EINVAL, "%s: a descriptor in opts is below -2; use one >= 0, WEFT_FD_INHERIT or WEFT_FD_NULL",
                    func);
    if (weft_status s = claim_start(func, p)) return s;
    weft_status s = guarded(func, [&]() -> weft_status {
        char *def_argv[] = {const_cast<char *>(path), nullptr};
        char *const *av = argv ? argv : def_argv;
        char *const *ev = envp ? envp : environ;
        if (p->daemon.load(std::memory_order_relaxed)) return program_fork(func, p, path, av, ev, opts);
        return program_spawn(func, p, path, av, ev, opts);
    });
    if (s != WEFT_OK) {
        abort_start(p);
        return s;
    }
    publish_start(p);
    return WEFT_OK;
}

WEFT_API weft_status weft_process_spawn(weft_process **out, weft_process_fn fn, const void *arg, size_t len,
                                        const weft_process_options *opts) noexcept {
    weft_status s = create_impl("weft_process_spawn", out, opts);
    if (s != WEFT_OK) return s;
    weft_process *p = *out;
    if (!fn) s = null_arg("weft_process_spawn", "fn");
    else s = start_impl("weft_process_spawn", p, fn, nullptr, arg, len);
    if (s != WEFT_OK) {
        *out = nullptr;
        weft_process_destroy(p);
    }
    return s;
}

WEFT_API void weft_process_destroy(weft_process *p) noexcept {
    if (!valid(p)) return;
    p->poison();
    std::uint32_t state = p->state.load(std::memory_order_acquire);
    if (p->owner == ::getpid() && (state == kRunning || state == kEnded)) {
        Registry &r = registry();
        {
            Guard g(r.lk);  // first out of the list: active_children no longer sees it
            list_remove(r, p);
        }
        p->lk.lock_forever();
        bool ended = try_reap(p);
        bool detach = false;
        if (!ended) {
            if (p->daemon.load(std::memory_order_relaxed)) {
                (void)::kill(p->pid, SIGKILL);
                if (!p->via_server) {
                    int st;
                    while (::waitpid(p->pid, &st, 0) < 0 && errno == EINTR) {
                    }
                }
            } else {
                detach = true;
            }
        }
        (void)p->lk.unlock();
        Guard g(r.lk);
        if (detach) {
            try {
                r.detached.push_back(Detached{p->pid, p->via_server ? p->statusfd : -1});
                p->statusfd = -1;  // the registry closes it
            } catch (...) {
                // Out of memory: the child stays a zombie until we exit.
            }
        }
    }
    close_fd(p->pidfd);
    close_fd(p->statusfd);
    close_fd(p->askfd);
    std::free(p->name.load(std::memory_order_relaxed));
    for (char *s : p->retired) std::free(s);
    delete p;
}

WEFT_API weft_status weft_process_join(weft_process *p, int64_t timeout_ns) noexcept {
    const char *func = "weft_process_join";
    WEFT_CHECK_HANDLE(func, p);
    WEFT_CHECK_TIMEOUT(func, timeout_ns);
    if (weft_status s = check_started(func, p)) return s;
    Deadline d(timeout_ns);
    std::int64_t nap = 50 * WEFT_USEC;
    for (;;) {
        if (poll_ended(p)) {
            if (p->lost)
                return fail(WEFT_ESYS, "%s: process %d (%s) was reaped by someone else (waitpid elsewhere)", func,
                            static_cast<int>(p->pid), p->name.load(std::memory_order_relaxed));
            return WEFT_OK;
        }
        if (d.poll() || d.expired())
            return fail(WEFT_ETIMEDOUT, "%s: process %d (%s) still running after %lld ns", func,
                        static_cast<int>(p->pid), p->name.load(std::memory_order_relaxed),
                        static_cast<long long>(timeout_ns));
        int fd = p->pidfd;
        // A forkserver child: its end (the pidfd) first; then, if the answer
        // is not there yet, the server's report.
        if (p->via_server && (p->pidfd < 0 || p->gone.load(std::memory_order_relaxed))) fd = p->statusfd;
        if (fd >= 0) {
            if (wait_readable(fd, d) < 0)
                return fail_sys(WEFT_ESYS, errno, "%s: poll failed", func);
        } else {
            std::int64_t left = d.remaining();
            std::int64_t t = nap < left ? nap : left;
            struct timespec ts = {static_cast<time_t>(t / WEFT_SEC), static_cast<long>(t % WEFT_SEC)};
            (void)::nanosleep(&ts, nullptr);
            if (nap < 5 * WEFT_MSEC) nap *= 2;
        }
    }
}

WEFT_API weft_status weft_process_exitcode(weft_process *p, int *code) noexcept {
    const char *func = "weft_process_exitcode";
    WEFT_CHECK_HANDLE(func, p);
    if (!code) return null_arg(func, "code");
    if (weft_status s = check_started(func, p)) return s;
    if (!poll_ended(p))
        return fail(WEFT_EBUSY, "%s: process %d (%s) is still running", func, static_cast<int>(p->pid),
                    p->name.load(std::memory_order_relaxed));
    if (p->lost)
        return fail(WEFT_ESYS, "%s: process %d (%s) was reaped by someone else (waitpid elsewhere)", func,
                    static_cast<int>(p->pid), p->name.load(std::memory_order_relaxed));
    *code = p->exitcode;
    return WEFT_OK;
}

WEFT_API int weft_process_is_alive(weft_process *p) noexcept {
    WEFT_CHECK_HANDLE("weft_process_is_alive", p);
    if (p->owner != ::getpid()) return 0;
    if (p->state.load(std::memory_order_acquire) != kRunning) return 0;
    return poll_ended(p) ? 0 : 1;
}

WEFT_API int64_t weft_process_pid(const weft_process *p) noexcept {
    WEFT_CHECK_HANDLE("weft_process_pid", p);
    std::uint32_t s = p->state.load(std::memory_order_acquire);
    return s == kRunning || s == kEnded ? static_cast<int64_t>(p->pid) : 0;
}

WEFT_API const char *weft_process_name(const weft_process *p) noexcept {
    if (!valid(p)) {
        (void)misuse("weft_process_name", "p", p);
        return nullptr;
    }
    return p->name.load(std::memory_order_acquire);
}

WEFT_API weft_status weft_process_set_name(weft_process *p, const char *name) noexcept {
    WEFT_CHECK_HANDLE("weft_process_set_name", p);
    if (!name) return null_arg("weft_process_set_name", "name");
    return guarded("weft_process_set_name", [&]() -> weft_status {
        char *copy = strdup(name);
        if (!copy) throw std::bad_alloc();
        Guard g(p->lk);
        try {
            p->retired.push_back(p->name.load(std::memory_order_relaxed));
        } catch (...) {
            std::free(copy);
            throw;
        }
        p->name.store(copy, std::memory_order_release);
        return WEFT_OK;
    });
}

WEFT_API int weft_process_is_daemon(const weft_process *p) noexcept {
    WEFT_CHECK_HANDLE("weft_process_is_daemon", p);
    return p->daemon.load(std::memory_order_relaxed);
}

WEFT_API weft_status weft_process_set_daemon(weft_process *p, int daemon) noexcept {
    WEFT_CHECK_HANDLE("weft_process_set_daemon", p);
    // Claim the start slot for a moment so a racing start sees it taken.
    std::uint32_t s = kNew;
    if (!p->state.compare_exchange_strong(s, kStarting, std::memory_order_acq_rel))
        return fail(WEFT_ESTATE, "weft_process_set_daemon: process %p (%s) is started already; set daemon before start",
                    static_cast<void *>(p), p->name.load(std::memory_order_relaxed));
    p->daemon.store(daemon ? 1 : 0, std::memory_order_relaxed);
    p->state.store(kNew, std::memory_order_release);
    return WEFT_OK;
}

WEFT_API weft_status weft_process_terminate(weft_process *p) noexcept {
    WEFT_CHECK_HANDLE("weft_process_terminate", p);
    return signal_impl("weft_process_terminate", p, SIGTERM);
}

WEFT_API weft_status weft_process_kill(weft_process *p) noexcept {
    WEFT_CHECK_HANDLE("weft_process_kill", p);
    return signal_impl("weft_process_kill", p, SIGKILL);
}

WEFT_API weft_status weft_process_kill_tree(weft_process *p, int sig) noexcept {
    const char *func = "weft_process_kill_tree";
    WEFT_CHECK_HANDLE(func, p);
    if (sig < 1 || sig > 64) return fail(WEFT_EINVAL, "%s: sig is %d; use a signal number 1..64", func, sig);
    if (weft_status s = check_started(func, p)) return s;
    if (poll_ended(p)) return WEFT_OK;
    return guarded(func, [&]() -> weft_status { return kill_tree_impl(func, p->pid, sig); });
}

WEFT_API size_t weft_process_active_children(int64_t *pids, size_t capacity) noexcept {
    if (!pids) capacity = 0;
    try {
        Registry &r = registry();
        Guard g(r.lk);
        std::size_t n = 0;
        for (weft_process *p = r.head; p; p = p->next) {
            if (poll_ended(p)) continue;
            if (n < capacity) pids[n] = p->pid;
            ++n;
        }
        return reap_detached(r, pids, capacity, n);
    } catch (...) {
        (void)fail(WEFT_ENOMEM, "weft_process_active_children: out of memory");
        return 0;
    }
}

WEFT_API const char *weft_process_current_name(void) noexcept {
    try {
        return self().current_name();
    } catch (...) {
        return "MainProcess";
    }
}

WEFT_API int64_t weft_process_current_pid(void) noexcept { return static_cast<int64_t>(::getpid()); }

WEFT_API int64_t weft_process_parent_pid(void) noexcept {
    try {
        pid_t p = self().parent;
        return static_cast<int64_t>(p ? p : ::getppid());
    } catch (...) {
        return static_cast<int64_t>(::getppid());
    }
}

WEFT_API weft_status weft_register(const char *name, weft_process_fn fn) noexcept {
    if (weft_status s = check_fn_name("weft_register", name)) return s;
    if (!fn) return null_arg("weft_register", "fn");
    return guarded("weft_register", [&]() -> weft_status {
        FnRegistry &r = fns();
        Guard g(r.lk);
        auto it = r.by_name.find(name);
        if (it != r.by_name.end()) {
            if (it->second == fn) return WEFT_OK;
            return fail(WEFT_EEXIST, "weft_register: \"%s\" is registered to another function", name);
        }
        r.by_name.emplace(name, fn);
        return WEFT_OK;
    });
}

WEFT_API int weft_main(int argc, char **argv) noexcept {
    if (argc < 2 || !argv || !argv[1]) return 0;
    static const char kSpawn[] = "--weft-spawn=", kServer[] = "--weft-forkserver=";
    if (std::strncmp(argv[1], kSpawn, sizeof kSpawn - 1) == 0) spawned(argv[1] + sizeof kSpawn - 1);
    if (std::strncmp(argv[1], kServer, sizeof kServer - 1) == 0) {
        // <ctrl>,<ask>[,b]
        char *end = nullptr;
        long fd = std::strtol(argv[1] + sizeof kServer - 1, &end, 10);
        if (!end || *end != ',' || fd < 0) ::_exit(WEFT_PROCESS_EXIT_BAD_TASK);
        long ask = std::strtol(end + 1, &end, 10);
        bool bound_now = end && std::strcmp(end, ",b") == 0;
        if (!end || (*end != '\0' && !bound_now) || ask < 0) ::_exit(WEFT_PROCESS_EXIT_BAD_TASK);
        serve(static_cast<int>(fd), static_cast<int>(ask), bound_now);
    }
    return 0;
}

WEFT_API weft_status weft_forkserver_start(void) noexcept {
    return guarded("weft_forkserver_start",
                   [&]() -> weft_status { return forkserver_start_impl("weft_forkserver_start", forkserver()); });
}

WEFT_API int64_t weft_forkserver_pid(void) noexcept {
    try {
        weft_forkserver &f = forkserver();
        Guard g(f.lk);
        return server_running(f) ? static_cast<int64_t>(f.pid) : 0;
    } catch (...) {
        return 0;  // out of memory creating it: none runs
    }
}

WEFT_API weft_status weft_forkserver_start_program(const char *program, const char *const *argv,
                                                   weft_forkserver **out) noexcept {
    const char *func = "weft_forkserver_start_program";
    if (!out) return null_arg(func, "out");
    *out = nullptr;
    if (program && !program[0]) return fail(WEFT_EINVAL, "%s: program is \"\"; give a path or NULL for this program", func);
    std::size_t nargs = 0;
    if (argv)
        while (argv[nargs])
            if (++nargs > kMaxServerArgs)
                return fail(WEFT_EINVAL, "%s: argv has more than %zu entries (or lacks its NULL end)", func,
                            kMaxServerArgs);
    return guarded(func, [&]() -> weft_status {
        auto *f = new weft_forkserver;
        if (program) f->program = program;
        f->args.reserve(nargs);
        try {
            for (std::size_t i = 0; i < nargs; ++i) f->args.emplace_back(argv[i]);
        } catch (...) {
            delete f;
            throw;
        }
        weft_status s;
        try {
            s = forkserver_start_impl(func, *f);
        } catch (...) {
            delete f;
            throw;
        }
        if (s != WEFT_OK) {
            delete f;
            return s;
        }
        server_list_add(f);
        *out = f;
        return WEFT_OK;
    });
}

WEFT_API int64_t weft_forkserver_program_pid(weft_forkserver *server) noexcept {
    WEFT_CHECK_HANDLE("weft_forkserver_program_pid", server);
    Guard g(server->lk);
    return server_running(*server) ? static_cast<int64_t>(server->pid) : 0;
}

WEFT_API void weft_forkserver_destroy(weft_forkserver *server) noexcept {
    if (!weft::detail::valid(server)) return;
    if (server->process_wide) return;  // not reachable through the API; never freed
    server->poison();
    server_list_remove(server);  // first: a fork from now on does not see it
    forkserver_stop(*server);
    delete server;
}

}  // extern "C"

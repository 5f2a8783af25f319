// Threads and timers: Python's threading.Thread and threading.Timer over
// detached pthreads, with reference-counted records, a one-lock registry for
// enumerate(), an exit handler joining non-daemon threads, and fork repair.
//
// Start does not wait for the new thread: the record reads RUNNING at once
// and the thread publishes its ident, tid and OS name itself. The rare caller
// that asks for ident or native id before that waits for it (lazily). Every
// wait sets a waiters bit in the state word, so the thread wakes (a futex
// syscall) only when somebody actually sleeps.
//
// The OS threads are joinable. Exactly one party reaps each: the first
// WEFT_FOREVER join of a running thread claims it and calls pthread_join (the
// kernel wakes it at thread exit, as for a plain pthread), or else the thread
// detaches itself as it ends.
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include <pthread.h>
#include <unistd.h>

#include <weft/thread.h>

#include "internal/boundary.hpp"
#include "internal/deadline.hpp"
#include "internal/futex.hpp"
#include "internal/handle.hpp"
#include "internal/ident.hpp"
#include "internal/word_lock.hpp"

namespace weft::detail {

// weft_thread::state, the futex word: the public state in the low bits plus
//   kPublished    ident, native_id and the OS name are set (the thread did it);
//   kIdWaiters    someone may sleep until kPublished;
//   kEndWaiters   someone may sleep until the thread is no longer RUNNING.
// A change wakes all sleepers only when a matching waiters bit is set (and
// clears it): woken threads that still need to wait set it again. Publishing
// does not wake joiners, so a join that started early sleeps once.
constexpr std::uint32_t kNew = WEFT_THREAD_NEW, kRunning = WEFT_THREAD_RUNNING,
                        kFinished = WEFT_THREAD_FINISHED;
constexpr std::uint32_t kPhaseMask = 3, kPublished = 4, kIdWaiters = 8, kEndWaiters = 16;
constexpr std::uint32_t kWaiters = kIdWaiters | kEndWaiters;

constexpr std::uint32_t phase(std::uint32_t s) noexcept { return s & kPhaseMask; }

// weft_thread::reap: who releases the OS thread. None: start has not yet
// published join_pth; Open: join_pth is set and nobody has claimed it; Taken:
// a joiner (pthread_join) or the thread itself (pthread_detach) has.
constexpr std::uint32_t kReapNone = 0, kReapOpen = 1, kReapTaken = 2;

// Names up to this size (NUL included) live in the record: "Thread-N" never
// needs a second allocation.
constexpr std::size_t kInlineName = 32;

enum class Kind : std::uint8_t { weft, main, dummy };

}  // namespace weft::detail

struct weft_thread : weft::detail::Handle<weft::detail::Magic::thread> {
    std::atomic<std::uint32_t> refs{1};
    std::atomic<std::uint32_t> state{weft::detail::kNew};
    weft::detail::WordLock lk;  // name changes, OS naming, has_pth, retired
    weft::detail::Kind kind = weft::detail::Kind::weft;
    weft_thread_fn fn = nullptr;
    void *arg = nullptr;
    void *result = nullptr;  // written before state becomes FINISHED (release)
    std::atomic<char *> name{nullptr};  // inline_name or malloc'd
    std::vector<char *> retired;        // earlier names, freed with the record
    std::atomic<int> daemon{0};
    std::size_t stack_size = 0;
    std::atomic<std::uint64_t> ident{0};
    std::atomic<std::int64_t> native_id{0};
    pthread_t pth{};
    bool has_pth = false;  // pth names a live OS thread (guarded by lk)
    std::atomic<std::uint32_t> reap{weft::detail::kReapNone};
    pthread_t join_pth{};  // written by start before reap becomes Open (release)
    // Registry links (guarded by the registry lock).
    weft_thread *prev = nullptr, *next = nullptr;
    bool listed = false;
    char inline_name[weft::detail::kInlineName];
    bool os_named = false;  // the name was given (opts or set_name): it goes to the OS (guarded by lk)
};

struct weft_timer : weft::detail::Handle<weft::detail::Magic::timer> {
    std::atomic<std::uint32_t> refs{2};  // the handle and the timer thread
    std::atomic<std::uint32_t> state{0};
    std::atomic<std::uint64_t> ident{0};  // of the timer thread
    std::int64_t due = 0;                 // absolute monotonic ns
    weft_timer_fn fn = nullptr;
    void *arg = nullptr;
};

namespace weft::detail {
namespace {

// ---------------------------------------------------------------- records

void free_name(weft_thread *t, char *name) noexcept {
    if (name != t->inline_name) std::free(name);
}

void free_record(weft_thread *t) noexcept {
    t->poison();
    free_name(t, t->name.load(std::memory_order_relaxed));
    for (char *s : t->retired) free_name(t, s);
    delete t;
}

void ref(weft_thread *t) noexcept { t->refs.fetch_add(1, std::memory_order_relaxed); }

void unref(weft_thread *t) noexcept {
    if (t->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) free_record(t);
}

std::uint64_t next_name_number() noexcept {
    // Python's _counter: one sequence for "Thread-N" and "Dummy-N".
    static std::atomic<std::uint64_t> counter{0};
    return counter.fetch_add(1, std::memory_order_relaxed) + 1;
}

// "<prefix>-N" into out (kInlineName bytes; prefixes are short literals).
const char *numbered_name(char (&out)[kInlineName], const char *prefix) noexcept {
    char digits[24];
    int nd = 0;
    for (std::uint64_t n = next_name_number(); n != 0; n /= 10) digits[nd++] = static_cast<char>('0' + n % 10);
    std::size_t p = std::strlen(prefix);
    std::memcpy(out, prefix, p);
    out[p++] = '-';
    while (nd > 0) out[p++] = digits[--nd];
    out[p] = '\0';
    return out;
}

// The first 15 bytes of `name`, not cutting a UTF-8 sequence: the OS limit.
void os_name(char out[16], const char *name) noexcept {
    std::size_t n = std::strlen(name);
    if (n > 15) {
        n = 15;
        while (n > 0 && (static_cast<unsigned char>(name[n]) & 0xC0) == 0x80) --n;
    }
    std::memcpy(out, name, n);
    out[n] = '\0';
}

// Set the OS name of t's thread; the caller holds t->lk and has_pth is true.
void apply_os_name(weft_thread *t) noexcept {
    char buf[16];
    os_name(buf, t->name.load(std::memory_order_relaxed));
    (void)pthread_setname_np(t->pth, buf);
}

// -------------------------------------------------------------- registry

struct Registry {
    WordLock lk;
    weft_thread *head = nullptr, *tail = nullptr;  // in start order, as Python lists them
    weft_thread *main = nullptr;
    std::atomic<bool> atexit_done{false};  // written under lk; read without it
};

void fork_prepare() noexcept;
void fork_parent() noexcept;
void fork_child() noexcept;

Registry &registry() noexcept {
    // Constant-initialised and trivially destructible: no load-time code, and
    // daemon threads may still use it while the process exits.
    static Registry r;
    static const bool forks_handled = [] {
        (void)pthread_atfork(fork_prepare, fork_parent, fork_child);
        return true;
    }();
    (void)forks_handled;
    return r;
}

void lock(Registry &r) noexcept { r.lk.lock_forever(); }
void unlock(Registry &r) noexcept { (void)r.lk.unlock(); }

// Callers hold the registry lock.
void list_add(Registry &r, weft_thread *t) noexcept {
    t->next = nullptr;
    t->prev = r.tail;
    if (r.tail) r.tail->next = t;
    else r.head = t;
    r.tail = t;
    t->listed = true;
}

void list_remove(Registry &r, weft_thread *t) noexcept {
    if (!t->listed) return;
    if (t->prev) t->prev->next = t->next;
    else r.head = t->next;
    if (t->next) t->next->prev = t->prev;
    else r.tail = t->prev;
    t->prev = t->next = nullptr;
    t->listed = false;
}

bool alive_state(std::uint32_t s) noexcept { return phase(s) == kRunning; }

// Change the state word to f(old) (f keeps the waiters bits it is given) and
// wake every sleeper, but only when a bit of `wake` was set; those bits are
// cleared. The caller keeps the record alive.
template <class F>
void transition(weft_thread *t, std::uint32_t wake, F f) noexcept {
    std::uint32_t s = t->state.load(std::memory_order_relaxed);
    while (!t->state.compare_exchange_weak(s, f(s) & ~wake, std::memory_order_acq_rel, std::memory_order_relaxed)) {
    }
    if (s & wake) futex::wake_all(&t->state);
}

// Wait until done(state) or the deadline passes; *seen gets the state that
// ended the wait. Sets `flag` (a waiters bit) before each sleep.
template <class P>
bool wait_state(const weft_thread *t, std::uint32_t flag, P done, Deadline &d, std::uint32_t *seen) noexcept {
    std::atomic<std::uint32_t> &w = const_cast<weft_thread *>(t)->state;
    for (;;) {
        std::uint32_t s = w.load(std::memory_order_acquire);
        if (done(s)) {
            if (seen) *seen = s;
            return true;
        }
        if (d.poll() || d.expired()) return false;
        if (!(s & flag)) {
            if (!w.compare_exchange_weak(s, s | flag, std::memory_order_relaxed, std::memory_order_relaxed))
                continue;
            s |= flag;
        }
        (void)futex::wait(&w, s, d.abs());
    }
}

bool not_running(std::uint32_t s) noexcept { return phase(s) != kRunning; }

// ident and native_id are published by the thread itself just after it
// starts; a caller that asks earlier waits for them (never long: the thread
// does nothing else first).
void await_identity(const weft_thread *t) noexcept {
    std::uint32_t s = t->state.load(std::memory_order_acquire);
    if ((s & kPublished) || phase(s) != kRunning) return;
    Deadline d = Deadline::forever();
    (void)wait_state(t, kIdWaiters, [](std::uint32_t v) { return (v & kPublished) || phase(v) != kRunning; }, d,
                     nullptr);
}

// ----------------------------------------------------- per-thread record

struct Slot {
    weft_thread *current = nullptr;
    bool retired = false;  // the thread's record was retired (thread exiting)
};

Slot &slot() noexcept {
    static thread_local Slot s;  // trivially destructible
    return s;
}

bool on_main_thread() noexcept { return current_native_id() == static_cast<std::int64_t>(getpid()); }

// Fill the main record with the calling (main) thread's identity.
void adopt_main(weft_thread *m) noexcept {
    m->ident.store(current_ident(), std::memory_order_relaxed);
    m->native_id.store(current_native_id(), std::memory_order_relaxed);
    m->lk.lock_forever();
    m->pth = pthread_self();
    m->has_pth = true;
    (void)m->lk.unlock();
    slot().current = m;
}

// A record named a copy of `name` (in the record when it fits), or, with
// name NULL, "<prefix>-N".
weft_thread *new_record(Kind kind, const char *name, const char *prefix, int daemon) noexcept {
    weft_thread *t = new (std::nothrow) weft_thread;
    if (!t) return nullptr;
    char *copy = t->inline_name;
    if (!name) {
        numbered_name(t->inline_name, prefix);
    } else if (std::size_t n = std::strlen(name); n < kInlineName) {
        std::memcpy(t->inline_name, name, n + 1);
    } else if (!(copy = strdup(name))) {
        t->poison();
        delete t;
        return nullptr;
    }
    t->kind = kind;
    t->name.store(copy, std::memory_order_relaxed);
    t->daemon.store(daemon, std::memory_order_relaxed);
    return t;
}

// The main record, created on first use (the registry's one permanent
// reference keeps it for the process lifetime).
weft_thread *main_record() noexcept {
    Registry &r = registry();
    lock(r);
    weft_thread *m = r.main;
    if (!m) {
        m = new_record(Kind::main, "MainThread", nullptr, 0);
        if (m) {
            m->state.store(kRunning | kPublished, std::memory_order_relaxed);
            m->native_id.store(static_cast<std::int64_t>(getpid()), std::memory_order_relaxed);
            list_add(r, m);
            r.main = m;
        }
    }
    unlock(r);
    if (m && !slot().current && !slot().retired && on_main_thread()) adopt_main(m);
    return m;
}

// End a main or dummy record's life as its thread exits (or after fork).
void finish_record(weft_thread *t) noexcept {
    t->lk.lock_forever();
    t->has_pth = false;
    (void)t->lk.unlock();
    transition(t, kWaiters, [](std::uint32_t) { return kFinished | kPublished; });
    Registry &r = registry();
    lock(r);
    list_remove(r, t);
    unlock(r);
}

struct DummyGuard {
    weft_thread *t = nullptr;
    ~DummyGuard() {
        if (!t) return;
        slot().current = nullptr;
        slot().retired = true;
        finish_record(t);
        unref(t);
    }
};

weft_thread *make_dummy() noexcept {
    static thread_local DummyGuard guard;  // runs finish at thread exit
    weft_thread *t = new_record(Kind::dummy, nullptr, "Dummy", 1);
    if (!t) return nullptr;
    t->ident.store(current_ident(), std::memory_order_relaxed);
    t->native_id.store(current_native_id(), std::memory_order_relaxed);
    t->pth = pthread_self();
    t->has_pth = true;
    t->state.store(kRunning | kPublished, std::memory_order_relaxed);
    Registry &r = registry();
    lock(r);
    list_add(r, t);
    unlock(r);
    guard.t = t;
    slot().current = t;
    return t;
}

weft_thread *current_record() noexcept {
    Slot &s = slot();
    if (__builtin_expect(s.current != nullptr, 1)) return s.current;
    if (s.retired) return nullptr;
    if (on_main_thread()) {
        weft_thread *m = main_record();
        if (m && s.current == m) return m;
        // The main record belongs to another thread (after fork from a
        // non-main thread the forking thread is main): fall through.
    }
    return make_dummy();
}

// ------------------------------------------------------------ fork repair

void fork_prepare() noexcept { registry().lk.lock_forever(); }
void fork_parent() noexcept { (void)registry().lk.unlock(); }

void fork_child() noexcept {
    // Only the forking thread exists now. Runs with the registry lock "held"
    // by the forking thread: rebuild it instead of unlocking.
    Registry &r = registry();
    new (&r.lk) WordLock;
    weft_thread *self = slot().current;
    weft_thread *t = r.head;
    while (t) {
        weft_thread *nx = t->next;
        new (&t->lk) WordLock;  // its holder may be gone
        if (t != self) {
            t->has_pth = false;
            t->state.store(kFinished | kPublished, std::memory_order_release);  // no sleepers remain
            list_remove(r, t);
            // The vanished thread's own reference (main keeps its permanent one).
            if (t->kind != Kind::main) unref(t);
        }
        t = nx;
    }
    if (self) {
        self->native_id.store(current_native_id(), std::memory_order_relaxed);
        self->pth = pthread_self();
        self->has_pth = true;
        if (r.main != self) {
            ref(self);  // permanent, as main records are
            r.main = self;
        }
    } else {
        r.main = nullptr;  // created afresh, for this thread, on first use
    }
}

// --------------------------------------------------------- exit handling

void join_all_at_exit() noexcept;

void ensure_exit_handler() noexcept {
    Registry &r = registry();
    if (r.atexit_done.load(std::memory_order_acquire)) return;  // every start after the first
    lock(r);
    bool first = !r.atexit_done.load(std::memory_order_relaxed);
    r.atexit_done.store(true, std::memory_order_release);
    unlock(r);
    if (first && std::atexit(join_all_at_exit) != 0) {
        lock(r);
        r.atexit_done.store(false, std::memory_order_release);
        unlock(r);
    }
}

// Wait until `word` reads done1 or done2, or the deadline passes (timers).
weft_status wait_finished(std::atomic<std::uint32_t> &word, std::uint32_t done1, std::uint32_t done2,
                          Deadline &d) noexcept {
    for (;;) {
        std::uint32_t s = word.load(std::memory_order_acquire);
        if (s == done1 || s == done2) return WEFT_OK;
        if (d.poll() || d.expired()) return WEFT_ETIMEDOUT;
        (void)futex::wait(&word, s, d.abs());
    }
}

weft_status shutdown_impl(Deadline &d) noexcept {
    const std::uint64_t me = current_ident();
    Registry &r = registry();
    std::vector<weft_thread *> batch;
    for (;;) {
        batch.clear();
        try {
            lock(r);
            for (weft_thread *t = r.head; t; t = t->next) {
                if (t->kind != Kind::weft || t->daemon.load(std::memory_order_relaxed)) continue;
                if (!alive_state(t->state.load(std::memory_order_acquire))) continue;
                if (t->ident.load(std::memory_order_relaxed) == me) continue;
                batch.push_back(t);
                ref(t);
            }
            unlock(r);
        } catch (...) {
            unlock(r);
            for (weft_thread *t : batch) unref(t);
            return fail(WEFT_ENOMEM, "weft_shutdown: out of memory");
        }
        if (batch.empty()) return WEFT_OK;
        weft_status rc = WEFT_OK;
        for (weft_thread *t : batch) {
            if (rc == WEFT_OK && !wait_state(t, kEndWaiters, not_running, d, nullptr)) rc = WEFT_ETIMEDOUT;
            unref(t);
        }
        if (rc != WEFT_OK) return fail(rc, "weft_shutdown: non-daemon threads still running at the deadline");
    }
}

void join_all_at_exit() noexcept {
    Deadline d = Deadline::forever();
    (void)shutdown_impl(d);
}

// ---------------------------------------------------------- the trampoline

struct FinishGuard {
    weft_thread *t;
    ~FinishGuard() {
        // The result (written before) is published by finish_record's state
        // transition; joiners are woken only if one sleeps.
        finish_record(t);
        slot().current = nullptr;
        slot().retired = true;
        // Unless a joiner claimed the OS thread (and pthread_joins it), it
        // releases itself when it exits.
        if (t->reap.exchange(kReapTaken, std::memory_order_acq_rel) != kReapTaken) (void)pthread_detach(pthread_self());
        unref(t);  // the running thread's reference
    }
};

void *trampoline(void *p) {
    weft_thread *t = static_cast<weft_thread *>(p);
    slot().current = t;
    // Runs on return, pthread_exit() and cancellation (forced unwinding).
    FinishGuard guard{t};
    t->ident.store(current_ident(), std::memory_order_relaxed);
    t->native_id.store(current_native_id(), std::memory_order_relaxed);
    t->lk.lock_forever();
    t->pth = pthread_self();
    t->has_pth = true;
    // One prctl, only for a name the user gave: a default "Thread-N" stays
    // weft's own (the OS keeps the inherited name, as for any pthread).
    if (t->os_named) apply_os_name(t);
    (void)t->lk.unlock();
    // Identity and OS name are set: whoever waits for them may go on.
    transition(t, kIdWaiters, [](std::uint32_t s) { return s | kPublished; });
    t->result = t->fn(t->arg);
    return nullptr;
}

weft_status check_opts(const char *func, const weft_thread_options *opts) noexcept {
    if (weft_status s = check_version(func, opts, WEFT_THREAD_OPTIONS_VERSION)) return s;
    if (!opts) return WEFT_OK;
    std::size_t min = static_cast<std::size_t>(PTHREAD_STACK_MIN);
    if (opts->stack_size != 0 && opts->stack_size < min)
        return fail(WEFT_EINVAL, "%s: opts->stack_size is %zu; use 0 (default) or at least PTHREAD_STACK_MIN (%zu)",
                    func, opts->stack_size, min);
    return WEFT_OK;
}

weft_status create_impl(const char *func, weft_thread **out, weft_thread_fn fn, void *user_data,
                        const weft_thread_options *opts) noexcept {
    if (!out) return null_arg(func, "out");
    *out = nullptr;
    if (!fn) return null_arg(func, "fn");
    if (weft_status s = check_opts(func, opts); s != WEFT_OK) return s;
    weft_thread *t = new_record(Kind::weft, opts ? opts->name : nullptr, "Thread", (opts && opts->daemon) ? 1 : 0);
    if (!t) return fail(WEFT_ENOMEM, "%s: out of memory", func);
    t->fn = fn;
    t->arg = user_data;
    t->stack_size = opts ? opts->stack_size : 0;
    t->os_named = opts && opts->name;
    *out = t;
    return WEFT_OK;
}

weft_status start_impl(const char *func, weft_thread *t) noexcept {
    if (t->kind != Kind::weft)
        return fail(WEFT_ESTATE, "%s: thread %p (%s) is the main thread or a dummy; it is running already", func,
                    static_cast<void *>(t), t->name.load(std::memory_order_relaxed));
    // Under lk, so a racing weft_thread_set_daemon() is either before (and
    // counts) or after (and fails).
    t->lk.lock_forever();
    std::uint32_t s = t->state.load(std::memory_order_relaxed);
    bool won = false;
    while (phase(s) == kNew && !(won = t->state.compare_exchange_weak(s, (s & ~kPhaseMask) | kRunning,
                                                                      std::memory_order_acq_rel,
                                                                      std::memory_order_relaxed))) {
    }
    (void)t->lk.unlock();
    if (!won)
        return fail(WEFT_ESTATE, "%s: thread %p (%s) was started already; a thread starts once", func,
                    static_cast<void *>(t), t->name.load(std::memory_order_relaxed));
    // Give the starting (main) thread its record, as Python's Thread() does.
    if (!slot().current && !slot().retired && on_main_thread()) (void)main_record();
    if (!t->daemon.load(std::memory_order_relaxed)) ensure_exit_handler();

    Registry &r = registry();
    ref(t);  // the running thread's reference
    lock(r);
    list_add(r, t);
    unlock(r);

    pthread_attr_t attr;
    int rc = pthread_attr_init(&attr);
    if (rc == 0 && t->stack_size) rc = pthread_attr_setstacksize(&attr, t->stack_size);
    pthread_t th;
    if (rc == 0) rc = pthread_create(&th, &attr, trampoline, t);  // joinable: see reap
    (void)pthread_attr_destroy(&attr);
    if (rc != 0) {
        lock(r);
        list_remove(r, t);
        unlock(r);
        t->refs.fetch_sub(1, std::memory_order_relaxed);  // the caller still holds one
        transition(t, kWaiters, [](std::uint32_t) { return kNew; });
        if (rc == EINVAL)
            return fail_sys(WEFT_EINVAL, rc, "%s: the system refused stack_size %zu", func, t->stack_size);
        return fail_sys(WEFT_ESYS, rc, "%s: pthread_create failed", func);
    }
    // Let a joiner claim the OS thread (unless it already ended and released
    // itself). t stays alive: the caller holds a reference.
    t->join_pth = th;
    std::uint32_t none = kReapNone;
    (void)t->reap.compare_exchange_strong(none, kReapOpen, std::memory_order_release, std::memory_order_relaxed);
    // No hand-shake: the thread publishes its ident, tid and OS name itself
    // (await_identity() covers callers that ask before it has).
    return WEFT_OK;
}

// ---------------------------------------------------------------- timers

constexpr std::uint32_t kTimerPending = 0, kTimerCancelled = 1, kTimerRunning = 2, kTimerDone = 3;

void timer_unref(weft_timer *tm) noexcept {
    if (tm->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        tm->poison();
        delete tm;
    }
}

void *timer_main(void *p) {
    weft_timer *tm = static_cast<weft_timer *>(p);
    tm->ident.store(current_ident(), std::memory_order_release);
    Deadline d = Deadline::at(tm->due);
    for (;;) {
        std::uint32_t s = tm->state.load(std::memory_order_acquire);
        if (s != kTimerPending) break;  // cancelled
        if (d.expired()) {
            if (tm->state.compare_exchange_strong(s, kTimerRunning, std::memory_order_acq_rel)) {
                tm->fn(tm->arg);
                tm->state.store(kTimerDone, std::memory_order_release);
                futex::wake_all(&tm->state);
            }
            break;
        }
        (void)futex::wait(&tm->state, kTimerPending, d.abs());
    }
    timer_unref(tm);
    return nullptr;
}

}  // namespace
}  // namespace weft::detail

using namespace weft::detail;

extern "C" {

WEFT_API weft_status weft_thread_create(weft_thread **out, weft_thread_fn fn, void *user_data,
                                        const weft_thread_options *opts) noexcept {
    return create_impl("weft_thread_create", out, fn, user_data, opts);
}

WEFT_API weft_status weft_thread_start(weft_thread *t) noexcept {
    WEFT_CHECK_HANDLE("weft_thread_start", t);
    return start_impl("weft_thread_start", t);
}

WEFT_API weft_status weft_thread_spawn(weft_thread **out, weft_thread_fn fn, void *user_data,
                                       const weft_thread_options *opts) noexcept {
    weft_thread *t;
    weft_status s = create_impl("weft_thread_spawn", out, fn, user_data, opts);
    if (s != WEFT_OK) return s;
    t = *out;
    s = start_impl("weft_thread_spawn", t);
    if (s != WEFT_OK) {
        *out = nullptr;
        unref(t);
    }
    return s;
}

WEFT_API weft_status weft_thread_join(weft_thread *t, void **result, int64_t timeout_ns) noexcept {
    WEFT_CHECK_HANDLE("weft_thread_join", t);
    WEFT_CHECK_TIMEOUT("weft_thread_join", timeout_ns);
    std::uint32_t s = t->state.load(std::memory_order_acquire);
    if (phase(s) == kNew)
        return fail(WEFT_ESTATE, "weft_thread_join: thread %p (%s) was never started", static_cast<void *>(t),
                    t->name.load(std::memory_order_relaxed));
    // A thread publishes its ident before running anything: if t is the
    // caller, the ident is set.
    if (phase(s) != kFinished && t->ident.load(std::memory_order_relaxed) == current_ident())
        return fail(WEFT_EDEADLK, "weft_thread_join: thread %p (%s) is the calling thread; it cannot join itself",
                    static_cast<void *>(t), t->name.load(std::memory_order_relaxed));
    if (timeout_ns == WEFT_FOREVER && phase(s) == kRunning && t->kind == Kind::weft) {
        // The first unbounded join reaps the OS thread: the kernel wakes it
        // at thread exit, and the thread need not wake anybody.
        std::uint32_t open = kReapOpen;
        if (t->reap.compare_exchange_strong(open, kReapTaken, std::memory_order_acquire, std::memory_order_relaxed))
            (void)pthread_join(t->join_pth, nullptr);  // then the state reads FINISHED
    }
    Deadline d(timeout_ns);
    if (!wait_state(t, kEndWaiters, not_running, d, &s))
        return fail(WEFT_ETIMEDOUT, "weft_thread_join: thread %p (%s) still running after %lld ns",
                    static_cast<void *>(t), t->name.load(std::memory_order_relaxed),
                    static_cast<long long>(timeout_ns));
    if (phase(s) == kNew)  // the OS refused the thread a concurrent start asked for
        return fail(WEFT_ESTATE, "weft_thread_join: thread %p (%s) was never started (its start failed)",
                    static_cast<void *>(t), t->name.load(std::memory_order_relaxed));
    if (result) *result = t->result;
    return WEFT_OK;
}

WEFT_API void weft_thread_destroy(weft_thread *t) noexcept {
    if (!valid(t)) return;
    unref(t);
}

WEFT_API int weft_thread_is_alive(const weft_thread *t) noexcept {
    WEFT_CHECK_HANDLE("weft_thread_is_alive", t);
    return alive_state(t->state.load(std::memory_order_acquire)) ? 1 : 0;
}

WEFT_API int weft_thread_get_state(const weft_thread *t) noexcept {
    WEFT_CHECK_HANDLE("weft_thread_get_state", t);
    return static_cast<int>(phase(t->state.load(std::memory_order_acquire)));
}

WEFT_API const char *weft_thread_name(const weft_thread *t) noexcept {
    if (!valid(t)) {
        (void)misuse("weft_thread_name", "t", t);
        return nullptr;
    }
    return t->name.load(std::memory_order_acquire);
}

WEFT_API weft_status weft_thread_set_name(weft_thread *t, const char *name) noexcept {
    WEFT_CHECK_HANDLE("weft_thread_set_name", t);
    if (!name) return null_arg("weft_thread_set_name", "name");
    return guarded("weft_thread_set_name", [&]() -> weft_status {
        char *copy = strdup(name);
        if (!copy) throw std::bad_alloc();
        t->lk.lock_forever();
        try {
            t->retired.push_back(t->name.load(std::memory_order_relaxed));  // may be inline_name
        } catch (...) {
            (void)t->lk.unlock();
            std::free(copy);
            throw;
        }
        t->name.store(copy, std::memory_order_release);
        t->os_named = true;
        if (t->has_pth) apply_os_name(t);
        (void)t->lk.unlock();
        return WEFT_OK;
    });
}

WEFT_API int weft_thread_is_daemon(const weft_thread *t) noexcept {
    WEFT_CHECK_HANDLE("weft_thread_is_daemon", t);
    return t->daemon.load(std::memory_order_relaxed);
}

WEFT_API weft_status weft_thread_set_daemon(weft_thread *t, int daemon) noexcept {
    WEFT_CHECK_HANDLE("weft_thread_set_daemon", t);
    // Under lk so it cannot interleave with a start's state change unseen.
    t->lk.lock_forever();
    bool fresh = phase(t->state.load(std::memory_order_acquire)) == kNew && t->kind == Kind::weft;
    if (fresh) t->daemon.store(daemon ? 1 : 0, std::memory_order_relaxed);
    (void)t->lk.unlock();
    if (!fresh)
        return fail(WEFT_ESTATE, "weft_thread_set_daemon: thread %p (%s) is started already; set daemon before start",
                    static_cast<void *>(t), t->name.load(std::memory_order_relaxed));
    return WEFT_OK;
}

WEFT_API uint64_t weft_thread_ident(const weft_thread *t) noexcept {
    if (!valid(t)) {
        (void)misuse("weft_thread_ident", "t", t);
        return 0;
    }
    await_identity(t);
    return t->ident.load(std::memory_order_relaxed);
}

WEFT_API int64_t weft_thread_native_id(const weft_thread *t) noexcept {
    WEFT_CHECK_HANDLE("weft_thread_native_id", t);
    await_identity(t);
    return t->native_id.load(std::memory_order_relaxed);
}

WEFT_API uint64_t weft_thread_get_ident(void) noexcept { return current_ident(); }

WEFT_API int64_t weft_thread_get_native_id(void) noexcept { return current_native_id(); }

WEFT_API weft_thread *weft_thread_current(void) noexcept {
    weft_thread *t = current_record();
    if (!t) (void)fail(WEFT_ENOMEM, "weft_thread_current: no record for this thread (out of memory or exiting)");
    return t;
}

WEFT_API weft_thread *weft_thread_main(void) noexcept {
    weft_thread *m = main_record();
    if (!m) (void)fail(WEFT_ENOMEM, "weft_thread_main: out of memory");
    return m;
}

WEFT_API size_t weft_thread_enumerate(weft_thread **out, size_t capacity) noexcept {
    if (!out) capacity = 0;
    (void)main_record();  // the main thread is always listed, as in Python
    Registry &r = registry();
    std::size_t n = 0;
    lock(r);
    for (weft_thread *t = r.head; t; t = t->next) {
        if (!alive_state(t->state.load(std::memory_order_acquire))) continue;
        if (n < capacity) {
            ref(t);
            out[n] = t;
        }
        ++n;
    }
    unlock(r);
    return n;
}

WEFT_API size_t weft_thread_active_count(void) noexcept { return weft_thread_enumerate(nullptr, 0); }

WEFT_API weft_status weft_shutdown(int64_t timeout_ns) noexcept {
    WEFT_CHECK_TIMEOUT("weft_shutdown", timeout_ns);
    Deadline d(timeout_ns);
    return shutdown_impl(d);
}

WEFT_API weft_status weft_timer_start(weft_timer **out, int64_t delay_ns, weft_timer_fn fn,
                                      void *user_data) noexcept {
    if (!out) return null_arg("weft_timer_start", "out");
    *out = nullptr;
    if (!fn) return null_arg("weft_timer_start", "fn");
    if (delay_ns < 0)
        return fail(WEFT_EINVAL, "weft_timer_start: delay_ns is %lld; must be >= 0", static_cast<long long>(delay_ns));
    weft_timer *tm = new (std::nothrow) weft_timer;
    if (!tm) return fail(WEFT_ENOMEM, "weft_timer_start: out of memory");
    std::int64_t now = monotonic_now();
    tm->due = delay_ns > Deadline::kNever - now ? Deadline::kNever : now + delay_ns;
    tm->fn = fn;
    tm->arg = user_data;
    weft_thread *th;
    weft_status s = create_impl("weft_timer_start", &th, timer_main, tm, nullptr);
    if (s == WEFT_OK) {
        s = start_impl("weft_timer_start", th);
        weft_thread_destroy(th);  // the thread runs on, detached
    }
    if (s != WEFT_OK) {
        tm->poison();
        delete tm;
        return s;
    }
    *out = tm;
    return WEFT_OK;
}

WEFT_API weft_status weft_timer_cancel(weft_timer *t) noexcept {
    WEFT_CHECK_HANDLE("weft_timer_cancel", t);
    std::uint32_t s = kTimerPending;
    if (t->state.compare_exchange_strong(s, kTimerCancelled, std::memory_order_acq_rel)) {
        futex::wake_all(&t->state);
        return WEFT_OK;
    }
    if (s == kTimerCancelled) return WEFT_OK;
    return fail(WEFT_EBUSY, "weft_timer_cancel: timer %p already %s", static_cast<void *>(t),
                s == kTimerRunning ? "running its function" : "fired");
}

WEFT_API weft_status weft_timer_join(weft_timer *t, int64_t timeout_ns) noexcept {
    WEFT_CHECK_HANDLE("weft_timer_join", t);
    WEFT_CHECK_TIMEOUT("weft_timer_join", timeout_ns);
    if (t->state.load(std::memory_order_acquire) == kTimerRunning &&
        t->ident.load(std::memory_order_acquire) == current_ident())
        return fail(WEFT_EDEADLK, "weft_timer_join: called from timer %p's own function", static_cast<void *>(t));
    Deadline d(timeout_ns);
    if (wait_finished(t->state, kTimerCancelled, kTimerDone, d) != WEFT_OK)
        return fail(WEFT_ETIMEDOUT, "weft_timer_join: timer %p not finished after %lld ns", static_cast<void *>(t),
                    static_cast<long long>(timeout_ns));
    return WEFT_OK;
}

WEFT_API void weft_timer_destroy(weft_timer *t) noexcept {
    if (!valid(t)) return;
    t->poison();  // one handle per timer: later calls with it are misuse
    std::uint32_t s = kTimerPending;
    if (t->state.compare_exchange_strong(s, kTimerCancelled, std::memory_order_acq_rel))
        futex::wake_all(&t->state);
    timer_unref(t);
}

}  // extern "C"

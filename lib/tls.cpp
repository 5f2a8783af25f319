// Thread-local storage: keys with destructors, and Python's threading.local.
//
// Every key owns an index into a per-thread slot table and a generation
// number unique to it. A slot holds (value, generation); it belongs to a key
// only when the generations match, so a destroyed key's slot is never
// confused with a later key that reuses the index. get/set touch only the
// calling thread's table: no lock, no allocation once the table is big
// enough.
//
// A process-wide registry (created on first use, never freed) holds the key
// table (generation, destructor, state) and the list of threads that have a
// slot table, under one WordLock. Thread exit is hooked with one pthread key
// whose destructor runs in every exiting thread, whoever created it; it runs
// the destructors of the thread's values (in rounds, since destructors may
// set values again). Key destroy takes the key's value out of every live
// thread's table and runs the destructor on it, then waits until no exiting
// thread still runs a destructor of that key. User code never runs with the
// registry lock held; each value is taken out of its slot under the lock by
// exactly one party, so each destructor runs exactly once.
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <new>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <weft/tls.h>

#include "internal/boundary.hpp"
#include "internal/futex.hpp"
#include "internal/handle.hpp"
#include "internal/word_lock.hpp"

namespace weft::detail::tls {

// Like PTHREAD_DESTRUCTOR_ITERATIONS.
constexpr int kExitRounds = 4;

struct Slot {
    std::atomic<void *> value{nullptr};
    std::atomic<std::uint64_t> gen{0};
};

struct ThreadData {
    Slot *slots = nullptr;  // grown only by the owner, under the registry lock
    std::size_t cap = 0;
    ThreadData *prev = nullptr, *next = nullptr;  // registry list
    std::int64_t running = -1;  // key index whose destructor this thread runs at exit
};

enum class KeyState : std::uint8_t { free, live, dying };

struct Entry {
    std::uint64_t gen = 0;
    weft_free_fn dtor = nullptr;
    KeyState state = KeyState::free;
    std::uint32_t inflight = 0;  // exit-time destructors of this key running now
};

struct KeyId {
    std::uint32_t index = 0;
    std::uint64_t gen = 0;
};

void on_thread_exit(void *p) noexcept;
void fork_prepare() noexcept;
void fork_parent() noexcept;
void fork_child() noexcept;

struct Registry {
    WordLock mu;
    std::vector<Entry> entries;
    std::vector<std::uint32_t> free_indices;  // capacity kept >= entries.size()
    std::uint64_t last_gen = 0;
    ThreadData *threads = nullptr;
    pthread_key_t exit_key{};
    int exit_key_err = 0;
    std::atomic<std::uint32_t> exit_seq{0};  // futex word: an exit destructor finished
    std::uint32_t exit_sleepers = 0;
};

class Guard {
public:
    explicit Guard(WordLock &l) noexcept : l_(l) { l_.lock_forever(); }
    ~Guard() { l_.unlock(); }
    Guard(const Guard &) = delete;
    Guard &operator=(const Guard &) = delete;

private:
    WordLock &l_;
};

// Created on first use and never freed: threads may exit (and use it) while
// the process runs its exit handlers. May throw std::bad_alloc (first call).
Registry &registry() {
    static Registry *r = [] {
        Registry *reg = new Registry;
        reg->exit_key_err = pthread_key_create(&reg->exit_key, on_thread_exit);
        (void)pthread_atfork(fork_prepare, fork_parent, fork_child);
        return reg;
    }();
    return *r;
}

ThreadData *&current() noexcept {
    static thread_local ThreadData *td = nullptr;  // trivial: no TLS destructor
    return td;
}

// Fork repair: the child has only the forking thread. The other threads'
// tables go (their values are dropped without destructors, as their threads
// never exit in the child) and so do counts of destructors they were
// running; the lock, held by the forking thread across fork, is rebuilt.
void fork_prepare() noexcept { registry().mu.lock_forever(); }
void fork_parent() noexcept { registry().mu.unlock(); }

void fork_child() noexcept {
    Registry &r = registry();
    new (&r.mu) WordLock;
    ThreadData *me = current();
    for (ThreadData *t = r.threads; t;) {
        ThreadData *nx = t->next;
        if (t != me) {
            delete[] t->slots;
            delete t;
        }
        t = nx;
    }
    r.threads = me;
    if (me) me->prev = me->next = nullptr;
    for (std::size_t i = 0; i < r.entries.size(); ++i)
        r.entries[i].inflight = (me != nullptr && me->running == static_cast<std::int64_t>(i)) ? 1 : 0;
    r.exit_sleepers = 0;
}

weft_status key_create(const char *func, KeyId &out, weft_free_fn dtor) noexcept {
    return guarded(func, [&]() -> weft_status {
        Registry &r = registry();
        if (r.exit_key_err != 0)
            return fail_sys(WEFT_ESYS, r.exit_key_err, "%s: pthread_key_create for the thread-exit hook failed", func);
        Guard g(r.mu);
        std::uint32_t idx;
        if (!r.free_indices.empty()) {
            idx = r.free_indices.back();
            r.free_indices.pop_back();
        } else {
            if (r.entries.size() >= UINT32_MAX)
                return fail(WEFT_EOVERFLOW, "%s: too many thread-local keys", func);
            // Grow both first, so destroy's push_back never allocates.
            r.free_indices.reserve(r.entries.size() + 1);
            r.entries.emplace_back();
            idx = static_cast<std::uint32_t>(r.entries.size() - 1);
        }
        Entry &e = r.entries[idx];
        e.gen = ++r.last_gen;
        e.dtor = dtor;
        e.state = KeyState::live;
        e.inflight = 0;
        out.index = idx;
        out.gen = e.gen;
        return WEFT_OK;
    });
}

void key_destroy(const KeyId &k) noexcept {
    Registry &r = registry();  // exists: the key was created through it
    weft_free_fn dtor;
    {
        Guard g(r.mu);
        r.entries[k.index].state = KeyState::dying;
        dtor = r.entries[k.index].dtor;
    }
    for (;;) {
        void *v = nullptr;
        r.mu.lock_forever();
        for (ThreadData *t = r.threads; t != nullptr && v == nullptr; t = t->next) {
            if (k.index >= t->cap) continue;
            Slot &s = t->slots[k.index];
            if (s.gen.load(std::memory_order_acquire) == k.gen) v = s.value.exchange(nullptr, std::memory_order_acq_rel);
        }
        if (v != nullptr) {
            r.mu.unlock();
            if (dtor) dtor(v);
            continue;
        }
        // Wait for exiting threads still running this key's destructor (not
        // counting ourselves, if a destructor of ours destroys its own key).
        ThreadData *me = current();
        std::uint32_t own = (me != nullptr && me->running == static_cast<std::int64_t>(k.index)) ? 1 : 0;
        if (r.entries[k.index].inflight > own) {
            ++r.exit_sleepers;
            std::uint32_t seen = r.exit_seq.load(std::memory_order_relaxed);
            r.mu.unlock();
            (void)futex::wait(&r.exit_seq, seen, Deadline::kNever);
            r.mu.lock_forever();
            --r.exit_sleepers;
            r.mu.unlock();
            continue;
        }
        Entry &e = r.entries[k.index];
        e.state = KeyState::free;
        e.dtor = nullptr;
        r.free_indices.push_back(k.index);  // capacity reserved at create
        r.mu.unlock();
        return;
    }
}

// Grow the calling thread's table (creating and registering it first) so
// that `index` fits; registry lock not held on entry.
weft_status grow(const char *func, std::uint32_t index) noexcept {
    return guarded(func, [&]() -> weft_status {
        Registry &r = registry();
        if (r.exit_key_err != 0)
            return fail_sys(WEFT_ESYS, r.exit_key_err, "%s: pthread_key_create for the thread-exit hook failed", func);
        ThreadData *&td = current();
        Guard g(r.mu);
        if (td == nullptr) {
            ThreadData *fresh = new ThreadData;
            int err = pthread_setspecific(r.exit_key, fresh);
            if (err != 0) {
                delete fresh;
                return fail_sys(WEFT_ESYS, err, "%s: pthread_setspecific for the thread-exit hook failed", func);
            }
            fresh->next = r.threads;
            if (r.threads) r.threads->prev = fresh;
            r.threads = fresh;
            td = fresh;
        }
        if (index < td->cap) return WEFT_OK;
        // Room for every key that exists now, so later sets do not allocate.
        std::size_t want = std::max<std::size_t>({std::size_t{index} + 1, r.entries.size(), td->cap * 2, 16});
        Slot *slots = new Slot[want];
        for (std::size_t i = 0; i < td->cap; ++i) {
            slots[i].gen.store(td->slots[i].gen.load(std::memory_order_relaxed), std::memory_order_relaxed);
            slots[i].value.store(td->slots[i].value.load(std::memory_order_relaxed), std::memory_order_relaxed);
        }
        delete[] td->slots;
        td->slots = slots;
        td->cap = want;
        return WEFT_OK;
    });
}

inline void store(Slot &s, const KeyId &k, void *value) noexcept {
    s.gen.store(k.gen, std::memory_order_relaxed);
    s.value.store(value, std::memory_order_release);
}

inline weft_status set(const char *func, const KeyId &k, void *value) noexcept {
    ThreadData *td = current();
    if (__builtin_expect(td != nullptr && k.index < td->cap, 1)) {
        store(td->slots[k.index], k, value);
        return WEFT_OK;
    }
    if (value == nullptr) return WEFT_OK;  // a slot beyond the table holds nothing to clear
    weft_status st = grow(func, k.index);
    if (st != WEFT_OK) return st;
    store(current()->slots[k.index], k, value);
    return WEFT_OK;
}

inline void *get(const KeyId &k) noexcept {
    ThreadData *td = current();
    if (td != nullptr && k.index < td->cap) {
        Slot &s = td->slots[k.index];
        if (s.gen.load(std::memory_order_relaxed) == k.gen) return s.value.load(std::memory_order_relaxed);
    }
    return nullptr;
}

// The pthread key destructor: runs in every exiting thread that has a table.
void on_thread_exit(void *p) noexcept {
    ThreadData *td = static_cast<ThreadData *>(p);
    Registry &r = registry();
    for (int round = 0; round < kExitRounds; ++round) {
        bool ran = false;
        std::size_t i = 0;
        for (;;) {
            void *v = nullptr;
            weft_free_fn dtor = nullptr;
            r.mu.lock_forever();
            for (; i < td->cap; ++i) {
                Slot &s = td->slots[i];
                void *cur = s.value.exchange(nullptr, std::memory_order_acq_rel);
                if (cur == nullptr) continue;
                std::uint64_t g = s.gen.load(std::memory_order_relaxed);
                if (i < r.entries.size() && r.entries[i].gen == g && r.entries[i].state != KeyState::free &&
                    r.entries[i].dtor != nullptr) {
                    v = cur;
                    dtor = r.entries[i].dtor;
                    ++r.entries[i].inflight;
                    td->running = static_cast<std::int64_t>(i);
                    break;
                }
            }
            r.mu.unlock();
            if (dtor == nullptr) break;
            dtor(v);
            ran = true;
            r.mu.lock_forever();
            --r.entries[i].inflight;
            td->running = -1;
            bool wake = r.exit_sleepers > 0;
            if (wake) r.exit_seq.fetch_add(1, std::memory_order_relaxed);
            r.mu.unlock();
            if (wake) futex::wake_all(&r.exit_seq);
            ++i;
        }
        if (!ran) break;
    }
    {
        Guard g(r.mu);
        if (td->prev) td->prev->next = td->next;
        else r.threads = td->next;
        if (td->next) td->next->prev = td->prev;
    }
    delete[] td->slots;
    delete td;
    if (current() == td) current() = nullptr;
}

// ---- threading.local: one key whose per-thread value is a name -> value map.

struct LocalValue {
    void *value;
    weft_free_fn free_fn;
};

struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

using LocalMap = std::unordered_map<std::string, LocalValue, NameHash, std::equal_to<>>;

void free_local_map(void *p) noexcept {
    LocalMap *m = static_cast<LocalMap *>(p);
    for (auto &kv : *m)
        if (kv.second.free_fn) kv.second.free_fn(kv.second.value);
    delete m;
}

}  // namespace weft::detail::tls

struct weft_tls_key : weft::detail::Handle<weft::detail::Magic::tls_key> {
    weft::detail::tls::KeyId id;
};

struct weft_local : weft::detail::Handle<weft::detail::Magic::local> {
    weft::detail::tls::KeyId id;
};

using namespace weft::detail;

extern "C" {

WEFT_API weft_status weft_tls_key_create(weft_tls_key **out, weft_free_fn destructor) noexcept {
    if (!out) return null_arg("weft_tls_key_create", "out");
    *out = nullptr;
    weft_tls_key *k = new (std::nothrow) weft_tls_key;
    if (!k) return fail(WEFT_ENOMEM, "weft_tls_key_create: out of memory");
    weft_status st = tls::key_create("weft_tls_key_create", k->id, destructor);
    if (st != WEFT_OK) {
        delete k;
        return st;
    }
    *out = k;
    return WEFT_OK;
}

WEFT_API void weft_tls_key_destroy(weft_tls_key *key) noexcept {
    if (!valid(key)) return;
    key->poison();
    tls::key_destroy(key->id);
    delete key;
}

WEFT_API weft_status weft_tls_set(weft_tls_key *key, void *value) noexcept {
    WEFT_CHECK_HANDLE("weft_tls_set", key);
    return tls::set("weft_tls_set", key->id, value);
}

WEFT_API weft_status weft_tls_get(const weft_tls_key *key, void **out) noexcept {
    WEFT_CHECK_HANDLE("weft_tls_get", key);
    if (!out) return null_arg("weft_tls_get", "out");
    *out = tls::get(key->id);
    return WEFT_OK;
}

WEFT_API weft_status weft_local_create(weft_local **out) noexcept {
    if (!out) return null_arg("weft_local_create", "out");
    *out = nullptr;
    weft_local *loc = new (std::nothrow) weft_local;
    if (!loc) return fail(WEFT_ENOMEM, "weft_local_create: out of memory");
    weft_status st = tls::key_create("weft_local_create", loc->id, tls::free_local_map);
    if (st != WEFT_OK) {
        delete loc;
        return st;
    }
    *out = loc;
    return WEFT_OK;
}

WEFT_API void weft_local_destroy(weft_local *loc) noexcept {
    if (!valid(loc)) return;
    loc->poison();
    tls::key_destroy(loc->id);
    delete loc;
}

WEFT_API weft_status weft_local_set(weft_local *loc, const char *name, void *value, weft_free_fn free_fn) noexcept {
    WEFT_CHECK_HANDLE("weft_local_set", loc);
    if (!name) return null_arg("weft_local_set", "name");
    return guarded("weft_local_set", [&]() -> weft_status {
        auto *m = static_cast<tls::LocalMap *>(tls::get(loc->id));
        if (m == nullptr) {
            auto *fresh = new tls::LocalMap;
            weft_status st = tls::set("weft_local_set", loc->id, fresh);
            if (st != WEFT_OK) {
                delete fresh;
                return st;
            }
            m = fresh;
        }
        auto it = m->find(std::string_view(name));
        if (it == m->end()) {
            m->emplace(std::string(name), tls::LocalValue{value, free_fn});  // may throw: nothing taken
            return WEFT_OK;
        }
        tls::LocalValue old = it->second;
        it->second = tls::LocalValue{value, free_fn};
        if (old.free_fn && old.value != value) old.free_fn(old.value);
        return WEFT_OK;
    });
}

WEFT_API weft_status weft_local_get(const weft_local *loc, const char *name, void **out) noexcept {
    WEFT_CHECK_HANDLE("weft_local_get", loc);
    if (!out) return null_arg("weft_local_get", "out");
    *out = nullptr;
    if (!name) return null_arg("weft_local_get", "name");
    auto *m = static_cast<const tls::LocalMap *>(tls::get(loc->id));
    if (m != nullptr) {
        auto it = m->find(std::string_view(name));
        if (it != m->end()) {
            *out = it->second.value;
            return WEFT_OK;
        }
    }
    return fail(WEFT_ENOENT, "weft_local_get: this thread has no value named \"%.64s\"", name);
}

WEFT_API weft_status weft_local_delete(weft_local *loc, const char *name) noexcept {
    WEFT_CHECK_HANDLE("weft_local_delete", loc);
    if (!name) return null_arg("weft_local_delete", "name");
    auto *m = static_cast<tls::LocalMap *>(tls::get(loc->id));
    if (m != nullptr) {
        auto it = m->find(std::string_view(name));
        if (it != m->end()) {
            tls::LocalValue old = it->second;
            m->erase(it);
            if (old.free_fn) old.free_fn(old.value);
            return WEFT_OK;
        }
    }
    return fail(WEFT_ENOENT, "weft_local_delete: this thread has no value named \"%.64s\"", name);
}

}  // extern "C"

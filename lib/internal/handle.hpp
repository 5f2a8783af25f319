// Opaque handles: every public object starts with a per-type magic word,
// checked at each entry and poisoned at destroy, so a destroyed or wrong
// handle gives WEFT_EMISUSE instead of a crash where that can be detected.
// It is best effort (freed memory can be reused); ASan finds the rest.
#pragma once

#include <atomic>
#include <cstdint>

#include "error.hpp"

namespace weft::detail {

// One live value per public type. Never reuse a value; append new ones.
enum class Magic : std::uint32_t {
    dead = 0xDEADF00Du,
    thread = 0x57544852u,     // "WTHR"
    timer = 0x5754494Du,      // "WTIM"
    lock = 0x574C434Bu,       // "WLCK"
    rlock = 0x57524C4Bu,      // "WRLK"
    semaphore = 0x5753454Du,  // "WSEM"
    condition = 0x57434E44u,  // "WCND"
    event = 0x57455654u,      // "WEVT"
    barrier = 0x57424152u,    // "WBAR"
    rwlock = 0x5752574Cu,     // "WRWL"
    tls_key = 0x57544B59u,    // "WTKY"
    local = 0x574C4F43u,      // "WLOC"
    queue = 0x57515545u,      // "WQUE"
    future = 0x57465554u,     // "WFUT"
    pool = 0x57504F4Fu,       // "WPOO"
    as_completed = 0x57414343u,  // "WACC"
    shm = 0x5753484Du,           // "WSHM"
    connection = 0x57434F4Eu,    // "WCON"
    listener = 0x574C5354u,      // "WLST"
    process = 0x57505243u,       // "WPRC"
    shm_array = 0x57415252u,     // "WARR"
    dict = 0x57444354u,          // "WDCT"
    process_pool = 0x57505050u,  // "WPPP"
    forkserver = 0x57465356u,    // "WFSV"
};

// Base of every handle. Public `struct weft_x` derive from it (first base,
// standard layout), so the magic sits at offset 0.
template <Magic M>
struct Handle {
    std::atomic<std::uint32_t> magic_{static_cast<std::uint32_t>(M)};

    Handle() noexcept = default;
    Handle(const Handle &) = delete;
    Handle &operator=(const Handle &) = delete;
    ~Handle() { magic_.store(static_cast<std::uint32_t>(Magic::dead), std::memory_order_relaxed); }

    bool alive() const noexcept {
        return magic_.load(std::memory_order_relaxed) == static_cast<std::uint32_t>(M);
    }
    // Mark dead before teardown starts, so racing entries see misuse.
    void poison() noexcept { magic_.store(static_cast<std::uint32_t>(Magic::dead), std::memory_order_relaxed); }
};

// True when `h` is a live handle of type T.
template <class T>
inline bool valid(const T *h) noexcept {
    return h != nullptr && h->alive();
}

// The plain destroy of a heap handle: NULL and dead handles are ignored,
// the magic is poisoned before the object goes.
template <class T>
inline void destroy_handle(T *h) noexcept {
    if (!valid(h)) return;
    h->poison();
    delete h;
}

}  // namespace weft::detail

// `WEFT_CHECK_HANDLE(func, h)` at the top of an extern "C" entry: returns
// WEFT_EMISUSE with a message naming `func` when `h` is NULL, destroyed or of
// another type.
#define WEFT_CHECK_HANDLE(func, h)                                          \
    do {                                                                    \
        if (__builtin_expect(!::weft::detail::valid(h), 0))                 \
            return ::weft::detail::misuse(func, #h, static_cast<const void *>(h)); \
    } while (0)

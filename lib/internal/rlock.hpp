// The re-entrant lock's object, shared by rlock.cpp (its API) and
// condition.cpp (which releases it fully around a wait and restores the
// depth afterwards, Python's _release_save/_acquire_restore).
#pragma once

#include <atomic>
#include <climits>
#include <cstdint>

#include <weft/rlock.h>

#include "deadline.hpp"
#include "handle.hpp"
#include "ident.hpp"
#include "word_lock.hpp"

struct weft_rlock : weft::detail::Handle<weft::detail::Magic::rlock> {
    weft::detail::WordLock word;
    // weft ident of the owner, 0 when free. Only the owner stores its own
    // ident, so a thread that reads its own ident here owns the lock (a
    // relaxed load is enough for that test); others read it as a snapshot.
    std::atomic<std::uint64_t> owner{0};
    int depth = 0;  // touched only by the owner

    bool owned_by_caller() const noexcept {
        return owner.load(std::memory_order_relaxed) == weft::detail::current_ident();
    }

    // Release fully whatever the depth (the caller owns it); returns the depth.
    int release_save() noexcept {
        int saved = depth;
        depth = 0;
        owner.store(0, std::memory_order_relaxed);
        word.unlock();
        return saved;
    }

    // Take it back (forever) at the depth release_save() returned.
    void acquire_restore(int saved) noexcept {
        word.lock_forever();
        owner.store(weft::detail::current_ident(), std::memory_order_relaxed);
        depth = saved;
    }
};

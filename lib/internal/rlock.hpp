// The re-entrant lock's object, shared by rlock.cpp (its API) and
// condition.cpp (which releases it fully around a wait and restores the
// depth afterwards, Python's _release_save/_acquire_restore).
//
// Thread scope: a WordLock plus the owner's weft ident and the depth, in the
// handle. Process scope: the same three in a shared segment (RLockPayload),
// the lock being a robust error-checking mutex; the owner test there is the
// kernel tid in the mutex word (weft idents are only unique per process).
#pragma once

#include <atomic>
#include <climits>
#include <cstdint>

#include <weft/rlock.h>

#include "deadline.hpp"
#include "handle.hpp"
#include "ident.hpp"
#include "lock.hpp"
#include "word_lock.hpp"

namespace weft::detail {

// A process-scope RLock (shm::Kind::rlock).
struct RLockPayload {
    RobustMutex m;                        // error-checking; re-entry is counted in `depth`
    std::atomic<std::uint64_t> owner;     // the owner's weft ident (in its own process), 0 when free
    std::int32_t depth;                   // touched only by the owner
    std::uint32_t reserved;
};
inline constexpr std::uint32_t kRLockLayout = 1;

}  // namespace weft::detail

struct weft_rlock : weft::detail::Handle<weft::detail::Magic::rlock> {
    weft::detail::WordLock word;
    // weft ident of the owner, 0 when free. Only the owner stores its own
    // ident, so a thread that reads its own ident here owns the lock (a
    // relaxed load is enough for that test); others read it as a snapshot.
    std::atomic<std::uint64_t> owner{0};
    int depth = 0;  // touched only by the owner
    weft::detail::RLockPayload *proc = nullptr;  // process scope: the state in shared memory
    weft::detail::shm::Segment *seg = nullptr;   // its mapping

    bool owned_by_caller() const noexcept {
        if (__builtin_expect(proc != nullptr, 0)) return weft::detail::held_by_caller(proc->m);
        return owner.load(std::memory_order_relaxed) == weft::detail::current_ident();
    }

    // Release fully whatever the depth (the caller owns it); returns the depth.
    int release_save() noexcept {
        if (proc) {
            int saved = proc->depth;
            proc->depth = 0;
            proc->owner.store(0, std::memory_order_relaxed);
            (void)proc->m.unlock();
            return saved;
        }
        int saved = depth;
        depth = 0;
        owner.store(0, std::memory_order_relaxed);
        word.unlock();
        return saved;
    }

    // Take it back (forever) at the depth release_save() returned. Thread
    // scope: always WEFT_OK. Process scope: WEFT_OK, WEFT_EOWNERDEAD (held,
    // at the saved depth) or WEFT_ENOTRECOVERABLE (not held).
    weft_status acquire_restore(int saved, const char *func) noexcept {
        if (proc) {
            weft::detail::Deadline d = weft::detail::Deadline::forever();
            weft_status st = weft::detail::robust_acquire(func, this, proc->m, d);
            if (st != WEFT_OK && st != WEFT_EOWNERDEAD) return st;
            proc->owner.store(weft::detail::current_ident(), std::memory_order_relaxed);
            proc->depth = saved;
            return st;
        }
        word.lock_forever();
        owner.store(weft::detail::current_ident(), std::memory_order_relaxed);
        depth = saved;
        return WEFT_OK;
    }
};

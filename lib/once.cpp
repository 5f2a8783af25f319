// Once: run an initializer exactly once, over one futex word in caller storage.
//
// state_: 0 not run, 1 running, 2 running and someone sleeps on it, 3 done.
// The done path is one acquire load. A thread-local stack of the onces the
// calling thread is running turns recursion into WEFT_EDEADLK.
#include <atomic>
#include <climits>

#include <linux/futex.h>

#include <weft/once.h>

#include "internal/error.hpp"
#include "internal/futex.hpp"

namespace weft::detail {
namespace {

constexpr std::uint32_t kInit = 0, kRunning = 1, kWaiters = 2, kDone = 3;

struct OnceFrame {
    const weft_once *once;
    OnceFrame *prev;
};

// Innermost once the calling thread is running (trivial TLS, no destructor).
OnceFrame *&running_top() noexcept {
    static thread_local OnceFrame *top = nullptr;
    return top;
}

bool running_here(const weft_once *once) noexcept {
    for (const OnceFrame *f = running_top(); f != nullptr; f = f->prev)
        if (f->once == once) return true;
    return false;
}

void wait_while_running(weft_once *once) noexcept {
    (void)futex::sys(&once->state_, FUTEX_WAIT_PRIVATE, kWaiters, nullptr, 0);
}

void wake_all(weft_once *once) noexcept {
    (void)futex::sys(&once->state_, FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, 0);
}

weft_status not_initialised(const char *func, const weft_once *once, std::uint32_t s) noexcept {
    return fail(WEFT_EINVAL, "%s: once (%p) holds %u; initialise it with WEFT_ONCE_INIT", func,
                static_cast<const void *>(once), s);
}

weft_status run(weft_once *once, std::atomic_ref<std::uint32_t> st, weft_once_fn fn, void *user_data) noexcept {
    OnceFrame frame{once, running_top()};
    running_top() = &frame;
    try {
        fn(user_data);
    } catch (...) {
        // Not done: let the next caller try again.
        running_top() = frame.prev;
        if (st.exchange(kInit, std::memory_order_release) == kWaiters) wake_all(once);
        return fail(WEFT_EINTERNAL, "weft_once_call: the initializer left by a C++ exception; once (%p) is not done",
                    static_cast<void *>(once));
    }
    running_top() = frame.prev;
    if (st.exchange(kDone, std::memory_order_release) == kWaiters) wake_all(once);
    return WEFT_OK;
}

[[gnu::noinline]] weft_status call_slow(weft_once *once, weft_once_fn fn, void *user_data) noexcept {
    std::atomic_ref<std::uint32_t> st(once->state_);
    std::uint32_t s = st.load(std::memory_order_acquire);
    for (;;) {
        switch (s) {
        case kDone:
            return WEFT_OK;
        case kInit:
            if (st.compare_exchange_strong(s, kRunning, std::memory_order_acquire, std::memory_order_acquire))
                return run(once, st, fn, user_data);
            continue;
        case kRunning:
        case kWaiters:
            if (running_here(once))
                return fail(WEFT_EDEADLK,
                            "weft_once_call: called from inside the initializer of the same once (%p); "
                            "it would wait for itself",
                            static_cast<void *>(once));
            if (s == kRunning &&
                !st.compare_exchange_strong(s, kWaiters, std::memory_order_acquire, std::memory_order_acquire))
                continue;
            wait_while_running(once);
            s = st.load(std::memory_order_acquire);
            continue;
        default:
            return not_initialised("weft_once_call", once, s);
        }
    }
}

}  // namespace
}  // namespace weft::detail

using namespace weft::detail;

extern "C" {

WEFT_API weft_status weft_once_call(weft_once *once, weft_once_fn fn, void *user_data) noexcept {
    if (__builtin_expect(!once, 0)) return null_arg("weft_once_call", "once");
    if (__builtin_expect(!fn, 0)) return null_arg("weft_once_call", "fn");
    if (__builtin_expect(std::atomic_ref<std::uint32_t>(once->state_).load(std::memory_order_acquire) == kDone, 1))
        return WEFT_OK;
    return call_slow(once, fn, user_data);
}

WEFT_API int weft_once_done(const weft_once *once) noexcept {
    if (!once) return null_arg("weft_once_done", "once");
    // atomic_ref needs a non-const object; the load does not write.
    std::uint32_t s = std::atomic_ref<std::uint32_t>(const_cast<weft_once *>(once)->state_)
                          .load(std::memory_order_acquire);
    if (s > kDone) return not_initialised("weft_once_done", once, s);
    return s == kDone ? 1 : 0;
}

}  // extern "C"

// A thread's "help while you wait" hook. A pool worker installs one for its
// lifetime; a wait for a future made on such a thread (weft_future_wait,
// weft_future_result, weft_pool_apply, weft_pool_map) runs queued tasks of
// the worker's pool through it instead of sleeping, so tasks that wait on
// tasks of their own pool cannot take every worker and deadlock the pool.
#pragma once

namespace weft::detail {

struct WaitHook {
    bool (*run_one)(void *ctx) noexcept;  // run one queued task; false when none was queued
    void *ctx;
};

inline WaitHook *&current_wait_hook() noexcept {
    static thread_local WaitHook *hook = nullptr;
    return hook;
}

// Install a hook for a scope (nesting restores the previous one).
class WaitHookScope {
public:
    explicit WaitHookScope(WaitHook *h) noexcept : prev_(current_wait_hook()) { current_wait_hook() = h; }
    ~WaitHookScope() { current_wait_hook() = prev_; }
    WaitHookScope(const WaitHookScope &) = delete;
    WaitHookScope &operator=(const WaitHookScope &) = delete;

private:
    WaitHook *prev_;
};

}  // namespace weft::detail

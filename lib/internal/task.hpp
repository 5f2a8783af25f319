// TaskScope: what a worker wraps around one task so that the public
// weft_task_* functions work inside it. Never installed.
//
// Usage (the thread pool, per task):
//
//     weft_future *f = ...;                    // created at submit, pool holds a reference
//     if (weft_future_set_running(f) == WEFT_ECANCELLED) { /* skip the task */ }
//     {
//         weft::detail::TaskScope scope(f);    // f becomes weft_task_current()
//         void *r = task->fn(task->arg);       // may call weft_task_fail(), weft_task_cancel_requested()
//         scope.finish(r, task->result_free);  // DONE with r, or FAILED with the recorded error
//         if (scope.failed()) report(scope.code(), scope.message());
//     }
//     weft_future_destroy(f);                  // the pool's reference
//
// - The future may be nullptr (a fire-and-forget task): weft_task_fail() is
//   still recorded (see failed()/code()/message()), weft_task_current()
//   returns NULL and weft_task_cancel_requested() returns 0; finish() then
//   frees the result with result_free.
// - Scopes nest: the constructor makes this task the thread's current one and
//   finish() (or the destructor) restores the previous one, so a task that
//   runs another task inline (a pool helping itself while it waits) works.
//   Construct and end scopes on one thread, innermost first (stack order).
// - finish() ends the scope BEFORE it finishes the future, so done callbacks
//   (which run inside set_result/set_error) see the enclosing task, not this
//   one. When the task recorded a failure, finish() sets the error and frees
//   the result with result_free (the future never owns it). If the future
//   was finished by someone else already (misuse), the result is freed too.
// - A scope that ends without finish() (an exception, an early return) fails
//   its future with WEFT_EINTERNAL, so nobody waits forever for a lost result.
// - The scope does not retain the future: the caller keeps it alive.
// - No allocation: the message is kept in a fixed buffer inside the scope
//   (truncated to WEFT_ERROR_MESSAGE_MAX - 1 bytes); set_error copies it.
#pragma once

#include <weft/error.h>
#include <weft/future.h>

namespace weft::detail {

// The per-task record a TaskScope owns; lib/future.cpp reads it through
// current_task() for weft_task_fail() and friends.
struct TaskState {
    weft_future *future = nullptr;
    TaskState *prev = nullptr;
    bool failed = false;
    weft_status code = WEFT_OK;
    char message[WEFT_ERROR_MESSAGE_MAX];  // NUL-terminated; set when failed
};

// The calling thread's innermost task, or nullptr (defined in future.cpp).
TaskState *&current_task() noexcept;

class TaskScope {
public:
    explicit TaskScope(weft_future *f) noexcept {
        TaskState *&cur = current_task();
        st_.future = f;
        st_.prev = cur;
        st_.message[0] = '\0';
        cur = &st_;
    }

    ~TaskScope() {
        if (!ended_) {
            leave();
            if (st_.future) {
                const char *m = st_.failed ? st_.message : "the task's scope ended without a result";
                (void)weft_future_set_error(st_.future, st_.failed ? st_.code : WEFT_EINTERNAL, m);
            }
        }
    }

    TaskScope(const TaskScope &) = delete;
    TaskScope &operator=(const TaskScope &) = delete;

    // End the task: the future (if any) becomes DONE with result, or FAILED
    // with the error weft_task_fail() recorded. Call at most once.
    void finish(void *result, weft_free_fn result_free) noexcept {
        if (ended_) return;
        leave();
        if (st_.failed || !st_.future) {
            if (st_.future) (void)weft_future_set_error(st_.future, st_.code, st_.message);
            if (result_free) result_free(result);
            return;
        }
        if (weft_future_set_result(st_.future, result, result_free) != WEFT_OK && result_free) result_free(result);
    }

    bool failed() const noexcept { return st_.failed; }
    weft_status code() const noexcept { return st_.failed ? st_.code : WEFT_OK; }
    const char *message() const noexcept { return st_.message; }
    weft_future *future() const noexcept { return st_.future; }

private:
    void leave() noexcept {
        ended_ = true;
        current_task() = st_.prev;
    }

    TaskState st_;
    bool ended_ = false;
};

}  // namespace weft::detail

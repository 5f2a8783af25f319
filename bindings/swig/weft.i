/*
 * bindings/swig/weft.i: the rules every SWIG target language shares.
 *
 * A language's module file (e.g. bindings/python/weft_python.i) declares its
 * %module, then, before %including this file, defines in a %{ %} block:
 *
 *   WEFT_SWIG_RAISE(status)   raise the language's error for a negative
 *                             weft_status (message: weft_last_error()).
 *   WEFT_SWIG_VOID(result)    set result to the language's "nothing" value.
 *
 * What this file decides for every language:
 * - Handles are opaque pointers the target language never owns: the
 *   language's wrapper class owns exactly one handle, calls *_destroy once
 *   (on close or collection) and then forgets the pointer, so a later call
 *   passes NULL and weft answers WEFT_EMISUSE, which becomes an error,
 *   never a crash.
 * - `weft_x **out` parameters become return values.
 * - A function returning weft_status returns nothing on WEFT_OK and raises
 *   on a negative code; one returning a count, flag or state (int, int64_t)
 *   returns it, and raises when it is negative (an error code).
 * - Functions that take C callbacks or untyped `void *` payloads are not
 *   wrapped 1:1: each language wraps them with its own trampolines (which
 *   own a reference to the language's callable or object).
 */

%{
/* The headers every language's binding covers 1:1. shm.h, connection.h and
 * dict.h are wrapped per language for now (bindings/python/weft_python.i's
 * py_mp_* helpers); process.h and process_pool.h are not wrapped yet. */
#include <weft/common.h>
#include <weft/error.h>
#include <weft/version.h>
#include <weft/clock.h>
#include <weft/system.h>
#include <weft/lock.h>
#include <weft/rlock.h>
#include <weft/semaphore.h>
#include <weft/condition.h>
#include <weft/event.h>
#include <weft/barrier.h>
#include <weft/rwlock.h>
#include <weft/once.h>
#include <weft/tls.h>
#include <weft/queue.h>
#include <weft/future.h>
#include <weft/pool.h>
#include <weft/thread.h>
%}

%include <stdint.i>

/* ---- status -> error hook ------------------------------------------------ */
%typemap(out) weft_status {
    if ($1 < 0) {
        WEFT_SWIG_RAISE($1);
        SWIG_fail;
    }
    WEFT_SWIG_VOID($result);
}

/* Counts, flags and states: a negative value is an error code (a NULL or
 * destroyed handle gives WEFT_EMISUSE), raised like a status. */
%typemap(out, fragment="SWIG_From_long_SS_long") int, int64_t {
    if ($1 < 0) {
        WEFT_SWIG_RAISE((weft_status)$1);
        SWIG_fail;
    }
    $result = SWIG_From_long_SS_long((long long)$1);
}

/* ---- handle out-parameters ------------------------------------------------ */
%define WEFT_HANDLE_OUT(TYPE)
%typemap(in, numinputs=0) TYPE **out (TYPE *tmp = NULL) { $1 = &tmp; }
%typemap(argout) TYPE **out {
    $result = SWIG_AppendOutput($result, SWIG_NewPointerObj(SWIG_as_voidptr(tmp$argnum), $*1_descriptor, 0));
}
%enddef

WEFT_HANDLE_OUT(weft_lock)
WEFT_HANDLE_OUT(weft_rlock)
WEFT_HANDLE_OUT(weft_semaphore)
WEFT_HANDLE_OUT(weft_condition)
WEFT_HANDLE_OUT(weft_event)
WEFT_HANDLE_OUT(weft_barrier)
WEFT_HANDLE_OUT(weft_rwlock)
WEFT_HANDLE_OUT(weft_queue)
WEFT_HANDLE_OUT(weft_future)
WEFT_HANDLE_OUT(weft_pool)
WEFT_HANDLE_OUT(weft_thread)
WEFT_HANDLE_OUT(weft_local)
WEFT_HANDLE_OUT(weft_tls_key)
WEFT_HANDLE_OUT(weft_as_completed)

/* Scalar out-parameters. */
%apply unsigned int *OUTPUT { unsigned *index };
%apply size_t *OUTPUT { size_t *n_done };

/* A thread's result pointer is not a value a language can use. */
%typemap(in, numinputs=0) void **result (void *tmp = NULL) { $1 = &tmp; }

/* ---- what every language wraps itself ------------------------------------- */
/* Callbacks and untyped payloads. */
%ignore weft_thread_create;
%ignore weft_thread_spawn;
%ignore weft_thread_current;
%ignore weft_thread_main;
%ignore weft_thread_enumerate;
%ignore weft_timer_start;
%ignore weft_condition_wait_for;
%ignore weft_future_set_result;
%ignore weft_future_result;
%ignore weft_future_error;
%ignore weft_future_add_done_callback;
%ignore weft_future_wait_many;
%ignore weft_as_completed_create;
%ignore weft_as_completed_next;
%ignore weft_task_current;
%ignore weft_pool_create;
%ignore weft_pool_submit;
%ignore weft_pool_execute;
%ignore weft_pool_apply;
%ignore weft_pool_apply_async;
%ignore weft_pool_map;
%ignore weft_pool_map_unordered;
%ignore weft_pool_stats_get;
%ignore weft_queue_create;
%ignore weft_queue_put;
%ignore weft_queue_put_priority;
%ignore weft_queue_get;
%ignore weft_tls_key_create;
%ignore weft_tls_set;
%ignore weft_tls_get;
%ignore weft_local_set;
%ignore weft_local_get;
%ignore weft_once_call;
%ignore weft_once_done;
%ignore weft_last_error;
/* Options structs: each language passes its own keyword arguments. */
%ignore weft_lock_options;
%ignore weft_rlock_options;
%ignore weft_semaphore_options;
%ignore weft_condition_options;
%ignore weft_event_options;
%ignore weft_barrier_options;
%ignore weft_rwlock_options;
%ignore weft_queue_options;
%ignore weft_pool_options;
%ignore weft_pool_stats;
%ignore weft_thread_options;
%ignore weft_error;
%ignore weft_sharing;
%ignore weft_once;

/**
 * @file tls.h
 * @brief Thread-local storage: keys with destructors (POSIX
 *        `pthread_key_t`), and named per-thread values (Python's
 *        `threading.local`).
 *
 * Two faces over one mechanism:
 *
 * - **weft_local**, the seeds' ThreadLocal. In Python,
 *   `data = threading.local(); data.student = "Ann"` gives every thread its
 *   own `data.student`. Here each thread stores values under names with
 *   weft_local_set() and reads back only its own with weft_local_get(); a name
 *   this thread never set is #WEFT_ENOENT (Python's `AttributeError`). Values
 *   are freed with their free functions when replaced, deleted, when their
 *   thread exits, or when the weft_local is destroyed.
 *
 * - **weft_tls_key**, the C way: one `void *` per thread per key, with an
 *   optional destructor run at thread exit. Unlike POSIX there is no limit on
 *   the number of keys (`PTHREAD_KEYS_MAX`), and destroying a key runs the
 *   destructor for the values still set in every live thread, so nothing
 *   leaks.
 *
 * Thread exit: destructors and free functions run in the exiting thread, for
 * every thread, whether weft or plain `pthread_create` started it. A
 * destructor may set values again; weft repeats the pass up to 4 times (like
 * `PTHREAD_DESTRUCTOR_ITERATIONS`) and then drops what is left. As with
 * POSIX, the values of the main thread are not freed when the process exits
 * by returning from `main` or calling `exit()`.
 *
 * Speed: weft_tls_get() and weft_tls_set() take no lock and allocate
 * nothing, except the first set in a thread and a set on a key created after
 * the thread's slot table last grew (both allocate once).
 *
 * @code
 * weft_local *data;
 * weft_local_create(&data);
 * // in each thread:
 * weft_local_set(data, "student", strdup("Ann"), free);
 * // deep down, without passing it along:
 * void *name;
 * if (weft_local_get(data, "student", &name) == WEFT_OK) puts(name);
 * @endcode
 *
 * @since 0.1
 */
#ifndef WEFT_TLS_H
#define WEFT_TLS_H

#include "common.h"

WEFT_BEGIN_DECLS

/** Opaque thread-local storage key: one `void *` slot in every thread. */
typedef struct weft_tls_key weft_tls_key;

/** Opaque set of named per-thread values (Python's `threading.local`). */
typedef struct weft_local weft_local;

/**
 * Create a thread-local storage key. Every thread's value starts as NULL.
 * @param out receives the handle.
 * @param destructor NULL, or a function run at thread exit, in the exiting
 *        thread, for that thread's value when it is not NULL, and by
 *        weft_tls_key_destroy() for the values still set.
 * @return #WEFT_OK; #WEFT_EINVAL if @p out is NULL; #WEFT_ENOMEM;
 *         #WEFT_ESYS if the one pthread key weft uses for exit hooks cannot
 *         be created.
 * There is no limit on the number of keys but memory. Thread-safe.
 * @since 0.1
 */
WEFT_API weft_status weft_tls_key_create(weft_tls_key **out, weft_free_fn destructor) WEFT_NOEXCEPT;

/**
 * Destroy a key. NULL is a no-op.
 *
 * Runs the key's destructor, in the calling thread, for every non-NULL value
 * still set in every live thread, and waits for destructors of this key that
 * exiting threads are running right now; when it returns, no destructor of
 * this key runs any more. Other threads must have stopped using the key
 * (calling weft_tls_get() or weft_tls_set() on it meanwhile is undefined).
 * Its slot may be reused by a later key, which never sees the old values.
 * @since 0.1
 */
WEFT_API void weft_tls_key_destroy(weft_tls_key *key) WEFT_NOEXCEPT;

/**
 * Set the calling thread's value for @p key.
 *
 * Replacing a value does NOT run the destructor on the old one (POSIX
 * semantics): the caller still owns it. Setting NULL clears the value, and no
 * destructor runs for it at thread exit.
 * @param key the key.
 * @param value any pointer, NULL included.
 * @return #WEFT_OK; #WEFT_EMISUSE for a NULL or destroyed key; #WEFT_ENOMEM
 *         when the thread's slot table cannot grow (the value is not set);
 *         #WEFT_ESYS if the thread's exit hook cannot be installed.
 * No lock and no allocation after the thread's first set (see the file
 * comment). Only affects the calling thread.
 * @since 0.1
 */
WEFT_API weft_status weft_tls_set(weft_tls_key *key, void *value) WEFT_NOEXCEPT;

/**
 * Read the calling thread's value for @p key.
 * @param key the key.
 * @param out receives the value, NULL when this thread never set one (or set
 *        NULL).
 * @return #WEFT_OK; #WEFT_EINVAL if @p out is NULL; #WEFT_EMISUSE for a NULL
 *         or destroyed key.
 * No lock, no allocation.
 * @since 0.1
 */
WEFT_API weft_status weft_tls_get(const weft_tls_key *key, void **out) WEFT_NOEXCEPT;

/**
 * Create an empty set of named per-thread values (Python's
 * `threading.local()`).
 * @param out receives the handle.
 * @return #WEFT_OK; #WEFT_EINVAL if @p out is NULL; #WEFT_ENOMEM; #WEFT_ESYS
 *         as for weft_tls_key_create().
 * @since 0.1
 */
WEFT_API weft_status weft_local_create(weft_local **out) WEFT_NOEXCEPT;

/**
 * Destroy @p loc. NULL is a no-op. Frees every thread's values with their
 * free functions, in the calling thread, and waits for free functions that
 * exiting threads are running on its values right now. Other threads must
 * have stopped using @p loc.
 * @since 0.1
 */
WEFT_API void weft_local_destroy(weft_local *loc) WEFT_NOEXCEPT;

/**
 * Set the calling thread's value called @p name (Python's
 * `local.name = value`).
 *
 * On success @p loc owns @p value: @p free_fn (if not NULL) runs on it
 * exactly once, when the name is set again to another pointer, deleted, when
 * the thread exits, or when @p loc is destroyed. Setting a name again frees
 * the old value with its own free function, after the new one is in place
 * (unless it is the same pointer). On failure nothing is taken and
 * @p free_fn never runs.
 * @param loc the set.
 * @param name NUL-terminated; copied. Any string, the empty one included.
 * @param value any pointer, NULL included.
 * @param free_fn NULL or the function that frees @p value.
 * @return #WEFT_OK; #WEFT_EINVAL if @p name is NULL; #WEFT_EMISUSE for a NULL
 *         or destroyed handle; #WEFT_ENOMEM; #WEFT_ESYS as for weft_tls_set().
 * Only affects the calling thread; free functions run in it.
 * @since 0.1
 */
WEFT_API weft_status weft_local_set(weft_local *loc, const char *name, void *value,
                                    weft_free_fn free_fn) WEFT_NOEXCEPT;

/**
 * Read the calling thread's value called @p name (Python's `local.name`).
 * @param loc the set.
 * @param name NUL-terminated.
 * @param out receives the value (NULL when the name is not set).
 * @return #WEFT_OK; #WEFT_ENOENT when this thread never set @p name or
 *         deleted it (Python's `AttributeError`); #WEFT_EINVAL if @p name or
 *         @p out is NULL; #WEFT_EMISUSE for a NULL or destroyed handle.
 * No lock, no allocation. The value stays owned by @p loc.
 * @since 0.1
 */
WEFT_API weft_status weft_local_get(const weft_local *loc, const char *name, void **out) WEFT_NOEXCEPT;

/**
 * Delete the calling thread's value called @p name (Python's
 * `del local.name`), freeing it with its free function.
 * @return #WEFT_OK; #WEFT_ENOENT when this thread has no value of that name;
 *         #WEFT_EINVAL if @p name is NULL; #WEFT_EMISUSE for a NULL or
 *         destroyed handle.
 * @since 0.1
 */
WEFT_API weft_status weft_local_delete(weft_local *loc, const char *name) WEFT_NOEXCEPT;

WEFT_END_DECLS

#endif /* WEFT_TLS_H */

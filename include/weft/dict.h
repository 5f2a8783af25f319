/**
 * @file dict.h
 * @brief A shared dict: string keys to byte values in shared memory, safe
 *        under concurrent use by many processes (the seeds' `Manager().dict()`,
 *        without a manager process).
 *
 * The dict lives in one shared memory segment of a fixed capacity, chosen at
 * creation: at most `max_entries` keys, and `capacity` bytes for keys and
 * values together. It is anonymous (children started with fork share it) or
 * named (any process opens it with weft_dict_open()). Every call copies:
 * weft_dict_set() copies the value in, weft_dict_get() copies it out, so no
 * pointer into the shared memory ever escapes.
 *
 * One robust process-shared lock guards it. A process killed in the middle
 * of a call never corrupts the dict: every change is written aside and then
 * published by one 8-byte store, and the next caller that finds the lock's
 * holder dead rebuilds the index from what was published and goes on. Callers
 * never see #WEFT_EOWNERDEAD from the plain calls; only weft_dict_lock()
 * reports it, because a caller's own multi-key transaction may have been left
 * half done.
 *
 * Compound updates: weft_dict_update() runs a callback on the old value under
 * the lock (a read-modify-write, `d[k] += 1`, done atomically);
 * weft_dict_lock() / weft_dict_unlock() bracket several calls into one
 * transaction (the lock is recursive, so the calls inside work as usual).
 *
 * @code
 * weft_dict *d;
 * weft_dict_options o = WEFT_DICT_OPTIONS_INIT;
 * o.share.name = "scores";                       // any process may open it
 * weft_dict_create(&d, &o);
 * weft_dict_set(d, "alice", "7", 1, WEFT_FOREVER);
 * char buf[16]; size_t n;
 * weft_dict_get(d, "alice", buf, sizeof buf, &n, WEFT_FOREVER);
 * weft_dict_destroy(d);
 * @endcode
 *
 * Thread safety: every function is thread-safe and process-safe. Fork: a
 * child started with fork may use its copy of the handle; destroying the copy
 * in the child only unmaps the child's view.
 *
 * @since 0.2
 */
#ifndef WEFT_DICT_H
#define WEFT_DICT_H

#include "common.h"

WEFT_BEGIN_DECLS

/** Opaque handle to a shared dict. */
typedef struct weft_dict weft_dict;

/** Options for weft_dict_create(); pass NULL for defaults. */
typedef struct weft_dict_options {
    uint32_t version;     /**< #WEFT_DICT_OPTIONS_VERSION */
    uint32_t max_entries; /**< most keys at once, 1..2^28; 0 means 1024 */
    uint64_t capacity;    /**< bytes for keys and values, 4 KiB..16 GiB; 0 means 256 KiB.
                               Each entry takes its key, its value and about 40 bytes
                               of bookkeeping, rounded up to 8 */
    weft_sharing share;   /**< #WEFT_SCOPE_PROCESS, anonymous (name NULL) or named with a
                               lifetime; #WEFT_SCOPE_THREAD is taken as anonymous process
                               scope */
} weft_dict_options;

/** Current version of ::weft_dict_options. */
#define WEFT_DICT_OPTIONS_VERSION 1
/** Default ::weft_dict_options: 1024 entries, 256 KiB, anonymous, process scope. */
#define WEFT_DICT_OPTIONS_INIT \
    { WEFT_DICT_OPTIONS_VERSION, 0, 0, { WEFT_SCOPE_PROCESS, WEFT_LIFETIME_OWNED, NULL, 0, 0 } }

/**
 * Create a shared dict.
 * @param out receives the handle; NULL on failure.
 * @param opts NULL for the defaults (#WEFT_DICT_OPTIONS_INIT).
 * @return #WEFT_OK; #WEFT_EINVAL for a NULL @p out, an unknown options
 *         version, `max_entries` or `capacity` out of range, a bad
 *         ::weft_sharing, or (with #WEFT_SHARE_OPEN_EXISTING) an existing name
 *         that is not a weft dict; #WEFT_EEXIST when the name exists;
 *         #WEFT_EPERM; #WEFT_ENOMEM; #WEFT_ESYS.
 *         With #WEFT_SHARE_OPEN_EXISTING and an existing name, that dict is
 *         opened with its own capacity.
 * @since 0.2
 */
WEFT_API weft_status weft_dict_create(weft_dict **out, const weft_dict_options *opts) WEFT_NOEXCEPT;

/**
 * Open the named dict made by weft_dict_create() in any process.
 * @return #WEFT_OK; #WEFT_ENOENT when there is no such name; #WEFT_EINVAL for
 *         a NULL argument, a bad name or a name that is not a weft dict;
 *         #WEFT_EPERM; #WEFT_ENOMEM; #WEFT_ESYS.
 * @since 0.2
 */
WEFT_API weft_status weft_dict_open(weft_dict **out, const char *name) WEFT_NOEXCEPT;

/**
 * Unmap and free the handle, removing the name as its lifetime says. NULL is
 * a no-op. Destroying it while this thread holds weft_dict_lock() leaves the
 * lock held until this process exits (then the next locker repairs).
 * @since 0.2
 */
WEFT_API void weft_dict_destroy(weft_dict *d) WEFT_NOEXCEPT;

/**
 * Copy the value of @p key into @p buf.
 * @param buf receives the value; may be NULL when @p cap is 0.
 * @param cap bytes at @p buf.
 * @param len receives the value's length (also when it did not fit); may be NULL.
 * @param timeout_ns how long to wait for the dict's lock.
 * @return #WEFT_OK; #WEFT_ENOENT when there is no such key; #WEFT_EMSGSIZE,
 *         with nothing copied and *len set to the size needed, when @p cap
 *         is too small; #WEFT_ETIMEDOUT; #WEFT_ENOTRECOVERABLE when a
 *         transaction holder released the lock after an owner death without
 *         weft_dict_mark_consistent(); #WEFT_EINVAL for a NULL @p key, a NULL
 *         @p buf with @p cap > 0 or a timeout below -1; #WEFT_EMISUSE.
 * @since 0.2
 */
WEFT_API weft_status weft_dict_get(weft_dict *d, const char *key, void *buf, size_t cap, size_t *len,
                                   int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * Copy the value of @p key into a buffer allocated for it.
 * @param value receives the bytes followed by one extra 0 byte (a text
 *        value reads as a C string); free it with weft_dict_free(). NULL on failure.
 * @param len receives the length (without the extra 0 byte); may be NULL.
 * @return as weft_dict_get(), without #WEFT_EMSGSIZE; #WEFT_ENOMEM;
 *         #WEFT_EINVAL for a NULL @p value.
 * @since 0.2
 */
WEFT_API weft_status weft_dict_get_alloc(weft_dict *d, const char *key, void **value, size_t *len,
                                         int64_t timeout_ns) WEFT_NOEXCEPT;

/** Free a buffer returned by weft_dict_get_alloc() or weft_dict_next(). NULL is a no-op. @since 0.2 */
WEFT_API void weft_dict_free(void *p) WEFT_NOEXCEPT;

/**
 * Set @p key to a copy of @p len bytes at @p value (insert or replace).
 * @param value may be NULL when @p len is 0 (an empty value).
 * @return #WEFT_OK; #WEFT_EOVERFLOW, with the dict unchanged, when it is
 *         full (a new key beyond `max_entries`, or no room left for the
 *         bytes); #WEFT_EMSGSIZE when the entry is larger than the whole
 *         capacity (it could never fit); #WEFT_ETIMEDOUT;
 *         #WEFT_ENOTRECOVERABLE; #WEFT_EINVAL for a NULL @p key, a NULL
 *         @p value with @p len > 0 or a timeout below -1; #WEFT_EMISUSE.
 * @since 0.2
 */
WEFT_API weft_status weft_dict_set(weft_dict *d, const char *key, const void *value, size_t len,
                                   int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * Remove @p key.
 * @return #WEFT_OK; #WEFT_ENOENT when there is no such key; #WEFT_ETIMEDOUT;
 *         #WEFT_ENOTRECOVERABLE; #WEFT_EINVAL; #WEFT_EMISUSE.
 * @since 0.2
 */
WEFT_API weft_status weft_dict_delete(weft_dict *d, const char *key, int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * Whether @p key is present.
 * @return 1 when present, 0 when not; or a negative code: #WEFT_ETIMEDOUT,
 *         #WEFT_ENOTRECOVERABLE, #WEFT_EINVAL, #WEFT_EMISUSE.
 * @since 0.2
 */
WEFT_API int weft_dict_contains(weft_dict *d, const char *key, int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * How many keys the dict holds.
 * @return the count (>= 0), or a negative code: #WEFT_ETIMEDOUT,
 *         #WEFT_ENOTRECOVERABLE, #WEFT_EINVAL, #WEFT_EMISUSE.
 * @since 0.2
 */
WEFT_API int64_t weft_dict_size(weft_dict *d, int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * Remove every key, atomically (a process killed half-way leaves either all
 * or none).
 * @return #WEFT_OK; #WEFT_ETIMEDOUT; #WEFT_ENOTRECOVERABLE; #WEFT_EINVAL;
 *         #WEFT_EMISUSE.
 * @since 0.2
 */
WEFT_API weft_status weft_dict_clear(weft_dict *d, int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * What an update callback asks for. Any other return value cancels the
 * update and makes weft_dict_update() fail with #WEFT_EFAILED.
 */
#define WEFT_DICT_UPDATE_SET 0    /**< store `*new_value` / `*new_len` */
#define WEFT_DICT_UPDATE_KEEP 1   /**< leave the key as it is */
#define WEFT_DICT_UPDATE_DELETE 2 /**< remove the key (nothing happens when it is absent) */

/**
 * Computes a key's new value from its old one, under the dict's lock.
 * @param old_value the current value (read-only, valid during the call), or
 *        NULL when the key is absent.
 * @param old_len its length (0 when absent).
 * @param new_value set it to the new bytes for #WEFT_DICT_UPDATE_SET; they
 *        are copied in after the callback returns, so they must outlive it
 *        (a buffer reached through @p user_data, say; @p old_value itself
 *        is fine too).
 * @param new_len set it to their length.
 * @return #WEFT_DICT_UPDATE_SET, #WEFT_DICT_UPDATE_KEEP or
 *         #WEFT_DICT_UPDATE_DELETE; anything else cancels.
 * The callback may call the other weft_dict functions on the same dict (the
 * lock is recursive; @p old_value is then no longer valid), but should be
 * short: every process waits meanwhile.
 */
typedef int (*weft_dict_update_fn)(const void *old_value, size_t old_len, const void **new_value,
                                   size_t *new_len, void *user_data);

/**
 * Atomically replace @p key's value by what @p fn computes from the old one
 * (Python: `with lock: d[k] = f(d.get(k))`, without a separate lock).
 * @p fn runs exactly once when the lock was taken, on this thread.
 * @return #WEFT_OK (also for KEEP, and for DELETE of an absent key);
 *         #WEFT_EFAILED when @p fn cancelled; #WEFT_EOVERFLOW or
 *         #WEFT_EMSGSIZE as weft_dict_set() (the old value stays);
 *         #WEFT_ETIMEDOUT (then @p fn did not run); #WEFT_ENOTRECOVERABLE;
 *         #WEFT_EINVAL for a NULL @p key or @p fn, a NULL new value with a
 *         length > 0, or a timeout below -1; #WEFT_EMISUSE.
 * @since 0.2
 */
WEFT_API weft_status weft_dict_update(weft_dict *d, const char *key, weft_dict_update_fn fn, void *user_data,
                                      int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * Take the dict's lock for a transaction of several calls. The lock is
 * recursive: the weft_dict calls of this thread go through while it holds
 * it; other threads and processes wait. Release it with weft_dict_unlock().
 * @return #WEFT_OK; #WEFT_EOWNERDEAD when the previous holder died holding
 *         it: the dict itself is repaired (every key holds a value that was
 *         set), but that holder's transaction may be half done; the lock is
 *         yours: fix what your transactions need, then call
 *         weft_dict_mark_consistent() (unlocking without it leaves the dict
 *         #WEFT_ENOTRECOVERABLE for everyone); #WEFT_ENOTRECOVERABLE;
 *         #WEFT_ETIMEDOUT; #WEFT_EOVERFLOW when the recursion count is
 *         exhausted; #WEFT_EINVAL for a timeout below -1; #WEFT_EMISUSE.
 * @since 0.2
 */
WEFT_API weft_status weft_dict_lock(weft_dict *d, int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * Release the lock taken with weft_dict_lock() (once per lock).
 * @return #WEFT_OK; #WEFT_EPERM when this thread does not hold it; #WEFT_EMISUSE.
 * @since 0.2
 */
WEFT_API weft_status weft_dict_unlock(weft_dict *d) WEFT_NOEXCEPT;

/**
 * After weft_dict_lock() returned #WEFT_EOWNERDEAD: make the lock normal
 * again (it stays held).
 * @return #WEFT_OK; #WEFT_EINVAL when the lock is not held in the owner-died
 *         state by this thread; #WEFT_EMISUSE.
 * @since 0.2
 */
WEFT_API weft_status weft_dict_mark_consistent(weft_dict *d) WEFT_NOEXCEPT;

/**
 * Iteration position for weft_dict_next(); start from #WEFT_DICT_CURSOR_INIT.
 * Its fields are private.
 */
typedef struct weft_dict_cursor {
    uint64_t generation; /**< private */
    uint64_t position;   /**< private */
} weft_dict_cursor;

/** A cursor at the start of the dict. */
#define WEFT_DICT_CURSOR_INIT { 0, 0 }

/**
 * The next entry: one entry per call, each under the lock, with no snapshot.
 * Safe while other processes modify the dict: a key present and unchanged for
 * the whole iteration is returned exactly once; a key set, replaced or
 * deleted meanwhile may be returned once, twice or not at all.
 * @param cursor the position, advanced on success.
 * @param key receives the key (a C string) to free with weft_dict_free(); may be NULL.
 * @param value receives the value plus an extra 0 byte, to free with
 *        weft_dict_free(); may be NULL.
 * @param value_len receives the value's length; may be NULL.
 * @return #WEFT_OK; #WEFT_ENOENT at the end (the outputs are untouched);
 *         #WEFT_ENOMEM (the cursor does not move); #WEFT_ETIMEDOUT;
 *         #WEFT_ENOTRECOVERABLE; #WEFT_EINVAL for a NULL @p cursor or a
 *         timeout below -1; #WEFT_EMISUSE.
 * @since 0.2
 */
WEFT_API weft_status weft_dict_next(weft_dict *d, weft_dict_cursor *cursor, char **key, void **value,
                                    size_t *value_len, int64_t timeout_ns) WEFT_NOEXCEPT;

/** The dict's name, or NULL for an anonymous dict or a bad handle. @since 0.2 */
WEFT_API const char *weft_dict_name(const weft_dict *d) WEFT_NOEXCEPT;

/** The most keys it holds (its `max_entries`), or 0 for a bad handle. @since 0.2 */
WEFT_API size_t weft_dict_max_entries(const weft_dict *d) WEFT_NOEXCEPT;

/** Its bytes for keys and values (its `capacity`), or 0 for a bad handle. @since 0.2 */
WEFT_API size_t weft_dict_capacity(const weft_dict *d) WEFT_NOEXCEPT;

WEFT_END_DECLS

#endif /* WEFT_DICT_H */

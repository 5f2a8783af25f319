/**
 * @file shm.h
 * Shared memory: named segments any process (in any language) can open, and
 * anonymous ones inherited by children — Python's
 * `multiprocessing.shared_memory.SharedMemory`, with an explicit lifetime and
 * no tracker process.
 *
 * A named segment is the file `/dev/shm/<name>`: Python's
 * `SharedMemory(name)` or a plain `shm_open("/<name>")` sees the same bytes,
 * the user's data at offset 0 (weft keeps 64 bytes of bookkeeping after the
 * data). It becomes visible under its name only once it is complete: an
 * optional init callback fills it first, so no opener ever sees a half-made
 * segment, two processes racing to create one name get one winner, and a
 * creator killed during set-up leaves nothing under the name (its private
 * temporary file is swept by the next creator).
 *
 * Thread safety: the functions are thread-safe; the bytes are the caller's to
 * guard (with a process-scope weft_lock, say).
 * Fork: a child started with fork keeps every mapping; its handle copies are
 * usable and closing them in the child unmaps only the child's view (a child
 * never removes its parent's name unless it calls weft_shm_unlink()).
 *
 * Lifetimes (see #WEFT_LIFETIME_OWNED and friends in common.h): owned (the
 * creator's close removes the name), reference counted (the last close in any
 * process removes it) or persistent (until weft_shm_unlink()).
 *
 * The second half of this header is the typed shared Value and Array
 * (weft_array_*, Python's `multiprocessing.Value` and `Array`) with their
 * optional robust lock; the shared dict is in dict.h.
 */
#ifndef WEFT_SHM_H
#define WEFT_SHM_H

#include "common.h"

WEFT_BEGIN_DECLS

/** Opaque handle to a mapped shared memory segment. */
typedef struct weft_shm weft_shm;

/**
 * Fills a new segment before it is published. Return 0 to publish it; any
 * other value abandons it and weft_shm_create() fails with #WEFT_EFAILED.
 * @param data the segment's bytes (zero-filled), @p size of them.
 */
typedef int (*weft_shm_init_fn)(void *data, size_t size, void *user_data);

/** Options for weft_shm_create(); pass NULL for defaults. */
typedef struct weft_shm_options {
    uint32_t version;       /**< #WEFT_SHM_OPTIONS_VERSION */
    uint32_t lifetime;      /**< WEFT_LIFETIME_* (named segments; default owned) */
    uint32_t flags;         /**< #WEFT_SHARE_OPEN_EXISTING: open the name when it exists */
    uint32_t mode;          /**< permission bits; 0 means 0600 */
    weft_shm_init_fn init;  /**< NULL: the segment starts zero-filled */
    void *user_data;        /**< passed to @p init */
} weft_shm_options;

/** Current version of ::weft_shm_options. */
#define WEFT_SHM_OPTIONS_VERSION 1
/** Default ::weft_shm_options: owned, exclusive, 0600, no init. */
#define WEFT_SHM_OPTIONS_INIT { WEFT_SHM_OPTIONS_VERSION, 0, 0, 0, NULL, NULL }

/**
 * Create a segment of @p size bytes, zero-filled, then run `opts->init` on it,
 * then publish it under @p name.
 *
 * @param out receives the handle; NULL on failure.
 * @param name NULL for an anonymous segment (shared with children started by
 *        fork; its fd can be passed on), else 1..200 bytes without '/' (one
 *        leading '/' is ignored, as shm_open does).
 * @param size bytes, > 0.
 * @param opts NULL for defaults.
 * @return #WEFT_OK; #WEFT_EINVAL for a NULL @p out, size 0, a bad name,
 *         lifetime, flag or options version; #WEFT_EEXIST when the name exists
 *         (without #WEFT_SHARE_OPEN_EXISTING); #WEFT_EFAILED when init refused;
 *         #WEFT_EPERM when the name exists and may not be opened;
 *         #WEFT_ENOMEM; #WEFT_ESYS for other system failures.
 *         With #WEFT_SHARE_OPEN_EXISTING and an existing name, the existing
 *         segment is opened (see weft_shm_open()) and weft_shm_created() says 0.
 * @since 0.2
 */
WEFT_API weft_status weft_shm_create(weft_shm **out, const char *name, size_t size, const weft_shm_options *opts) WEFT_NOEXCEPT;

/**
 * Open the segment called @p name (made by weft_shm_create() in any process).
 * @return #WEFT_OK; #WEFT_ENOENT when there is no such name; #WEFT_EINVAL for a
 *         NULL argument, a bad name, or a name that is a weft object of
 *         another kind (a queue, a lock...) or not made by weft;
 *         #WEFT_EPERM; #WEFT_ESYS.
 * @since 0.2
 */
WEFT_API weft_status weft_shm_open(weft_shm **out, const char *name) WEFT_NOEXCEPT;

/**
 * Unmap and free the handle, and remove the name as its lifetime says. NULL
 * is a no-op. Pointers from weft_shm_data() are invalid afterwards.
 * @since 0.2
 */
WEFT_API void weft_shm_close(weft_shm *shm) WEFT_NOEXCEPT;

/**
 * Remove @p name now, whatever its lifetime (any weft object: a segment, a
 * named lock, queue...). Processes that have it open keep their mapping;
 * new opens fail with #WEFT_ENOENT.
 * @return #WEFT_OK; #WEFT_ENOENT; #WEFT_EINVAL for a NULL or bad name; #WEFT_EPERM.
 * @since 0.2
 */
WEFT_API weft_status weft_shm_unlink(const char *name) WEFT_NOEXCEPT;

/** The segment's bytes, or NULL for a NULL or closed handle. @since 0.2 */
WEFT_API void *weft_shm_data(const weft_shm *shm) WEFT_NOEXCEPT;

/** The segment's size in bytes as created, or 0 for a NULL or closed handle. @since 0.2 */
WEFT_API size_t weft_shm_size(const weft_shm *shm) WEFT_NOEXCEPT;

/** The name without a leading '/', or NULL for an anonymous segment or a bad handle. @since 0.2 */
WEFT_API const char *weft_shm_name(const weft_shm *shm) WEFT_NOEXCEPT;

/**
 * The file descriptor behind the mapping (close-on-exec; weft owns it), to
 * pass an anonymous segment to another process; -1 for a bad handle.
 * @since 0.2
 */
WEFT_API int weft_shm_fd(const weft_shm *shm) WEFT_NOEXCEPT;

/** 1 when this handle created the segment, 0 when it opened an existing one
 *  (or for a bad handle). @since 0.2 */
WEFT_API int weft_shm_created(const weft_shm *shm) WEFT_NOEXCEPT;

/**
 * How many handles have the segment open in all processes (a process that
 * died without closing still counts), or a negative WEFT_E* for a bad handle.
 * @since 0.2
 */
WEFT_API int64_t weft_shm_refs(const weft_shm *shm) WEFT_NOEXCEPT;

/* ---- Shared Value and Array ------------------------------------------- */

/**
 * @name Shared Value and Array
 * Typed values in shared memory with an optional lock: Python's
 * `multiprocessing.Array(typecode, n)` and `multiprocessing.Value(typecode)`
 * (a Value is an array of length 1), and `RawArray`/`RawValue` without the
 * lock.
 *
 * An array always lives in shared memory: anonymous (children started with
 * fork share it; its handle copy is usable in the child) or named (any
 * process opens it with weft_array_open()). Its elements are plain C values
 * at weft_array_data(), naturally aligned.
 *
 * The optional lock (#WEFT_ARRAY_LOCK, on by default as in Python) is a
 * robust, recursive process-shared lock in the same segment, like Python's
 * `get_lock()` (an RLock). When a holder dies, the next acquirer gets
 * #WEFT_EOWNERDEAD, owns the lock, repairs the values and calls
 * weft_array_mark_consistent(); releasing without doing so leaves the lock
 * #WEFT_ENOTRECOVERABLE for everyone.
 *
 * The typed accessors (weft_array_get_int64() and friends) read and write one
 * element atomically (never a torn value) without the lock; a compound
 * update (`v += 1`) needs the lock around it.
 *
 * Thread safety: every function is thread-safe. Fork: a child started with
 * fork may use its copy of the handle (the mapping is inherited); destroying
 * the copy in the child only unmaps the child's view.
 * @{
 */

/** Opaque handle to a shared Value or Array. */
typedef struct weft_array weft_array;

/** Element types (Python's typecodes in parentheses). Never renumbered. */
#define WEFT_ARRAY_INT8 1u    /**< int8_t ('b') */
#define WEFT_ARRAY_UINT8 2u   /**< uint8_t ('B') */
#define WEFT_ARRAY_INT16 3u   /**< int16_t ('h') */
#define WEFT_ARRAY_UINT16 4u  /**< uint16_t ('H') */
#define WEFT_ARRAY_INT32 5u   /**< int32_t ('i') */
#define WEFT_ARRAY_UINT32 6u  /**< uint32_t ('I') */
#define WEFT_ARRAY_INT64 7u   /**< int64_t ('q') */
#define WEFT_ARRAY_UINT64 8u  /**< uint64_t ('Q') */
#define WEFT_ARRAY_FLOAT 9u   /**< float ('f') */
#define WEFT_ARRAY_DOUBLE 10u /**< double ('d') */
#define WEFT_ARRAY_CHAR 11u   /**< one byte, 0..255 ('c': Python's bytes of length 1) */

/** ::weft_array_options flag: embed a robust recursive lock (Python's lock=True). */
#define WEFT_ARRAY_LOCK 1u

/** Options for weft_array_create(); pass NULL for defaults. */
typedef struct weft_array_options {
    uint32_t version;     /**< #WEFT_ARRAY_OPTIONS_VERSION */
    uint32_t flags;       /**< #WEFT_ARRAY_LOCK (set by the defaults); 0 for a raw array */
    const void *initial;  /**< NULL (zero-filled) or length * element-size bytes copied in
                               before the array is published */
    weft_sharing share;   /**< where it lives: scope #WEFT_SCOPE_PROCESS, anonymous (name
                               NULL) or named with a lifetime; #WEFT_SCOPE_THREAD is taken
                               as anonymous process scope */
} weft_array_options;

/** Current version of ::weft_array_options. */
#define WEFT_ARRAY_OPTIONS_VERSION 1
/** Default ::weft_array_options: with a lock, zero-filled, anonymous, process scope. */
#define WEFT_ARRAY_OPTIONS_INIT                                                        \
    { WEFT_ARRAY_OPTIONS_VERSION, WEFT_ARRAY_LOCK, NULL,                                \
      { WEFT_SCOPE_PROCESS, WEFT_LIFETIME_OWNED, NULL, 0, 0 } }

/**
 * Create a shared array of @p length elements of @p type.
 * @param out receives the handle; NULL on failure.
 * @param type a WEFT_ARRAY_* type.
 * @param length how many elements (0 is allowed: an empty array); 1 for a Value.
 * @param opts NULL for the defaults (#WEFT_ARRAY_OPTIONS_INIT).
 * @return #WEFT_OK; #WEFT_EINVAL for a NULL @p out, an unknown type, flag or
 *         options version, a bad ::weft_sharing, a size that overflows, or
 *         (with #WEFT_SHARE_OPEN_EXISTING) an existing name that is not an
 *         array of the same type, length and locking; #WEFT_EEXIST when the
 *         name exists; #WEFT_EPERM; #WEFT_ENOMEM; #WEFT_ESYS.
 *         With #WEFT_SHARE_OPEN_EXISTING and an existing name, that array is
 *         opened (`initial` is not applied).
 * @since 0.2
 */
WEFT_API weft_status weft_array_create(weft_array **out, uint32_t type, size_t length,
                                       const weft_array_options *opts) WEFT_NOEXCEPT;

/**
 * Open the named array made by weft_array_create() in any process.
 * @return #WEFT_OK; #WEFT_ENOENT when there is no such name; #WEFT_EINVAL for
 *         a NULL argument, a bad name or a name that is not a weft array;
 *         #WEFT_EPERM; #WEFT_ENOMEM; #WEFT_ESYS.
 * @since 0.2
 */
WEFT_API weft_status weft_array_open(weft_array **out, const char *name) WEFT_NOEXCEPT;

/**
 * Unmap and free the handle, removing the name as its lifetime says. NULL is
 * a no-op. Destroying it while this process holds its lock leaves the lock
 * held (the next acquirer elsewhere gets #WEFT_EOWNERDEAD once this process
 * exits).
 * @since 0.2
 */
WEFT_API void weft_array_destroy(weft_array *a) WEFT_NOEXCEPT;

/** The first element, or NULL for a bad handle. @since 0.2 */
WEFT_API void *weft_array_data(const weft_array *a) WEFT_NOEXCEPT;

/** The number of elements, or 0 for a bad handle. @since 0.2 */
WEFT_API size_t weft_array_length(const weft_array *a) WEFT_NOEXCEPT;

/** The WEFT_ARRAY_* element type, or 0 for a bad handle. @since 0.2 */
WEFT_API uint32_t weft_array_type(const weft_array *a) WEFT_NOEXCEPT;

/** The size of one element in bytes, or 0 for a bad handle. @since 0.2 */
WEFT_API size_t weft_array_element_size(const weft_array *a) WEFT_NOEXCEPT;

/**
 * Take the array's lock, waiting up to @p timeout_ns. The lock is recursive:
 * the holder may take it again and releases it as often.
 * @return #WEFT_OK; #WEFT_EOWNERDEAD when the previous holder died holding it
 *         (the lock is now held: repair, then weft_array_mark_consistent());
 *         #WEFT_ENOTRECOVERABLE when a holder released it without marking it
 *         consistent after an owner death; #WEFT_ETIMEDOUT; #WEFT_EOVERFLOW
 *         when the recursion count is exhausted; #WEFT_ENOTSUP for an array
 *         made without #WEFT_ARRAY_LOCK; #WEFT_EINVAL for a timeout below -1;
 *         #WEFT_EMISUSE for a bad handle.
 * Process-safe and thread-safe.
 * @since 0.2
 */
WEFT_API weft_status weft_array_acquire(weft_array *a, int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * Release the array's lock once.
 * @return #WEFT_OK; #WEFT_EPERM when this thread does not hold it;
 *         #WEFT_ENOTSUP without a lock; #WEFT_EMISUSE for a bad handle.
 * @since 0.2
 */
WEFT_API weft_status weft_array_release(weft_array *a) WEFT_NOEXCEPT;

/**
 * After #WEFT_EOWNERDEAD and a repair of the values: make the lock normal
 * again (it stays held; release it as usual).
 * @return #WEFT_OK; #WEFT_EINVAL when the lock is not in the owner-died
 *         state or this thread does not hold it; #WEFT_ENOTSUP without a
 *         lock; #WEFT_EMISUSE for a bad handle.
 * @since 0.2
 */
WEFT_API weft_status weft_array_mark_consistent(weft_array *a) WEFT_NOEXCEPT;

/**
 * Read element @p index of an integer or char array as an int64.
 * @return #WEFT_OK; #WEFT_EINVAL for an index past the end, a NULL @p value
 *         or a float/double array; #WEFT_EOVERFLOW for a uint64 element
 *         above INT64_MAX (use weft_array_get_uint64()); #WEFT_EMISUSE.
 * Atomic per element; takes no lock.
 * @since 0.2
 */
WEFT_API weft_status weft_array_get_int64(const weft_array *a, size_t index, int64_t *value) WEFT_NOEXCEPT;

/**
 * Write element @p index of an integer or char array.
 * @return #WEFT_OK; #WEFT_EINVAL for an index past the end or a float/double
 *         array; #WEFT_EOVERFLOW, with nothing written, when @p value does
 *         not fit the type (a char takes -128..255 and stores the byte);
 *         #WEFT_EMISUSE. Atomic per element; takes no lock.
 * @since 0.2
 */
WEFT_API weft_status weft_array_set_int64(weft_array *a, size_t index, int64_t value) WEFT_NOEXCEPT;

/**
 * Read element @p index of an integer or char array as a uint64.
 * @return #WEFT_OK; #WEFT_EINVAL as weft_array_get_int64(); #WEFT_EOVERFLOW
 *         for a negative element; #WEFT_EMISUSE.
 * @since 0.2
 */
WEFT_API weft_status weft_array_get_uint64(const weft_array *a, size_t index, uint64_t *value) WEFT_NOEXCEPT;

/**
 * Write element @p index of an integer or char array from a uint64.
 * @return as weft_array_set_int64().
 * @since 0.2
 */
WEFT_API weft_status weft_array_set_uint64(weft_array *a, size_t index, uint64_t value) WEFT_NOEXCEPT;

/**
 * Read element @p index of a float or double array.
 * @return #WEFT_OK; #WEFT_EINVAL for an index past the end, a NULL @p value
 *         or an integer/char array; #WEFT_EMISUSE.
 * @since 0.2
 */
WEFT_API weft_status weft_array_get_double(const weft_array *a, size_t index, double *value) WEFT_NOEXCEPT;

/**
 * Write element @p index of a float or double array.
 * @return #WEFT_OK; #WEFT_EINVAL as weft_array_get_double(); #WEFT_EOVERFLOW,
 *         with nothing written, for a finite value beyond a float's range
 *         (infinities and NaN are stored as they are); #WEFT_EMISUSE.
 * @since 0.2
 */
WEFT_API weft_status weft_array_set_double(weft_array *a, size_t index, double value) WEFT_NOEXCEPT;

/** @} */

WEFT_END_DECLS

#endif /* WEFT_SHM_H */

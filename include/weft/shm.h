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

WEFT_END_DECLS

#endif /* WEFT_SHM_H */

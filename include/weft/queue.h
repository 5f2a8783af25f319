/**
 * @file queue.h
 * @brief Queues between threads: FIFO, LIFO (a stack) and priority, bounded
 *        or unbounded (Python's `queue.Queue`, `LifoQueue`, `PriorityQueue`).
 *
 * Items are `void *` owned by the queue while queued. Give an `item_free`
 * function in the options and items still queued when the queue is shut down
 * immediately or destroyed are freed with it; without one they are simply
 * dropped (the caller keeps ownership).
 *
 * Many producers and many consumers may use one queue; order is kept per
 * producer (FIFO), and among equal priorities (priority queue). Blocking
 * calls take a relative timeout (0 = do not block). `task_done` and `join`
 * give Python's JoinableQueue behaviour: every put adds an unfinished task,
 * every task_done finishes one, join waits until none is left.
 *
 * Speed and memory: a bounded FIFO between threads (capacity 2 to 2^20) is
 * a lock-free ring of 16 bytes per slot, allocated at create. A put or get
 * that need not wait makes no system call; while one thread alone puts (or
 * gets) it takes no atomic read-modify-write either. When a second thread
 * starts putting (getting), that side switches for good to claiming slots
 * with a compare-and-swap; the switch, and a waiter about to sleep, use
 * Linux's membarrier(2) (where the kernel refuses it, every side starts in
 * the compare-and-swap mode). A waiter spins briefly, and longer while its
 * partner runs on another CPU, then sleeps. Other queues (unbounded, LIFO,
 * priority, capacity 1) take an internal lock and grow as needed.
 *
 * Shutdown (Python 3.13's `Queue.shutdown`): after weft_queue_shutdown(q, 0)
 * puts fail with #WEFT_ECLOSED and gets return the remaining items, then
 * #WEFT_ECLOSED once the queue is empty; weft_queue_shutdown(q, 1) also drops
 * the remaining items (freeing them with `item_free`) and finishes their
 * tasks, so gets fail at once and join returns. Either way every blocked put,
 * get and join is woken.
 *
 * @code
 * weft_queue_options o = WEFT_QUEUE_OPTIONS_INIT;
 * o.capacity = 10;                              // producer faster than consumer
 * weft_queue *q;
 * weft_queue_create(&q, &o);
 * weft_queue_put(q, item, WEFT_FOREVER);        // blocks while 10 are queued
 * void *got;
 * if (weft_queue_get(q, &got, 2 * WEFT_SEC) == WEFT_ETIMEDOUT) { ... }
 * @endcode
 *
 * Process scope (since 0.2): a queue created with `opts->share.scope =
 * WEFT_SCOPE_PROCESS` lives in shared memory and carries byte messages
 * between processes (Python's `multiprocessing.Queue` and `JoinableQueue`):
 * weft_queue_put_bytes() copies the bytes into a ring in the segment and
 * weft_queue_get_bytes() copies them out, each straight between the caller's
 * buffer and the ring. An anonymous one is shared with children started by
 * fork; a named one is opened by any process with weft_queue_open(). It is
 * bounded by messages (`capacity`, 0 = no count bound) and by bytes
 * (`max_bytes`: each message takes its length plus
 * #WEFT_QUEUE_MESSAGE_OVERHEAD bytes of it); empty messages are fine. Puts,
 * gets, task_done, join and shutdown behave as above, across processes.
 * A process killed in the middle of a put or get never wedges the others: a
 * message becomes visible only once it is wholly copied and leaves only once
 * it is wholly copied out (a half-put message is never seen; a half-got one
 * stays queued for the next getter), and no caller sees #WEFT_EOWNERDEAD.
 * Producers and consumers take separate locks, so a put and a get copy at
 * the same time; a poll (timeout 0) may wait a moment (at most 10 ms) for a
 * peer of its own side that is in the middle of copying.
 * Pointers do not cross processes: weft_queue_put(), weft_queue_get() and
 * weft_queue_put_priority() on a process-scope queue fail with
 * #WEFT_ENOTSUP, and so do the `_bytes` calls on a thread-scope queue.
 *
 * @code
 * weft_queue_options o = WEFT_QUEUE_OPTIONS_INIT;
 * o.capacity = 5;
 * o.share.scope = WEFT_SCOPE_PROCESS;           // anonymous: shared with fork children
 * weft_queue *q;
 * weft_queue_create(&q, &o);
 * if (fork() == 0) { weft_queue_put_bytes(q, "file-1", 6, WEFT_FOREVER); _exit(0); }
 * char buf[64]; size_t n;
 * weft_queue_get_bytes(q, buf, sizeof buf, &n, WEFT_SEC);
 * @endcode
 *
 * @since 0.1
 */
#ifndef WEFT_QUEUE_H
#define WEFT_QUEUE_H

#include "common.h"

WEFT_BEGIN_DECLS

/** Opaque queue handle. */
typedef struct weft_queue weft_queue;

/** Which item a get returns. */
typedef enum weft_queue_kind {
    WEFT_QUEUE_FIFO = 0,     /**< first in, first out (queue.Queue) */
    WEFT_QUEUE_LIFO = 1,     /**< last in, first out: a stack (queue.LifoQueue) */
    WEFT_QUEUE_PRIORITY = 2  /**< lowest priority value first, FIFO among equals (queue.PriorityQueue) */
} weft_queue_kind;

/** Bytes of framing each message takes in a process-scope queue's ring.
 *  @since 0.2 */
#define WEFT_QUEUE_MESSAGE_OVERHEAD 8
/** Ring size of a process-scope queue when `max_bytes` is 0 (1 MiB).
 *  @since 0.2 */
#define WEFT_QUEUE_DEFAULT_MAX_BYTES 1048576u

/**
 * Options for weft_queue_create(); pass NULL for an unbounded FIFO between
 * threads. Version 1 structs (the first four fields) are still accepted.
 */
typedef struct weft_queue_options {
    uint32_t version;       /**< #WEFT_QUEUE_OPTIONS_VERSION (1 still accepted) */
    int kind;               /**< a ::weft_queue_kind (process scope: FIFO only) */
    size_t capacity;        /**< maximum items queued; 0 = unbounded (Python's maxsize <= 0) */
    weft_free_fn item_free; /**< frees items dropped by an immediate shutdown or destroy; may be NULL;
                                 must be NULL for process scope */
    /* version 2 (since 0.2): */
    weft_sharing share;     /**< scope, and for process scope: name, lifetime, flags, mode */
    size_t max_bytes;       /**< process scope: bytes of the ring; every message takes its length plus
                                 #WEFT_QUEUE_MESSAGE_OVERHEAD; 0 = #WEFT_QUEUE_DEFAULT_MAX_BYTES */
    size_t max_message;     /**< process scope: largest message accepted; 0 = the most that fits,
                                 max_bytes - #WEFT_QUEUE_MESSAGE_OVERHEAD */
} weft_queue_options;

#define WEFT_QUEUE_OPTIONS_VERSION 2
#define WEFT_QUEUE_OPTIONS_INIT { WEFT_QUEUE_OPTIONS_VERSION, WEFT_QUEUE_FIFO, 0, NULL, WEFT_SHARING_INIT, 0, 0 }

/**
 * Create an empty queue.
 *
 * With `opts->share.scope == WEFT_SCOPE_PROCESS` the queue lives in a shared
 * memory segment: anonymous (`share.name == NULL`, shared with children
 * started by fork) or named (published under the name only once complete;
 * other processes open it with weft_queue_open()). With
 * #WEFT_SHARE_OPEN_EXISTING and an existing name, that queue is opened and
 * its own bounds apply.
 * @param out receives the handle; NULL on failure.
 * @param opts NULL for an unbounded FIFO between threads.
 * @return #WEFT_OK; #WEFT_EINVAL for NULL @p out, an unknown version or kind,
 *         a bad ::weft_sharing, `max_bytes`/`max_message` on a thread-scope
 *         queue, `item_free` on a process-scope one, `max_bytes` below
 *         #WEFT_QUEUE_MESSAGE_OVERHEAD + 1 or above 2^40, `max_message` above
 *         max_bytes - #WEFT_QUEUE_MESSAGE_OVERHEAD, or an existing name of
 *         another kind; #WEFT_ENOTSUP for a process-scope LIFO or priority
 *         queue; #WEFT_EEXIST when the name exists (without
 *         #WEFT_SHARE_OPEN_EXISTING); #WEFT_EPERM; #WEFT_ENOMEM; #WEFT_ESYS.
 * Thread-safe. Fork: see weft_queue_open().
 * @since 0.1 (process scope since 0.2)
 */
WEFT_API weft_status weft_queue_create(weft_queue **out, const weft_queue_options *opts) WEFT_NOEXCEPT;

/**
 * Destroy a queue, freeing items still queued with `item_free`. NULL is a
 * no-op. No thread may be blocked on it or use it afterwards: shut it down
 * and let the users leave first.
 *
 * For a process-scope queue this closes this process's handle: the messages
 * stay for the other processes that have it open, and the name goes as its
 * lifetime says. In a child started by fork, destroying an inherited handle
 * only unmaps the child's view.
 * @since 0.1
 */
WEFT_API void weft_queue_destroy(weft_queue *q) WEFT_NOEXCEPT;

/**
 * Open the named process-scope queue made by weft_queue_create() in any
 * process.
 * @param out receives the handle (destroy it with weft_queue_destroy()); NULL
 *        on failure.
 * @param name the name given at creation (one leading '/' is ignored).
 * @return #WEFT_OK; #WEFT_ENOENT when no object has that name (or it is
 *         being removed); #WEFT_EINVAL for NULL @p out or @p name, a bad name,
 *         or a name that is not a weft queue (another kind of weft object, or
 *         another layout); #WEFT_EPERM; #WEFT_ENOMEM; #WEFT_ESYS.
 * Thread-safe. Fork: a child started by fork may use every handle of its
 * parent (the mapping is inherited); it need not open the name again.
 * @since 0.2
 */
WEFT_API weft_status weft_queue_open(weft_queue **out, const char *name) WEFT_NOEXCEPT;

/**
 * Put an item, waiting up to @p timeout_ns for room in a bounded queue. In a
 * priority queue the item gets priority 0.
 * @return #WEFT_OK (the queue owns @p item now); #WEFT_ETIMEDOUT when still
 *         full at the deadline (also for a poll); #WEFT_ECLOSED after shutdown
 *         (also when shut down while waiting); #WEFT_EINVAL for a timeout below
 *         -1; #WEFT_ENOMEM when an unbounded queue cannot grow;
 *         #WEFT_EMISUSE for a bad handle; #WEFT_ENOTSUP on a process-scope queue
 *         (use weft_queue_put_bytes()). On failure the caller keeps @p item.
 * Thread-safe.
 * @since 0.1
 */
WEFT_API weft_status weft_queue_put(weft_queue *q, void *item, int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * Put an item with a priority into a priority queue: lower values come out
 * first, equal values in the order they were put.
 * @return as weft_queue_put(); #WEFT_EINVAL when @p q is not a priority queue;
 *         #WEFT_ENOTSUP on a process-scope queue.
 * @since 0.1
 */
WEFT_API weft_status weft_queue_put_priority(weft_queue *q, void *item, int64_t priority,
                                             int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * Take an item, waiting up to @p timeout_ns for one.
 * @param item receives the item; the caller owns it now.
 * @return #WEFT_OK; #WEFT_ETIMEDOUT when still empty at the deadline (also for
 *         a poll); #WEFT_ECLOSED when shut down and empty (at once after an
 *         immediate shutdown); #WEFT_EINVAL for NULL @p item or a timeout
 *         below -1; #WEFT_EMISUSE for a bad handle; #WEFT_ENOTSUP on a
 *         process-scope queue (use weft_queue_get_bytes()).
 * Thread-safe.
 * @since 0.1
 */
WEFT_API weft_status weft_queue_get(weft_queue *q, void **item, int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * Put a byte message into a process-scope queue, waiting up to @p timeout_ns
 * for room (fewer than `capacity` messages queued and @p len +
 * #WEFT_QUEUE_MESSAGE_OVERHEAD bytes free in the ring). The bytes are copied
 * once, straight into the ring; the message becomes visible to getters only
 * once it is whole.
 * @param data the bytes; may be NULL when @p len is 0.
 * @param len 0 (an empty message) up to the queue's max_message.
 * @return #WEFT_OK; #WEFT_ETIMEDOUT when there is still no room at the
 *         deadline (also for a poll); #WEFT_ECLOSED after shutdown (also when
 *         shut down while waiting); #WEFT_EMSGSIZE when @p len exceeds the
 *         queue's max_message (at once, without waiting); #WEFT_EINVAL for
 *         NULL @p data with @p len > 0 or a timeout below -1;
 *         #WEFT_ENOTSUP on a thread-scope queue; #WEFT_ENOTRECOVERABLE when
 *         the queue's memory was damaged (never from a peer's death alone);
 *         #WEFT_EMISUSE for a bad handle.
 * Thread-safe and process-safe. Fork: usable in a child started by fork.
 * @since 0.2
 */
WEFT_API weft_status weft_queue_put_bytes(weft_queue *q, const void *data, size_t len,
                                          int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * Take the oldest byte message of a process-scope queue into @p buf, waiting
 * up to @p timeout_ns for one. The bytes are copied once, straight from the
 * ring into @p buf.
 * @param buf receives the bytes; may be NULL when @p cap is 0.
 * @param cap bytes available at @p buf.
 * @param len receives the message's length (also on #WEFT_EMSGSIZE).
 * @return #WEFT_OK; #WEFT_EMSGSIZE when the message is longer than @p cap:
 *         @p *len says how long, and the message stays queued (so a get with
 *         @p cap 0 peeks at the next message's size); #WEFT_ETIMEDOUT when
 *         still empty at the deadline (also for a poll); #WEFT_ECLOSED when
 *         shut down and empty (at once after an immediate shutdown);
 *         #WEFT_EINVAL for NULL @p len, NULL @p buf with @p cap > 0, or a
 *         timeout below -1; #WEFT_ENOTSUP on a thread-scope queue;
 *         #WEFT_ENOTRECOVERABLE when the queue's memory was damaged;
 *         #WEFT_EMISUSE for a bad handle.
 * Thread-safe and process-safe. Fork: usable in a child started by fork.
 * @since 0.2
 */
WEFT_API weft_status weft_queue_get_bytes(weft_queue *q, void *buf, size_t cap, size_t *len,
                                          int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * Take the oldest byte message of a process-scope queue into a buffer
 * allocated for it, waiting up to @p timeout_ns for one.
 * @param data receives the bytes, followed by one extra 0 byte (so a text
 *        message reads as a C string); free it with weft_queue_bytes_free().
 *        Set to NULL on failure.
 * @param len receives the message's length (without the extra 0 byte).
 * @return as weft_queue_get_bytes(), without #WEFT_EMSGSIZE; #WEFT_ENOMEM
 *         when the buffer cannot be allocated (the message stays queued);
 *         #WEFT_EINVAL for NULL @p data or @p len.
 * Thread-safe and process-safe.
 * @since 0.2
 */
WEFT_API weft_status weft_queue_get_bytes_alloc(weft_queue *q, void **data, size_t *len,
                                                int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * Free a buffer returned by weft_queue_get_bytes_alloc(). NULL is a no-op.
 * @since 0.2
 */
WEFT_API void weft_queue_bytes_free(void *data) WEFT_NOEXCEPT;

/**
 * The largest message a process-scope queue accepts (its max_message), to
 * size a buffer for weft_queue_get_bytes().
 * @return the size in bytes; #WEFT_ENOTSUP for a thread-scope queue;
 *         #WEFT_EMISUSE for a bad handle.
 * @since 0.2
 */
WEFT_API int64_t weft_queue_max_message(const weft_queue *q) WEFT_NOEXCEPT;

/**
 * Mark one task taken from the queue as finished (Python's task_done).
 * @return #WEFT_OK; #WEFT_ESTATE when called more times than items were put
 *         (on a process-scope queue: than messages were got, in any process);
 *         #WEFT_EMISUSE for a bad handle.
 * @since 0.1
 */
WEFT_API weft_status weft_queue_task_done(weft_queue *q) WEFT_NOEXCEPT;

/**
 * Wait until every item put has been marked done with weft_queue_task_done()
 * (or dropped by an immediate shutdown). On a process-scope queue the puts
 * and task_done calls of every process count.
 * @return #WEFT_OK; #WEFT_ETIMEDOUT; #WEFT_EINVAL for a timeout below -1;
 *         #WEFT_EMISUSE for a bad handle.
 * @since 0.1
 */
WEFT_API weft_status weft_queue_join(weft_queue *q, int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * Shut the queue down and wake every blocked put, get and join.
 * @param immediate 0: gets drain what is queued, then fail; non-zero: drop
 *        the queued items now (freeing them with `item_free`) and finish
 *        their tasks.
 * On a process-scope queue it wakes the blocked calls of every process.
 * @return #WEFT_OK (also when already shut down; an immediate shutdown after a
 *         plain one still drains); #WEFT_EMISUSE for a bad handle;
 *         #WEFT_ENOTRECOVERABLE when a process-scope queue's memory was damaged.
 * @since 0.1
 */
WEFT_API weft_status weft_queue_shutdown(weft_queue *q, int immediate) WEFT_NOEXCEPT;

/**
 * Number of items queued now (a snapshot).
 * @return the count, or #WEFT_EMISUSE for a bad handle.
 * @since 0.1
 */
WEFT_API int64_t weft_queue_size(const weft_queue *q) WEFT_NOEXCEPT;

/**
 * Whether the queue is empty now (a snapshot).
 * @return 1 or 0, or #WEFT_EMISUSE for a bad handle.
 * @since 0.1
 */
WEFT_API int weft_queue_empty(const weft_queue *q) WEFT_NOEXCEPT;

/**
 * Whether a bounded queue is full now (a snapshot); an unbounded one never is.
 * A process-scope queue is full when it holds `capacity` messages or has no
 * room left for even an empty message.
 * @return 1 or 0, or #WEFT_EMISUSE for a bad handle.
 * @since 0.1
 */
WEFT_API int weft_queue_full(const weft_queue *q) WEFT_NOEXCEPT;

/**
 * Whether weft_queue_shutdown() was called.
 * @return 1 or 0, or #WEFT_EMISUSE for a bad handle.
 * @since 0.1
 */
WEFT_API int weft_queue_is_shutdown(const weft_queue *q) WEFT_NOEXCEPT;

WEFT_END_DECLS

#endif /* WEFT_QUEUE_H */

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

/** Options for weft_queue_create(); pass NULL for an unbounded FIFO. */
typedef struct weft_queue_options {
    uint32_t version;       /**< #WEFT_QUEUE_OPTIONS_VERSION */
    int kind;               /**< a ::weft_queue_kind */
    size_t capacity;        /**< maximum items queued; 0 = unbounded (Python's maxsize <= 0) */
    weft_free_fn item_free; /**< frees items dropped by an immediate shutdown or destroy; may be NULL */
} weft_queue_options;

#define WEFT_QUEUE_OPTIONS_VERSION 1
#define WEFT_QUEUE_OPTIONS_INIT { WEFT_QUEUE_OPTIONS_VERSION, WEFT_QUEUE_FIFO, 0, NULL }

/**
 * Create an empty queue.
 * @param out receives the handle.
 * @param opts NULL for an unbounded FIFO.
 * @return #WEFT_OK; #WEFT_EINVAL for NULL @p out, an unknown version or kind;
 *         #WEFT_ENOMEM.
 * @since 0.1
 */
WEFT_API weft_status weft_queue_create(weft_queue **out, const weft_queue_options *opts) WEFT_NOEXCEPT;

/**
 * Destroy a queue, freeing items still queued with `item_free`. NULL is a
 * no-op. No thread may be blocked on it or use it afterwards: shut it down
 * and let the users leave first.
 * @since 0.1
 */
WEFT_API void weft_queue_destroy(weft_queue *q) WEFT_NOEXCEPT;

/**
 * Put an item, waiting up to @p timeout_ns for room in a bounded queue. In a
 * priority queue the item gets priority 0.
 * @return #WEFT_OK (the queue owns @p item now); #WEFT_ETIMEDOUT when still
 *         full at the deadline (also for a poll); #WEFT_ECLOSED after shutdown
 *         (also when shut down while waiting); #WEFT_EINVAL for a timeout below
 *         -1; #WEFT_ENOMEM when an unbounded queue cannot grow;
 *         #WEFT_EMISUSE for a bad handle. On failure the caller keeps @p item.
 * Thread-safe.
 * @since 0.1
 */
WEFT_API weft_status weft_queue_put(weft_queue *q, void *item, int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * Put an item with a priority into a priority queue: lower values come out
 * first, equal values in the order they were put.
 * @return as weft_queue_put(); #WEFT_EINVAL when @p q is not a priority queue.
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
 *         below -1; #WEFT_EMISUSE for a bad handle.
 * Thread-safe.
 * @since 0.1
 */
WEFT_API weft_status weft_queue_get(weft_queue *q, void **item, int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * Mark one task taken from the queue as finished (Python's task_done).
 * @return #WEFT_OK; #WEFT_ESTATE when called more times than items were put;
 *         #WEFT_EMISUSE for a bad handle.
 * @since 0.1
 */
WEFT_API weft_status weft_queue_task_done(weft_queue *q) WEFT_NOEXCEPT;

/**
 * Wait until every item put has been marked done with weft_queue_task_done()
 * (or dropped by an immediate shutdown).
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
 * @return #WEFT_OK (also when already shut down; an immediate shutdown after a
 *         plain one still drains); #WEFT_EMISUSE for a bad handle.
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

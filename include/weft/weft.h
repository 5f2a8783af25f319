/**
 * @file weft.h
 * @brief Umbrella header: everything weft offers.
 *
 * weft brings Python's `threading`, `queue`, `multiprocessing` and
 * `concurrent.futures` to C at native speed. Include this header and link
 * with `pkg-config --libs weft`. See common.h for the conventions every
 * function follows (status codes, timeouts, handles, callbacks).
 *
 * @since 0.1
 */
#ifndef WEFT_WEFT_H
#define WEFT_WEFT_H

#include "common.h"
#include "error.h"
#include <weft/version.h>
#include "clock.h"
#include "system.h"
#include "lock.h"
/* threads */
#include "thread.h"
/* synchronization */
#include "rlock.h"
#include "semaphore.h"
#include "condition.h"
#include "event.h"
#include "barrier.h"
#include "rwlock.h"
#include "once.h"
/* thread-local storage */
#include "tls.h"
/* queues */
#include "queue.h"
/* futures */
#include "future.h"
/* pools */
#include "pool.h"
/* processes */
#include "process.h"
/* shared memory */
#include "shm.h"
#include "dict.h"
/* connections */
#include "connection.h"
/* process pool */
#include "process_pool.h"

#endif /* WEFT_WEFT_H */

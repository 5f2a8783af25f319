/*
 * bindings/python/weft_python.i: the low-level Python module `weft._weft`.
 *
 * SWIG wraps the public headers 1:1 (rules in ../swig/weft.i); this file adds
 * what only Python needs:
 * - errors: every negative weft_status raises `_weft.WeftError` or the
 *   subclass registered for its code in `_weft._error_classes` (filled by
 *   weft/_errors.py), with weft_last_error()'s message and `.code`/`.name`;
 * - the GIL: raw blocking calls release it (%thread); the helpers below try
 *   the non-blocking path first with the GIL held and release it only to
 *   block;
 * - callbacks into Python (thread entry, pool task, pool initializer, future
 *   done-callback, barrier action, freeing queued items and thread-local
 *   values) take the GIL with PyGILState_Ensure and own one reference to the
 *   Python object they were given, dropped exactly once;
 * - `Lock` and `RLock` as native types, so that `with lock:` costs about
 *   what `threading.Lock` costs.
 *
 * Handles are never owned by SWIG pointer objects: the classes in the `weft`
 * package own them and forget them after destroy (None then reaches weft as
 * NULL, which raises instead of crashing).
 */
%module(package="weft") _weft

%include "weft.i"

%{
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <float.h>
#include <math.h>
#include <stdint.h>

/* ---- errors ----------------------------------------------------------------- */
static PyObject *weft_py_error_base;    /* _weft.WeftError */
static PyObject *weft_py_error_classes; /* dict: int code -> class */

static PyObject *weft_py_error_class(weft_status st) {
    if (weft_py_error_classes) {
        PyObject *key = PyLong_FromLong(st);
        if (key) {
            PyObject *cls = PyDict_GetItemWithError(weft_py_error_classes, key);
            Py_DECREF(key);
            if (cls) return cls;
        }
        PyErr_Clear();
    }
    return weft_py_error_base;
}

/* Raise the exception for st (< 0), with weft's message when it is about st. */
#define WEFT_PY_INTERRUPTED 1
static void weft_py_raise(weft_status st) {
    if (st == WEFT_PY_INTERRUPTED) return; /* a signal handler raised: its exception is set */
    const weft_error *e = weft_last_error();
    const char *msg = (e && e->code == st && e->message[0]) ? e->message : weft_strerror(st);
    PyObject *cls = weft_py_error_class(st);
    PyObject *exc = PyObject_CallFunction(cls, "s", msg);
    if (!exc) return;
    PyObject *code = PyLong_FromLong(st);
    PyObject *name = PyUnicode_FromString(weft_status_name(st));
    if (code && name) {
        (void)PyObject_SetAttrString(exc, "code", code);
        (void)PyObject_SetAttrString(exc, "name", name);
    }
    Py_XDECREF(code);
    Py_XDECREF(name);
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
}

#define WEFT_SWIG_RAISE(st) weft_py_raise(st)
#define WEFT_SWIG_VOID(result) ((result) = SWIG_Py_Void())

/* ---- GIL-safe reference drops from any thread ------------------------------------ */
/* Never touch Python while the interpreter is being torn down: leaking one
 * object at exit is better than entering a dying interpreter. */
static int weft_py_gone(void) { return _Py_IsFinalizing(); }

static void weft_py_decref(void *p) {
    if (!p || weft_py_gone()) return;
    /* Already holding the GIL (e.g. from a destroy called by Python, or while
     * Python tears down this thread's state, where a nested Ensure/Release
     * pair would delete that state a second time): drop it directly. */
    if (PyGILState_Check()) {
        Py_DECREF((PyObject *)p);
        return;
    }
    PyGILState_STATE g = PyGILState_Ensure();
    Py_DECREF((PyObject *)p);
    PyGILState_Release(g);
}

/* ---- timeouts ------------------------------------------------------------------ */
/* Seconds (float or int; None or -1 = forever) -> ns, as _thread does it. */
static int weft_py_timeout(PyObject *t, int64_t *ns) {
    if (t == NULL || t == Py_None) { *ns = WEFT_FOREVER; return 0; }
    double s = PyFloat_AsDouble(t);
    if (s == -1.0 && PyErr_Occurred()) return -1;
    if (s == -1.0) { *ns = WEFT_FOREVER; return 0; }
    if (s < 0 || isnan(s)) {
        PyErr_SetString(PyExc_ValueError, "timeout value must be a non-negative number");
        return -1;
    }
    if (s > 9223372036.854775) { PyErr_SetString(PyExc_OverflowError, "timeout value is too large"); return -1; }
    /* Beyond 292 years is forever. */
    *ns = s * 1e9 >= 9.2e18 ? WEFT_FOREVER : (int64_t)(s * 1e9);
    return 0;
}

/* Run CALL (an expression using the variable `tmo`) once with tmo = 0 while
 * holding the GIL, then, only if that timed out and waiting is allowed, again
 * with the GIL released and the real timeout. */
#define WEFT_PY_TRY_THEN_BLOCK(st, timeout_ns, CALL)                 \
    do {                                                             \
        int64_t tmo = 0;                                             \
        (st) = (CALL);                                               \
        if ((st) == WEFT_ETIMEDOUT && (timeout_ns) != 0) {           \
            tmo = (timeout_ns);                                      \
            Py_BEGIN_ALLOW_THREADS                                   \
            (st) = (CALL);                                           \
            Py_END_ALLOW_THREADS                                     \
        }                                                            \
    } while (0)

/* OK -> True, ETIMEDOUT -> False, anything else raises. */
static PyObject *weft_py_bool_status(weft_status st) {
    if (st == WEFT_OK) Py_RETURN_TRUE;
    if (st == WEFT_ETIMEDOUT) Py_RETURN_FALSE;
    weft_py_raise(st);
    return NULL;
}

/* Interruptible waits: in the main thread a long wait runs in slices of 50 ms
 * with the GIL released, and between slices the signal handlers run
 * (PyErr_CheckSignals), so Ctrl-C interrupts a blocked acquire, get, join or
 * result as in the stdlib; other threads (which never run signal handlers)
 * wait in one call. The deadline is fixed once at entry. */
#define WEFT_PY_SLICE_NS (50 * 1000000LL)
/* WEFT_PY_INTERRUPTED (defined above weft_py_raise) is not a weft_status
 * (those are <= 0): a signal handler raised, the Python exception is set. */

static int64_t weft_py_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

#define WEFT_PY_TRY_THEN_BLOCK_INTR(st, timeout_ns, CALL)                                  \
    do {                                                                                  \
        int64_t tmo = 0;                                                                  \
        (st) = (CALL);                                                                    \
        if ((st) == WEFT_ETIMEDOUT && (timeout_ns) != 0) {                                \
            int main_ = _PyOS_IsMainThread();                                             \
            int64_t end_ = (timeout_ns) < 0 ? -1 : weft_py_now_ns() + (timeout_ns);       \
            for (;;) {                                                                    \
                if (!main_) {                                                             \
                    tmo = (timeout_ns);                                                   \
                } else {                                                                  \
                    int64_t left_ = end_ < 0 ? WEFT_PY_SLICE_NS : end_ - weft_py_now_ns(); \
                    if (left_ < 0) left_ = 0;                                             \
                    tmo = left_ < WEFT_PY_SLICE_NS ? left_ : WEFT_PY_SLICE_NS;            \
                }                                                                         \
                Py_BEGIN_ALLOW_THREADS                                                    \
                (st) = (CALL);                                                            \
                Py_END_ALLOW_THREADS                                                      \
                if ((st) != WEFT_ETIMEDOUT || !main_ || (end_ >= 0 && weft_py_now_ns() >= end_)) \
                    break;                                                                \
                if (PyErr_CheckSignals() < 0) { (st) = WEFT_PY_INTERRUPTED; break; }      \
            }                                                                             \
        }                                                                                 \
    } while (0)

/* As weft_py_bool_status, and NULL (exception already set) when interrupted. */
static PyObject *weft_py_bool_status_intr(weft_status st) {
    if (st == WEFT_PY_INTERRUPTED) return NULL;
    return weft_py_bool_status(st);
}


/* ---- native Lock --------------------------------------------------------------- */
typedef struct {
    PyObject_HEAD
    weft_lock *lk;
    PyObject *weakrefs;
} WeftPyLock;

static int weft_py_acquire_args(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                                int64_t *ns) {
    int blocking = 1;
    PyObject *timeout = NULL;
    if (nargs > 2) { PyErr_SetString(PyExc_TypeError, "acquire() takes at most 2 arguments"); return -1; }
    if (nargs >= 1) { blocking = PyObject_IsTrue(args[0]); if (blocking < 0) return -1; }
    if (nargs >= 2) timeout = args[1];
    if (kwnames) {
        Py_ssize_t nk = PyTuple_GET_SIZE(kwnames);
        for (Py_ssize_t i = 0; i < nk; i++) {
            PyObject *k = PyTuple_GET_ITEM(kwnames, i);
            PyObject *v = args[nargs + i];
            if (PyUnicode_CompareWithASCIIString(k, "blocking") == 0 && nargs < 1) {
                blocking = PyObject_IsTrue(v);
                if (blocking < 0) return -1;
            } else if (PyUnicode_CompareWithASCIIString(k, "timeout") == 0 && nargs < 2) {
                timeout = v;
            } else {
                PyErr_Format(PyExc_TypeError, "acquire() got an unexpected keyword argument '%U'", k);
                return -1;
            }
        }
    }
    int64_t t = WEFT_FOREVER;
    if (timeout != NULL) {
        double s = PyFloat_AsDouble(timeout);
        if (s == -1.0 && PyErr_Occurred()) return -1;
        if (!blocking && s != -1.0) {
            PyErr_SetString(PyExc_ValueError, "can't specify a timeout for a non-blocking call");
            return -1;
        }
        if (s != -1.0 && weft_py_timeout(timeout, &t) < 0) return -1;
    }
    *ns = blocking ? t : 0;
    return 0;
}

static PyObject *WeftPyLock_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    if ((args && PyTuple_GET_SIZE(args)) || (kw && PyDict_GET_SIZE(kw))) {
        PyErr_SetString(PyExc_TypeError, "Lock() takes no arguments");
        return NULL;
    }
    WeftPyLock *self = (WeftPyLock *)type->tp_alloc(type, 0);
    if (!self) return NULL;
    weft_status st = weft_lock_create(&self->lk, NULL);
    if (st != WEFT_OK) { Py_DECREF(self); weft_py_raise(st); return NULL; }
    return (PyObject *)self;
}

static void WeftPyLock_dealloc(WeftPyLock *self) {
    if (self->weakrefs) PyObject_ClearWeakRefs((PyObject *)self);
    weft_lock_destroy(self->lk);
    self->lk = NULL;
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *WeftPyLock_acquire(WeftPyLock *self, PyObject *const *args, Py_ssize_t nargs,
                                    PyObject *kwnames) {
    int64_t ns = WEFT_FOREVER;
    if ((nargs || kwnames) && weft_py_acquire_args(args, nargs, kwnames, &ns) < 0) return NULL;
    weft_status st;
    WEFT_PY_TRY_THEN_BLOCK_INTR(st, ns, weft_lock_acquire(self->lk, tmo));
    return weft_py_bool_status(st);
}

static PyObject *WeftPyLock_enter(WeftPyLock *self, PyObject *unused) {
    weft_status st;
    WEFT_PY_TRY_THEN_BLOCK_INTR(st, WEFT_FOREVER, weft_lock_acquire(self->lk, tmo));
    return weft_py_bool_status(st);
}

static PyObject *WeftPyLock_release(WeftPyLock *self, PyObject *unused) {
    weft_status st = weft_lock_release(self->lk);
    if (st == WEFT_OK) Py_RETURN_NONE;
    if (st == WEFT_ESTATE) { PyErr_SetString(PyExc_RuntimeError, "release unlocked lock"); return NULL; }
    weft_py_raise(st);
    return NULL;
}

static PyObject *WeftPyLock_exit(WeftPyLock *self, PyObject *args) {
    return WeftPyLock_release(self, NULL);
}

static PyObject *WeftPyLock_locked(WeftPyLock *self, PyObject *unused) {
    int r = weft_lock_locked(self->lk);
    if (r < 0) { weft_py_raise(r); return NULL; }
    return PyBool_FromLong(r);
}

static PyObject *WeftPyLock_at_fork_reinit(WeftPyLock *self, PyObject *unused) {
    weft_lock *fresh;
    weft_status st = weft_lock_create(&fresh, NULL);
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    weft_lock_destroy(self->lk);
    self->lk = fresh;
    Py_RETURN_NONE;
}

static PyObject *WeftPyLock_repr(WeftPyLock *self) {
    int r = weft_lock_locked(self->lk);
    return PyUnicode_FromFormat("<%s %s object at %p>", r > 0 ? "locked" : "unlocked",
                                Py_TYPE(self)->tp_name, self);
}

static PyMethodDef WeftPyLock_methods[] = {
    {"acquire", (PyCFunction)(void (*)(void))WeftPyLock_acquire, METH_FASTCALL | METH_KEYWORDS,
     "acquire(blocking=True, timeout=-1) -> bool\n\nAcquire the lock, waiting up to timeout seconds "
     "(-1: forever) when blocking; return whether it was acquired."},
    {"acquire_lock", (PyCFunction)(void (*)(void))WeftPyLock_acquire, METH_FASTCALL | METH_KEYWORDS,
     "Old name of acquire()."},
    {"__enter__", (PyCFunction)WeftPyLock_enter, METH_NOARGS, "Acquire the lock, waiting as long as it takes."},
    {"release", (PyCFunction)WeftPyLock_release, METH_NOARGS,
     "Release the lock (any thread may); RuntimeError if it is not locked."},
    {"release_lock", (PyCFunction)WeftPyLock_release, METH_NOARGS, "Old name of release()."},
    {"__exit__", (PyCFunction)WeftPyLock_exit, METH_VARARGS, "Release the lock."},
    {"locked", (PyCFunction)WeftPyLock_locked, METH_NOARGS, "Return whether the lock is held."},
    {"locked_lock", (PyCFunction)WeftPyLock_locked, METH_NOARGS, "Old name of locked()."},
    {"_at_fork_reinit", (PyCFunction)WeftPyLock_at_fork_reinit, METH_NOARGS,
     "Replace the lock by a fresh unlocked one (after fork, in the child)."},
    {NULL, NULL, 0, NULL}
};

static PyTypeObject WeftPyLock_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "weft.threading.Lock",
    .tp_basicsize = sizeof(WeftPyLock),
    .tp_dealloc = (destructor)WeftPyLock_dealloc,
    .tp_repr = (reprfunc)WeftPyLock_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Lock()\n\nA primitive lock (threading.Lock) backed by weft_lock: not owned by a "
              "thread, any thread may release it.",
    .tp_weaklistoffset = offsetof(WeftPyLock, weakrefs),
    .tp_methods = WeftPyLock_methods,
    .tp_new = WeftPyLock_new,
};

/* ---- native RLock -------------------------------------------------------------- */
typedef struct {
    PyObject_HEAD
    weft_rlock *lk;
    PyObject *weakrefs;
} WeftPyRLock;

static PyObject *WeftPyRLock_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    WeftPyRLock *self = (WeftPyRLock *)type->tp_alloc(type, 0);
    if (!self) return NULL;
    weft_status st = weft_rlock_create(&self->lk, NULL);
    if (st != WEFT_OK) { Py_DECREF(self); weft_py_raise(st); return NULL; }
    return (PyObject *)self;
}

static void WeftPyRLock_dealloc(WeftPyRLock *self) {
    if (self->weakrefs) PyObject_ClearWeakRefs((PyObject *)self);
    weft_rlock_destroy(self->lk);
    self->lk = NULL;
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *WeftPyRLock_acquire(WeftPyRLock *self, PyObject *const *args, Py_ssize_t nargs,
                                     PyObject *kwnames) {
    int64_t ns = WEFT_FOREVER;
    if ((nargs || kwnames) && weft_py_acquire_args(args, nargs, kwnames, &ns) < 0) return NULL;
    weft_status st;
    WEFT_PY_TRY_THEN_BLOCK_INTR(st, ns, weft_rlock_acquire(self->lk, tmo));
    return weft_py_bool_status(st);
}

static PyObject *WeftPyRLock_enter(WeftPyRLock *self, PyObject *unused) {
    weft_status st;
    WEFT_PY_TRY_THEN_BLOCK_INTR(st, WEFT_FOREVER, weft_rlock_acquire(self->lk, tmo));
    return weft_py_bool_status(st);
}

static PyObject *WeftPyRLock_release(WeftPyRLock *self, PyObject *unused) {
    weft_status st = weft_rlock_release(self->lk);
    if (st == WEFT_OK) Py_RETURN_NONE;
    if (st == WEFT_EPERM) {
        PyErr_SetString(PyExc_RuntimeError, "cannot release un-acquired lock");
        return NULL;
    }
    weft_py_raise(st);
    return NULL;
}

static PyObject *WeftPyRLock_exit(WeftPyRLock *self, PyObject *args) {
    return WeftPyRLock_release(self, NULL);
}

static PyObject *WeftPyRLock_is_owned(WeftPyRLock *self, PyObject *unused) {
    int n = weft_rlock_count(self->lk);
    if (n < 0) { weft_py_raise(n); return NULL; }
    return PyBool_FromLong(n > 0);
}

/* Release every level (for Condition.wait): returns (count, owner). */
static PyObject *WeftPyRLock_release_save(WeftPyRLock *self, PyObject *unused) {
    int n = weft_rlock_count(self->lk);
    if (n < 0) { weft_py_raise(n); return NULL; }
    if (n == 0) { PyErr_SetString(PyExc_RuntimeError, "cannot release un-acquired lock"); return NULL; }
    uint64_t owner = weft_rlock_owner(self->lk);
    for (int i = 0; i < n; i++) {
        weft_status st = weft_rlock_release(self->lk);
        if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    }
    return Py_BuildValue("(iK)", n, (unsigned long long)owner);
}

static PyObject *WeftPyRLock_acquire_restore(WeftPyRLock *self, PyObject *state) {
    int n;
    unsigned long long owner;
    if (!PyArg_ParseTuple(state, "iK:_acquire_restore", &n, &owner)) return NULL;
    for (int i = 0; i < n; i++) {
        weft_status st;
        WEFT_PY_TRY_THEN_BLOCK(st, WEFT_FOREVER, weft_rlock_acquire(self->lk, tmo));
        if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    }
    Py_RETURN_NONE;
}

static PyObject *WeftPyRLock_recursion_count(WeftPyRLock *self, PyObject *unused) {
    int n = weft_rlock_count(self->lk);
    if (n < 0) { weft_py_raise(n); return NULL; }
    return PyLong_FromLong(n);
}

static PyObject *WeftPyRLock_at_fork_reinit(WeftPyRLock *self, PyObject *unused) {
    weft_rlock *fresh;
    weft_status st = weft_rlock_create(&fresh, NULL);
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    weft_rlock_destroy(self->lk);
    self->lk = fresh;
    Py_RETURN_NONE;
}

static PyObject *WeftPyRLock_repr(WeftPyRLock *self) {
    uint64_t owner = weft_rlock_owner(self->lk);
    int held = owner != 0;
    /* The depth is only visible to the owner; report 1 to others. */
    int n = weft_rlock_count(self->lk);
    if (held && n <= 0) n = 1;
    return PyUnicode_FromFormat("<%s %s object owner=%llu count=%d at %p>", held ? "locked" : "unlocked",
                                Py_TYPE(self)->tp_name, (unsigned long long)owner, held ? n : 0, self);
}

static PyMethodDef WeftPyRLock_methods[] = {
    {"acquire", (PyCFunction)(void (*)(void))WeftPyRLock_acquire, METH_FASTCALL | METH_KEYWORDS,
     "acquire(blocking=True, timeout=-1) -> bool\n\nAcquire (or re-enter) the lock; return whether "
     "it was acquired."},
    {"__enter__", (PyCFunction)WeftPyRLock_enter, METH_NOARGS, "Acquire (or re-enter) the lock."},
    {"release", (PyCFunction)WeftPyRLock_release, METH_NOARGS,
     "Leave one level; RuntimeError unless the calling thread owns the lock."},
    {"__exit__", (PyCFunction)WeftPyRLock_exit, METH_VARARGS, "Leave one level."},
    {"_is_owned", (PyCFunction)WeftPyRLock_is_owned, METH_NOARGS,
     "Whether the calling thread owns the lock."},
    {"_release_save", (PyCFunction)WeftPyRLock_release_save, METH_NOARGS,
     "Release every level; return the state for _acquire_restore()."},
    {"_acquire_restore", (PyCFunction)WeftPyRLock_acquire_restore, METH_O,
     "Re-acquire the levels _release_save() released."},
    {"_recursion_count", (PyCFunction)WeftPyRLock_recursion_count, METH_NOARGS,
     "How many levels the calling thread holds (0 if it does not own the lock)."},
    {"_at_fork_reinit", (PyCFunction)WeftPyRLock_at_fork_reinit, METH_NOARGS,
     "Replace the lock by a fresh unlocked one (after fork, in the child)."},
    {NULL, NULL, 0, NULL}
};

static PyTypeObject WeftPyRLock_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "weft.threading.RLock",
    .tp_basicsize = sizeof(WeftPyRLock),
    .tp_dealloc = (destructor)WeftPyRLock_dealloc,
    .tp_repr = (reprfunc)WeftPyRLock_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "RLock()\n\nA re-entrant lock (threading.RLock) backed by weft_rlock: the owning "
              "thread may acquire it again and must release it as often.",
    .tp_weaklistoffset = offsetof(WeftPyRLock, weakrefs),
    .tp_methods = WeftPyRLock_methods,
    .tp_new = WeftPyRLock_new,
};

/* Handles of the native types, for a Condition over them. */
static weft_lock *weft_py_lock_of(PyObject *o) {
    return PyObject_TypeCheck(o, &WeftPyLock_Type) ? ((WeftPyLock *)o)->lk : NULL;
}
static weft_rlock *weft_py_rlock_of(PyObject *o) {
    return PyObject_TypeCheck(o, &WeftPyRLock_Type) ? ((WeftPyRLock *)o)->lk : NULL;
}

/* ---- trampolines --------------------------------------------------------------- */
/* Call fn() under the GIL; report (never propagate) an exception. Returns 1 if
 * the call returned a true value, 0 otherwise. */
static int weft_py_call_truth(PyObject *fn) {
    PyObject *r = PyObject_CallNoArgs(fn);
    if (!r) { PyErr_WriteUnraisable(fn); return 0; }
    int t = PyObject_IsTrue(r);
    Py_DECREF(r);
    if (t < 0) { PyErr_Clear(); t = 0; }
    return t;
}

/* Thread entry: owns one reference to the callable. */
static void *weft_py_thread_main(void *arg) {
    if (weft_py_gone()) return NULL;
    PyGILState_STATE g = PyGILState_Ensure();
    (void)weft_py_call_truth((PyObject *)arg);
    Py_DECREF((PyObject *)arg);
    PyGILState_Release(g);
    return NULL;
}

/* Pool worker start: keep one thread state for the worker's life (so tasks
 * do not create and destroy one each), then run the Python initializer. */
static void weft_py_pool_init(void *user_data) {
    if (weft_py_gone()) return;
    PyGILState_STATE g = PyGILState_Ensure();
    (void)g; /* kept: the worker's thread state lives until the interpreter clears it */
    if (user_data) (void)weft_py_call_truth((PyObject *)user_data);
    (void)PyEval_SaveThread();
}

static PyObject *weft_py_s_run;  /* "_weft_run" */
static PyObject *weft_py_s_done; /* "_weft_done" */

/* Pool task: arg is a weft.futures.Future (borrowed: the done callback owns the
 * reference). Its _weft_run() stores the result or exception and returns
 * whether the call succeeded. */
static void *weft_py_task(void *arg) {
    if (weft_py_gone()) { (void)weft_task_fail(WEFT_ECANCELLED, "interpreter is shutting down"); return NULL; }
    PyGILState_STATE g = PyGILState_Ensure();
    int ok = 0;
    PyObject *r = PyObject_CallMethodNoArgs((PyObject *)arg, weft_py_s_run);
    if (!r) PyErr_WriteUnraisable((PyObject *)arg);
    else { ok = PyObject_IsTrue(r) > 0; Py_DECREF(r); }
    PyGILState_Release(g);
    if (!ok) (void)weft_task_fail(WEFT_EFAILED, "the Python callable raised");
    return NULL;
}

/* Done callback of a submitted task: tell the Python Future, drop its reference. */
static void weft_py_task_done(weft_future *f, void *user_data) {
    (void)f;
    if (weft_py_gone()) return;
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *r = PyObject_CallMethodNoArgs((PyObject *)user_data, weft_py_s_done);
    if (!r) PyErr_WriteUnraisable((PyObject *)user_data);
    Py_XDECREF(r);
    Py_DECREF((PyObject *)user_data);
    PyGILState_Release(g);
}

/* Done callback holding a plain callable(): called once, then dropped. */
static void weft_py_future_cb(weft_future *f, void *user_data) {
    (void)f;
    if (weft_py_gone()) return;
    PyGILState_STATE g = PyGILState_Ensure();
    (void)weft_py_call_truth((PyObject *)user_data);
    Py_DECREF((PyObject *)user_data);
    PyGILState_Release(g);
}

/* Barrier action: borrowed callable (the Python Barrier keeps it); returns
 * non-zero (breaking the barrier) when it raised or returned false. */
static int weft_py_barrier_action(void *user_data) {
    if (weft_py_gone()) return 1;
    PyGILState_STATE g = PyGILState_Ensure();
    int ok = weft_py_call_truth((PyObject *)user_data);
    PyGILState_Release(g);
    return ok ? 0 : 1;
}

static void *weft_py_ptr(PyObject *o, swig_type_info *ty, const char *what) {
    void *p = NULL;
    if (o == Py_None) return NULL;
    if (!SWIG_IsOK(SWIG_ConvertPtr(o, &p, ty, 0))) {
        PyErr_Format(PyExc_TypeError, "expected a %s handle", what);
        return (void *)-1;
    }
    return p;
}
%}

/* Raw blocking calls release the GIL (module built with -threads; everything
 * else keeps it: those calls never block). */
%nothread;
%thread weft_lock_acquire;
%thread weft_rlock_acquire;
%thread weft_semaphore_acquire;
%thread weft_condition_acquire;
%thread weft_condition_wait;
%thread weft_event_wait;
%thread weft_barrier_wait;
%thread weft_rwlock_read_acquire;
%thread weft_rwlock_write_acquire;
%thread weft_queue_join;
%thread weft_future_wait;
%thread weft_thread_join;
%thread weft_timer_join;
%thread weft_pool_shutdown;
%thread weft_pool_join;
%thread weft_pool_terminate;
%thread weft_pool_destroy;
%thread weft_pool_resize;
%thread weft_shutdown;
%thread weft_sleep_ns;
/* Waits for threads that are exiting and may need the GIL to drop their value. */
%thread weft_local_destroy;


%include <weft/common.h>
%include <weft/error.h>
%include <weft/version.h>
%include <weft/clock.h>
%include <weft/system.h>
%include <weft/lock.h>
%include <weft/rlock.h>
%include <weft/semaphore.h>
%include <weft/condition.h>
%include <weft/event.h>
%include <weft/barrier.h>
%include <weft/rwlock.h>
%include <weft/once.h>
%include <weft/tls.h>
%include <weft/queue.h>
%include <weft/future.h>
%include <weft/pool.h>
%include <weft/thread.h>

/* ---- Python helpers: callables and objects as payloads ---------------------------- */
%nothread;

%typemap(in) PyObject *obj "$1 = $input;";
%typemap(in) PyObject *fn "$1 = $input;";
%typemap(in) PyObject *seq "$1 = $input;";
%typemap(in) PyObject *timeout "$1 = $input;";
%typemap(in) PyObject *lock "$1 = $input;";

%inline %{
/* A semaphore; max_value > 0 makes it bounded. */
PyObject *py_semaphore_create(uint32_t value, uint32_t max_value) {
    weft_semaphore_options o = WEFT_SEMAPHORE_OPTIONS_INIT;
    o.max_value = max_value;
    weft_semaphore *s;
    weft_status st = weft_semaphore_create(&s, value, &o);
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    return SWIG_NewPointerObj(s, SWIGTYPE_p_weft_semaphore, 0);
}

/* Semaphore/Event/Future: True when it happened, False on timeout. */
PyObject *py_semaphore_acquire(weft_semaphore *s, int64_t timeout_ns) {
    weft_status st;
    WEFT_PY_TRY_THEN_BLOCK_INTR(st, timeout_ns, weft_semaphore_acquire(s, tmo));
    return weft_py_bool_status(st);
}

PyObject *py_event_wait(weft_event *e, int64_t timeout_ns) {
    weft_status st;
    WEFT_PY_TRY_THEN_BLOCK_INTR(st, timeout_ns, weft_event_wait(e, tmo));
    return weft_py_bool_status(st);
}

PyObject *py_future_wait(weft_future *f, int64_t timeout_ns) {
    weft_status st;
    WEFT_PY_TRY_THEN_BLOCK_INTR(st, timeout_ns, weft_future_wait(f, tmo));
    return weft_py_bool_status(st);
}

PyObject *py_condition_wait(weft_condition *c, int64_t timeout_ns) {
    weft_status st;
    Py_BEGIN_ALLOW_THREADS
    st = weft_condition_wait(c, timeout_ns);
    Py_END_ALLOW_THREADS
    return weft_py_bool_status(st);
}

/* Returns (status, index): status 0 passed, 1 timed out, 2 broken (EBROKEN),
 * 3 this thread's action failed (EFAILED). */
PyObject *py_barrier_wait(weft_barrier *b, int64_t timeout_ns) {
    weft_status st;
    unsigned index = 0;
    Py_BEGIN_ALLOW_THREADS
    st = weft_barrier_wait(b, &index, timeout_ns);
    Py_END_ALLOW_THREADS
    int kind;
    switch (st) {
    case WEFT_OK: kind = 0; break;
    case WEFT_ETIMEDOUT: kind = 1; break;
    case WEFT_EBROKEN: kind = 2; break;
    case WEFT_EFAILED: kind = 3; break;
    default: weft_py_raise(st); return NULL;
    }
    return Py_BuildValue("(iI)", kind, index);
}

/* A condition over a native Lock/RLock (borrowed: the caller keeps it alive),
 * or over a lock of its own when lock is None. */
PyObject *py_condition_create(PyObject *lock) {
    weft_condition_options o = WEFT_CONDITION_OPTIONS_INIT;
    if (lock != Py_None) {
        o.lock = weft_py_lock_of(lock);
        o.rlock = weft_py_rlock_of(lock);
        if (!o.lock && !o.rlock) {
            PyErr_SetString(PyExc_TypeError, "expected a weft Lock or RLock");
            return NULL;
        }
    }
    weft_condition *c;
    weft_status st = weft_condition_create(&c, &o);
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    return SWIG_NewPointerObj(c, SWIGTYPE_p_weft_condition, 0);
}

/* A barrier whose action (may be None) the caller keeps alive. */
PyObject *py_barrier_create(unsigned parties, PyObject *fn) {
    weft_barrier_options o = WEFT_BARRIER_OPTIONS_INIT;
    if (fn != Py_None) { o.action = weft_py_barrier_action; o.user_data = fn; }
    weft_barrier *b;
    weft_status st = weft_barrier_create(&b, parties, &o);
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    return SWIG_NewPointerObj(b, SWIGTYPE_p_weft_barrier, 0);
}

/* Start a weft thread running fn() (which it owns a reference to). */
PyObject *py_thread_spawn(PyObject *fn, const char *name, int daemon, size_t stack_size) {
    weft_thread_options o = WEFT_THREAD_OPTIONS_INIT;
    o.name = name;
    o.daemon = daemon;
    o.stack_size = stack_size;
    weft_thread *t = NULL;
    Py_INCREF(fn);
    weft_status st = weft_thread_spawn(&t, weft_py_thread_main, fn, &o);
    if (st != WEFT_OK) { Py_DECREF(fn); weft_py_raise(st); return NULL; }
    return SWIG_NewPointerObj(t, SWIGTYPE_p_weft_thread, 0);
}

/* True when joined, False on timeout. */
PyObject *py_thread_join(weft_thread *t, int64_t timeout_ns) {
    weft_status st;
    WEFT_PY_TRY_THEN_BLOCK_INTR(st, timeout_ns, weft_thread_join(t, NULL, tmo));
    return weft_py_bool_status(st);
}

/* The ident of weft's main thread. */
uint64_t py_main_ident(void) { return weft_thread_ident(weft_thread_main()); }

/* Queues of Python objects: each queued item owns one reference. */
PyObject *py_queue_create(int kind, size_t capacity) {
    weft_queue_options o = WEFT_QUEUE_OPTIONS_INIT;
    o.kind = kind;
    o.capacity = capacity;
    o.item_free = weft_py_decref;
    weft_queue *q;
    weft_status st = weft_queue_create(&q, &o);
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    return SWIG_NewPointerObj(q, SWIGTYPE_p_weft_queue, 0);
}

/* True when queued, False when full at the deadline; raises on ECLOSED etc. */
PyObject *py_queue_put(weft_queue *q, PyObject *obj, int64_t timeout_ns) {
    weft_status st;
    Py_INCREF(obj);
    WEFT_PY_TRY_THEN_BLOCK_INTR(st, timeout_ns, weft_queue_put(q, obj, tmo));
    if (st != WEFT_OK) Py_DECREF(obj);
    return weft_py_bool_status(st);
}

PyObject *py_queue_put_priority(weft_queue *q, PyObject *obj, int64_t priority, int64_t timeout_ns) {
    weft_status st;
    Py_INCREF(obj);
    WEFT_PY_TRY_THEN_BLOCK_INTR(st, timeout_ns, weft_queue_put_priority(q, obj, priority, tmo));
    if (st != WEFT_OK) Py_DECREF(obj);
    return weft_py_bool_status(st);
}

/* The item (its reference passes to the caller); raises on timeout (code ETIMEDOUT). */
PyObject *py_queue_get(weft_queue *q, int64_t timeout_ns) {
    weft_status st;
    void *item = NULL;
    WEFT_PY_TRY_THEN_BLOCK_INTR(st, timeout_ns, weft_queue_get(q, &item, tmo));
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    return (PyObject *)item;
}

PyObject *py_queue_join(weft_queue *q, int64_t timeout_ns) {
    weft_status st;
    WEFT_PY_TRY_THEN_BLOCK_INTR(st, timeout_ns, weft_queue_join(q, tmo));
    return weft_py_bool_status(st);
}

/* Thread-local dict of a weft_local: one value per thread, owning a reference. */
PyObject *py_local_get(weft_local *loc) {
    void *v = NULL;
    weft_status st = weft_local_get(loc, "__dict__", &v);
    if (st == WEFT_ENOENT || (st == WEFT_OK && v == NULL)) Py_RETURN_NONE;
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    Py_INCREF((PyObject *)v);
    return (PyObject *)v;
}

PyObject *py_local_set(weft_local *loc, PyObject *obj) {
    Py_INCREF(obj);
    weft_status st = weft_local_set(loc, "__dict__", obj, weft_py_decref);
    if (st != WEFT_OK) { Py_DECREF(obj); weft_py_raise(st); return NULL; }
    Py_RETURN_NONE;
}

/* Futures: values stay in the Python object; weft keeps the state. */
PyObject *py_future_set_done(weft_future *f) {
    weft_status st = weft_future_set_result(f, NULL, NULL);
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    Py_RETURN_NONE;
}

/* Run fn() once f is finished (now, in this thread, if it is already). */
PyObject *py_future_add_done_callback(weft_future *f, PyObject *fn) {
    Py_INCREF(fn);
    weft_status st = weft_future_add_done_callback(f, weft_py_future_cb, fn);
    if (st != WEFT_OK) { Py_DECREF(fn); weft_py_raise(st); return NULL; }
    Py_RETURN_NONE;
}

static weft_future **weft_py_future_array(PyObject *seq, Py_ssize_t *n) {
    PyObject *fast = PySequence_Fast(seq, "expected a sequence of future handles");
    if (!fast) return NULL;
    *n = PySequence_Fast_GET_SIZE(fast);
    weft_future **fs = PyMem_Malloc(sizeof(*fs) * (size_t)(*n ? *n : 1));
    if (!fs) { Py_DECREF(fast); PyErr_NoMemory(); return NULL; }
    for (Py_ssize_t i = 0; i < *n; i++) {
        void *p = weft_py_ptr(PySequence_Fast_GET_ITEM(fast, i), SWIGTYPE_p_weft_future, "weft_future");
        if (p == (void *)-1) { PyMem_Free(fs); Py_DECREF(fast); return NULL; }
        fs[i] = p;
    }
    Py_DECREF(fast);
    return fs;
}

/* True when the wait condition holds, False on timeout. */
PyObject *py_future_wait_many(PyObject *seq, int mode, int64_t timeout_ns) {
    Py_ssize_t n;
    weft_future **fs = weft_py_future_array(seq, &n);
    if (!fs) return NULL;
    weft_status st;
    size_t done = 0;
    WEFT_PY_TRY_THEN_BLOCK_INTR(st, timeout_ns, weft_future_wait_many(fs, (size_t)n, mode, tmo, &done));
    PyMem_Free(fs);
    return weft_py_bool_status(st);
}

PyObject *py_as_completed_create(PyObject *seq) {
    Py_ssize_t n;
    weft_future **fs = weft_py_future_array(seq, &n);
    if (!fs) return NULL;
    weft_as_completed *it;
    weft_status st = weft_as_completed_create(&it, fs, (size_t)n);
    PyMem_Free(fs);
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    return SWIG_NewPointerObj(it, SWIGTYPE_p_weft_as_completed, 0);
}

/* The next finished future as an int (its address), None when all were
 * yielded; raises on timeout. */
PyObject *py_as_completed_next(weft_as_completed *it, int64_t timeout_ns) {
    weft_status st;
    weft_future *f = NULL;
    WEFT_PY_TRY_THEN_BLOCK_INTR(st, timeout_ns, weft_as_completed_next(it, &f, tmo));
    if (st == WEFT_ECLOSED) Py_RETURN_NONE;
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    return PyLong_FromVoidPtr(f);
}

/* The address of a handle, to match py_as_completed_next()'s answer. */
PyObject *py_handle_address(PyObject *obj) {
    void *p = weft_py_ptr(obj, SWIGTYPE_p_weft_future, "weft_future");
    if (p == (void *)-1) return NULL;
    return PyLong_FromVoidPtr(p);
}

/* A thread pool whose workers each hold a Python thread state and run
 * fn() (may be None) first; the caller keeps fn alive. */
PyObject *py_pool_create(int workers, const char *name_prefix, PyObject *fn) {
    weft_pool_options o = WEFT_POOL_OPTIONS_INIT;
    o.workers = workers;
    o.name_prefix = name_prefix;
    o.initializer = weft_py_pool_init;
    o.initializer_data = fn == Py_None ? NULL : fn;
    weft_pool *p = NULL;
    weft_status st;
    Py_BEGIN_ALLOW_THREADS
    st = weft_pool_create(&p, &o);
    Py_END_ALLOW_THREADS
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    return SWIG_NewPointerObj(p, SWIGTYPE_p_weft_pool, 0);
}

/* Submit fut._weft_run(); fut._weft_done() runs when the task is finished
 * (also when cancelled). Returns the weft_future (a reference the caller
 * owns and drops with weft_future_destroy). */
PyObject *py_pool_submit(weft_pool *pool, PyObject *obj, int64_t timeout_ns) {
    weft_future *f = NULL;
    weft_status st;
    Py_INCREF(obj); /* dropped by weft_py_task_done */
    WEFT_PY_TRY_THEN_BLOCK_INTR(st, timeout_ns, weft_pool_submit(pool, weft_py_task, obj, &f, tmo));
    if (st != WEFT_OK) { Py_DECREF(obj); weft_py_raise(st); return NULL; }
    PyObject *h = SWIG_NewPointerObj(f, SWIGTYPE_p_weft_future, 0);
    if (!h) { weft_future_destroy(f); return NULL; }
    /* The task may already be done: then the callback runs here and now. */
    st = weft_future_add_done_callback(f, weft_py_task_done, obj);
    if (st != WEFT_OK) { Py_DECREF(h); weft_py_raise(st); return NULL; } /* obj leaks: it may still run */
    return h;
}

/* Stats as a dict. */
PyObject *py_pool_stats(weft_pool *pool) {
    weft_pool_stats s;
    weft_status st = weft_pool_stats_get(pool, &s);
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    return Py_BuildValue("{s:i,s:i,s:L,s:L,s:L,s:L}", "workers", s.workers, "running", s.running,
                         "queued", (long long)s.queued, "completed", (long long)s.completed,
                         "failed", (long long)s.failed, "cancelled", (long long)s.cancelled);
}

/* weft_last_error() as (code, errno, message). */
PyObject *py_last_error(void) {
    const weft_error *e = weft_last_error();
    return Py_BuildValue("(iis)", e->code, e->sys_errno, e->message);
}

/* Seconds (None or -1: forever) -> ns; ValueError for other negatives. */
PyObject *py_timeout_ns(PyObject *timeout) {
    int64_t ns;
    if (weft_py_timeout(timeout, &ns) < 0) return NULL;
    return PyLong_FromLongLong(ns);
}
%}


/* ---- weft.multiprocessing: process-scope objects (weft/multiprocessing.py) ------- */
/* Acquires answer True (acquired) or False (timed out); WEFT_EOWNERDEAD
 * raises weft.OwnerDeadError with the lock held (the caller repairs, then
 * calls *_mark_consistent). Bytes in and out go through the buffer protocol. */
%{
#include <weft/shm.h>
#include <weft/connection.h>
#include <weft/dict.h>

/* name None/"" -> NULL (anonymous: shared with fork children). */
static weft_sharing weft_py_share(const char *name) {
    weft_sharing s = WEFT_SHARING_INIT;
    s.scope = WEFT_SCOPE_PROCESS;
    s.name = (name && name[0]) ? name : NULL;
    return s;
}
%}

%inline %{
PyObject *py_mp_lock_create(const char *name) {
    weft_lock_options o = WEFT_LOCK_OPTIONS_INIT;
    o.share = weft_py_share(name);
    weft_lock *l;
    weft_status st = weft_lock_create(&l, &o);
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    return SWIG_NewPointerObj(l, SWIGTYPE_p_weft_lock, 0);
}

PyObject *py_mp_lock_acquire(weft_lock *l, int64_t timeout_ns) {
    weft_status st;
    WEFT_PY_TRY_THEN_BLOCK_INTR(st, timeout_ns, weft_lock_acquire(l, tmo));
    return weft_py_bool_status(st);
}

PyObject *py_mp_rlock_create(const char *name) {
    weft_rlock_options o = WEFT_RLOCK_OPTIONS_INIT;
    o.share = weft_py_share(name);
    weft_rlock *l;
    weft_status st = weft_rlock_create(&l, &o);
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    return SWIG_NewPointerObj(l, SWIGTYPE_p_weft_rlock, 0);
}

PyObject *py_mp_rlock_acquire(weft_rlock *l, int64_t timeout_ns) {
    weft_status st;
    WEFT_PY_TRY_THEN_BLOCK_INTR(st, timeout_ns, weft_rlock_acquire(l, tmo));
    return weft_py_bool_status(st);
}

PyObject *py_mp_semaphore_create(uint32_t value, uint32_t max_value) {
    weft_semaphore_options o = WEFT_SEMAPHORE_OPTIONS_INIT;
    o.max_value = max_value;
    o.share = weft_py_share(NULL);
    weft_semaphore *s;
    weft_status st = weft_semaphore_create(&s, value, &o);
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    return SWIG_NewPointerObj(s, SWIGTYPE_p_weft_semaphore, 0);
}

PyObject *py_mp_event_create(void) {
    weft_event_options o = WEFT_EVENT_OPTIONS_INIT;
    o.share = weft_py_share(NULL);
    weft_event *e;
    weft_status st = weft_event_create(&e, &o);
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    return SWIG_NewPointerObj(e, SWIGTYPE_p_weft_event, 0);
}

/* A process-scope condition over lock or rlock (borrowed; None: its own lock). */
PyObject *py_mp_condition_create(weft_lock *lock, weft_rlock *rlock) {
    weft_condition_options o = WEFT_CONDITION_OPTIONS_INIT;
    o.lock = lock;
    o.rlock = rlock;
    o.share = weft_py_share(NULL);
    weft_condition *c;
    weft_status st = weft_condition_create(&c, &o);
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    return SWIG_NewPointerObj(c, SWIGTYPE_p_weft_condition, 0);
}

PyObject *py_mp_condition_acquire(weft_condition *c, int64_t timeout_ns) {
    weft_status st;
    WEFT_PY_TRY_THEN_BLOCK_INTR(st, timeout_ns, weft_condition_acquire(c, tmo));
    return weft_py_bool_status(st);
}

/* A process-scope bytes queue; name None: anonymous. */
PyObject *py_mp_queue_create(const char *name, size_t capacity, size_t max_bytes) {
    weft_queue_options o = WEFT_QUEUE_OPTIONS_INIT;
    o.capacity = capacity;
    o.max_bytes = max_bytes;
    o.share = weft_py_share(name);
    weft_queue *q;
    weft_status st = weft_queue_create(&q, &o);
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    return SWIG_NewPointerObj(q, SWIGTYPE_p_weft_queue, 0);
}

/* True queued, False full at the deadline. */
PyObject *py_mp_queue_put(weft_queue *q, PyObject *obj, int64_t timeout_ns) {
    Py_buffer b;
    if (PyObject_GetBuffer(obj, &b, PyBUF_SIMPLE) < 0) return NULL;
    weft_status st;
    WEFT_PY_TRY_THEN_BLOCK_INTR(st, timeout_ns, weft_queue_put_bytes(q, b.buf, (size_t)b.len, tmo));
    PyBuffer_Release(&b);
    return weft_py_bool_status(st);
}

/* bytes, or None when empty at the deadline. */
PyObject *py_mp_queue_get(weft_queue *q, int64_t timeout_ns) {
    weft_status st;
    void *data = NULL;
    size_t len = 0;
    WEFT_PY_TRY_THEN_BLOCK_INTR(st, timeout_ns, weft_queue_get_bytes_alloc(q, &data, &len, tmo));
    if (st == WEFT_ETIMEDOUT) Py_RETURN_NONE;
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    PyObject *r = PyBytes_FromStringAndSize((const char *)data, (Py_ssize_t)len);
    weft_queue_bytes_free(data);
    return r;
}

/* A shared array (lock included); returns (handle, address of the data). */
PyObject *py_mp_array_create(uint32_t type, size_t length, const char *name) {
    weft_array_options o = WEFT_ARRAY_OPTIONS_INIT;
    o.share = weft_py_share(name);
    weft_array *a;
    weft_status st = weft_array_create(&a, type, length, &o);
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    PyObject *h = SWIG_NewPointerObj(a, SWIGTYPE_p_weft_array, 0);
    if (!h) { weft_array_destroy(a); return NULL; }
    return Py_BuildValue("(NN)", h, PyLong_FromVoidPtr(weft_array_data(a)));
}

PyObject *py_mp_array_acquire(weft_array *a, int64_t timeout_ns) {
    weft_status st;
    WEFT_PY_TRY_THEN_BLOCK_INTR(st, timeout_ns, weft_array_acquire(a, tmo));
    return weft_py_bool_status(st);
}

/* Two connection handles. */
PyObject *py_mp_pipe(int duplex) {
    weft_conn *a = NULL, *b = NULL;
    weft_status st = weft_pipe(&a, &b, duplex);
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    PyObject *ha = SWIG_NewPointerObj(a, SWIGTYPE_p_weft_conn, 0);
    PyObject *hb = SWIG_NewPointerObj(b, SWIGTYPE_p_weft_conn, 0);
    if (!ha || !hb) { Py_XDECREF(ha); Py_XDECREF(hb); weft_conn_destroy(a); weft_conn_destroy(b); return NULL; }
    return Py_BuildValue("(NN)", ha, hb);
}

PyObject *py_mp_conn_send(weft_conn *c, PyObject *obj, int64_t timeout_ns) {
    Py_buffer b;
    if (PyObject_GetBuffer(obj, &b, PyBUF_SIMPLE) < 0) return NULL;
    weft_status st;
    WEFT_PY_TRY_THEN_BLOCK_INTR(st, timeout_ns, weft_conn_send(c, b.buf, (size_t)b.len, tmo));
    PyBuffer_Release(&b);
    return weft_py_bool_status(st);
}

/* bytes, or None at the deadline; raises (ECLOSED -> EOFError in Python). */
PyObject *py_mp_conn_recv(weft_conn *c, int64_t timeout_ns) {
    weft_status st;
    void *data = NULL;
    size_t len = 0;
    WEFT_PY_TRY_THEN_BLOCK_INTR(st, timeout_ns, weft_conn_recv_alloc(c, &data, &len, tmo));
    if (st == WEFT_ETIMEDOUT) Py_RETURN_NONE;
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    PyObject *r = PyBytes_FromStringAndSize((const char *)data, (Py_ssize_t)len);
    weft_conn_free(data);
    return r;
}

PyObject *py_mp_conn_poll(weft_conn *c, int64_t timeout_ns) {
    weft_status st;
    WEFT_PY_TRY_THEN_BLOCK_INTR(st, timeout_ns, weft_conn_poll(c, tmo));
    return weft_py_bool_status(st);
}

/* A shared dict: name None anonymous; open_existing opens a name that exists. */
PyObject *py_mp_dict_create(const char *name, int open_existing) {
    weft_dict_options o = WEFT_DICT_OPTIONS_INIT;
    o.share = weft_py_share(name);
    if (open_existing) o.share.flags = WEFT_SHARE_OPEN_EXISTING;
    weft_dict *d;
    weft_status st = weft_dict_create(&d, &o);
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    return SWIG_NewPointerObj(d, SWIGTYPE_p_weft_dict, 0);
}

PyObject *py_mp_dict_set(weft_dict *d, const char *key, PyObject *obj, int64_t timeout_ns) {
    Py_buffer b;
    if (PyObject_GetBuffer(obj, &b, PyBUF_SIMPLE) < 0) return NULL;
    weft_status st;
    WEFT_PY_TRY_THEN_BLOCK_INTR(st, timeout_ns, weft_dict_set(d, key, b.buf, (size_t)b.len, tmo));
    PyBuffer_Release(&b);
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    Py_RETURN_NONE;
}

/* bytes, or None when the key is absent. */
PyObject *py_mp_dict_get(weft_dict *d, const char *key, int64_t timeout_ns) {
    weft_status st;
    void *data = NULL;
    size_t len = 0;
    WEFT_PY_TRY_THEN_BLOCK_INTR(st, timeout_ns, weft_dict_get_alloc(d, key, &data, &len, tmo));
    if (st == WEFT_ENOENT) Py_RETURN_NONE;
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    PyObject *r = PyBytes_FromStringAndSize((const char *)data, (Py_ssize_t)len);
    weft_dict_free(data);
    return r;
}
%}

/* Raw calls the multiprocessing module uses directly. */
void weft_array_destroy(weft_array *a);
weft_status weft_array_release(weft_array *a);
weft_status weft_array_mark_consistent(weft_array *a);
void weft_conn_destroy(weft_conn *c);
weft_status weft_conn_close(weft_conn *c);
void weft_dict_destroy(weft_dict *d);
weft_status weft_dict_delete(weft_dict *d, const char *key, int64_t timeout_ns);

%init %{
    weft_py_s_run = PyUnicode_InternFromString("_weft_run");
    weft_py_s_done = PyUnicode_InternFromString("_weft_done");
    weft_py_error_base = PyErr_NewExceptionWithDoc("weft.WeftError",
        "Base of every error weft reports: .code is the weft_status, .name its name "
        "(e.g. 'WEFT_EINVAL'), str() weft's message.", PyExc_Exception, NULL);
    weft_py_error_classes = PyDict_New();
    if (!weft_py_s_run || !weft_py_s_done || !weft_py_error_base || !weft_py_error_classes ||
        PyType_Ready(&WeftPyLock_Type) < 0 || PyType_Ready(&WeftPyRLock_Type) < 0)
        return NULL;
    Py_INCREF(weft_py_error_base);
    PyModule_AddObject(m, "WeftError", weft_py_error_base);
    Py_INCREF(weft_py_error_classes);
    PyModule_AddObject(m, "_error_classes", weft_py_error_classes);
    Py_INCREF(&WeftPyLock_Type);
    PyModule_AddObject(m, "Lock", (PyObject *)&WeftPyLock_Type);
    Py_INCREF(&WeftPyRLock_Type);
    PyModule_AddObject(m, "RLock", (PyObject *)&WeftPyRLock_Type);
%}


/* ---- pyA: process pool ---- */
/* Process pools that run Python callables (weft/_ppool.py,
 * weft/multiprocessing/pool.py, weft.futures.ProcessPoolExecutor).
 *
 * One C task, weft_py_ptask, registered at import as "weft.python.call" (so
 * spawn and forkserver workers, which import this module too, know it): it
 * takes the GIL and hands the argument bytes to the Python runner
 * (weft._ppool.run_task, installed with py_ppool_set_runner), which unpickles
 * (callable, args, kwargs), calls it and returns b'R' + pickle(result) or
 * b'E' + pickle(exception with its traceback text).
 *
 * Each submitted task has two futures: the pool's ("inner"), whose value is
 * those bytes, and the one Python sees ("outer"), which a C done callback
 * (no GIL) finishes from the inner one: DONE for b'R', FAILED (WEFT_EFAILED)
 * for b'E', the inner failure (WEFT_EWORKERDIED, ...) or CANCELLED otherwise.
 * So wait(FIRST_EXCEPTION) sees a Python exception as a failure, and the
 * supervisor thread never needs the GIL unless Python registered a callback.
 * Python unpickles in the thread that asks for the result.
 *
 * Every pool call that may wait releases the GIL: the supervisor takes it to
 * fork (the fork hooks) and to run Python done callbacks. */
%{
#include <weft/process_pool.h>
#include <weft/process.h>
#include <unistd.h>

#define WEFT_PY_PTASK_NAME "weft.python.call"
static PyObject *weft_py_ptask_runner; /* weft._ppool.run_task (one reference) */
/* The running task's result while the runner runs (a worker runs one task at
 * a time): py_map_each packs a chunk's values straight into it. */
static weft_ptask_result *weft_py_task_result;

/* The task of every Python process pool, in a worker with the GIL free. */
static weft_status weft_py_ptask(const void *arg, size_t len, weft_ptask_result *out) {
    if (!weft_py_ptask_runner || !Py_IsInitialized() || weft_py_gone())
        return weft_task_fail(WEFT_ESTATE, "weft.python.call: this worker has no Python task runner "
                                           "(weft._ppool was not imported in it)");
    PyGILState_STATE g = PyGILState_Ensure();
    weft_status st = WEFT_OK;
    PyObject *view = PyMemoryView_FromMemory((char *)(len ? arg : ""), (Py_ssize_t)len, PyBUF_READ);
    weft_py_task_result = out;
    PyObject *r = view ? PyObject_CallOneArg(weft_py_ptask_runner, view) : NULL;
    weft_py_task_result = NULL;
    if (view) {
        /* The bytes are weft's and valid during this call only. */
        PyObject *rel = PyObject_CallMethod(view, "release", NULL);
        if (!rel) PyErr_Clear();
        Py_XDECREF(rel);
        Py_DECREF(view);
    }
    if (r == Py_True) {
        /* py_map_each wrote the chunk's packed values into the result already */
    } else if (r && PyBytes_Check(r)) {
        st = weft_ptask_result_set(out, PyBytes_AS_STRING(r), (size_t)PyBytes_GET_SIZE(r));
        if (st != WEFT_OK) st = weft_task_fail(st, "weft.python.call: no memory for the result");
    } else {
        /* The runner itself failed (it catches what the callable raises). */
        char msg[WEFT_ERROR_MESSAGE_MAX] = "weft.python.call: the task runner did not return bytes";
        if (PyErr_Occurred()) {
            PyObject *t, *v, *tb;
            PyErr_Fetch(&t, &v, &tb);
            PyErr_NormalizeException(&t, &v, &tb);
            PyObject *s = v ? PyObject_Str(v) : NULL;
            const char *cs = s ? PyUnicode_AsUTF8(s) : NULL;
            snprintf(msg, sizeof msg, "weft.python.call: the task runner raised %s: %s",
                     t ? ((PyTypeObject *)t)->tp_name : "?", cs ? cs : "?");
            PyErr_Clear();
            Py_XDECREF(s);
            Py_XDECREF(t);
            Py_XDECREF(v);
            Py_XDECREF(tb);
        }
        st = weft_task_fail(WEFT_EFAILED, msg);
    }
    Py_XDECREF(r);
    PyGILState_Release(g);
    return st;
}

/* Initializer of a fork pool's worker: data is the Python callable (the
 * worker's copy); it prints its own errors and ends the worker (os._exit)
 * when the user's initializer raised. */
static void weft_py_ppool_init(void *data) {
    if (!data || weft_py_gone()) return;
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *r = PyObject_CallNoArgs((PyObject *)data);
    if (!r) {
        PyErr_Print();
        fflush(stderr);
        _exit(1);
    }
    Py_DECREF(r);
    PyGILState_Release(g);
}

#if WEFT_PROCESS_POOL_OPTIONS_VERSION >= 2
/* Fork hooks (the supervisor thread forks the workers): hold the GIL across
 * fork() and let Python repair itself in both processes, as os.fork() does.
 * Written only with the GIL held. */
static PyGILState_STATE weft_py_fork_gil;
static int weft_py_fork_skipped; /* the interpreter was exiting: no Python in the worker */

static void weft_py_fork_prepare(void *data) {
    (void)data;
    weft_py_fork_skipped = weft_py_gone();
    if (weft_py_fork_skipped) return;
    weft_py_fork_gil = PyGILState_Ensure();
    PyOS_BeforeFork();
}

static void weft_py_fork_parent(void *data) {
    (void)data;
    if (weft_py_fork_skipped) return;
    PyOS_AfterFork_Parent();
    PyGILState_Release(weft_py_fork_gil);
}

/* The worker: this thread is now the interpreter's only (and main) thread;
 * it keeps its thread state and lets go of the GIL between tasks. A worker
 * forked while the interpreter was exiting leaves at once (its pool is
 * shutting down). */
static void weft_py_fork_child(void *data) {
    (void)data;
    if (weft_py_fork_skipped) _exit(0);
    PyOS_AfterFork_Child();
    (void)PyEval_SaveThread();
}
#endif

/* Finish the outer future from the inner one (any thread, no GIL). */
static void weft_py_pf_done(weft_future *inner, void *user_data) {
    weft_future *outer = (weft_future *)user_data;
    int state = weft_future_get_state(inner);
    if (state == WEFT_FUTURE_DONE) {
        void *v = NULL;
        const weft_bytes *b = NULL;
        if (weft_future_result(inner, &v, 0) == WEFT_OK) b = (const weft_bytes *)v;
        if (b && b->size > 0 && ((const char *)b->data)[0] == 'E')
            (void)weft_future_set_error(outer, WEFT_EFAILED, "the task raised an exception");
        else
            (void)weft_future_set_result(outer, NULL, NULL);
    } else if (state == WEFT_FUTURE_FAILED) {
        weft_status code = WEFT_EFAILED;
        const char *msg = "the task failed";
        (void)weft_future_error(inner, &code, &msg);
        (void)weft_future_set_error(outer, code, msg);
    } else {
        if (weft_future_cancel(outer) != WEFT_OK)
            (void)weft_future_set_error(outer, WEFT_ECANCELLED, "the task was cancelled");
    }
    weft_future_destroy(outer);
}

static PyObject *weft_py_pf_pair(weft_future *outer, weft_future *inner) {
    PyObject *ho = SWIG_NewPointerObj(outer, SWIGTYPE_p_weft_future, 0);
    PyObject *hi = SWIG_NewPointerObj(inner, SWIGTYPE_p_weft_future, 0);
    if (!ho || !hi) {
        Py_XDECREF(ho);
        Py_XDECREF(hi);
        return NULL;
    }
    return Py_BuildValue("(NN)", ho, hi);
}

/* weft_process_pool handles travel as SWIG pointers of this type. */
static swig_type_info *weft_py_ppool_type(void) { return SWIGTYPE_p_weft_process_pool; }
%}

%typemap(in) PyObject *runner "$1 = $input;";
%typemap(in) PyObject *initializer "$1 = $input;";
%typemap(in) PyObject *argv "$1 = $input;";
%typemap(in) PyObject *data "$1 = $input;";
%typemap(in) PyObject *on_result "$1 = $input;";
%typemap(in) PyObject *chunks "$1 = $input;";

%inline %{
/* Install the worker-side runner (weft._ppool does, at import). */
PyObject *py_ppool_set_runner(PyObject *runner) {
    if (!PyCallable_Check(runner)) {
        PyErr_SetString(PyExc_TypeError, "the task runner must be callable");
        return NULL;
    }
    Py_INCREF(runner);
    Py_XSETREF(weft_py_ptask_runner, runner);
    Py_RETURN_NONE;
}

/* A pool of Python workers. start_method: WEFT_PROCESS_POOL_START_*;
 * initializer: a callable run once in each fork worker (None: none; the pool
 * object keeps it alive); data: runner bytes (b'I' + pickle) run once in each
 * spawn worker as its initializer (None: none); program/argv: the
 * interpreter and the arguments before weft's that spawn workers run. */
PyObject *py_ppool_create(int workers, int start_method, int64_t max_tasks, int64_t task_timeout_ns,
                          int max_restarts, int64_t restart_window_ns, PyObject *initializer, PyObject *data,
                          const char *program, PyObject *argv) {
    weft_process_pool_options o = WEFT_PROCESS_POOL_OPTIONS_INIT;
    o.workers = workers;
    o.start_method = start_method;
    o.max_tasks_per_worker = max_tasks;
    o.task_timeout_ns = task_timeout_ns;
    o.max_restarts = max_restarts;
    o.restart_window_ns = restart_window_ns;
    if (initializer != Py_None) {
        o.initializer = weft_py_ppool_init;
        o.initializer_data = initializer;
    }
    const char **av = NULL;
    PyObject *fast = NULL;
    Py_buffer init_arg = {0};
#if WEFT_PROCESS_POOL_OPTIONS_VERSION >= 2
    if (data != Py_None) {
        if (PyObject_GetBuffer(data, &init_arg, PyBUF_SIMPLE) < 0) return NULL;
        o.initializer_name = WEFT_PY_PTASK_NAME;
        o.initializer_arg = init_arg.buf;
        o.initializer_arg_len = (size_t)init_arg.len;
    }
    o.fork_prepare = weft_py_fork_prepare;
    o.fork_parent = weft_py_fork_parent;
    o.fork_child = weft_py_fork_child;
    o.spawn_program = program;
    if (argv != Py_None) {
        fast = PySequence_Fast(argv, "argv must be a sequence of str");
        if (!fast) goto fail;
        Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
        av = PyMem_Calloc((size_t)n + 1, sizeof *av);
        if (!av) { PyErr_NoMemory(); goto fail; }
        for (Py_ssize_t i = 0; i < n; i++) {
            av[i] = PyUnicode_AsUTF8(PySequence_Fast_GET_ITEM(fast, i));
            if (!av[i]) goto fail;
        }
        o.spawn_argv = av;
    }
#else
    (void)program;
    (void)argv;
    (void)data;
#endif
    weft_process_pool *p = NULL;
    weft_status st;
    Py_BEGIN_ALLOW_THREADS
    st = weft_process_pool_create(&p, &o);
    Py_END_ALLOW_THREADS
    PyMem_Free(av);
    Py_XDECREF(fast);
    if (init_arg.obj) PyBuffer_Release(&init_arg);
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    return SWIG_NewPointerObj(p, weft_py_ppool_type(), 0);
fail:
    PyMem_Free(av);
    Py_XDECREF(fast);
    if (init_arg.obj) PyBuffer_Release(&init_arg);
    return NULL;
}

/* Submit one task (data: the runner's bytes); returns (outer, inner), two
 * future handles the caller owns (weft_future_destroy each). */
PyObject *py_ppool_submit(weft_process_pool *pool, PyObject *data) {
    Py_buffer b;
    if (PyObject_GetBuffer(data, &b, PyBUF_SIMPLE) < 0) return NULL;
    weft_future *outer = NULL, *inner = NULL;
    weft_status st = weft_future_create(&outer);
    if (st == WEFT_OK) {
        WEFT_PY_TRY_THEN_BLOCK(st, WEFT_FOREVER,
                               weft_process_pool_submit(pool, weft_py_ptask, b.buf, (size_t)b.len, &inner, tmo));
    }
    PyBuffer_Release(&b);
    if (st != WEFT_OK) {
        weft_future_destroy(outer);
        weft_py_raise(st);
        return NULL;
    }
    (void)weft_future_retain(outer); /* dropped by weft_py_pf_done */
    st = weft_future_add_done_callback(inner, weft_py_pf_done, outer);
    if (st != WEFT_OK) { /* cannot happen for a valid future; never leave outer pending */
        (void)weft_future_set_error(outer, st, "weft: cannot watch the pool's future");
        weft_future_destroy(outer);
    }
    PyObject *pair = weft_py_pf_pair(outer, inner);
    if (!pair) { weft_future_destroy(outer); weft_future_destroy(inner); }
    return pair;
}

/* A map chunk's values (or its items) packed, when they are all numbers of
 * one exact type: b'Q' + one int64 per value (every one an int, not a bool
 * nor an int subclass, within int64) or b'D' + one double per value (every
 * one a float); None otherwise, and they go pickled. Only exact types, so
 * that py_unpack_numbers gives back values of the same types and values
 * (a double's bits are copied: -0.0 and NaNs too; pickle memoizes neither
 * ints nor floats, so no identity is lost either). A 5000-int chunk: 11 us
 * to pack here against pickle.dumps' 24 us in the worker, and 30 us to
 * unpack against pickle.loads' 46 us in the map's caller, whose unpickling
 * was the largest serial part of a Python map of tiny calls. */
/* The tag a list starting with v packs under ('Q': exact ints, 'D': exact
 * floats), or 0: it is pickled. */
static char weft_py_pack_tag(PyObject *v) {
    return PyLong_CheckExact(v) ? 'Q' : PyFloat_CheckExact(v) ? 'D' : 0;
}

/* Pack v into the 8 bytes at slot under tag; 0 when it does not pack so (another
 * type, or an int beyond int64). */
static int weft_py_pack_one(char *slot, PyObject *v, char tag) {
    if (tag == 'Q' && PyLong_CheckExact(v)) {
        int overflow = 0; /* (an exact int: no error, only overflow) */
        long long q = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (overflow) return 0;
        memcpy(slot, &q, 8);
        return 1;
    }
    if (tag == 'D' && PyFloat_CheckExact(v)) {
        double d = PyFloat_AS_DOUBLE(v);
        memcpy(slot, &d, 8);
        return 1;
    }
    return 0;
}

PyObject *py_pack_numbers(PyObject *values) {
    if (!PyList_CheckExact(values) || PyList_GET_SIZE(values) == 0) Py_RETURN_NONE;
    Py_ssize_t n = PyList_GET_SIZE(values);
    char tag = weft_py_pack_tag(PyList_GET_ITEM(values, 0));
    if (!tag || n > (PY_SSIZE_T_MAX - 1) / 8) Py_RETURN_NONE;
    PyObject *out = PyBytes_FromStringAndSize(NULL, 1 + n * 8);
    if (!out) return NULL;
    char *p = PyBytes_AS_STRING(out);
    p[0] = tag;
    for (Py_ssize_t i = 0; i < n; i++)
        if (!weft_py_pack_one(p + 1 + i * 8, PyList_GET_ITEM(values, i), tag)) {
            Py_DECREF(out);
            Py_RETURN_NONE;
        }
    return out;
}

/* Store the n numbers packed at p (8 bytes each: int64s for tag 'Q',
 * doubles for 'D') as new objects in list[at .. at + n), whose slots are
 * empty; -1 (with the error set) when out of memory: the slots filled stay. */
static int weft_py_unpack_into(PyObject *list, Py_ssize_t at, const char *p, Py_ssize_t n, char tag) {
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v;
        if (tag == 'Q') {
            long long x;
            memcpy(&x, p + i * 8, 8);
            v = PyLong_FromLongLong(x);
        } else {
            double d;
            memcpy(&d, p + i * 8, 8);
            v = PyFloat_FromDouble(d);
        }
        if (!v) return -1;
        PyList_SET_ITEM(list, at + i, v);
    }
    return 0;
}

/* Whether len bytes at p are numbers as py_pack_numbers packs them. */
static int weft_py_is_packed(const char *p, Py_ssize_t len) {
    return len >= 1 && (len - 1) % 8 == 0 && (p[0] == 'Q' || p[0] == 'D');
}

/* The list of values py_pack_numbers packed into b (bytes or another
 * buffer: b'Q' or b'D' + 8 bytes each). */
PyObject *py_unpack_numbers(PyObject *b) {
    Py_buffer view;
    if (PyObject_GetBuffer(b, &view, PyBUF_SIMPLE) < 0) return NULL;
    const char *p = view.buf;
    if (!weft_py_is_packed(p, view.len)) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "not packed numbers");
        return NULL;
    }
    Py_ssize_t n = (view.len - 1) / 8;
    PyObject *list = PyList_New(n);
    if (list && weft_py_unpack_into(list, 0, p + 1, n, p[0]) < 0) Py_CLEAR(list);
    PyBuffer_Release(&view);
    return list;
}

/* The start and step of range r when all its items are within int64
 * (then 1), else 0 (with no error set). */
static int weft_py_range_bounds(PyObject *r, long long *start, long long *step) {
    int ok = 0;
    PyObject *a = PyObject_GetAttrString(r, "start");
    PyObject *b = PyObject_GetAttrString(r, "stop");
    PyObject *c = PyObject_GetAttrString(r, "step");
    if (a && b && c) {
        int o1 = 0, o2 = 0, o3 = 0;
        *start = PyLong_AsLongLongAndOverflow(a, &o1);
        (void)PyLong_AsLongLongAndOverflow(b, &o2); /* (every item lies between start and stop) */
        *step = PyLong_AsLongLongAndOverflow(c, &o3);
        ok = !o1 && !o2 && !o3 && !PyErr_Occurred();
    }
    PyErr_Clear();
    Py_XDECREF(a);
    Py_XDECREF(b);
    Py_XDECREF(c);
    return ok;
}

/* A map chunk's calls in a worker: fn(x) (with star: fn(*x)) for each x of
 * items, in order, in one C loop (run_task, _ppool.py). items is a list, a
 * tuple or a range, or a memoryview of numbers packed by py_pack_numbers.
 * Returns
 *   bytes   b'Q' or b'D' + the values packed, when every call returned an
 *           int within int64 (exact type), or every call a float (exact);
 *   True    the same, written straight into the running task's result
 *           when called by the worker's runner (weft_py_ptask): no bytes
 *           object, no copy;
 *   list    the values, when every call returned but they do not pack;
 *   (values, k, exc)  when call k raised exc (its traceback attached):
 *           values are those of calls 0 .. k-1; no later call was made.
 * Each value is packed as it comes and let go of at once: a 5000-call
 * chunk of tiny calls took 133 us here against 164 us for
 * py_pack_numbers(list(map(fn, items))), on the path of every Python map
 * (a starmap's: 128 us against 177 us). */
PyObject *py_map_each(PyObject *fn, PyObject *items, int star) {
    Py_buffer in = {0};
    const char *ip = NULL; /* packed arguments, or NULL: iterate items */
    char itag = 0;
    Py_ssize_t n;
    PyObject *it = NULL;
    int in_range = 0; /* a range within int64: item k is r0 + k * rstep */
    long long r0 = 0, rstep = 0;
    vectorcallfunc call = PyVectorcall_Function(fn);
    if (PyMemoryView_Check(items)) {
        if (PyObject_GetBuffer(items, &in, PyBUF_SIMPLE) < 0) return NULL;
        if (!weft_py_is_packed(in.buf, in.len)) {
            PyBuffer_Release(&in);
            PyErr_SetString(PyExc_ValueError, "not packed numbers");
            return NULL;
        }
        ip = (const char *)in.buf + 1;
        itag = ((const char *)in.buf)[0];
        n = (in.len - 1) / 8;
    } else if (PyList_CheckExact(items) || PyTuple_CheckExact(items) || PyRange_Check(items)) {
        n = PyObject_Length(items);
        if (n < 0) return NULL;
        if (PyRange_Check(items) && weft_py_range_bounds(items, &r0, &rstep)) {
            in_range = 1; /* (its ints made here: no iterator) */
        } else if (!(it = PyObject_GetIter(items))) {
            return NULL;
        }
    } else {
        PyErr_SetString(PyExc_TypeError, "py_map_each: items must be a list, a tuple, a range or packed numbers");
        return NULL;
    }
    weft_ptask_result *res = weft_py_task_result; /* a worker's task: pack into its result */
    weft_py_task_result = NULL;                    /* (not a nested call's) */
    PyObject *packed = NULL; /* the values packed while they pack, when not into res */
    char *pk = NULL;         /* where they are packed: tag, then 8 bytes each */
    PyObject *list = NULL;   /* the values as objects once one did not pack */
    PyObject *ret = NULL;
    char tag = 0;
    Py_ssize_t k = 0;
    if (n > (PY_SSIZE_T_MAX - 1) / 8) {
        if (!(list = PyList_New(n))) goto done;
    } else if (n > 0) {
        void *room = NULL;
        if (res && weft_ptask_result_alloc(res, (size_t)(1 + n * 8), &room) == WEFT_OK) {
            pk = room;
        } else {
            if (!(packed = PyBytes_FromStringAndSize(NULL, 1 + n * 8))) goto done;
            pk = PyBytes_AS_STRING(packed);
        }
    }
    for (; k < n; k++) {
        PyObject *x;
        if (ip) {
            long long q;
            double d;
            if (itag == 'Q') memcpy(&q, ip + k * 8, 8);
            else memcpy(&d, ip + k * 8, 8);
            x = itag == 'Q' ? PyLong_FromLongLong(q) : PyFloat_FromDouble(d);
        } else if (in_range) {
            /* (unsigned: start + k * step is in int64, k * step may not be) */
            x = PyLong_FromLongLong((long long)((unsigned long long)r0 + (unsigned long long)k * (unsigned long long)rstep));
        } else {
            x = PyIter_Next(it);
            if (!x && !PyErr_Occurred()) { /* (a list that shrank under us) */
                PyErr_SetString(PyExc_RuntimeError, "py_map_each: the items changed size during the map");
            }
        }
        if (!x) goto done;
        PyObject *v;
        if (!star) {
            v = call ? call(fn, &x, 1, NULL) : PyObject_Vectorcall(fn, &x, 1, NULL);
        } else { /* fn(*x) */
            PyObject *args = PyTuple_CheckExact(x) ? Py_NewRef(x) : PySequence_Tuple(x);
            v = !args ? NULL
                      : call ? call(fn, &PyTuple_GET_ITEM(args, 0), (size_t)PyTuple_GET_SIZE(args), NULL)
                             : PyObject_Vectorcall(fn, &PyTuple_GET_ITEM(args, 0), (size_t)PyTuple_GET_SIZE(args), NULL);
            Py_XDECREF(args);
        }
        Py_DECREF(x);
        if (!v) { /* call k raised: the values before it, k, the exception */
            PyObject *t, *e, *tb;
            PyErr_Fetch(&t, &e, &tb);
            PyErr_NormalizeException(&t, &e, &tb);
            if (tb && e) PyException_SetTraceback(e, tb);
            Py_XDECREF(t);
            Py_XDECREF(tb);
            if (!e) goto done;
            PyObject *before = list ? PyList_GetSlice(list, 0, k) : PyList_New(k);
            if (before && !list && k > 0 && weft_py_unpack_into(before, 0, pk + 1, k, tag) < 0)
                Py_CLEAR(before);
            if (before) ret = Py_BuildValue("(NnN)", before, k, e);
            else Py_DECREF(e);
            goto done;
        }
        if (!list) { /* packing: does this value pack with the others? */
            if (k == 0) tag = weft_py_pack_tag(v);
            if (weft_py_pack_one(pk + 1 + k * 8, v, tag)) {
                Py_DECREF(v);
                continue;
            }
            /* it does not: the values so far become objects, and so do the rest */
            if (!(list = PyList_New(n)) ||
                (k > 0 && weft_py_unpack_into(list, 0, pk + 1, k, tag) < 0)) {
                Py_DECREF(v);
                goto done;
            }
            Py_CLEAR(packed); /* (a result written in res is replaced by what the runner returns) */
            pk = NULL;
        }
        PyList_SET_ITEM(list, k, v);
    }
    if (list) {
        ret = list;
        list = NULL;
    } else if (pk) {
        pk[0] = tag;
        if (packed) {
            ret = packed;
            packed = NULL;
        } else {
            ret = Py_NewRef(Py_True);
        }
    } else {
        ret = PyList_New(0);
    }
done:
    Py_XDECREF(list); /* (its slots not reached are NULL, which a list's end allows) */
    Py_XDECREF(packed);
    Py_XDECREF(it);
    if (ip) PyBuffer_Release(&in);
    return ret;
}

/* A task's outcome as decode_outcome (_ppool.py) reads it: (0, bytes) when
 * it ran (b'R'/b'P'/b'E'...), (1, (code, name, message)) when it failed in
 * weft (worker died, cancelled, ...); (2, None) cancelled before it ran. */
static PyObject *weft_py_outcome_ran(const weft_bytes *b) {
    return Py_BuildValue("(iy#)", 0, (const char *)b->data, (Py_ssize_t)b->size);
}

static PyObject *weft_py_outcome_failed(weft_status code, const char *message) {
    return Py_BuildValue("(i(iss))", 1, code, weft_status_name(code), message);
}

/* Run one task per item of chunks (a sequence of runner bytes, a map's
 * chunks) with weft_process_pool_map_stoppable(chunksize 1, untimed), so an untimed
 * map on a pool without task timeout or max_tasks borrows the idle workers
 * and moves the chunks on this thread (no supervisor hop, no future per
 * chunk). Returns a list with each task's outcome (weft_py_outcome_*). The C map
 * keeps the message of the first failed task only; the others get the
 * code's own text. With flat: (values, None) when every task answered
 * numbers packed by py_map_each, all of them decoded into one list straight
 * from the results weft read (no bytes object per chunk, no list per chunk
 * to join), else (None, the outcomes). Raises WeftClosedError when the pool was closed before
 * every task was queued, and the error of a map that did not run (bad
 * handle, WeftDeadlockError when called from the pool's supervisor thread (a
 * callback), no memory).
 *
 * The GIL is released for the map. With interruptible (the main thread:
 * the only one that runs signal handlers), the map asks weft_py_map_stop
 * every 100 ms and on each signal that interrupts its wait, which runs the
 * signal handlers: one that raises (Ctrl-C's KeyboardInterrupt) stops the
 * map (the workers running its chunks are killed and replaced) and the
 * exception propagates. (The stdlib's Pool.map raises at once too, its
 * tasks running on.) */
static int weft_py_map_stop(void *data) {
    int *raised = data;
    PyGILState_STATE g = PyGILState_Ensure();
    if (PyErr_CheckSignals() < 0) *raised = 1; /* the exception stays set in this thread */
    PyGILState_Release(g);
    return *raised;
}

PyObject *py_ppool_map(weft_process_pool *pool, PyObject *chunks, int interruptible, int flat) {
    PyObject *fast = PySequence_Fast(chunks, "the chunks must be a sequence of bytes");
    if (!fast) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    PyObject *out = NULL;
    size_t got = 0; /* buffers held */
    weft_status st = WEFT_OK;
    char first[WEFT_ERROR_MESSAGE_MAX] = ""; /* the first failure's message, and its index */
    size_t first_at = (size_t)-1;
    Py_buffer *bufs = PyMem_Calloc((size_t)n + 1, sizeof *bufs);
    weft_bytes *args = PyMem_Calloc((size_t)n + 1, sizeof *args);
    weft_bytes **results = PyMem_Calloc((size_t)n + 1, sizeof *results);
    weft_status *codes = PyMem_Calloc((size_t)n + 1, sizeof *codes);
    if (!bufs || !args || !results || !codes) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(fast, i), &bufs[i], PyBUF_SIMPLE) < 0) goto done;
        got++;
        args[i].size = (size_t)bufs[i].len;
        args[i].data = bufs[i].buf;
        codes[i] = 1; /* not a weft_status: still 1 after the call if the map never ran */
    }
    /* The exported buffers (held by fast) stay put without the GIL: bytes are
     * immutable, and an exported bytearray cannot be resized. */
    int raised = 0;
    Py_BEGIN_ALLOW_THREADS
    st = weft_process_pool_map_stoppable(pool, weft_py_ptask, args, (size_t)n, results, codes, 1, WEFT_FOREVER,
                                         interruptible ? weft_py_map_stop : NULL, &raised);
    if (st != WEFT_OK) {
        /* "<the function>: call K failed: <the task's message>" names the first failure */
        const weft_error *e = weft_last_error();
        const char *at = e ? strstr(e->message, ": call ") : NULL;
        int off = -1;
        size_t k = 0;
        if (e && e->code == st && at && sscanf(at, ": call %zu failed: %n", &k, &off) >= 1 && off >= 0) {
            first_at = k;
            snprintf(first, sizeof first, "%s", at + off);
        }
    }
    Py_END_ALLOW_THREADS
    if (raised) goto done; /* a signal handler raised (KeyboardInterrupt): it propagates */
    if (st != WEFT_OK && (n == 0 || codes[0] == 1)) { /* the map did not run */
        weft_py_raise(st);
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++)
        if (codes[i] == WEFT_ECLOSED) { /* as a submit to a closed pool raises */
            weft_py_raise(WEFT_ECLOSED);
            goto done;
        }
    if (flat) { /* every chunk's values packed: one list of them all, decoded from weft's bytes */
        Py_ssize_t total = 0, i = 0;
        for (; i < n && codes[i] == WEFT_OK && weft_py_is_packed(results[i]->data, (Py_ssize_t)results[i]->size); i++)
            total += (Py_ssize_t)(results[i]->size - 1) / 8;
        if (i == n) {
            PyObject *values = PyList_New(total);
            for (Py_ssize_t at = 0, k = 0; values && k < n; k++) {
                const char *p = results[k]->data;
                Py_ssize_t m = (Py_ssize_t)(results[k]->size - 1) / 8;
                if (weft_py_unpack_into(values, at, p + 1, m, p[0]) < 0) Py_CLEAR(values);
                at += m;
            }
            if (values) out = Py_BuildValue("(NO)", values, Py_None);
            goto done;
        }
    }
    PyObject *outcomes = PyList_New(n);
    if (!outcomes) goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *o;
        if (codes[i] == WEFT_OK)
            o = weft_py_outcome_ran(results[i]);
        else
            o = weft_py_outcome_failed(codes[i], (size_t)i == first_at ? first : weft_strerror(codes[i]));
        if (!o) {
            Py_CLEAR(outcomes);
            goto done;
        }
        PyList_SET_ITEM(outcomes, i, o);
    }
    out = flat ? Py_BuildValue("(ON)", Py_None, outcomes) : outcomes;
done:
    if (results)
        for (Py_ssize_t i = 0; i < n; i++) weft_bytes_free(results[i]);
    for (size_t i = 0; i < got; i++) PyBuffer_Release(&bufs[i]);
    PyMem_Free(bufs);
    PyMem_Free(args);
    PyMem_Free(results);
    PyMem_Free(codes);
    Py_DECREF(fast);
    return out;
}

/* The outcome of a finished task, read in the asking thread:
 * (0, bytes)  the task ran and returned (b'R'...) or raised (b'E'...);
 * (1, (code, name, message))  it failed in weft (worker died, timed out,
 *     cancelled while running, pool broken, ...);
 * (2, None)  it was cancelled before it ran;
 * None        it is not finished. */
PyObject *py_ppool_outcome(weft_future *outer, weft_future *inner) {
    int so = weft_future_get_state(outer);
    if (so < 0) { weft_py_raise(so); return NULL; }
    if (so < WEFT_FUTURE_DONE) Py_RETURN_NONE;
    if (so == WEFT_FUTURE_CANCELLED) return Py_BuildValue("(iO)", 2, Py_None);
    if (weft_future_get_state(inner) == WEFT_FUTURE_DONE) {
        void *v = NULL;
        weft_status st = weft_future_result(inner, &v, 0);
        if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
        return weft_py_outcome_ran((const weft_bytes *)v);
    }
    weft_status code = WEFT_EFAILED;
    const char *msg = "the task failed";
    (void)weft_future_error(outer, &code, &msg);
    return weft_py_outcome_failed(code, msg);
}

/* Cancel a task that has not started: True when it is cancelled now (the
 * outer future too), False when it runs or ended already. A running task is
 * left alone, as concurrent.futures does. */
PyObject *py_ppool_cancel(weft_future *inner) {
    int s = weft_future_get_state(inner);
    if (s < 0) { weft_py_raise(s); return NULL; }
    if (s == WEFT_FUTURE_CANCELLED) Py_RETURN_TRUE;
    if (s != WEFT_FUTURE_PENDING) Py_RETURN_FALSE;
    weft_status st = weft_future_cancel(inner);
    return PyBool_FromLong(st == WEFT_OK);
}

PyObject *py_ppool_close(weft_process_pool *pool) {
    weft_status st = weft_process_pool_close(pool);
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    Py_RETURN_NONE;
}

PyObject *py_ppool_terminate(weft_process_pool *pool) {
    weft_status st;
    Py_BEGIN_ALLOW_THREADS
    st = weft_process_pool_terminate(pool);
    Py_END_ALLOW_THREADS
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    Py_RETURN_NONE;
}

PyObject *py_ppool_shutdown(weft_process_pool *pool, int wait, int cancel_pending) {
    weft_status st;
    Py_BEGIN_ALLOW_THREADS
    st = weft_process_pool_shutdown(pool, wait, cancel_pending);
    Py_END_ALLOW_THREADS
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    Py_RETURN_NONE;
}

/* True when joined, False on timeout. */
PyObject *py_ppool_join(weft_process_pool *pool, int64_t timeout_ns) {
    weft_status st;
    WEFT_PY_TRY_THEN_BLOCK(st, timeout_ns, weft_process_pool_join(pool, tmo));
    return weft_py_bool_status(st);
}

PyObject *py_ppool_destroy(weft_process_pool *pool) {
    Py_BEGIN_ALLOW_THREADS
    weft_process_pool_destroy(pool);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

/* Wake up to n idle workers ahead of a map's chunks (weft_process_pool_wake). */
PyObject *py_ppool_wake(weft_process_pool *pool, size_t n) {
    weft_status st = weft_process_pool_wake(pool, n);
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    Py_RETURN_NONE;
}

PyObject *py_ppool_stats(weft_process_pool *pool) {
    weft_process_pool_stats s;
    weft_status st = weft_process_pool_stats_get(pool, &s);
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    return Py_BuildValue("{s:i,s:i,s:L,s:L,s:L,s:L,s:L,s:L,s:L,s:O}", "workers", s.workers, "busy", s.busy,
                         "queued", (long long)s.queued, "completed", (long long)s.completed,
                         "failed", (long long)s.failed, "cancelled", (long long)s.cancelled,
                         "timed_out", (long long)s.timed_out, "crashed", (long long)s.crashed,
                         "replaced", (long long)s.replaced, "broken", s.broken ? Py_True : Py_False);
}

PyObject *py_ppool_pids(weft_process_pool *pool) {
    int64_t pids[256];
    size_t n = 0;
    weft_status st = weft_process_pool_pids(pool, pids, 256, &n);
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    if (n > 256) n = 256;
    PyObject *l = PyList_New((Py_ssize_t)n);
    if (!l) return NULL;
    for (size_t i = 0; i < n; i++) PyList_SET_ITEM(l, (Py_ssize_t)i, PyLong_FromLongLong(pids[i]));
    return l;
}

/* The C twin of `if __name__ == '__main__'` for a spawned Python worker:
 * weft_main(argv) runs the pool worker and never returns there. */
PyObject *py_weft_main(PyObject *argv) {
    PyObject *fast = PySequence_Fast(argv, "argv must be a sequence of str");
    if (!fast) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    char **av = PyMem_Calloc((size_t)n + 1, sizeof *av);
    if (!av) { Py_DECREF(fast); return PyErr_NoMemory(); }
    for (Py_ssize_t i = 0; i < n; i++) {
        av[i] = (char *)PyUnicode_AsUTF8(PySequence_Fast_GET_ITEM(fast, i));
        if (!av[i]) { PyMem_Free(av); Py_DECREF(fast); return NULL; }
    }
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = weft_main((int)n, av);
    Py_END_ALLOW_THREADS
    PyMem_Free(av);
    Py_DECREF(fast);
    return PyLong_FromLong(rc);
}
%}

%init %{
    if (weft_process_pool_register(WEFT_PY_PTASK_NAME, weft_py_ptask) != WEFT_OK) return NULL;
%}
/* ---- pyA: process pool (end) ---- */

/* ---- pyB ---- */
/* weft.multiprocessing, second part: processes started as programs (spawn,
 * forkserver server), shared_memory, Listener/Client, named objects opened by
 * name (pickled across spawn), and waits that Ctrl-C interrupts.
 *
 * Interruptible waits (the py_mpx_* waits below): in the main thread a long
 * wait runs in slices of 50 ms with the GIL released, and between slices the
 * signal handlers run (PyErr_CheckSignals), so KeyboardInterrupt interrupts a
 * blocked join, get or acquire as in the stdlib; other threads (which never
 * run signal handlers) wait in one call. The deadline is fixed once at entry. */
%{
#include <weft/process.h>
#include <time.h>

/* bytes/bytearray/None -> (pointer, length); -1 with TypeError otherwise. */
static int weft_py_key(PyObject *o, Py_buffer *b, int *have) {
    *have = 0;
    if (o == Py_None) return 0;
    if (PyObject_GetBuffer(o, b, PyBUF_SIMPLE) < 0) return -1;
    *have = 1;
    return 0;
}
%}

%{
/* ---- native base of weft.multiprocessing.Lock ---------------------------------- */
/* `with lock:` on a process-scope lock costs one C call each way (as the
 * stdlib's SemLock), not a Python method. The Python class Lock derives from
 * it and adds the name, pickling and repr. */
typedef struct {
    PyObject_HEAD
    weft_lock *lk;
} WeftPyMpLock;

static PyObject *WeftPyMpLock_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    WeftPyMpLock *self = (WeftPyMpLock *)type->tp_alloc(type, 0);
    if (self) self->lk = NULL;
    return (PyObject *)self;
}

static void WeftPyMpLock_dealloc(WeftPyMpLock *self) {
    PyTypeObject *tp = Py_TYPE(self);
    if (tp->tp_flags & Py_TPFLAGS_HAVE_GC) PyObject_GC_UnTrack(self);
    weft_lock_destroy(self->lk);
    self->lk = NULL;
    tp->tp_free((PyObject *)self);
}

/* _init(name, open): create a process-scope lock (name None: anonymous) or,
 * with open, open the named one. */
static PyObject *WeftPyMpLock_init_(WeftPyMpLock *self, PyObject *args) {
    const char *name = NULL;
    int open_ = 0;
    if (!PyArg_ParseTuple(args, "zi:_init", &name, &open_)) return NULL;
    if (self->lk) { PyErr_SetString(PyExc_RuntimeError, "lock already initialised"); return NULL; }
    weft_status st;
    if (open_) {
        st = weft_lock_open(&self->lk, name);
    } else {
        weft_lock_options o = WEFT_LOCK_OPTIONS_INIT;
        o.share = weft_py_share(name);
        st = weft_lock_create(&self->lk, &o);
    }
    if (st != WEFT_OK) { self->lk = NULL; weft_py_raise(st); return NULL; }
    Py_RETURN_NONE;
}

/* multiprocessing's acquire(block=True, timeout=None): a negative timeout
 * polls; "blocking" is accepted for threading-style callers. */
static PyObject *WeftPyMpLock_acquire(WeftPyMpLock *self, PyObject *const *args, Py_ssize_t nargs,
                                      PyObject *kwnames) {
    int block = 1;
    PyObject *timeout = Py_None;
    if (nargs > 2) { PyErr_SetString(PyExc_TypeError, "acquire() takes at most 2 arguments"); return NULL; }
    if (nargs >= 1 && (block = PyObject_IsTrue(args[0])) < 0) return NULL;
    if (nargs >= 2) timeout = args[1];
    if (kwnames) {
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(kwnames); i++) {
            PyObject *k = PyTuple_GET_ITEM(kwnames, i), *v = args[nargs + i];
            if (nargs < 1 && (PyUnicode_CompareWithASCIIString(k, "block") == 0 ||
                              PyUnicode_CompareWithASCIIString(k, "blocking") == 0)) {
                if ((block = PyObject_IsTrue(v)) < 0) return NULL;
            } else if (nargs < 2 && PyUnicode_CompareWithASCIIString(k, "timeout") == 0) {
                timeout = v;
            } else {
                PyErr_Format(PyExc_TypeError, "acquire() got an unexpected keyword argument '%U'", k);
                return NULL;
            }
        }
    }
    int64_t ns = WEFT_FOREVER;
    if (!block) {
        ns = 0;
    } else if (timeout != Py_None) {
        double sec = PyFloat_AsDouble(timeout);
        if (sec == -1.0 && PyErr_Occurred()) return NULL;
        if (sec < 0 || isnan(sec)) sec = 0;
        ns = sec * 1e9 >= 9.2e18 ? WEFT_FOREVER : (int64_t)(sec * 1e9);
    }
    weft_status st;
    WEFT_PY_TRY_THEN_BLOCK_INTR(st, ns, weft_lock_acquire(self->lk, tmo));
    if (st == WEFT_EDEADLK && ns >= 0) {
        /* This thread holds it: nobody can release it before the deadline. */
        if (ns > 0) {
            Py_BEGIN_ALLOW_THREADS
            (void)weft_sleep_ns(ns);
            Py_END_ALLOW_THREADS
        }
        Py_RETURN_FALSE;
    }
    return weft_py_bool_status_intr(st);
}

static PyObject *WeftPyMpLock_enter(WeftPyMpLock *self, PyObject *unused) {
    weft_status st;
    WEFT_PY_TRY_THEN_BLOCK_INTR(st, WEFT_FOREVER, weft_lock_acquire(self->lk, tmo));
    return weft_py_bool_status_intr(st);
}

static PyObject *WeftPyMpLock_release(WeftPyMpLock *self, PyObject *unused) {
    weft_status st = weft_lock_release(self->lk);
    if (st == WEFT_OK) Py_RETURN_NONE;
    if (st == WEFT_ESTATE) {
        PyErr_SetString(PyExc_ValueError, "semaphore or lock released too many times");
        return NULL;
    }
    weft_py_raise(st);
    return NULL;
}

/* pymp: METH_FASTCALL, so `with` passes its three arguments without a tuple. */
static PyObject *WeftPyMpLock_exit(WeftPyMpLock *self, PyObject *const *args, Py_ssize_t nargs) {
    return WeftPyMpLock_release(self, NULL);
}

static PyObject *WeftPyMpLock_locked(WeftPyMpLock *self, PyObject *unused) {
    int r = weft_lock_locked(self->lk);
    if (r < 0) { weft_py_raise(r); return NULL; }
    return PyBool_FromLong(r);
}

static PyObject *WeftPyMpLock_mark_consistent(WeftPyMpLock *self, PyObject *unused) {
    weft_status st = weft_lock_mark_consistent(self->lk);
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    Py_RETURN_NONE;
}

static PyObject *WeftPyMpLock_close(WeftPyMpLock *self, PyObject *unused) {
    weft_lock *lk = self->lk;
    self->lk = NULL;
    weft_lock_destroy(lk);
    Py_RETURN_NONE;
}

/* The handle as a SWIG pointer (for a Condition over this lock); None once closed. */
static PyObject *WeftPyMpLock_get_h(WeftPyMpLock *self, void *unused) {
    if (!self->lk) Py_RETURN_NONE;
    return SWIG_NewPointerObj(self->lk, SWIGTYPE_p_weft_lock, 0);
}

static PyMethodDef WeftPyMpLock_methods[] = {
    {"_init", (PyCFunction)WeftPyMpLock_init_, METH_VARARGS,
     "_init(name, open): create the process-scope lock (name None: anonymous), or open a named one."},
    {"acquire", (PyCFunction)(void (*)(void))WeftPyMpLock_acquire, METH_FASTCALL | METH_KEYWORDS,
     "acquire(block=True, timeout=None) -> bool\n\nTake the lock, waiting up to timeout seconds "
     "(None: forever) when block. Raises weft.OwnerDeadError, with the lock held, when its holder "
     "died holding it; in the thread that holds it: False without a wait or after the timeout, "
     "weft.WeftDeadlockError instead of waiting forever. Ctrl-C interrupts the wait."},
    {"release", (PyCFunction)WeftPyMpLock_release, METH_NOARGS,
     "Release the lock; ValueError when it is not held."},
    {"__enter__", (PyCFunction)WeftPyMpLock_enter, METH_NOARGS, "acquire()"},
    {"__exit__", (PyCFunction)(void (*)(void))WeftPyMpLock_exit, METH_FASTCALL, "release()"},
    {"locked", (PyCFunction)WeftPyMpLock_locked, METH_NOARGS, "Whether some thread holds it."},
    {"mark_consistent", (PyCFunction)WeftPyMpLock_mark_consistent, METH_NOARGS,
     "After OwnerDeadError and a repair: make the lock normal again (still held)."},
    {"_close", (PyCFunction)WeftPyMpLock_close, METH_NOARGS,
     "Destroy this process's handle (a named lock's creator removes the name)."},
    {NULL, NULL, 0, NULL}
};

static PyGetSetDef WeftPyMpLock_getset[] = {
    {"_h", (getter)WeftPyMpLock_get_h, NULL, "The weft_lock handle (None once closed).", NULL},
    {NULL, NULL, NULL, NULL, NULL}
};

static PyTypeObject WeftPyMpLock_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "weft._weft.MpLock",
    .tp_basicsize = sizeof(WeftPyMpLock),
    .tp_dealloc = (destructor)WeftPyMpLock_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "Native base of weft.multiprocessing.Lock: a process-scope weft_lock.",
    .tp_methods = WeftPyMpLock_methods,
    .tp_getset = WeftPyMpLock_getset,
    .tp_new = WeftPyMpLock_new,
};
%}

%init %{
    if (PyType_Ready(&WeftPyMpLock_Type) < 0) return NULL;
    Py_INCREF(&WeftPyMpLock_Type);
    PyModule_AddObject(m, "MpLock", (PyObject *)&WeftPyMpLock_Type);
%}

%inline %{
/* ---- interruptible waits on the process-scope objects ---- */
PyObject *py_mpx_lock_acquire(weft_lock *l, int64_t timeout_ns) {
    weft_status st;
    WEFT_PY_TRY_THEN_BLOCK_INTR(st, timeout_ns, weft_lock_acquire(l, tmo));
    return weft_py_bool_status_intr(st);
}

PyObject *py_mpx_rlock_acquire(weft_rlock *l, int64_t timeout_ns) {
    weft_status st;
    WEFT_PY_TRY_THEN_BLOCK_INTR(st, timeout_ns, weft_rlock_acquire(l, tmo));
    return weft_py_bool_status_intr(st);
}

PyObject *py_mpx_semaphore_acquire(weft_semaphore *s, int64_t timeout_ns) {
    weft_status st;
    WEFT_PY_TRY_THEN_BLOCK_INTR(st, timeout_ns, weft_semaphore_acquire(s, tmo));
    return weft_py_bool_status_intr(st);
}

PyObject *py_mpx_event_wait(weft_event *e, int64_t timeout_ns) {
    weft_status st;
    WEFT_PY_TRY_THEN_BLOCK_INTR(st, timeout_ns, weft_event_wait(e, tmo));
    return weft_py_bool_status_intr(st);
}

PyObject *py_mpx_condition_acquire(weft_condition *c, int64_t timeout_ns) {
    weft_status st;
    WEFT_PY_TRY_THEN_BLOCK_INTR(st, timeout_ns, weft_condition_acquire(c, tmo));
    return weft_py_bool_status_intr(st);
}

/* A slice that times out comes back with the lock held; but it left the
 * waiters before re-taking the lock, so a notify in that gap misses it.
 * pymp: weft.multiprocessing.Condition.wait therefore slices in Python, with
 * a notify stamp, and calls this with at most one slice in the main thread. */
PyObject *py_mpx_condition_wait(weft_condition *c, int64_t timeout_ns) {
    weft_status st;
    int main_ = _PyOS_IsMainThread();
    int64_t end = timeout_ns < 0 ? -1 : weft_py_now_ns() + timeout_ns;
    for (;;) {
        int64_t tmo = timeout_ns;
        if (main_) {
            int64_t left = end < 0 ? WEFT_PY_SLICE_NS : end - weft_py_now_ns();
            if (left < 0) left = 0;
            tmo = left < WEFT_PY_SLICE_NS ? left : WEFT_PY_SLICE_NS;
        }
        Py_BEGIN_ALLOW_THREADS
        st = weft_condition_wait(c, tmo);
        Py_END_ALLOW_THREADS
        if (st != WEFT_ETIMEDOUT || !main_ || (end >= 0 && weft_py_now_ns() >= end)) break;
        if (PyErr_CheckSignals() < 0) return NULL;
    }
    return weft_py_bool_status(st);
}

PyObject *py_mpx_array_acquire(weft_array *a, int64_t timeout_ns) {
    weft_status st;
    WEFT_PY_TRY_THEN_BLOCK_INTR(st, timeout_ns, weft_array_acquire(a, tmo));
    return weft_py_bool_status_intr(st);
}

PyObject *py_mpx_queue_put(weft_queue *q, PyObject *obj, int64_t timeout_ns) {
    Py_buffer b;
    if (PyObject_GetBuffer(obj, &b, PyBUF_SIMPLE) < 0) return NULL;
    weft_status st;
    WEFT_PY_TRY_THEN_BLOCK_INTR(st, timeout_ns, weft_queue_put_bytes(q, b.buf, (size_t)b.len, tmo));
    PyBuffer_Release(&b);
    return weft_py_bool_status_intr(st);
}

/* bytes, or None when empty at the deadline. The message is copied once,
 * from the ring straight into the bytes object: a small one through a stack
 * buffer, a larger one into a bytes object of the size the first try reported
 * (another consumer may take that message meanwhile: then try again). */
PyObject *py_mpx_queue_get(weft_queue *q, int64_t timeout_ns) {
    char small[512];
    int64_t end = timeout_ns < 0 ? -1 : weft_py_now_ns() + timeout_ns;
    for (;;) {
        size_t len = 0;
        weft_status st = weft_queue_get_bytes(q, small, sizeof small, &len, 0);
        if (st == WEFT_OK) return PyBytes_FromStringAndSize(small, (Py_ssize_t)len);
        if (st == WEFT_EMSGSIZE) {
            PyObject *r = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)len);
            if (!r) return NULL;
            size_t got = 0;
            st = weft_queue_get_bytes(q, PyBytes_AS_STRING(r), len, &got, 0);
            if (st == WEFT_OK) {
                if (got != len && _PyBytes_Resize(&r, (Py_ssize_t)got) < 0) return NULL;
                return r;
            }
            Py_DECREF(r);
            if (st == WEFT_EMSGSIZE) continue; /* a larger one is next now */
        }
        if (st != WEFT_ETIMEDOUT) { weft_py_raise(st); return NULL; }
        /* Empty: wait until a message is there (a peek with cap 0), then take it. */
        int64_t left = end < 0 ? WEFT_FOREVER : end - weft_py_now_ns();
        if (end >= 0 && left <= 0) Py_RETURN_NONE;
        WEFT_PY_TRY_THEN_BLOCK_INTR(st, left, weft_queue_get_bytes(q, NULL, 0, &len, tmo));
        if (st == WEFT_PY_INTERRUPTED) return NULL;
        if (st == WEFT_OK) return PyBytes_FromStringAndSize("", 0); /* an empty message, taken */
        if (st == WEFT_ETIMEDOUT) Py_RETURN_NONE;
        if (st != WEFT_EMSGSIZE) { weft_py_raise(st); return NULL; }
    }
}

PyObject *py_mpx_queue_join(weft_queue *q, int64_t timeout_ns) {
    weft_status st;
    WEFT_PY_TRY_THEN_BLOCK_INTR(st, timeout_ns, weft_queue_join(q, tmo));
    return weft_py_bool_status_intr(st);
}

/* bytes, or None at the deadline; a timed-out slice keeps what arrived. */
PyObject *py_mpx_conn_recv(weft_conn *c, int64_t timeout_ns) {
    weft_status st;
    void *data = NULL;
    size_t len = 0;
    WEFT_PY_TRY_THEN_BLOCK_INTR(st, timeout_ns, weft_conn_recv_alloc(c, &data, &len, tmo));
    if (st == WEFT_PY_INTERRUPTED) return NULL;
    if (st == WEFT_ETIMEDOUT) Py_RETURN_NONE;
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    PyObject *r = PyBytes_FromStringAndSize((const char *)data, (Py_ssize_t)len);
    weft_conn_free(data);
    return r;
}

PyObject *py_mpx_conn_poll(weft_conn *c, int64_t timeout_ns) {
    weft_status st;
    WEFT_PY_TRY_THEN_BLOCK_INTR(st, timeout_ns, weft_conn_poll(c, tmo));
    return weft_py_bool_status_intr(st);
}

/* ---- named objects, opened by name (what a pickled object becomes under spawn) ---- */
/* kind: 0 lock, 1 rlock, 2 semaphore, 3 event, 4 queue, 5 dict, 6 barrier. */
PyObject *py_mpx_open(int kind, const char *name) {
    weft_status st = WEFT_EINVAL;
    void *h = NULL;
    swig_type_info *ty = NULL;
    switch (kind) {
    case 0: st = weft_lock_open((weft_lock **)&h, name); ty = SWIGTYPE_p_weft_lock; break;
    case 1: st = weft_rlock_open((weft_rlock **)&h, name); ty = SWIGTYPE_p_weft_rlock; break;
    case 2: st = weft_semaphore_open((weft_semaphore **)&h, name); ty = SWIGTYPE_p_weft_semaphore; break;
    case 3: st = weft_event_open((weft_event **)&h, name); ty = SWIGTYPE_p_weft_event; break;
    case 4: st = weft_queue_open((weft_queue **)&h, name); ty = SWIGTYPE_p_weft_queue; break;
    case 5: st = weft_dict_open((weft_dict **)&h, name); ty = SWIGTYPE_p_weft_dict; break;
    case 6: st = weft_barrier_open((weft_barrier **)&h, name); ty = SWIGTYPE_p_weft_barrier; break;
    default:
        PyErr_Format(PyExc_ValueError, "py_mpx_open: unknown kind %d", kind);
        return NULL;
    }
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    return SWIG_NewPointerObj(h, ty, 0);
}

/* A named (or anonymous: name None) process-scope semaphore / event. */
PyObject *py_mpx_semaphore_create(uint32_t value, uint32_t max_value, const char *name) {
    weft_semaphore_options o = WEFT_SEMAPHORE_OPTIONS_INIT;
    o.max_value = max_value;
    o.share = weft_py_share(name);
    weft_semaphore *s;
    weft_status st = weft_semaphore_create(&s, value, &o);
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    return SWIG_NewPointerObj(s, SWIGTYPE_p_weft_semaphore, 0);
}

/* A process-scope barrier; fn (None: no action; the caller keeps it alive)
 * only for an anonymous one (a named barrier has no action). */
PyObject *py_mpx_barrier_create(unsigned parties, PyObject *fn, const char *name) {
    weft_barrier_options o = WEFT_BARRIER_OPTIONS_INIT;
    if (fn != Py_None) { o.action = weft_py_barrier_action; o.user_data = fn; }
    o.share = weft_py_share(name);
    weft_barrier *b;
    weft_status st = weft_barrier_create(&b, parties, &o);
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    return SWIG_NewPointerObj(b, SWIGTYPE_p_weft_barrier, 0);
}

PyObject *py_mpx_event_create(const char *name) {
    weft_event_options o = WEFT_EVENT_OPTIONS_INIT;
    o.share = weft_py_share(name);
    weft_event *e;
    weft_status st = weft_event_create(&e, &o);
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    return SWIG_NewPointerObj(e, SWIGTYPE_p_weft_event, 0);
}

/* An existing named Value/Array: (handle, address, type, length). */
PyObject *py_mpx_array_open(const char *name) {
    weft_array *a;
    weft_status st = weft_array_open(&a, name);
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    PyObject *h = SWIG_NewPointerObj(a, SWIGTYPE_p_weft_array, 0);
    if (!h) { weft_array_destroy(a); return NULL; }
    return Py_BuildValue("(NNIn)", h, PyLong_FromVoidPtr(weft_array_data(a)), weft_array_type(a),
                         (Py_ssize_t)weft_array_length(a));
}

/* ---- processes started as programs (spawn, the forkserver) ---- */
/* Start argv[0..] (a list of str) as a weft process; the inheritable
 * descriptors of the caller pass to it. */
PyObject *py_mpx_process_start_program(const char *path, PyObject *seq, int daemon, const char *name) {
    PyObject *fast = PySequence_Fast(seq, "argv must be a sequence of str");
    if (!fast) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    char **argv = PyMem_Calloc((size_t)n + 1, sizeof(char *));
    if (!argv) { Py_DECREF(fast); return PyErr_NoMemory(); }
    for (Py_ssize_t i = 0; i < n; i++) {
        const char *s = PyUnicode_AsUTF8(PySequence_Fast_GET_ITEM(fast, i));
        if (!s) { PyMem_Free(argv); Py_DECREF(fast); return NULL; }
        argv[i] = (char *)s;
    }
    weft_process_options o = WEFT_PROCESS_OPTIONS_INIT;
    o.name = name;
    o.daemon = daemon;
    weft_process *p = NULL;
    weft_status st = weft_process_create(&p, &o);
    if (st == WEFT_OK) {
        Py_BEGIN_ALLOW_THREADS
        st = weft_process_start_program(p, path, argv, NULL, NULL);
        Py_END_ALLOW_THREADS
    }
    PyMem_Free(argv);
    Py_DECREF(fast);
    if (st != WEFT_OK) { weft_py_raise(st); weft_process_destroy(p); return NULL; }
    return SWIG_NewPointerObj(p, SWIGTYPE_p_weft_process, 0);
}

/* True when the process ended, False at the deadline. */
PyObject *py_mpx_process_join(weft_process *p, int64_t timeout_ns) {
    weft_status st;
    WEFT_PY_TRY_THEN_BLOCK_INTR(st, timeout_ns, weft_process_join(p, tmo));
    return weft_py_bool_status_intr(st);
}

/* The exit code (-N: killed by signal N), or None while running. */
PyObject *py_mpx_process_exitcode(weft_process *p) {
    int code = 0;
    weft_status st = weft_process_exitcode(p, &code);
    if (st == WEFT_EBUSY) Py_RETURN_NONE;
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    return PyLong_FromLong(code);
}

/* ---- shared memory segments ---- */
/* Create (create != 0; name None: anonymous) or open a segment; the name
 * stays until weft_shm_unlink() (Python's SharedMemory lifetime). Returns
 * (handle, fd, size, name or None); the fd is weft's (close-on-exec). */
PyObject *py_mpx_shm(const char *name, size_t size, int create) {
    weft_shm *s = NULL;
    weft_status st;
    if (create) {
        weft_shm_options o = WEFT_SHM_OPTIONS_INIT;
        o.lifetime = WEFT_LIFETIME_PERSISTENT;
        st = weft_shm_create(&s, name, size, &o);
    } else {
        st = weft_shm_open(&s, name);
    }
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    PyObject *h = SWIG_NewPointerObj(s, SWIGTYPE_p_weft_shm, 0);
    if (!h) { weft_shm_close(s); return NULL; }
    const char *nm = weft_shm_name(s);
    return Py_BuildValue("(Nin" "z)", h, weft_shm_fd(s), (Py_ssize_t)weft_shm_size(s), nm);
}

/* ---- Listener / Client (CPython's wire format and authkey handshake) ---- */
PyObject *py_mpx_listener_create(const char *address, PyObject *authkey, int backlog) {
    Py_buffer k;
    int have;
    if (weft_py_key(authkey, &k, &have) < 0) return NULL;
    weft_listener_options o = WEFT_LISTENER_OPTIONS_INIT;
    o.backlog = backlog;
    if (have) { o.authkey = k.buf; o.authkey_len = (size_t)k.len; }
    weft_listener *l = NULL;
    weft_status st = weft_listener_create(&l, address, &o);
    if (have) PyBuffer_Release(&k);
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    return SWIG_NewPointerObj(l, SWIGTYPE_p_weft_listener, 0);
}

/* A connection handle, or None at the deadline. Always with the GIL released
 * (also for a poll): the authentication handshake inside may wait for a client
 * that is a Python thread of this process. In the main thread, slices of 50 ms
 * with signal handlers run between them. */
PyObject *py_mpx_listener_accept(weft_listener *l, int64_t timeout_ns) {
    weft_status st;
    weft_conn *c = NULL;
    int main_ = _PyOS_IsMainThread();
    int64_t end = timeout_ns < 0 ? -1 : weft_py_now_ns() + timeout_ns;
    for (;;) {
        int64_t tmo = timeout_ns;
        if (main_) {
            int64_t left = end < 0 ? WEFT_PY_SLICE_NS : end - weft_py_now_ns();
            if (left < 0) left = 0;
            tmo = left < WEFT_PY_SLICE_NS ? left : WEFT_PY_SLICE_NS;
        }
        Py_BEGIN_ALLOW_THREADS
        st = weft_listener_accept(l, &c, tmo);
        Py_END_ALLOW_THREADS
        if (st != WEFT_ETIMEDOUT || !main_ || (end >= 0 && weft_py_now_ns() >= end)) break;
        if (PyErr_CheckSignals() < 0) return NULL;
    }
    if (st == WEFT_ETIMEDOUT) Py_RETURN_NONE;
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    return SWIG_NewPointerObj(c, SWIGTYPE_p_weft_conn, 0);
}

PyObject *py_mpx_client_connect(const char *address, PyObject *authkey, int64_t timeout_ns) {
    Py_buffer k;
    int have;
    if (weft_py_key(authkey, &k, &have) < 0) return NULL;
    weft_client_options o = WEFT_CLIENT_OPTIONS_INIT;
    if (have) { o.authkey = k.buf; o.authkey_len = (size_t)k.len; }
    weft_conn *c = NULL;
    weft_status st;
    Py_BEGIN_ALLOW_THREADS
    st = weft_client_connect(&c, address, &o, timeout_ns);
    Py_END_ALLOW_THREADS
    if (have) PyBuffer_Release(&k);
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    return SWIG_NewPointerObj(c, SWIGTYPE_p_weft_conn, 0);
}
%}

%inline %{
/* ---- the Manager's dict ---- */
/* Every entry as a list of (key, bytes), under the dict's lock (a snapshot). */
PyObject *py_mpx_dict_items(weft_dict *d) {
    weft_status st;
    Py_BEGIN_ALLOW_THREADS
    st = weft_dict_lock(d, WEFT_FOREVER);
    Py_END_ALLOW_THREADS
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    PyObject *out = PyList_New(0);
    weft_dict_cursor cur = WEFT_DICT_CURSOR_INIT;
    while (out) {
        char *key = NULL;
        void *value = NULL;
        size_t len = 0;
        st = weft_dict_next(d, &cur, &key, &value, &len, WEFT_FOREVER);
        if (st == WEFT_ENOENT) break;
        if (st != WEFT_OK) { Py_CLEAR(out); weft_py_raise(st); break; }
        PyObject *item = Py_BuildValue("(sy#)", key, (const char *)value, (Py_ssize_t)len);
        weft_dict_free(key);
        weft_dict_free(value);
        if (!item || PyList_Append(out, item) < 0) Py_CLEAR(out);
        Py_XDECREF(item);
    }
    (void)weft_dict_unlock(d);
    return out;
}

/* Take the dict's (recursive) lock for a transaction; True, or False at the deadline. */
PyObject *py_mpx_dict_lock(weft_dict *d, int64_t timeout_ns) {
    weft_status st;
    WEFT_PY_TRY_THEN_BLOCK_INTR(st, timeout_ns, weft_dict_lock(d, tmo));
    return weft_py_bool_status_intr(st);
}
%}

/* Raw calls the pyB modules use directly. */
int weft_conn_fd(const weft_conn *c);
weft_status weft_dict_unlock(weft_dict *d);
weft_status weft_dict_mark_consistent(weft_dict *d);
int64_t weft_dict_size(weft_dict *d, int64_t timeout_ns);
weft_status weft_dict_clear(weft_dict *d, int64_t timeout_ns);
void weft_process_destroy(weft_process *p);
weft_status weft_process_terminate(weft_process *p);
weft_status weft_process_kill(weft_process *p);
int weft_process_is_alive(weft_process *p);
int64_t weft_process_pid(const weft_process *p);
void weft_shm_close(weft_shm *shm);
weft_status weft_shm_unlink(const char *name);
const char *weft_listener_address(const weft_listener *l);
int weft_listener_fd(const weft_listener *l);
weft_status weft_listener_close(weft_listener *l);
void weft_listener_destroy(weft_listener *l);
/* ---- pyB ---- */

/* ---- pymp ---- */
/* weft.multiprocessing, third part: a named Condition (spawn/forkserver
 * contexts make one so that it reaches their children by name). */
%inline %{
/* A process-scope condition with a lock of its own; name None: anonymous. */
PyObject *py_pymp_condition_create(const char *name) {
    weft_condition_options o = WEFT_CONDITION_OPTIONS_INIT;
    o.share = weft_py_share(name);
    weft_condition *c;
    weft_status st = weft_condition_create(&c, &o);
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    return SWIG_NewPointerObj(c, SWIGTYPE_p_weft_condition, 0);
}
%}
/* ---- pymp (end) ---- */

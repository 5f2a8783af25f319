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
static void weft_py_raise(weft_status st) {
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
    WEFT_PY_TRY_THEN_BLOCK(st, ns, weft_lock_acquire(self->lk, tmo));
    return weft_py_bool_status(st);
}

static PyObject *WeftPyLock_enter(WeftPyLock *self, PyObject *unused) {
    weft_status st;
    WEFT_PY_TRY_THEN_BLOCK(st, WEFT_FOREVER, weft_lock_acquire(self->lk, tmo));
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
    WEFT_PY_TRY_THEN_BLOCK(st, ns, weft_rlock_acquire(self->lk, tmo));
    return weft_py_bool_status(st);
}

static PyObject *WeftPyRLock_enter(WeftPyRLock *self, PyObject *unused) {
    weft_status st;
    WEFT_PY_TRY_THEN_BLOCK(st, WEFT_FOREVER, weft_rlock_acquire(self->lk, tmo));
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
    WEFT_PY_TRY_THEN_BLOCK(st, timeout_ns, weft_semaphore_acquire(s, tmo));
    return weft_py_bool_status(st);
}

PyObject *py_event_wait(weft_event *e, int64_t timeout_ns) {
    weft_status st;
    WEFT_PY_TRY_THEN_BLOCK(st, timeout_ns, weft_event_wait(e, tmo));
    return weft_py_bool_status(st);
}

PyObject *py_future_wait(weft_future *f, int64_t timeout_ns) {
    weft_status st;
    WEFT_PY_TRY_THEN_BLOCK(st, timeout_ns, weft_future_wait(f, tmo));
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
    WEFT_PY_TRY_THEN_BLOCK(st, timeout_ns, weft_thread_join(t, NULL, tmo));
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
    WEFT_PY_TRY_THEN_BLOCK(st, timeout_ns, weft_queue_put(q, obj, tmo));
    if (st != WEFT_OK) Py_DECREF(obj);
    return weft_py_bool_status(st);
}

PyObject *py_queue_put_priority(weft_queue *q, PyObject *obj, int64_t priority, int64_t timeout_ns) {
    weft_status st;
    Py_INCREF(obj);
    WEFT_PY_TRY_THEN_BLOCK(st, timeout_ns, weft_queue_put_priority(q, obj, priority, tmo));
    if (st != WEFT_OK) Py_DECREF(obj);
    return weft_py_bool_status(st);
}

/* The item (its reference passes to the caller); raises on timeout (code ETIMEDOUT). */
PyObject *py_queue_get(weft_queue *q, int64_t timeout_ns) {
    weft_status st;
    void *item = NULL;
    WEFT_PY_TRY_THEN_BLOCK(st, timeout_ns, weft_queue_get(q, &item, tmo));
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    return (PyObject *)item;
}

PyObject *py_queue_join(weft_queue *q, int64_t timeout_ns) {
    weft_status st;
    WEFT_PY_TRY_THEN_BLOCK(st, timeout_ns, weft_queue_join(q, tmo));
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
    WEFT_PY_TRY_THEN_BLOCK(st, timeout_ns, weft_future_wait_many(fs, (size_t)n, mode, tmo, &done));
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
    WEFT_PY_TRY_THEN_BLOCK(st, timeout_ns, weft_as_completed_next(it, &f, tmo));
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
    WEFT_PY_TRY_THEN_BLOCK(st, timeout_ns, weft_pool_submit(pool, weft_py_task, obj, &f, tmo));
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
    WEFT_PY_TRY_THEN_BLOCK(st, timeout_ns, weft_lock_acquire(l, tmo));
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
    WEFT_PY_TRY_THEN_BLOCK(st, timeout_ns, weft_rlock_acquire(l, tmo));
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
    WEFT_PY_TRY_THEN_BLOCK(st, timeout_ns, weft_condition_acquire(c, tmo));
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
    WEFT_PY_TRY_THEN_BLOCK(st, timeout_ns, weft_queue_put_bytes(q, b.buf, (size_t)b.len, tmo));
    PyBuffer_Release(&b);
    return weft_py_bool_status(st);
}

/* bytes, or None when empty at the deadline. */
PyObject *py_mp_queue_get(weft_queue *q, int64_t timeout_ns) {
    weft_status st;
    void *data = NULL;
    size_t len = 0;
    WEFT_PY_TRY_THEN_BLOCK(st, timeout_ns, weft_queue_get_bytes_alloc(q, &data, &len, tmo));
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
    WEFT_PY_TRY_THEN_BLOCK(st, timeout_ns, weft_array_acquire(a, tmo));
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
    WEFT_PY_TRY_THEN_BLOCK(st, timeout_ns, weft_conn_send(c, b.buf, (size_t)b.len, tmo));
    PyBuffer_Release(&b);
    return weft_py_bool_status(st);
}

/* bytes, or None at the deadline; raises (ECLOSED -> EOFError in Python). */
PyObject *py_mp_conn_recv(weft_conn *c, int64_t timeout_ns) {
    weft_status st;
    void *data = NULL;
    size_t len = 0;
    WEFT_PY_TRY_THEN_BLOCK(st, timeout_ns, weft_conn_recv_alloc(c, &data, &len, tmo));
    if (st == WEFT_ETIMEDOUT) Py_RETURN_NONE;
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    PyObject *r = PyBytes_FromStringAndSize((const char *)data, (Py_ssize_t)len);
    weft_conn_free(data);
    return r;
}

PyObject *py_mp_conn_poll(weft_conn *c, int64_t timeout_ns) {
    weft_status st;
    WEFT_PY_TRY_THEN_BLOCK(st, timeout_ns, weft_conn_poll(c, tmo));
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
    WEFT_PY_TRY_THEN_BLOCK(st, timeout_ns, weft_dict_set(d, key, b.buf, (size_t)b.len, tmo));
    PyBuffer_Release(&b);
    if (st != WEFT_OK) { weft_py_raise(st); return NULL; }
    Py_RETURN_NONE;
}

/* bytes, or None when the key is absent. */
PyObject *py_mp_dict_get(weft_dict *d, const char *key, int64_t timeout_ns) {
    weft_status st;
    void *data = NULL;
    size_t len = 0;
    WEFT_PY_TRY_THEN_BLOCK(st, timeout_ns, weft_dict_get_alloc(d, key, &data, &len, tmo));
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

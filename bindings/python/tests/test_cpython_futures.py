"""CPython's test_concurrent_futures (thread-pool side) against weft.futures.

The test module's `futures` name is pointed at weft.futures (keeping the
stdlib's ProcessPoolExecutor, which the thread tests only compare against),
its `Future` at weft.futures.Future, and its ready-made futures
(PENDING_FUTURE, ..., SUCCESSFUL_FUTURE) are rebuilt as weft futures in
those states: the module builds them by writing Future._state, which weft's
Future (state kept in C) does not have."""

import concurrent.futures as std_futures
import os
import sys
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from test import test_concurrent_futures as tcf  # noqa: E402

import weft.futures as wf  # noqa: E402
from _runner import main  # noqa: E402

shim = types.ModuleType('weft_futures_for_tests')
shim.__dict__.update({k: v for k, v in vars(wf).items() if not k.startswith('__')})
shim.ProcessPoolExecutor = std_futures.ProcessPoolExecutor
shim.process = std_futures.process
tcf.futures = shim
tcf.Future = wf.Future


def create_future(state=tcf.PENDING, exception=None, result=None):
    f = wf.Future()
    if state == tcf.RUNNING:
        assert f.set_running_or_notify_cancel()
    elif state in (tcf.CANCELLED, tcf.CANCELLED_AND_NOTIFIED):
        assert f.cancel()
    elif state == tcf.FINISHED:
        if exception is not None:
            f.set_exception(exception)
        else:
            f.set_result(result)
    return f


tcf.create_future = create_future
tcf.PENDING_FUTURE = create_future(state=tcf.PENDING)
tcf.RUNNING_FUTURE = create_future(state=tcf.RUNNING)
tcf.CANCELLED_FUTURE = create_future(state=tcf.CANCELLED)
tcf.CANCELLED_AND_NOTIFIED_FUTURE = create_future(state=tcf.CANCELLED_AND_NOTIFIED)
tcf.EXCEPTION_FUTURE = create_future(state=tcf.FINISHED, exception=OSError())
tcf.SUCCESSFUL_FUTURE = create_future(state=tcf.FINISHED, result=42)


class WeftThreadPoolMixin(tcf.ExecutorMixin):
    executor_type = wf.ThreadPoolExecutor


def make(name, *bases):
    return type(name, bases, {'executor_type': wf.ThreadPoolExecutor})


WeftInitializerTest = make('WeftInitializerTest', tcf.InitializerMixin, WeftThreadPoolMixin,
                           tcf.BaseTestCase)
WeftFailingInitializerTest = make('WeftFailingInitializerTest', tcf.FailingInitializerMixin,
                                  WeftThreadPoolMixin, tcf.BaseTestCase)
WeftShutdownTest = make('WeftShutdownTest', tcf.ThreadPoolShutdownTest)
WeftWaitTests = make('WeftWaitTests', tcf.ThreadPoolWaitTests)
WeftAsCompletedTests = make('WeftAsCompletedTests', tcf.AsCompletedTests, WeftThreadPoolMixin,
                            tcf.BaseTestCase)
WeftExecutorTest = make('WeftExecutorTest', tcf.ThreadPoolExecutorTest)


class WeftFutureTests(tcf.FutureTests):
    pass


CHILD = 'runs a child interpreter that imports concurrent.futures itself: it tests the stdlib, not weft'
SKIP = {
    'test_interpreter_shutdown': CHILD,
    'test_run_after_shutdown': CHILD,
    'test_cancel_futures_wait_false': CHILD,
    'test_submit_after_interpreter_shutdown': CHILD,
    'test_del_shutdown': 'inspects executor._threads (the stdlib\'s lazily started thread set)',
    'test_shutdown_no_wait': 'inspects executor._threads',
    'test_threads_terminate': 'inspects executor._threads and _idle_semaphore',
    'test_thread_names_assigned': 'inspects executor._threads',
    'test_thread_names_default': 'inspects executor._threads',
    'test_cancel_futures': 'counts futures cancelled from executor._work_queue internals',
    'test_idle_thread_reuse': 'inspects executor._threads: the stdlib starts threads on demand, '
                              'weft starts max_workers at construction',
    'test_saturation': 'inspects executor._threads',
    'test_default_workers': 'reads executor._max_workers of the stdlib formula',
    'test_context_manager_shutdown': 'inspects executor._threads',
    'test_exception_with_success': "finishes the future by writing _state under the stdlib Future's "
                                   'private _condition',
    'test_first_completed': "counts on the stdlib's internal CANCELLED-but-not-notified state, which "
                            'wait() does not treat as done; a cancelled weft future is done at once',
    'test_first_exception_some_already_complete': 'the same internal CANCELLED (not notified) state',
    'WeftFutureTests.test_cancel': "asserts the stdlib's internal CANCELLED vs CANCELLED_AND_NOTIFIED states",
    'test_free_reference': 'timing: weft runs done callbacks after waking waiters (as the stdlib does), '
                           'and the callback that holds the Future drops it just after; under load the '
                           'consumer can check the weakref in between (failed once in CI; the stdlib has '
                           'the same window but the GIL switch interval hides it)',
}

if __name__ == '__main__':
    main([WeftInitializerTest, WeftFailingInitializerTest, WeftShutdownTest, WeftWaitTests,
          WeftAsCompletedTests, WeftExecutorTest, WeftFutureTests], SKIP,
         setup=getattr(tcf, 'setUpModule', None), teardown=getattr(tcf, 'tearDownModule', None))

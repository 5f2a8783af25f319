/* Thread-local storage: per-thread values, destructors at thread exit and at
 * key destroy, slot reuse, thousands of keys, races with exiting threads;
 * weft_local (threading.local): ENOENT, replace, delete, free functions;
 * bad input. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "weft_test.h"

/* ---- counting destructors ---- */

static int dtor_calls;   /* atomic */
static long dtor_sum;    /* atomic: sum of the tags destroyed */
static pthread_t main_thread;
static int dtor_off_main; /* atomic: destructor calls not on the main thread */

static void reset_counts(void) {
    __atomic_store_n(&dtor_calls, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&dtor_sum, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&dtor_off_main, 0, __ATOMIC_SEQ_CST);
}

/* Values are small tags cast to pointers. */
static void count_tag(void *value) {
    __atomic_add_fetch(&dtor_calls, 1, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&dtor_sum, (long)(intptr_t)value, __ATOMIC_SEQ_CST);
    if (!pthread_equal(pthread_self(), main_thread)) __atomic_add_fetch(&dtor_off_main, 1, __ATOMIC_SEQ_CST);
}

/* Values are heap blocks: freed, and counted. */
static void count_free(void *value) {
    __atomic_add_fetch(&dtor_calls, 1, __ATOMIC_SEQ_CST);
    free(value);
}

static int calls(void) { return __atomic_load_n(&dtor_calls, __ATOMIC_SEQ_CST); }

/* ---- a worker that sets a value, optionally parks, then exits ---- */

struct setter {
    pthread_t thread;
    weft_tls_key *key;
    void *value;
    void *before;     /* what get returned before set */
    void *after;      /* what get returned after set */
    weft_status status;
    pthread_barrier_t *park; /* if set: wait twice (after set, then to exit) */
};

static void *set_and_exit(void *arg) {
    struct setter *s = arg;
    weft_status st = weft_tls_get(s->key, &s->before);
    if (st == WEFT_OK) st = weft_tls_set(s->key, s->value);
    if (st == WEFT_OK) st = weft_tls_get(s->key, &s->after);
    s->status = st;
    if (s->park) {
        pthread_barrier_wait(s->park); /* value is set */
        pthread_barrier_wait(s->park); /* may exit now */
    }
    return NULL;
}

static void start_setter(struct setter *s, weft_tls_key *key, void *value, pthread_barrier_t *park) {
    memset(s, 0, sizeof *s);
    s->key = key;
    s->value = value;
    s->park = park;
    s->before = (void *)1;
    assert_int_equal(pthread_create(&s->thread, NULL, set_and_exit, s), 0);
}

static void test_tls_values_are_per_thread(void **state) {
    weft_tls_key *key;
    struct setter s[3];
    void *v = (void *)1;
    (void)state;
    WT_OK(weft_tls_key_create(&key, NULL));
    WT_OK(weft_tls_get(key, &v));
    assert_null(v); /* unset */
    WT_OK(weft_tls_set(key, (void *)100));
    for (int i = 0; i < 3; i++) start_setter(&s[i], key, (void *)(intptr_t)(i + 1), NULL);
    for (int i = 0; i < 3; i++) pthread_join(s[i].thread, NULL);
    for (int i = 0; i < 3; i++) {
        WT_OK(s[i].status);
        assert_null(s[i].before); /* never sees main's value */
        assert_ptr_equal(s[i].after, (void *)(intptr_t)(i + 1));
    }
    WT_OK(weft_tls_get(key, &v));
    assert_ptr_equal(v, (void *)100); /* untouched by the others */
    WT_OK(weft_tls_set(key, NULL));
    WT_OK(weft_tls_get(key, &v));
    assert_null(v);
    weft_tls_key_destroy(key);
}

static void test_tls_destructor_runs_at_thread_exit_for_each_non_null_value(void **state) {
    weft_tls_key *key;
    struct setter s[5];
    (void)state;
    reset_counts();
    WT_OK(weft_tls_key_create(&key, count_tag));
    for (int i = 0; i < 5; i++) start_setter(&s[i], key, i == 4 ? NULL : (void *)(intptr_t)(1 << i), NULL);
    for (int i = 0; i < 5; i++) pthread_join(s[i].thread, NULL);
    for (int i = 0; i < 5; i++) WT_OK(s[i].status);
    assert_int_equal(calls(), 4); /* the NULL value has no destructor call */
    assert_int_equal(dtor_sum, 1 + 2 + 4 + 8);
    assert_int_equal(dtor_off_main, 4); /* each ran in its exiting thread */
    weft_tls_key_destroy(key);
    assert_int_equal(calls(), 4); /* nothing left to destroy */
}

struct replacer {
    weft_tls_key *key;
    weft_status status;
};

static void *replace_then_exit(void *arg) {
    struct replacer *r = arg;
    weft_status st = weft_tls_set(r->key, (void *)(intptr_t)1);
    if (st == WEFT_OK) st = weft_tls_set(r->key, (void *)(intptr_t)2); /* 1 is not destroyed */
    if (st == WEFT_OK) st = weft_tls_set(r->key, (void *)(intptr_t)40);
    r->status = st;
    return NULL;
}

static void test_tls_replacing_a_value_does_not_run_the_destructor(void **state) {
    struct replacer r = {NULL, 0};
    pthread_t t;
    (void)state;
    reset_counts();
    WT_OK(weft_tls_key_create(&r.key, count_tag));
    assert_int_equal(pthread_create(&t, NULL, replace_then_exit, &r), 0);
    pthread_join(t, NULL);
    WT_OK(r.status);
    assert_int_equal(calls(), 1);
    assert_int_equal(dtor_sum, 40); /* only the last value */
    weft_tls_key_destroy(r.key);
}

static void test_tls_key_destroy_runs_destructors_for_live_threads_values(void **state) {
    enum { N = 3 };
    weft_tls_key *key;
    struct setter s[N];
    pthread_barrier_t park;
    (void)state;
    reset_counts();
    pthread_barrier_init(&park, NULL, N + 1);
    WT_OK(weft_tls_key_create(&key, count_tag));
    WT_OK(weft_tls_set(key, (void *)(intptr_t)1000)); /* main's own value too */
    for (int i = 0; i < N; i++) start_setter(&s[i], key, (void *)(intptr_t)(i + 1), &park);
    pthread_barrier_wait(&park); /* all values set; threads are alive */
    weft_tls_key_destroy(key);
    assert_int_equal(calls(), N + 1);
    assert_int_equal(dtor_sum, 1 + 2 + 3 + 1000);
    assert_int_equal(dtor_off_main, 0); /* all ran in the destroying thread */
    pthread_barrier_wait(&park); /* let them exit: no destructor runs twice */
    for (int i = 0; i < N; i++) pthread_join(s[i].thread, NULL);
    for (int i = 0; i < N; i++) WT_OK(s[i].status);
    assert_int_equal(calls(), N + 1);
    pthread_barrier_destroy(&park);
}

static void test_tls_new_key_never_sees_a_destroyed_keys_values(void **state) {
    weft_tls_key *old, *fresh;
    void *v = NULL;
    (void)state;
    reset_counts();
    WT_OK(weft_tls_key_create(&old, count_tag));
    WT_OK(weft_tls_set(old, (void *)(intptr_t)7));
    weft_tls_key_destroy(old);
    assert_int_equal(calls(), 1);
    WT_OK(weft_tls_key_create(&fresh, count_tag)); /* likely reuses the slot */
    WT_OK(weft_tls_get(fresh, &v));
    assert_null(v);
    WT_OK(weft_tls_set(fresh, (void *)(intptr_t)8));
    weft_tls_key_destroy(fresh);
    assert_int_equal(calls(), 2);
    assert_int_equal(dtor_sum, 15);
}

/* Destructors that set values again: on another key, and on their own. */
static weft_tls_key *second_key, *stubborn_key;
static int stubborn_runs;

static void set_second(void *value) {
    count_tag(value);
    weft_tls_set(second_key, (void *)(intptr_t)100); /* destroyed in a later round */
}

static void set_myself_again(void *value) {
    __atomic_add_fetch(&stubborn_runs, 1, __ATOMIC_SEQ_CST);
    weft_tls_set(stubborn_key, value); /* forever, if weft let it */
}

static void *set_chained(void *arg) {
    weft_tls_key *first = arg;
    weft_tls_set(first, (void *)(intptr_t)1);
    weft_tls_set(stubborn_key, (void *)(intptr_t)5);
    return NULL;
}

static void test_tls_destructors_may_set_values_again_with_bounded_rounds(void **state) {
    weft_tls_key *first;
    pthread_t t;
    (void)state;
    reset_counts();
    __atomic_store_n(&stubborn_runs, 0, __ATOMIC_SEQ_CST);
    WT_OK(weft_tls_key_create(&second_key, count_tag));
    WT_OK(weft_tls_key_create(&stubborn_key, set_myself_again));
    WT_OK(weft_tls_key_create(&first, set_second));
    assert_int_equal(pthread_create(&t, NULL, set_chained, first), 0);
    pthread_join(t, NULL);
    assert_int_equal(calls(), 2); /* first's value, then the value its destructor set */
    assert_int_equal(dtor_sum, 101);
    assert_int_equal(stubborn_runs, 4); /* four rounds, then dropped */
    weft_tls_key_destroy(first);
    weft_tls_key_destroy(stubborn_key);
    weft_tls_key_destroy(second_key);
    assert_int_equal(calls(), 2);
}

enum { MANY_KEYS = 2000 };
static weft_tls_key *many[MANY_KEYS];

static void *use_many_keys(void *arg) {
    int *errors = arg;
    for (int i = MANY_KEYS - 1; i >= 0; i--) /* highest first: one growth */
        if (weft_tls_set(many[i], (void *)(intptr_t)(i + 1)) != WEFT_OK) (*errors)++;
    for (int i = 0; i < MANY_KEYS; i++) {
        void *v = NULL;
        if (weft_tls_get(many[i], &v) != WEFT_OK || v != (void *)(intptr_t)(i + 1)) (*errors)++;
    }
    return NULL;
}

static void test_tls_holds_thousands_of_keys_at_once(void **state) {
    pthread_t t[2];
    int errors[2] = {0, 0};
    (void)state;
    reset_counts();
    for (int i = 0; i < MANY_KEYS; i++) WT_OK(weft_tls_key_create(&many[i], count_tag));
    for (int i = 0; i < MANY_KEYS; i++) WT_OK(weft_tls_set(many[i], (void *)(intptr_t)-1));
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&t[i], NULL, use_many_keys, &errors[i]), 0);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    assert_int_equal(errors[0] + errors[1], 0);
    assert_int_equal(calls(), 2 * MANY_KEYS); /* both threads' values at their exit */
    assert_int_equal(dtor_sum, 2L * MANY_KEYS * (MANY_KEYS + 1) / 2);
    for (int i = 0; i < MANY_KEYS; i++) {
        void *v = NULL;
        WT_OK(weft_tls_get(many[i], &v));
        assert_ptr_equal(v, (void *)(intptr_t)-1);
    }
    for (int i = 0; i < MANY_KEYS; i++) weft_tls_key_destroy(many[i]);
    assert_int_equal(calls(), 3 * MANY_KEYS); /* main's values at destroy */
}

struct exiter {
    weft_tls_key *key;
    pthread_barrier_t *ready;
};

static void *set_heap_and_exit(void *arg) {
    struct exiter *e = arg;
    void *block = malloc(32);
    if (block && weft_tls_set(e->key, block) != WEFT_OK) free(block);
    pthread_barrier_wait(e->ready); /* then exit while the key is destroyed */
    return NULL;
}

static void test_tls_key_destroy_races_safely_with_exiting_threads(void **state) {
    enum { ROUNDS = 60, THREADS = 4 };
    (void)state;
    reset_counts();
    for (int r = 0; r < ROUNDS; r++) {
        struct exiter e;
        pthread_barrier_t ready;
        pthread_t t[THREADS];
        pthread_barrier_init(&ready, NULL, THREADS + 1);
        WT_OK(weft_tls_key_create(&e.key, count_free));
        e.ready = &ready;
        for (int i = 0; i < THREADS; i++) assert_int_equal(pthread_create(&t[i], NULL, set_heap_and_exit, &e), 0);
        pthread_barrier_wait(&ready);
        weft_tls_key_destroy(e.key); /* while they exit */
        for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
        pthread_barrier_destroy(&ready);
        /* Each block freed exactly once, by the destroy or at its thread's
         * exit, and none after destroy returned (ASan sees double frees). */
        assert_int_equal(calls(), (r + 1) * THREADS);
    }
}

static void test_tls_rejects_bad_input(void **state) {
    weft_tls_key *key;
    weft_local *loc;
    void *v = (void *)1;
    (void)state;
    WT_EXPECT(WEFT_EINVAL, weft_tls_key_create(NULL, NULL));
    WT_EXPECT(WEFT_EMISUSE, weft_tls_set(NULL, NULL));
    WT_EXPECT(WEFT_EMISUSE, weft_tls_get(NULL, &v));
    weft_tls_key_destroy(NULL);
    WT_OK(weft_tls_key_create(&key, NULL));
    WT_EXPECT(WEFT_EINVAL, weft_tls_get(key, NULL));
    /* A live handle of another type is refused. */
    WT_OK(weft_local_create(&loc));
    WT_EXPECT(WEFT_EMISUSE, weft_tls_set((weft_tls_key *)loc, v));
    WT_EXPECT(WEFT_EMISUSE, weft_tls_get((const weft_tls_key *)loc, &v));
    weft_tls_key_destroy((weft_tls_key *)loc); /* ignored */
    WT_EXPECT(WEFT_EMISUSE, weft_local_set((weft_local *)key, "x", NULL, NULL));
    weft_local_destroy((weft_local *)key); /* ignored */
    WT_OK(weft_local_set(loc, "still", (void *)2, NULL));
    WT_OK(weft_tls_set(key, (void *)3));
    weft_local_destroy(loc);
    weft_tls_key_destroy(key);
}

/* ---- weft_local: the seeds' ThreadLocal ---- */

static int frees; /* atomic */
static void count_local_free(void *value) {
    __atomic_add_fetch(&frees, 1, __ATOMIC_SEQ_CST);
    free(value);
}
static int local_frees(void) { return __atomic_load_n(&frees, __ATOMIC_SEQ_CST); }

static char *dup_str(const char *s) {
    char *d = malloc(strlen(s) + 1);
    if (d) strcpy(d, s);
    return d;
}

struct student {
    pthread_t thread;
    weft_local *loc;
    const char *name;
    weft_status missing; /* get before set */
    weft_status got;
    char seen[32];
    pthread_barrier_t *park;
};

/* Deep down: reads the student without being passed it. */
static weft_status whose_turn(weft_local *loc, char *out, size_t n) {
    void *v;
    weft_status st = weft_local_get(loc, "student", &v);
    if (st == WEFT_OK) snprintf(out, n, "%s", (const char *)v);
    return st;
}

static void *be_a_student(void *arg) {
    struct student *s = arg;
    void *v;
    s->missing = weft_local_get(s->loc, "student", &v);
    s->got = weft_local_set(s->loc, "student", dup_str(s->name), count_local_free);
    if (s->got == WEFT_OK) s->got = weft_local_set(s->loc, "grade", dup_str("A"), count_local_free);
    if (s->park) pthread_barrier_wait(s->park);
    if (s->got == WEFT_OK) s->got = whose_turn(s->loc, s->seen, sizeof s->seen);
    if (s->park) pthread_barrier_wait(s->park);
    return NULL;
}

static void test_local_values_are_per_thread_and_unset_names_are_enoent(void **state) {
    static const char *names[3] = {"Ann", "Bob", "Cleo"};
    struct student s[3];
    pthread_barrier_t park;
    weft_local *loc;
    void *v = (void *)1;
    (void)state;
    __atomic_store_n(&frees, 0, __ATOMIC_SEQ_CST);
    pthread_barrier_init(&park, NULL, 3);
    WT_OK(weft_local_create(&loc));
    WT_EXPECT(WEFT_ENOENT, weft_local_get(loc, "student", &v));
    assert_null(v);
    assert_non_null(strstr(weft_last_error()->message, "student"));
    for (int i = 0; i < 3; i++) {
        memset(&s[i], 0, sizeof s[i]);
        s[i].loc = loc;
        s[i].name = names[i];
        s[i].park = &park; /* all three hold their values at the same time */
        assert_int_equal(pthread_create(&s[i].thread, NULL, be_a_student, &s[i]), 0);
    }
    for (int i = 0; i < 3; i++) pthread_join(s[i].thread, NULL);
    for (int i = 0; i < 3; i++) {
        WT_EXPECT(WEFT_ENOENT, s[i].missing);
        WT_OK(s[i].got);
        assert_string_equal(s[i].seen, names[i]);
    }
    assert_int_equal(local_frees(), 6); /* student and grade of each, at thread exit */
    WT_EXPECT(WEFT_ENOENT, weft_local_get(loc, "student", &v)); /* main never set it */
    weft_local_destroy(loc);
    assert_int_equal(local_frees(), 6);
    pthread_barrier_destroy(&park);
}

static void test_local_set_again_frees_the_old_value(void **state) {
    weft_local *loc;
    void *v;
    char *same;
    (void)state;
    __atomic_store_n(&frees, 0, __ATOMIC_SEQ_CST);
    WT_OK(weft_local_create(&loc));
    WT_OK(weft_local_set(loc, "x", dup_str("one"), count_local_free));
    WT_OK(weft_local_set(loc, "x", dup_str("two"), count_local_free));
    assert_int_equal(local_frees(), 1);
    WT_OK(weft_local_get(loc, "x", &v));
    assert_string_equal(v, "two");
    same = v;
    WT_OK(weft_local_set(loc, "x", same, count_local_free)); /* same pointer: kept */
    assert_int_equal(local_frees(), 1);
    WT_OK(weft_local_set(loc, "x", NULL, NULL)); /* NULL is a value too */
    assert_int_equal(local_frees(), 2);
    v = (void *)1;
    WT_OK(weft_local_get(loc, "x", &v));
    assert_null(v);
    WT_OK(weft_local_set(loc, "", (void *)5, NULL)); /* the empty name is a name */
    WT_OK(weft_local_get(loc, "", &v));
    assert_ptr_equal(v, (void *)5);
    weft_local_destroy(loc);
    assert_int_equal(local_frees(), 2);
}

static void test_local_delete_frees_the_value_and_then_it_is_enoent(void **state) {
    weft_local *loc;
    void *v;
    (void)state;
    __atomic_store_n(&frees, 0, __ATOMIC_SEQ_CST);
    WT_OK(weft_local_create(&loc));
    WT_EXPECT(WEFT_ENOENT, weft_local_delete(loc, "x")); /* nothing set in this thread */
    WT_OK(weft_local_set(loc, "x", dup_str("gone"), count_local_free));
    WT_OK(weft_local_set(loc, "y", dup_str("kept"), count_local_free));
    WT_OK(weft_local_delete(loc, "x"));
    assert_int_equal(local_frees(), 1);
    WT_EXPECT(WEFT_ENOENT, weft_local_get(loc, "x", &v));
    WT_EXPECT(WEFT_ENOENT, weft_local_delete(loc, "x"));
    WT_OK(weft_local_get(loc, "y", &v));
    assert_string_equal(v, "kept");
    weft_local_destroy(loc); /* frees y */
    assert_int_equal(local_frees(), 2);
}

static void test_local_two_locals_keep_the_same_name_apart(void **state) {
    weft_local *a, *b;
    void *v;
    (void)state;
    WT_OK(weft_local_create(&a));
    WT_OK(weft_local_create(&b));
    WT_OK(weft_local_set(a, "n", (void *)1, NULL));
    WT_EXPECT(WEFT_ENOENT, weft_local_get(b, "n", &v));
    WT_OK(weft_local_set(b, "n", (void *)2, NULL));
    WT_OK(weft_local_get(a, "n", &v));
    assert_ptr_equal(v, (void *)1);
    WT_OK(weft_local_get(b, "n", &v));
    assert_ptr_equal(v, (void *)2);
    weft_local_destroy(a);
    WT_OK(weft_local_get(b, "n", &v)); /* b outlives a */
    assert_ptr_equal(v, (void *)2);
    weft_local_destroy(b);
}

static void test_local_destroy_frees_every_threads_values(void **state) {
    static const char *names[2] = {"Dan", "Eve"};
    struct student s[2];
    pthread_barrier_t park;
    weft_local *loc;
    (void)state;
    __atomic_store_n(&frees, 0, __ATOMIC_SEQ_CST);
    pthread_barrier_init(&park, NULL, 3);
    WT_OK(weft_local_create(&loc));
    WT_OK(weft_local_set(loc, "student", dup_str("teacher"), count_local_free));
    for (int i = 0; i < 2; i++) {
        memset(&s[i], 0, sizeof s[i]);
        s[i].loc = loc;
        s[i].name = names[i];
        s[i].park = &park;
        assert_int_equal(pthread_create(&s[i].thread, NULL, be_a_student, &s[i]), 0);
    }
    pthread_barrier_wait(&park); /* both have set student and grade */
    pthread_barrier_wait(&park); /* both have read back; they stay alive */
    weft_local_destroy(loc);
    assert_int_equal(local_frees(), 2 * 2 + 1);
    for (int i = 0; i < 2; i++) pthread_join(s[i].thread, NULL);
    for (int i = 0; i < 2; i++) {
        WT_OK(s[i].got);
        assert_string_equal(s[i].seen, names[i]);
    }
    assert_int_equal(local_frees(), 5); /* nothing freed twice at their exit */
    pthread_barrier_destroy(&park);
}

static void test_local_rejects_bad_input(void **state) {
    weft_local *loc;
    void *v = (void *)1;
    (void)state;
    WT_EXPECT(WEFT_EINVAL, weft_local_create(NULL));
    WT_EXPECT(WEFT_EMISUSE, weft_local_set(NULL, "x", NULL, NULL));
    WT_EXPECT(WEFT_EMISUSE, weft_local_get(NULL, "x", &v));
    WT_EXPECT(WEFT_EMISUSE, weft_local_delete(NULL, "x"));
    weft_local_destroy(NULL);
    WT_OK(weft_local_create(&loc));
    __atomic_store_n(&frees, 0, __ATOMIC_SEQ_CST);
    char *value = dup_str("not taken");
    WT_EXPECT(WEFT_EINVAL, weft_local_set(loc, NULL, value, count_local_free));
    assert_int_equal(local_frees(), 0); /* a failed set takes nothing */
    free(value);
    WT_EXPECT(WEFT_EINVAL, weft_local_get(loc, NULL, &v));
    WT_EXPECT(WEFT_EINVAL, weft_local_get(loc, "x", NULL));
    WT_EXPECT(WEFT_EINVAL, weft_local_delete(loc, NULL));
    weft_local_destroy(loc);
}

static int setup(void **state) {
    (void)state;
    main_thread = pthread_self();
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_values_are_per_thread),
        cmocka_unit_test(test_tls_destructor_runs_at_thread_exit_for_each_non_null_value),
        cmocka_unit_test(test_tls_replacing_a_value_does_not_run_the_destructor),
        cmocka_unit_test(test_tls_key_destroy_runs_destructors_for_live_threads_values),
        cmocka_unit_test(test_tls_new_key_never_sees_a_destroyed_keys_values),
        cmocka_unit_test(test_tls_destructors_may_set_values_again_with_bounded_rounds),
        cmocka_unit_test(test_tls_holds_thousands_of_keys_at_once),
        cmocka_unit_test(test_tls_key_destroy_races_safely_with_exiting_threads),
        cmocka_unit_test(test_tls_rejects_bad_input),
        cmocka_unit_test(test_local_values_are_per_thread_and_unset_names_are_enoent),
        cmocka_unit_test(test_local_set_again_frees_the_old_value),
        cmocka_unit_test(test_local_delete_frees_the_value_and_then_it_is_enoent),
        cmocka_unit_test(test_local_two_locals_keep_the_same_name_apart),
        cmocka_unit_test(test_local_destroy_frees_every_threads_values),
        cmocka_unit_test(test_local_rejects_bad_input),
    };
    return cmocka_run_group_tests_name("tls", tests, setup, NULL);
}

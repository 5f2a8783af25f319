/*
 * Seed idea: listening to music while downloading. Two threads, one
 * "listening to music" and one "downloading files", each print a few lines
 * with short sleeps in between; main starts both and joins them.
 *
 * Prints the interleaved lines of both threads, then each thread's name,
 * weft ident and kernel thread id, and the total time: about 0.4 s, not the
 * 0.8 s the two jobs would take one after the other, because they overlapped.
 */
#include <stdio.h>
#include <weft/weft.h>

static void *listen_music(void *arg) {
    const char *songs[] = {"Li Bai", "Promise Not to Cry", "Rice Field", "Love Confession"};
    (void)arg;
    for (int i = 0; i < 4; i++) {
        weft_sleep_ns(100 * WEFT_MSEC);
        printf("  [%s] listening to \"%s\"\n", weft_thread_name(weft_thread_current()), songs[i]);
    }
    return NULL;
}

static void *download(void *arg) {
    const char *files[] = {"1.jpg", "5.exe", "6.csv", "7.txt"};
    int *done = arg;
    for (int i = 0; i < 4; i++) {
        printf("  [%s] downloading %s\n", weft_thread_name(weft_thread_current()), files[i]);
        weft_sleep_ns(100 * WEFT_MSEC);
        ++*done;
    }
    return done; /* the result join hands back */
}

static int check(weft_status s, const char *what) {
    if (s != WEFT_OK) fprintf(stderr, "%s: %s\n", what, weft_last_error()->message);
    return s == WEFT_OK;
}

int main(void) {
    weft_thread *music, *downloader;
    weft_thread_options mo = WEFT_THREAD_OPTIONS_INIT, dopt = WEFT_THREAD_OPTIONS_INIT;
    int downloaded = 0;
    void *result = NULL;
    mo.name = "music";
    dopt.name = "download";

    int64_t t0 = weft_monotonic_ns();
    if (!check(weft_thread_spawn(&downloader, download, &downloaded, &dopt), "spawn download")) return 1;
    if (!check(weft_thread_spawn(&music, listen_music, NULL, &mo), "spawn music")) return 1;
    printf("main (%s): both threads started\n", weft_thread_name(weft_thread_current()));
    if (!check(weft_thread_join(downloader, &result, 10 * WEFT_SEC), "join download")) return 1;
    if (!check(weft_thread_join(music, NULL, 10 * WEFT_SEC), "join music")) return 1;
    double secs = (double)(weft_monotonic_ns() - t0) / 1e9;

    weft_thread *both[2] = {downloader, music};
    for (int i = 0; i < 2; i++)
        printf("%-8s ident %llu, native id %lld, alive %d\n", weft_thread_name(both[i]),
               (unsigned long long)weft_thread_ident(both[i]), (long long)weft_thread_native_id(both[i]),
               weft_thread_is_alive(both[i]));
    printf("main     ident %llu, native id %lld\n", (unsigned long long)weft_thread_get_ident(),
           (long long)weft_thread_get_native_id());
    printf("downloaded %d files; total %.2f s (one after the other would take 0.80 s)\n",
           *(int *)result, secs);
    weft_thread_destroy(downloader);
    weft_thread_destroy(music);
    return (result == &downloaded && downloaded == 4) ? 0 : 1;
}

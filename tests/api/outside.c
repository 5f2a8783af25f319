/* A program outside the tree, built only with `pkg-config --cflags --libs weft`. */
#include <stdio.h>
#include <string.h>
#include <weft/weft.h>

int main(void) {
    weft_lock *lock;
    if (weft_version() != WEFT_VERSION_NUMBER) {
        fprintf(stderr, "header %s but library %s\n", WEFT_VERSION_STRING, weft_version_string());
        return 1;
    }
    if (weft_lock_create(&lock, NULL) != WEFT_OK) return 1;
    if (weft_lock_acquire(lock, 0) != WEFT_OK) return 1;
    if (weft_lock_acquire(lock, 0) != WEFT_ETIMEDOUT) return 1;
    if (weft_lock_release(lock) != WEFT_OK) return 1;
    weft_lock_destroy(lock);
    printf("weft %s installed and usable; %d CPUs\n", weft_version_string(), weft_cpu_count());
    return 0;
}

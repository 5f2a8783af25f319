/*
 * Seed idea: the stack (queue.LifoQueue): the last item put is the first out.
 * Pushes five plates, pops them back in reverse order, and shows that a pop
 * from the empty stack times out instead of blocking for ever.
 */
#include <stdio.h>
#include <string.h>
#include <weft/weft.h>

int main(void) {
    static const char *plates[] = {"plate 1", "plate 2", "plate 3", "plate 4", "plate 5"};
    weft_queue_options o = WEFT_QUEUE_OPTIONS_INIT;
    weft_queue *stack;
    void *top;
    int ok = 1;
    o.kind = WEFT_QUEUE_LIFO;
    if (weft_queue_create(&stack, &o) != WEFT_OK) return 1;
    for (int i = 0; i < 5; i++) {
        if (weft_queue_put(stack, (void *)plates[i], 0) != WEFT_OK) return 1;
        printf("push %s\n", plates[i]);
    }
    for (int i = 4; i >= 0; i--) {
        if (weft_queue_get(stack, &top, 0) != WEFT_OK) return 1;
        printf("pop  %s\n", (const char *)top);
        ok &= strcmp(top, plates[i]) == 0;
    }
    weft_status s = weft_queue_get(stack, &top, 100 * WEFT_MSEC);
    printf("pop from the empty stack: %s (%s)\n", weft_status_name(s), weft_strerror(s));
    ok &= s == WEFT_ETIMEDOUT;
    weft_queue_destroy(stack);
    return ok ? 0 : 1;
}

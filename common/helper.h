/* helper.h: threads that work beside the recording loop (sampler/sparefile,
 * sampler/poolwalk).  A helper runs under the policy it is given, not the caller's (the
 * loop may be under SCHED_FIFO: --realtime), and with every signal blocked, so that the
 * process's signals (SIGTERM, SIGINT: the end of a recording) reach the loop. */
#ifndef TG_HELPER_H
#define TG_HELPER_H

#include <pthread.h>

/* pthread_create's result: 0, or an error number. */
int helper_start(pthread_t *thread, int policy, void *(*fn)(void *), void *arg);

#endif

// The floor under a thread hand-off: two threads pass a turn back and forth through a futex, as the initiator's
// TurnRelay does between a reader and its partner. Prints the median and p99 of one hand-off (half a round trip)
// in nanoseconds, with the CPU time per hand-off, so a hand-off can be set beside a whole command's time.
//   wakeup-floor [ROUNDS]
#define _GNU_SOURCE
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static _Atomic int turn; // 0: the main thread's turn, 1: the partner's
static int rounds;

static void futex_wait(_Atomic int *addr, int value) { syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, value, NULL, NULL, 0); }
static void futex_wake(_Atomic int *addr) { syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0); }

static void pass_to(int who) { atomic_store(&turn, who); futex_wake(&turn); }
static void wait_for(int who) { while (atomic_load(&turn) != who) futex_wait(&turn, !who); }

static void *partner(void *arg) {
    (void)arg;
    for (int i = 0; i < rounds; i++) { wait_for(1); pass_to(0); }
    return NULL;
}

static uint64_t now_ns(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return (uint64_t)t.tv_sec * 1000000000u + t.tv_nsec; }
static int cmp(const void *a, const void *b) { uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b; return x < y ? -1 : x > y; }
static double cpu_ns(void) { struct rusage u; getrusage(RUSAGE_SELF, &u); return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e9 + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e3; }

int main(int argc, char **argv) {
    rounds = argc > 1 ? atoi(argv[1]) : 20000;
    uint64_t *rtt = malloc(sizeof(uint64_t) * rounds);
    pthread_t t;
    pthread_create(&t, NULL, partner, NULL);
    double cpu0 = cpu_ns();
    uint64_t start = now_ns();
    for (int i = 0; i < rounds; i++) {
        uint64_t t0 = now_ns();
        pass_to(1);
        wait_for(0);
        rtt[i] = now_ns() - t0;
    }
    uint64_t wall = now_ns() - start;
    double cpu = cpu_ns() - cpu0;
    pthread_join(t, NULL);
    qsort(rtt, rounds, sizeof(uint64_t), cmp);
    // One round trip is two hand-offs.
    printf("handoffs=%d median_ns=%llu p99_ns=%llu mean_ns=%.0f cpu_ns_per_handoff=%.0f\n", 2 * rounds,
           (unsigned long long)(rtt[rounds / 2] / 2), (unsigned long long)(rtt[rounds * 99 / 100] / 2),
           (double)wall / (2.0 * rounds), cpu / (2.0 * rounds));
    return 0;
}

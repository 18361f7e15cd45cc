/*
 * wos-counter: a WOS daemon in C. It registers TERM and INT handlers, reports
 * ready and healthy, counts (printing every 100th), and on TERM or INT stops
 * gracefully: it writes its count to /sandbox/count and exits 0. USR1 prints
 * the count now. Build (the tests do it at test time):
 *
 *   clang --target=wasm32-wasi -O2 -Wl,--import-memory -Wl,--export-table \
 *         -I packages/platform-wos/include -o counter.wasm examples/wos-counter/counter.c
 *
 * Usage: counter.wasm [milliseconds between counts, default 1]
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "duende_wos.h"

static volatile int32_t stop = 0;
static volatile int32_t report = 0;

static void on_stop(int32_t signal) { stop = signal; }
static void on_usr1(int32_t signal) { report = signal; }

int main(int argc, char **argv) {
  long every = argc > 1 ? atol(argv[1]) : 1;
  /* stdout is a pipe to the host, fully buffered by default: one log line per line. */
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (duende_sigaction(WOS_SIGTERM, on_stop) != 0 || duende_sigaction(WOS_SIGINT, on_stop) != 0 ||
      duende_sigaction(WOS_SIGUSR1, on_usr1) != 0) {
    fprintf(stderr, "duende_sigaction failed: link with -Wl,--export-table\n");
    return 1;
  }
  const char *pid = getenv("WOS_PID");
  printf("counter %s started\n", pid ? pid : "?");
  duende_health(DUENDE_HEALTHY);
  duende_ready();
  unsigned long count = 0;
  while (!stop) {
    count++;
    if (count % 100 == 0) printf("count %lu\n", count);
    if (report) {
      printf("USR1: count %lu\n", count);
      report = 0;
    }
    usleep(every * 1000);
    duende_yield();
  }
  printf("signal %d: stopping after %lu counts\n", (int)stop, count);
  FILE *out = fopen("/sandbox/count", "w");
  if (out == NULL) {
    perror("/sandbox/count");
    return 1;
  }
  fprintf(out, "%lu\n", count);
  fclose(out);
  return 0;
}

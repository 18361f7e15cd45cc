/*
 * wos-spin: a WOS process that never calls the host once it spins. The host
 * cannot hold it out of a time slice nor deliver TERM to it (signals other
 * than KILL are delivered at host calls): only KILL, which terminates its
 * worker thread, stops it. Build:
 *
 *   clang --target=wasm32-wasi -O2 -Wl,--import-memory -o spin.wasm examples/wos-spin/spin.c
 */
#include <stdio.h>

int main(void) {
  printf("spinning\n");
  fflush(stdout);
  volatile unsigned long n = 0;
  for (;;) n++;
}

/*
 * wos-fork: a parent that spawns two children through the kernel
 * (duende_spawn), reaps the first with duende_wait, and exits without waiting
 * for the second: the kernel re-parents it to init, which reaps it when it
 * exits. The module spawns copies of itself, so it must be in its sandbox, as
 * /sandbox/fork.wasm. Build:
 *
 *   clang --target=wasm32-wasi -O2 -Wl,--import-memory -Wl,--export-table \
 *         -I packages/platform-wos/include -o fork.wasm examples/wos-fork/fork.c
 *
 * Usage: fork.wasm                       the parent
 *        fork.wasm child <ms> <code>     a child: sleeps, then exits with <code>
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "duende_wos.h"

static int32_t child(const char *ms, const char *code) {
  const char *argv[] = {"fork.wasm", "child", ms, code};
  return duende_spawn("/sandbox/fork.wasm", argv, 4, 4);
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc == 4 && strcmp(argv[1], "child") == 0) {
    usleep((useconds_t)atoi(argv[2]) * 1000);
    printf("child %s exits with %s\n", getenv("WOS_PID"), argv[3]);
    return atoi(argv[3]);
  }
  int32_t quick = child("20", "3");
  int32_t slow = child("400", "4");
  if (quick < 0 || slow < 0) {
    fprintf(stderr, "spawn failed\n");
    return 1;
  }
  printf("spawned %d and %d\n", (int)quick, (int)slow);
  int32_t code = -1;
  int32_t reaped = duende_wait(quick, &code);
  printf("reaped %d: exit %d\n", (int)reaped, (int)code);
  printf("leaving %d to init\n", (int)slow);
  return 0;
}

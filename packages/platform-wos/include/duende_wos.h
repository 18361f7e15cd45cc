/*
 * duende_wos.h — the ABI between a WebAssembly process and the Duende WOS host.
 *
 * A WOS process is a WASI preview1 command (it exports `_start`) that imports
 * these functions from the module "duende", and imports its memory as
 * `env.memory` so the host can cap it. Link with:
 *
 *   clang --target=wasm32-wasi -O2 -Wl,--import-memory -Wl,--export-table \
 *         -I <this directory> -o app.wasm app.c
 *
 * (`--export-table` exports `__indirect_function_table`, through which the
 * host calls the handlers given to duende_sigaction; without it handlers
 * cannot be registered.)
 *
 * Every host call — these and every WASI call — is a scheduling point: a
 * process the kernel did not choose for the current slice waits there until
 * it is chosen. Signals:
 *   - KILL ends the process at once, wherever it is (its worker is terminated).
 *   - A pending signal without a handler takes its default action at the next
 *     host call of any kind: the process ends with the signal number as its
 *     exit code (CHLD is ignored by default).
 *   - A pending signal with a handler runs the handler inside the next
 *     duende_yield, duende_ready or duende_health — safe points, never inside
 *     a WASI call (a handler run inside printf's write would re-enter libc).
 *   Pending signals are delivered lowest number first; a signal sent twice
 *   before delivery is delivered once (a set, as in POSIX).
 * A module that never calls the host cannot be scheduled out or signalled:
 * only KILL stops it.
 *
 * Files: the process's sandbox directory is preopened as /sandbox and also at
 * its host path, which $PWD names: chdir(getenv("PWD")) makes it the working
 * directory, so relative paths resolve in it. Nothing else of the host's file
 * system is visible. (In a browser, BrowserWosHost: /sandbox is an empty
 * directory in the process's worker memory, PWD is /sandbox, and duende_spawn
 * returns -1.)
 *
 * Every process's environment has WOS_PID (its pid) and DUENDE_WOS_ABI (the
 * version of this ABI the host provides, DUENDE_WOS_ABI_VERSION), which is how
 * a runtime hosted in a WOS process (and @duende/core's Platform.detect) knows
 * it is inside WOS. A module that imports these functions needs no such check:
 * only a WOS host instantiates it.
 */
#ifndef DUENDE_WOS_H
#define DUENDE_WOS_H

#include <stdint.h>

/* The version of this ABI; the host gives it to every process as $DUENDE_WOS_ABI. */
#define DUENDE_WOS_ABI_VERSION 1

#define DUENDE_IMPORT(name) __attribute__((import_module("duende"), import_name(name)))

#define WOS_SIGINT 2
#define WOS_SIGKILL 9
#define WOS_SIGUSR1 10
#define WOS_SIGSEGV 11
#define WOS_SIGUSR2 12
#define WOS_SIGPIPE 13
#define WOS_SIGTERM 15
#define WOS_SIGCHLD 17

#define DUENDE_HEALTHY 0
#define DUENDE_UNHEALTHY 1

/* A signal handler: called with the signal's number. */
typedef void (*duende_handler)(int32_t signal);

/* A safe point: waits while not scheduled, then runs the handlers of pending signals. Returns 0. */
DUENDE_IMPORT("yield") int32_t duende_yield(void);

/* The lowest pending signal's number, 0 when none; does not deliver it. */
DUENDE_IMPORT("signal_pending") int32_t duende_signal_pending(void);

/*
 * Handles `signal` with `handler` (NULL: the default action again). Returns 0,
 * or -1 for KILL, a signal WOS does not know, or a module that does not
 * export its function table.
 */
DUENDE_IMPORT("sigaction") int32_t duende_sigaction(int32_t signal, duende_handler handler);

/* Init is done: the daemon serves (the manager's start returns). A safe point. */
DUENDE_IMPORT("ready") void duende_ready(void);

/* The daemon's health: DUENDE_HEALTHY or DUENDE_UNHEALTHY. A safe point. */
DUENDE_IMPORT("health") void duende_health(int32_t state);

/*
 * Spawns a child process: the module at `path`, which must be inside /sandbox
 * (the child shares the sandbox, the env and the memory cap), with `argc`
 * arguments `argv` (argv[0] included) at `priority` (0 highest … 7).
 * Returns the child's pid, or -1 (the reason is a "wos:" line in stderr's log).
 * The caller is Blocked in the kernel while the host loads the module. A safe point.
 */
DUENDE_IMPORT("spawn")
int32_t duende_spawn(const char *path, const char *const *argv, int32_t argc, int32_t priority);

/*
 * Reaps an exited child: `pid`, or any child when -1, waiting (Blocked) until
 * one exits. Returns its pid and stores its exit code in `*code` (when not
 * NULL), or returns -1 when there is no such child. A child not reaped stays
 * a zombie; when its parent exits, init adopts and reaps it. A safe point.
 */
DUENDE_IMPORT("wait") int32_t duende_wait(int32_t pid, int32_t *code);

#endif

/**
 * The source of the spawner's worker thread (run with `eval`, so that it needs
 * no file of its own beside the bundle). The worker owns process creation and
 * reaping for the native adapter:
 *
 * - `spawn`: a socket pair (close-on-exec) for each of the child's stdout, stderr
 *   and notify fd, as libuv makes them (a daemon sees its supervisor's end
 *   close: it reads end-of-file, where a pipe's writer learns only at its next
 *   write), then glibc's `posix_spawn` (clone(CLONE_VM|CLONE_VFORK): its cost does
 *   not grow with the supervisor's memory, where fork copies every page table)
 *   with a new session, default signal dispositions, an empty signal mask, the
 *   working directory, stdin on /dev/null and the inherited fds moved to
 *   3, 4, …; then a pidfd for the child. Replies with the pid and the read ends
 *   (the supervisor wraps them in streams: fds are shared by every thread).
 * - exits: it waits in `poll` on every child's pidfd and a wake pipe, reaps an
 *   exited child with `waitid(P_PIDFD)` (only its own children: never libuv's
 *   nor the orphans the reaper handles) and posts its code or signal.
 *
 * Messages come in through `receiveMessageOnPort` (the worker sits in `poll`,
 * not in its event loop); the supervisor writes a byte to the wake pipe after
 * each one. At exit it sets the shared stop flag and wakes the worker, which
 * then ends: a thread in `poll` would keep the process from ending.
 *
 * @internal
 */
export const spawnWorkerSource = String.raw`
"use strict"
const { workerData, receiveMessageOnPort } = require("node:worker_threads")
const { constants } = require("node:os")
const koffi = require(workerData.koffi)
const port = workerData.port
const lib = koffi.load("libc.so.6")
const fn = (signature) => lib.func(signature)
const posixSpawn = fn("int posix_spawn(_Out_ int *pid, const char *path, void *actions, void *attr, const char **argv, const char **envp)")
const actionsInit = fn("int posix_spawn_file_actions_init(void *actions)")
const actionsDestroy = fn("int posix_spawn_file_actions_destroy(void *actions)")
const addDup2 = fn("int posix_spawn_file_actions_adddup2(void *actions, int fd, int newfd)")
const addClose = fn("int posix_spawn_file_actions_addclose(void *actions, int fd)")
const addOpen = fn("int posix_spawn_file_actions_addopen(void *actions, int fd, const char *path, int flags, unsigned int mode)")
const addChdir = fn("int posix_spawn_file_actions_addchdir_np(void *actions, const char *path)")
const attrInit = fn("int posix_spawnattr_init(void *attr)")
const attrDestroy = fn("int posix_spawnattr_destroy(void *attr)")
const attrFlags = fn("int posix_spawnattr_setflags(void *attr, short flags)")
const attrMask = fn("int posix_spawnattr_setsigmask(void *attr, void *set)")
const attrDefault = fn("int posix_spawnattr_setsigdefault(void *attr, void *set)")
const sigemptyset = fn("int sigemptyset(void *set)")
const sigfillset = fn("int sigfillset(void *set)")
const socketpair = fn("int socketpair(int domain, int type, int protocol, _Out_ int *fds)")
const close = fn("int close(int fd)")
const read = fn("long read(int fd, void *buffer, unsigned long count)")
const poll = fn("int poll(void *fds, unsigned long count, int timeout)")
const waitid = fn("int waitid(int idtype, int id, void *info, int options)")
const syscall = fn("long syscall(long number, int pid, unsigned int flags)")
const kill = fn("int kill(int pid, int signal)")
const waitpid = fn("int waitpid(int pid, _Out_ int *status, int options)")

const AF_UNIX = 1
const SOCK_STREAM = 1
const SOCK_CLOEXEC = 0o2000000
const POSIX_SPAWN_SETSIGDEF = 0x04
const POSIX_SPAWN_SETSIGMASK = 0x08
const POSIX_SPAWN_SETSID = 0x80
const SYS_pidfd_open = 434
const P_PIDFD = 3
const WEXITED = 4
const EINTR = 4
const CLD_EXITED = 1
const POLLIN = 1
const SIGKILL = 9
const signalNames = new Map(Object.entries(constants.signals).map(([name, number]) => [number, name]))

const emptySet = Buffer.alloc(128)
const fullSet = Buffer.alloc(128)
sigemptyset(emptySet)
sigfillset(fullSet)

/** pidfd -> pid of every child not yet reaped. */
const children = new Map()

const spawn = (request) => {
  const pipes = [] // socket pairs: [the supervisor's end, the child's]
  const closeAll = (fds) => { for (const fd of fds) if (fd >= 0) close(fd) }
  for (let i = 0; i < request.pipes.length; i++) {
    const pair = new Int32Array(2)
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) !== 0) {
      const errno = koffi.errno()
      closeAll(pipes.flat())
      return { type: "failed", id: request.id, errno, call: "socketpair" }
    }
    pipes.push([pair[0], pair[1]])
  }
  const actions = Buffer.alloc(256)
  const attr = Buffer.alloc(512)
  actionsInit(actions)
  attrInit(attr)
  try {
    attrFlags(attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK)
    attrMask(attr, emptySet)
    attrDefault(attr, fullSet)
    if (request.cwd !== undefined) addChdir(actions, request.cwd)
    addOpen(actions, 0, "/dev/null", 0, 0)
    // Every source is first moved above every target, so that no move overwrites a source still to move.
    const moves = [
      ...request.pipes.map((target, i) => [pipes[i][1], target]),
      ...request.fds.map((source, i) => [source, 3 + i])
    ]
    const high = Math.max(2, ...moves.map(([source, target]) => Math.max(source, target))) + 1
    moves.forEach(([source], i) => addDup2(actions, source, high + i))
    moves.forEach(([, target], i) => addDup2(actions, high + i, target))
    moves.forEach((_, i) => addClose(actions, high + i))
    const pid = [0]
    const result = posixSpawn(pid, request.path, actions, attr, [...request.argv, null], [...request.envp, null])
    closeAll(pipes.map((pair) => pair[1]))
    if (result !== 0) {
      closeAll(pipes.map((pair) => pair[0]))
      return { type: "failed", id: request.id, errno: result, call: "posix_spawn" }
    }
    const pidfd = Number(syscall(SYS_pidfd_open, pid[0], 0))
    if (pidfd < 0) {
      // Without a pidfd its exit could never be seen (no fd left: EMFILE): it must not run unwatched.
      const errno = koffi.errno()
      kill(pid[0], SIGKILL)
      waitpid(pid[0], [0], 0)
      closeAll(pipes.map((pair) => pair[0]))
      return { type: "failed", id: request.id, errno, call: "pidfd_open" }
    }
    children.set(pidfd, pid[0])
    return { type: "spawned", id: request.id, pid: pid[0], reads: pipes.map((pair) => pair[0]) }
  } finally {
    actionsDestroy(actions)
    attrDestroy(attr)
  }
}

const reap = (pidfd, pid) => {
  const info = Buffer.alloc(128)
  let result
  do result = waitid(P_PIDFD, pidfd, info, WEXITED)
  while (result !== 0 && koffi.errno() === EINTR)
  close(pidfd)
  children.delete(pidfd)
  if (result !== 0) return { type: "exit", pid, code: null, signal: null }
  const how = info.readInt32LE(8)
  const status = info.readInt32LE(24)
  return how === CLD_EXITED
    ? { type: "exit", pid, code: status, signal: null }
    : { type: "exit", pid, code: null, signal: signalNames.get(status) ?? null }
}

const drain = Buffer.alloc(256)
const stop = new Int32Array(workerData.stop)
// Until the supervisor exits: then it sets the flag and wakes this thread, which ends (a
// thread sitting in poll would keep the process from ending). The timeout is a safety net only.
while (Atomics.load(stop, 0) === 0) {
  for (let message = receiveMessageOnPort(port); message !== undefined; message = receiveMessageOnPort(port)) {
    if (message.message.type === "spawn") port.postMessage(spawn(message.message))
  }
  const fds = [workerData.wake, ...children.keys()]
  const set = Buffer.alloc(8 * fds.length)
  fds.forEach((fd, i) => {
    set.writeInt32LE(fd, 8 * i)
    set.writeInt16LE(POLLIN, 8 * i + 4)
  })
  if (poll(set, fds.length, 1000) <= 0) continue
  if (set.readInt16LE(6) !== 0) while (read(workerData.wake, drain, drain.length) > 0);
  for (let i = 1; i < fds.length; i++) {
    if (set.readInt16LE(8 * i + 6) !== 0) port.postMessage(reap(fds[i], children.get(fds[i])))
  }
}
`

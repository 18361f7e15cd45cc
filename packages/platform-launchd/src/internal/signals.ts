/**
 * Signals as macOS numbers them (what `launchctl print` reports), and their
 * names in core's vocabulary.
 *
 * @internal
 */
import type { Signal } from "@duende/core"

const darwin: ReadonlyArray<string> = [
  "",
  "SIGHUP",
  "SIGINT",
  "SIGQUIT",
  "SIGILL",
  "SIGTRAP",
  "SIGABRT",
  "SIGEMT",
  "SIGFPE",
  "SIGKILL",
  "SIGBUS",
  "SIGSEGV",
  "SIGSYS",
  "SIGPIPE",
  "SIGALRM",
  "SIGTERM",
  "SIGURG",
  "SIGSTOP",
  "SIGTSTP",
  "SIGCONT",
  "SIGCHLD",
  "SIGTTIN",
  "SIGTTOU",
  "SIGIO",
  "SIGXCPU",
  "SIGXFSZ",
  "SIGVTALRM",
  "SIGPROF",
  "SIGWINCH",
  "SIGINFO",
  "SIGUSR1",
  "SIGUSR2"
]

const known = new Set<string>([
  "SIGHUP",
  "SIGINT",
  "SIGQUIT",
  "SIGABRT",
  "SIGKILL",
  "SIGUSR1",
  "SIGSEGV",
  "SIGUSR2",
  "SIGPIPE",
  "SIGALRM",
  "SIGTERM",
  "SIGCHLD",
  "SIGCONT",
  "SIGSTOP",
  "SIGTSTP"
])

/** The name of a macOS signal number ("SIGBUS"), if it is one. */
export const darwinName = (n: number): string | undefined => (n > 0 && n < darwin.length ? darwin[n] : undefined)

/** Core's `Signal` for a macOS signal number, when core knows that signal. */
export const toSignal = (n: number): Signal.Signal | undefined => {
  const name = darwinName(n)
  return name !== undefined && known.has(name) ? (name as Signal.Signal) : undefined
}

/** macOS's strsignal texts, as `launchctl print` writes them before the number ("Terminated: 15"). */
const descriptions: Readonly<Record<string, string>> = {
  "Hangup": "SIGHUP",
  "Interrupt": "SIGINT",
  "Quit": "SIGQUIT",
  "Illegal instruction": "SIGILL",
  "Trace/BPT trap": "SIGTRAP",
  "Abort trap": "SIGABRT",
  "EMT trap": "SIGEMT",
  "Floating point exception": "SIGFPE",
  "Killed": "SIGKILL",
  "Bus error": "SIGBUS",
  "Segmentation fault": "SIGSEGV",
  "Bad system call": "SIGSYS",
  "Broken pipe": "SIGPIPE",
  "Alarm clock": "SIGALRM",
  "Terminated": "SIGTERM",
  "User defined signal 1": "SIGUSR1",
  "User defined signal 2": "SIGUSR2"
}

/** The macOS number of a signal named by its strsignal text, if known. */
export const numberOfDescription = (text: string): number | undefined => {
  const name = descriptions[text]
  if (name === undefined) return undefined
  const n = darwin.indexOf(name)
  return n > 0 ? n : undefined
}

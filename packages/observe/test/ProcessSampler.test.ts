// The sampler's arithmetic on a scripted process table, with TestClock for time.
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/TestClock"
import * as ProcessSampler from "../src/ProcessSampler.js"
import * as ProcessSource from "../src/ProcessSource.js"

type Proc = { pid: number; ppid: number; sid?: number; cpu: number; children?: number; rss?: number; startedAt?: number; state?: string }

const scripted = () => {
  const table = new Map<number, Proc>()
  const reading = (p: Proc): ProcessSource.Reading => ({
    pid: p.pid,
    ppid: p.ppid,
    sid: p.sid,
    command: `p${p.pid}`,
    state: p.state ?? "S",
    startedAt: p.startedAt ?? -1_000_000,
    cpuSeconds: p.cpu,
    childrenCpuSeconds: p.children ?? 0,
    residentBytes: p.rss ?? 1000,
    virtualBytes: 5000,
    threads: 2,
    openFds: 4,
    ioReadBytes: 10,
    ioWriteBytes: 20,
    diskReadBytes: undefined,
    diskWriteBytes: 1
  })
  const source: ProcessSource.ProcessSource = {
    kind: "procfs",
    read: (pids) =>
      Effect.sync(() => pids.flatMap((pid) => (table.has(pid) ? [reading(table.get(pid)!)] : []))),
    table: Effect.sync(() => [...table.values()].map((p) => ({ pid: p.pid, ppid: p.ppid, sid: p.sid, state: p.state ?? "S" })))
  }
  const set = (p: Proc) => void table.set(p.pid, p)
  const kill = (pid: number) => void table.delete(pid)
  const sampler = (options?: ProcessSampler.Options) =>
    Effect.provideService(ProcessSampler.make(options), ProcessSource.ProcessSource, source)
  return { set, kill, sampler }
}

const advance = (ms: number) => TestClock.adjust(Duration.millis(ms))

describe("ProcessSampler: cpu % from deltas", () => {
  it.effect("the first sample has no cpu %; the next one is cpu time used / time passed", () =>
    Effect.gen(function*() {
      const { set, sampler } = scripted()
      const s = yield* sampler()
      set({ pid: 10, ppid: 1, cpu: 4 })
      const first = yield* s.sample(10)
      expect(first.cpuPercent).toBeUndefined()
      expect(first.cpuSeconds).toBe(4)
      yield* advance(2_000)
      set({ pid: 10, ppid: 1, cpu: 5 })
      const second = yield* s.sample(10)
      expect(second.cpuPercent).toBeCloseTo(50)
      expect(second.sampledAt).toBe(2_000)
      yield* advance(1_000)
      set({ pid: 10, ppid: 1, cpu: 7 }) // two cores busy
      expect((yield* s.sample(10)).cpuPercent).toBeCloseTo(200)
    }))

  it.effect("a sample sooner than minInterval repeats the last cpu % and keeps the older baseline", () =>
    Effect.gen(function*() {
      const { set, sampler } = scripted()
      const s = yield* sampler({ minInterval: "1 second" })
      set({ pid: 10, ppid: 1, cpu: 0 })
      yield* s.sample(10)
      yield* advance(100)
      set({ pid: 10, ppid: 1, cpu: 0.1 })
      expect((yield* s.sample(10)).cpuPercent).toBeUndefined()
      yield* advance(900)
      set({ pid: 10, ppid: 1, cpu: 0.25 })
      expect((yield* s.sample(10)).cpuPercent).toBeCloseTo(25) // over the whole second
      yield* advance(300)
      set({ pid: 10, ppid: 1, cpu: 0.55 })
      expect((yield* s.sample(10)).cpuPercent).toBeCloseTo(25) // repeated, not 100
    }))

  it.effect("a reused pid (another start time) starts over", () =>
    Effect.gen(function*() {
      const { set, sampler } = scripted()
      const s = yield* sampler()
      set({ pid: 10, ppid: 1, cpu: 100, startedAt: -50_000 })
      yield* s.sample(10)
      yield* advance(1_000)
      set({ pid: 10, ppid: 1, cpu: 0.2, startedAt: 500 })
      expect((yield* s.sample(10)).cpuPercent).toBeUndefined()
      yield* advance(1_000)
      set({ pid: 10, ppid: 1, cpu: 0.7, startedAt: 500 })
      expect((yield* s.sample(10)).cpuPercent).toBeCloseTo(50)
    }))

  it.effect("a missing process fails with ProcessNotFound and is forgotten", () =>
    Effect.gen(function*() {
      const { set, kill, sampler } = scripted()
      const s = yield* sampler()
      set({ pid: 10, ppid: 1, cpu: 1 })
      yield* s.sample(10)
      kill(10)
      const error = yield* Effect.flip(s.sample(10))
      expect(error._tag).toBe("ProcessNotFound")
      expect(error.message).toBe("no process with pid 10")
      yield* advance(1_000)
      set({ pid: 10, ppid: 1, cpu: 2 })
      expect((yield* s.sample(10)).cpuPercent).toBeUndefined()
    }))

  it.effect("forget and the retention sweep drop baselines", () =>
    Effect.gen(function*() {
      const { set, sampler } = scripted()
      const s = yield* sampler({ retention: "1 minute" })
      set({ pid: 10, ppid: 1, cpu: 1 })
      set({ pid: 11, ppid: 1, cpu: 1 })
      yield* s.sample(10)
      yield* s.sample(11)
      yield* s.forget(10)
      yield* advance(1_000)
      expect((yield* s.sample(10)).cpuPercent).toBeUndefined()
      expect((yield* s.sample(11)).cpuPercent).toBeCloseTo(0)
      yield* advance(61_000)
      yield* s.sample(10) // sweeps 11's baseline, a minute old
      expect((yield* s.sample(11)).cpuPercent).toBeUndefined()
    }))
})

describe("ProcessSampler: process trees", () => {
  it.effect("sums the tree, counts its session and leaves the sampling process out", () =>
    Effect.gen(function*() {
      const { set, sampler } = scripted()
      const s = yield* sampler()
      set({ pid: 100, ppid: 1, sid: 100, cpu: 1, rss: 1000 })
      set({ pid: 101, ppid: 100, sid: 100, cpu: 1, rss: 2000 })
      set({ pid: 102, ppid: 101, sid: 555, cpu: 1, rss: 4000 }) // left the session, still a descendant
      set({ pid: 103, ppid: 1, sid: 100, cpu: 1, rss: 8000 }) // re-parented orphan, still in the session
      set({ pid: 200, ppid: 1, sid: 200, cpu: 1, rss: 16000 }) // someone else
      set({ pid: process.pid, ppid: 100, sid: 100, cpu: 1, rss: 32000 }) // the sampler itself
      const tree = yield* s.sampleTree(100)
      expect([...tree.pids].sort()).toEqual([100, 101, 102, 103])
      expect(tree.residentBytes).toBe(15000)
      expect(tree.threads).toBe(8)
      expect(tree.openFds).toBe(16)
      expect(tree.diskReadBytes).toBeUndefined()
      expect(tree.diskWriteBytes).toBe(4)
      expect(tree.command).toBe("p100")
      // Not a session leader: descendants only.
      set({ pid: 300, ppid: 1, sid: 1, cpu: 0 })
      set({ pid: 301, ppid: 1, sid: 1, cpu: 0 })
      expect((yield* s.sampleTree(300)).pids).toEqual([300])
    }))

  it.effect("cpu % counts a child born in the window, and a child's work is not counted twice when it is reaped", () =>
    Effect.gen(function*() {
      const { kill, set, sampler } = scripted()
      const s = yield* sampler()
      set({ pid: 100, ppid: 1, cpu: 1, children: 0 })
      set({ pid: 101, ppid: 100, cpu: 3 })
      yield* s.sampleTree(100)
      yield* advance(1_000)
      // In this second: the root used 0.1 s, child 101 0.2 s, and a new child 102 (born at 500 ms) 0.3 s.
      set({ pid: 100, ppid: 1, cpu: 1.1, children: 0 })
      set({ pid: 101, ppid: 100, cpu: 3.2 })
      set({ pid: 102, ppid: 100, cpu: 0.3, startedAt: 500 })
      expect((yield* s.sampleTree(100)).cpuPercent).toBeCloseTo(60)
      yield* advance(1_000)
      // 101 used 0.1 s more, exited and was reaped by the root: its 3.3 s now show in the root's children time.
      kill(101)
      set({ pid: 100, ppid: 1, cpu: 1.1, children: 3.3 })
      set({ pid: 102, ppid: 100, cpu: 0.3, startedAt: 500 })
      const after = yield* s.sampleTree(100)
      expect(after.cpuPercent).toBeCloseTo(10)
      expect(after.cpuSeconds).toBeCloseTo(1.1 + 3.3 + 0.3)
    }))

  it.effect("a single-process sample leaves children time out", () =>
    Effect.gen(function*() {
      const { set, sampler } = scripted()
      const s = yield* sampler()
      set({ pid: 100, ppid: 1, cpu: 1, children: 0 })
      yield* s.sample(100)
      yield* advance(1_000)
      set({ pid: 100, ppid: 1, cpu: 1.25, children: 9 })
      const sample = yield* s.sample(100)
      expect(sample.cpuPercent).toBeCloseTo(25)
      expect(sample.cpuSeconds).toBe(1.25)
    }))

  it.effect("a tree whose root is gone is not found", () =>
    Effect.gen(function*() {
      const { set, sampler } = scripted()
      const s = yield* sampler()
      set({ pid: 101, ppid: 1, cpu: 1 })
      expect((yield* Effect.flip(s.sampleTree(100)))._tag).toBe("ProcessNotFound")
    }))
})

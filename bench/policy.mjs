// @duende/policy side by side with the resilience libraries people use, in one process, interleaved
// rounds (medians of --rounds, default 5, after two warm-up rounds). Every row makes guarded calls of
// the same async function, `work = async () => 1`, one after another (each awaited before the
// next), and reports nanoseconds per call, calls per second, the overhead over the bare call
// (`await work()` in the same loop) and ratios against the bare call and against the section's
// peer (cockatiel, or rate-limiter-flexible for the rate limiter). A run is --calls calls (default
// 200,000), except for a row so slow that it would take longer than --budget-ms (default 200 ms)
// a run: it makes fewer (at least 10,000; "calls/run" in the table), fixed by the warm-up, so
// that the whole bench stays under a minute (ns/call does not depend on the count).
//
// Two rows per Duende policy, for its two kinds of user:
//   - "duende promise()": the Promise facade (`CircuitBreaker.promise(…).execute(() => work())`,
//     `Backpressure.promise`, `RateLimiter.promise`), what a class-style user calls;
//   - "duende Effect": the Effect API (`breaker.execute(Effect.tryPromise(work))`, …) in one
//     `Effect.runPromise` of a generator looping --calls times, how an Effect user pays. Next to
//     it, "Effect, no policy" is the same loop around `Effect.tryPromise(work)` alone: the part of
//     the Effect rows that is Effect's own, not the policy's ("policy +ns" is measured against it).
//     The guarded effect is built per call (`yield* breaker.execute(workEffect)` in the loop).
//
// Sections and what stays different between the libraries:
//   1. Circuit breaker, closed, every call succeeds. Duende `threshold: { failures: 5 }` in a 10 s
//      window; cockatiel `circuitBreaker(handleAll, { halfOpenAfter, breaker: new
//      ConsecutiveBreaker(5) })`; opossum `new CircuitBreaker(work, { timeout: false,
//      volumeThreshold: 5, errorThresholdPercentage: 50 })`. opossum's `timeout` (default 10 s, a
//      timer per call) is off, as neither of the others has one; its other defaults stay (an
//      event per call, rolling stats with a latency per call, a snapshot of them every second).
//      Duende counts failures in a sliding window, cockatiel consecutive failures, opossum a
//      ratio over 10 s buckets. Duende's window is at most 1,001 slices of counts (with a
//      `failures` threshold a success is not even recorded), so its memory does not grow with
//      the calls.
//   2. Circuit breaker, open: each breaker opened by 5 failed calls (cooldown 1 hour), then every
//      call is refused at once, with a new error each (BreakerOpen, BrokenCircuitError, opossum's
//      "Breaker is open"); `work` never runs. Duende also counts the refusal in a metric.
//   3. Bulkhead, a slot free: maxConcurrent 10, maxQueued 1,000, calls one at a time (never queued).
//      Duende `Backpressure`, cockatiel `bulkhead(10, 1000)`.
//   4. Bulkhead, saturated: the same bulkheads, calls in batches of 1,000 at once (Promise.all,
//      or Effect.forEach with unbounded concurrency, a fiber each): 10 run, 990 queue (FIFO), none
//      is shed. The bare row is the same batches of `work()` with no bulkhead. "Effect, no
//      policy" here is mostly Effect.forEach running 1,000 fibers at once, which costs Effect far
//      more per fiber than a few at a time do: read the Effect row's "policy +ns" column.
//   5. Rate limiter, admitted, one key: a limit so high (1e9 per second) that every call is
//      admitted; each call is `acquire` then `await work()`. Duende: a token bucket, fail mode
//      (`onLimit: "fail"`, the default). rate-limiter-flexible `RateLimiterMemory({ points: 1e9,
//      duration: 1 }).consume(key)`: a fixed window counter, not a bucket, and a result object per
//      call. limiter `RateLimiter({ fireImmediately: true }).removeTokens(1)` (its fail mode:
//      resolves to -1 when refused; a fixed window over a bucket) and `TokenBucket` (its
//      `tryRemoveTokens`, synchronous, against Duende's synchronous `tryAcquire`). limiter has
//      no keys.
//   6. Rate limiter, admitted, 1,000 keys in turn: Duende (an LRU map of keys, maxKeys 10,000)
//      and rate-limiter-flexible (a Map and one expiry timer per key and window); limiter has no
//      keys, so it is not in this section.
//   7. Rate limiter, refused: capacity 1 (points 1), already taken, refilled once an hour: every
//      call is refused (Duende: a `RateLimited` error, rate-limiter-flexible: a rejected
//      RateLimiterRes, which is not an Error, limiter: -1 or false).
//
// The libraries are not dependencies of Duende: they are installed at run time into a temporary
// prefix (DUENDE_BENCH_POLICY_DIR, default $TMPDIR/duende-bench-policy), as PM2 is for native.mjs.
// @duende/policy is a workspace dependency of bench/package.json (its built dist: build it first).
//
//   node bench/policy.mjs [--calls 200000] [--budget-ms 200] [--rounds 5] [--warmup 2] [--json]
import { execFileSync } from "node:child_process"
import { existsSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { interleave, median, option, percentile } from "./lib.mjs"

const started = process.hrtime.bigint()
const calls = Math.max(1_000, Math.round(option("calls", 200_000) / 1_000) * 1_000)
const rounds = option("rounds", 5)
const warmup = option("warmup", 2)
const budgetMs = option("budget-ms", 200)
const minCalls = Math.min(calls, 10_000)
const json = process.argv.includes("--json")

// --- the libraries: installed into a temporary prefix, never into the repository ----------------
const wanted = { cockatiel: "4", opossum: "10", "rate-limiter-flexible": "11", limiter: "4" }
const prefix = process.env.DUENDE_BENCH_POLICY_DIR ?? join(tmpdir(), "duende-bench-policy")
const require = createRequire(join(prefix, "package.json"))
const manifest = (name) => join(prefix, "node_modules", name, "package.json")
const installed = (name) => existsSync(manifest(name)) && require(manifest(name)).version.split(".")[0] === wanted[name]
const missing = Object.keys(wanted).filter((name) => !installed(name))
if (missing.length > 0) {
  const specs = missing.map((name) => `${name}@${wanted[name]}`)
  process.stderr.write(`installing ${specs.join(" ")} into ${prefix} …\n`)
  execFileSync("npm", ["install", "--prefix", prefix, "--no-audit", "--no-fund", "--loglevel=error", ...specs], {
    stdio: "ignore"
  })
}
const version = (name) => require(manifest(name)).version
// cockatiel 4 is an ES module; the others are CommonJS.
const cockatiel = await import(pathToFileURL(require.resolve("cockatiel")).href)
const Opossum = require("opossum")
const { RateLimiterMemory } = require("rate-limiter-flexible")
const limiter = require("limiter")
const versions = Object.fromEntries(Object.keys(wanted).map((name) => [name, version(name)]))

const { Effect, Schedule } = await import("effect")
// The built package (its dist), through the workspace dependency of bench/package.json.
const { Backpressure, CircuitBreaker, RateLimiter } = await import("@duende/policy").catch((error) => {
  throw new Error(`@duende/policy is not built: npx turbo run build --filter=@duende/policy (${error.message})`)
})

// --- the call every row guards ------------------------------------------------------------------
const work = async () => 1
const boom = new Error("boom")
const fail = async () => {
  throw boom
}
const workEffect = Effect.tryPromise({ try: work, catch: (error) => error })
const failEffect = Effect.tryPromise({ try: fail, catch: (error) => error })

/** ns per call of one run of `body`, which makes `n` calls. */
const time = async (n, body) => {
  const t0 = process.hrtime.bigint()
  await body()
  return Number(process.hrtime.bigint() - t0) / n
}

/**
 * How many calls a case makes per run: --calls, or fewer for a case so slow that --calls would
 * take longer than --budget-ms a run (at least 10,000; a multiple of 1,000, the batch of the
 * saturated bulkhead). The first two warm-up runs make 10,000 calls; the second (warm) one fixes
 * the count, the same for every run after.
 */
const sized = (c) => {
  let n
  let cold = true
  return {
    ...c,
    count: () => n,
    run: async () => {
      if (n !== undefined) return c.run(n)
      const ns = await c.run(minCalls)
      if (cold) cold = false
      else n = Math.max(minCalls, Math.min(calls, Math.floor((budgetMs * 1e6) / ns / 1_000) * 1_000))
      return ns
    }
  }
}
const check = (ok, what) => {
  if (!ok) throw new Error(`bench/policy.mjs: ${what}`)
}

const BARE = "bare call"
const EFFECT_BARE = "Effect, no policy"
const bareCase = {
  name: BARE,
  library: "none",
  api: "promise",
  run: (n) =>
    time(n, async () => {
      for (let i = 0; i < n; i++) await work()
    })
}
const effectBareCase = {
  name: EFFECT_BARE,
  library: "effect",
  api: "effect",
  run: (n) =>
    time(n, () =>
      Effect.runPromise(Effect.gen(function*() {
        for (let i = 0; i < n; i++) yield* workEffect
      }))
    )
}

// --- output -------------------------------------------------------------------------------------
const sections = []
const section = async (title, peer, plain) => {
  const cases = plain.map(sized)
  const samples = await interleave(cases, rounds, Math.max(2, warmup))
  const bare = median(samples[BARE])
  const effectBare = samples[EFFECT_BARE] ? median(samples[EFFECT_BARE]) : undefined
  const peerMedian = median(samples[peer])
  const rows = cases.map((c) => {
    const m = median(samples[c.name])
    const base = c.api === "effect" && c.name !== EFFECT_BARE && effectBare !== undefined ? effectBare : bare
    return {
      name: c.name,
      library: c.library,
      api: c.api,
      calls: c.count(),
      medianNs: m,
      p95Ns: percentile(samples[c.name], 95),
      opsPerSec: 1e9 / m,
      overheadNs: m - bare,
      policyNs: c.name === BARE || c.name === EFFECT_BARE ? 0 : m - base,
      ratio: m / bare,
      vsPeer: m / peerMedian
    }
  })
  const result = { benchmark: `policy: ${title}`, unit: "ns/call", runs: rounds, baseline: BARE, peer, rows }
  sections.push(result)
  if (json) {
    process.stdout.write(`${JSON.stringify(result)}\n`)
    return rows
  }
  const width = Math.max(...rows.map((r) => r.name.length))
  const num = (x, digits = 0) => (Number.isFinite(x) ? x.toFixed(digits) : "—")
  const rate = (x) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : `${(x / 1e3).toFixed(0)}k`)
  console.log(`\n${title} (medians of ${rounds} interleaved runs)`)
  console.log(
    `  ${"".padEnd(width)}  ${"calls/run".padStart(9)}  ${"ns/call".padStart(8)} ${"p95".padStart(7)}  ${"calls/s".padStart(8)}  ${"+ns vs bare".padStart(11)}  ${"policy +ns".padStart(10)}  ${"×bare".padStart(7)}  vs ${peer}`
  )
  for (const r of rows) {
    console.log(
      `  ${r.name.padEnd(width)}  ${r.calls.toLocaleString("en").padStart(9)}  ${num(r.medianNs).padStart(8)} ${num(r.p95Ns).padStart(7)}  ${rate(r.opsPerSec).padStart(8)}  ${num(r.overheadNs).padStart(11)}  ${num(r.policyNs).padStart(10)}  ${r.ratio.toFixed(2).padStart(7)}  ${r.vsPeer.toFixed(2)}x`
    )
  }
  return rows
}

const COCKATIEL = `cockatiel ${versions.cockatiel}`
const OPOSSUM = `opossum ${versions.opossum}`
const RLF = `rate-limiter-flexible ${versions["rate-limiter-flexible"]}`
const LIMITER = `limiter ${versions.limiter}`
const HOUR = 3_600_000

// --- 1. circuit breaker, closed -----------------------------------------------------------------
const breakerOptions = (name) => ({
  name,
  threshold: { failures: 5 },
  window: "10 seconds",
  cooldown: Schedule.spaced("1 hour")
})
const cockatielBreaker = () =>
  cockatiel.circuitBreaker(cockatiel.handleAll, { halfOpenAfter: HOUR, breaker: new cockatiel.ConsecutiveBreaker(5) })
const opossumBreaker = (action) =>
  new Opossum(action, { timeout: false, volumeThreshold: 5, errorThresholdPercentage: 50, resetTimeout: HOUR })
const opossums = []

{
  const duendeP = CircuitBreaker.promise(breakerOptions("bench-closed-promise"))
  const duendeE = Effect.runSync(CircuitBreaker.make(breakerOptions("bench-closed-effect")))
  const cock = cockatielBreaker()
  const opo = opossumBreaker(work)
  opossums.push(opo)
  await section("Circuit breaker, closed (calls succeed)", COCKATIEL, [
    bareCase,
    {
      name: COCKATIEL,
      library: "cockatiel",
      api: "promise",
      run: (n) =>
        time(n, async () => {
          for (let i = 0; i < n; i++) await cock.execute(work)
        })
    },
    {
      name: OPOSSUM,
      library: "opossum",
      api: "promise",
      run: (n) =>
        time(n, async () => {
          for (let i = 0; i < n; i++) await opo.fire()
        })
    },
    {
      name: "duende promise()",
      library: "@duende/policy",
      api: "promise",
      run: (n) =>
        time(n, async () => {
          for (let i = 0; i < n; i++) await duendeP.execute(work)
        })
    },
    effectBareCase,
    {
      name: "duende Effect",
      library: "@duende/policy",
      api: "effect",
      run: (n) =>
        time(n, () =>
          Effect.runPromise(Effect.gen(function*() {
            for (let i = 0; i < n; i++) yield* duendeE.execute(workEffect)
          }))
        )
    }
  ])
  check(duendeP.state()._tag === "Closed", "duende promise breaker left closed")
  check(Effect.runSync(duendeE.state)._tag === "Closed", "duende breaker left closed")
  check(cock.state === cockatiel.CircuitState.Closed, "cockatiel breaker left closed")
  check(opo.closed, "opossum breaker left closed")
}

// --- 2. circuit breaker, open -------------------------------------------------------------------
{
  const duendeP = CircuitBreaker.promise(breakerOptions("bench-open-promise"))
  const duendeE = Effect.runSync(CircuitBreaker.make(breakerOptions("bench-open-effect")))
  const cock = cockatielBreaker()
  // opossum wraps one action: it fails while `failing`, to open it, and would succeed after.
  let failing = true
  const opo = opossumBreaker(() => (failing ? fail() : work()))
  opossums.push(opo)
  for (let i = 0; i < 5; i++) {
    await duendeP.execute(fail).catch(() => {})
    await Effect.runPromise(Effect.either(duendeE.execute(failEffect)))
    await cock.execute(fail).catch(() => {})
    await opo.fire().catch(() => {})
  }
  failing = false
  const refusal = async (execute) => {
    try {
      await execute()
    } catch (error) {
      return error
    }
    throw new Error("bench/policy.mjs: an open breaker let a call through")
  }
  check((await refusal(() => duendeP.execute(work)))._tag === "BreakerOpen", "duende promise breaker open")
  check(Effect.runSync(duendeE.state)._tag === "Open", "duende breaker open")
  check((await refusal(() => cock.execute(work))) instanceof cockatiel.BrokenCircuitError, "cockatiel breaker open")
  check((await refusal(() => opo.fire())).code === "EOPENBREAKER", "opossum breaker open")

  let refused = 0
  const refusedAll = (body) => async (n) => {
    refused = 0
    const ns = await time(n, () => body(n))
    check(refused === n, `every call refused (${refused} of ${n})`)
    return ns
  }
  await section("Circuit breaker, open (calls refused at once)", COCKATIEL, [
    bareCase,
    {
      name: COCKATIEL,
      library: "cockatiel",
      api: "promise",
      run: refusedAll(async (n) => {
        for (let i = 0; i < n; i++) {
          try {
            await cock.execute(work)
          } catch {
            refused++
          }
        }
      })
    },
    {
      name: OPOSSUM,
      library: "opossum",
      api: "promise",
      run: refusedAll(async (n) => {
        for (let i = 0; i < n; i++) {
          try {
            await opo.fire()
          } catch {
            refused++
          }
        }
      })
    },
    {
      name: "duende promise()",
      library: "@duende/policy",
      api: "promise",
      run: refusedAll(async (n) => {
        for (let i = 0; i < n; i++) {
          try {
            await duendeP.execute(work)
          } catch {
            refused++
          }
        }
      })
    },
    {
      ...effectBareCase,
      run: (n) =>
        time(n, () =>
          Effect.runPromise(Effect.gen(function*() {
            for (let i = 0; i < n; i++) yield* Effect.either(workEffect)
          }))
        )
    },
    {
      name: "duende Effect",
      library: "@duende/policy",
      api: "effect",
      run: refusedAll((n) =>
        Effect.runPromise(Effect.gen(function*() {
          for (let i = 0; i < n; i++) {
            const result = yield* Effect.either(duendeE.execute(workEffect))
            if (result._tag === "Left") refused++
          }
        }))
      )
    }
  ])
}

// --- 3 and 4. bulkhead --------------------------------------------------------------------------
{
  const bulkheadOptions = (name) => ({ name, maxConcurrent: 10, maxQueued: 1_000 })
  const duendeP = Backpressure.promise(bulkheadOptions("bench-bulkhead-promise"))
  const duendeE = Effect.runSync(Backpressure.make(bulkheadOptions("bench-bulkhead-effect")))
  const cock = cockatiel.bulkhead(10, 1_000)
  const idle = () => {
    const p = duendeP.stats()
    const e = Effect.runSync(duendeE.stats)
    return p.active + p.queued + e.active + e.queued + cock.executionSlots - 10 + cock.queueSlots - 1_000 === 0
  }

  await section("Bulkhead, a slot free (calls one at a time)", COCKATIEL, [
    bareCase,
    {
      name: COCKATIEL,
      library: "cockatiel",
      api: "promise",
      run: (n) =>
        time(n, async () => {
          for (let i = 0; i < n; i++) await cock.execute(work)
        })
    },
    {
      name: "duende promise()",
      library: "@duende/policy",
      api: "promise",
      run: (n) =>
        time(n, async () => {
          for (let i = 0; i < n; i++) await duendeP.execute(work)
        })
    },
    effectBareCase,
    {
      name: "duende Effect",
      library: "@duende/policy",
      api: "effect",
      run: (n) =>
        time(n, () =>
          Effect.runPromise(Effect.gen(function*() {
            for (let i = 0; i < n; i++) yield* duendeE.execute(workEffect)
          }))
        )
    }
  ])
  check(idle(), "bulkheads idle after the sequential calls")

  const batch = 1_000
  const slots = Array.from({ length: batch }, (_, i) => i)
  await section("Bulkhead, saturated (batches of 1,000 calls at once; 10 run, 990 queue)", COCKATIEL, [
    {
      name: BARE,
      library: "none",
      api: "promise",
      run: (n) =>
        time(n, async () => {
          for (let b = 0; b < n / batch; b++) await Promise.all(slots.map(() => work()))
        })
    },
    {
      name: COCKATIEL,
      library: "cockatiel",
      api: "promise",
      run: (n) =>
        time(n, async () => {
          for (let b = 0; b < n / batch; b++) await Promise.all(slots.map(() => cock.execute(work)))
        })
    },
    {
      name: "duende promise()",
      library: "@duende/policy",
      api: "promise",
      run: (n) =>
        time(n, async () => {
          for (let b = 0; b < n / batch; b++) await Promise.all(slots.map(() => duendeP.execute(work)))
        })
    },
    {
      name: EFFECT_BARE,
      library: "effect",
      api: "effect",
      run: (n) =>
        time(n, () =>
          Effect.runPromise(Effect.gen(function*() {
            for (let b = 0; b < n / batch; b++) {
              yield* Effect.forEach(slots, () => workEffect, { concurrency: "unbounded", discard: true })
            }
          }))
        )
    },
    {
      name: "duende Effect",
      library: "@duende/policy",
      api: "effect",
      run: (n) =>
        time(n, () =>
          Effect.runPromise(Effect.gen(function*() {
            for (let b = 0; b < n / batch; b++) {
              yield* Effect.forEach(slots, () => duendeE.execute(workEffect), { concurrency: "unbounded", discard: true })
            }
          }))
        )
    }
  ])
  check(idle(), "bulkheads idle after the batches")
}

// --- 5, 6 and 7. rate limiter -------------------------------------------------------------------
{
  const lots = 1_000_000_000
  const bucket = (name, capacity, tokens, every) => ({
    name,
    algorithm: { _tag: "TokenBucket", capacity, refill: { tokens, every } }
  })
  const duendeP = RateLimiter.promise(bucket("bench-limit-promise", lots, lots, "1 second"))
  const duendeE = Effect.runSync(RateLimiter.make(bucket("bench-limit-effect", lots, lots, "1 second")))
  const flexible = new RateLimiterMemory({ points: lots, duration: 1 })
  const limiterRL = new limiter.RateLimiter({ tokensPerInterval: lots, interval: "second", fireImmediately: true })
  const limiterTB = new limiter.TokenBucket({ bucketSize: lots, tokensPerInterval: lots, interval: "second" })
  await new Promise((resolve) => setTimeout(resolve, 1_100)) // limiter's TokenBucket starts empty: let it fill

  await section("Rate limiter, admitted, one key (acquire, then the call)", RLF, [
    bareCase,
    {
      name: RLF,
      library: "rate-limiter-flexible",
      api: "promise",
      run: (n) =>
        time(n, async () => {
          for (let i = 0; i < n; i++) {
            await flexible.consume("default")
            await work()
          }
        })
    },
    {
      name: `${LIMITER} RateLimiter`,
      library: "limiter",
      api: "promise",
      run: (n) =>
        time(n, async () => {
          for (let i = 0; i < n; i++) {
            if ((await limiterRL.removeTokens(1)) < 0) throw new Error("limiter refused")
            await work()
          }
        })
    },
    {
      name: `${LIMITER} TokenBucket (sync)`,
      library: "limiter",
      api: "sync",
      run: (n) =>
        time(n, async () => {
          for (let i = 0; i < n; i++) {
            if (!limiterTB.tryRemoveTokens(1)) throw new Error("limiter refused")
            await work()
          }
        })
    },
    {
      name: "duende promise()",
      library: "@duende/policy",
      api: "promise",
      run: (n) =>
        time(n, async () => {
          for (let i = 0; i < n; i++) {
            await duendeP.acquire()
            await work()
          }
        })
    },
    {
      name: "duende tryAcquire (sync)",
      library: "@duende/policy",
      api: "sync",
      run: (n) =>
        time(n, async () => {
          for (let i = 0; i < n; i++) {
            if (!duendeP.tryAcquire()) throw new Error("duende refused")
            await work()
          }
        })
    },
    effectBareCase,
    {
      name: "duende Effect",
      library: "@duende/policy",
      api: "effect",
      run: (n) =>
        time(n, () =>
          Effect.runPromise(Effect.gen(function*() {
            for (let i = 0; i < n; i++) {
              yield* duendeE.acquire()
              yield* workEffect
            }
          }))
        )
    }
  ])

  const keys = Array.from({ length: 1_000 }, (_, i) => `client-${i}`)
  await section("Rate limiter, admitted, 1,000 keys in turn", RLF, [
    bareCase,
    {
      name: RLF,
      library: "rate-limiter-flexible",
      api: "promise",
      run: (n) =>
        time(n, async () => {
          for (let i = 0; i < n; i++) {
            await flexible.consume(keys[i % 1_000])
            await work()
          }
        })
    },
    {
      name: "duende promise()",
      library: "@duende/policy",
      api: "promise",
      run: (n) =>
        time(n, async () => {
          for (let i = 0; i < n; i++) {
            await duendeP.acquire(keys[i % 1_000])
            await work()
          }
        })
    },
    {
      name: "duende tryAcquire (sync)",
      library: "@duende/policy",
      api: "sync",
      run: (n) =>
        time(n, async () => {
          for (let i = 0; i < n; i++) {
            if (!duendeP.tryAcquire(keys[i % 1_000])) throw new Error("duende refused")
            await work()
          }
        })
    },
    effectBareCase,
    {
      name: "duende Effect",
      library: "@duende/policy",
      api: "effect",
      run: (n) =>
        time(n, () =>
          Effect.runPromise(Effect.gen(function*() {
            for (let i = 0; i < n; i++) {
              yield* duendeE.acquire(keys[i % 1_000])
              yield* workEffect
            }
          }))
        )
    }
  ])

  // Refused: capacity 1, taken now, one token an hour.
  const duendePR = RateLimiter.promise(bucket("bench-refuse-promise", 1, 1, "1 hour"))
  const duendeER = Effect.runSync(RateLimiter.make(bucket("bench-refuse-effect", 1, 1, "1 hour")))
  const flexibleR = new RateLimiterMemory({ points: 1, duration: 3_600 })
  const limiterRLR = new limiter.RateLimiter({ tokensPerInterval: 1, interval: "hour", fireImmediately: true })
  const limiterTBR = new limiter.TokenBucket({ bucketSize: 1, tokensPerInterval: 1, interval: "hour" }) // starts empty
  await duendePR.acquire()
  await Effect.runPromise(duendeER.acquire())
  await flexibleR.consume("default")
  await limiterRLR.removeTokens(1)
  let refused = 0
  const refusedAll = (body) => async (n) => {
    refused = 0
    const ns = await time(n, () => body(n))
    check(refused === n, `every call refused (${refused} of ${n})`)
    return ns
  }
  await section("Rate limiter, refused (over the limit, one key)", RLF, [
    bareCase,
    {
      name: RLF,
      library: "rate-limiter-flexible",
      api: "promise",
      run: refusedAll(async (n) => {
        for (let i = 0; i < n; i++) {
          try {
            await flexibleR.consume("default")
            await work()
          } catch {
            refused++
          }
        }
      })
    },
    {
      name: `${LIMITER} RateLimiter`,
      library: "limiter",
      api: "promise",
      run: refusedAll(async (n) => {
        for (let i = 0; i < n; i++) {
          if ((await limiterRLR.removeTokens(1)) < 0) refused++
          else await work()
        }
      })
    },
    {
      name: `${LIMITER} TokenBucket (sync)`,
      library: "limiter",
      api: "sync",
      run: refusedAll(async (n) => {
        for (let i = 0; i < n; i++) {
          if (!limiterTBR.tryRemoveTokens(1)) refused++
          else await work()
        }
      })
    },
    {
      name: "duende promise()",
      library: "@duende/policy",
      api: "promise",
      run: refusedAll(async (n) => {
        for (let i = 0; i < n; i++) {
          try {
            await duendePR.acquire()
            await work()
          } catch {
            refused++
          }
        }
      })
    },
    {
      name: "duende tryAcquire (sync)",
      library: "@duende/policy",
      api: "sync",
      run: refusedAll(async (n) => {
        for (let i = 0; i < n; i++) {
          if (!duendePR.tryAcquire()) refused++
          else await work()
        }
      })
    },
    {
      ...effectBareCase,
      run: (n) =>
        time(n, () =>
          Effect.runPromise(Effect.gen(function*() {
            for (let i = 0; i < n; i++) yield* Effect.either(workEffect)
          }))
        )
    },
    {
      name: "duende Effect",
      library: "@duende/policy",
      api: "effect",
      run: refusedAll((n) =>
        Effect.runPromise(Effect.gen(function*() {
          for (let i = 0; i < n; i++) {
            const result = yield* Effect.either(Effect.zipRight(duendeER.acquire(), workEffect))
            if (result._tag === "Left") refused++
          }
        }))
      )
    }
  ])
}

for (const breaker of opossums) breaker.shutdown()
const seconds = Number(process.hrtime.bigint() - started) / 1e9
if (json) {
  process.stdout.write(`${JSON.stringify({ benchmark: "policy", calls, budgetMs, runs: rounds, seconds, node: process.version, versions })}\n`)
} else {
  const duende = (s, api) => s.rows.find((r) => r.library === "@duende/policy" && r.api === api)
  console.log(`\nAgainst the peer (peer's ns/call ÷ Duende's; above 1: Duende is faster), ${seconds.toFixed(1)} s in all:`)
  for (const s of sections) {
    const peer = s.rows.find((r) => r.name === s.peer)
    const parts = ["promise", "sync", "effect"].map((api) => duende(s, api)).filter(Boolean)
      .map((r) => `${r.name} ${(peer.medianNs / r.medianNs).toFixed(2)}x`)
    console.log(`  ${s.benchmark.replace(/^policy: /, "").padEnd(72)} vs ${s.peer}: ${parts.join(", ")}`)
  }
}
process.exit(0)

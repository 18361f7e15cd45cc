/**
 * The `effect/Schema` definitions of the daemon config, for code that composes
 * with Schema (platform packages, tools). Daemons do not need this entry:
 * `DaemonConfig.decode`/`load` load it on demand, which keeps Schema out of a
 * daemon's cold start.
 *
 * ```ts
 * import { DaemonConfig, decodeSync } from "@duende/core/DaemonConfigSchema"
 * ```
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as JSONSchema from "effect/JSONSchema"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { ConfigError } from "./ConfigError.js"
import { formatIssues } from "./internal/configIssues.js"
import { daemonNamePattern, defaults } from "./internal/defaults.js"
import { cronProblem } from "./internal/cronSchedule.js"
import * as EnvText from "./internal/envText.js"
import { inputShapeProblems } from "./internal/inputShape.js"
import {
  Bool,
  BoundedText,
  ByteSize,
  DurationInput,
  hasLoneSurrogate,
  Instances,
  Int,
  maxArgBytes,
  Num,
  OneOf,
  PathText,
  show,
  Text,
  utf8Bytes,
  withDefault
} from "./internal/schemas.js"

const expectedName = (issue: { readonly actual: unknown }) => ({
  message: `expected lowercase letters, digits and "-" (1 to 63 characters, starting and ending with a letter or digit, e.g. "my-daemon"), got ${
    show(issue.actual)
  }`,
  override: true
})

/**
 * A daemon name: a DNS label (lowercase letters, digits, `-`; 1–63 characters).
 * The one name is then valid as a systemd unit, a launchd label part, a container
 * name, a Kubernetes object name and a file name.
 *
 * @since 0.1.0
 */
export const DaemonName = Schema.String.pipe(Schema.pattern(daemonNamePattern)).annotations({
  message: expectedName,
  description: "Lowercase letters, digits and '-', 1-63 characters, starting and ending with a letter or digit."
})

const Version = Schema.String.pipe(
  Schema.pattern(/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/)
).annotations({
  message: (issue) => ({ message: `expected a semantic version such as "1.2.3", got ${show(issue.actual)}`, override: true })
})

const EnvName = Schema.String.pipe(Schema.pattern(/^[A-Za-z_][A-Za-z0-9_]*$/)).annotations({
  message: (issue) => ({
    message: `expected an environment variable name (letters, digits, "_", not starting with a digit), got ${
      show(issue.actual)
    }`,
    override: true
  })
})

// Finite numbers and booleans never get here: decodeEither takes them as their text (internal/envText.ts).
const EnvValue = BoundedText({ nonString: (actual) => `expected a string, got ${show(actual)}` })

/** The whole `NAME=value` string must fit in what Linux passes to a program. */
const Env = Schema.Record({ key: EnvName, value: EnvValue }).pipe(
  Schema.filter((env) =>
    Object.entries(env).flatMap(([key, value]) => {
      const bytes = utf8Bytes(key) + 1 + utf8Bytes(value)
      return bytes > maxArgBytes
        ? [{
          path: [key],
          message: `expected NAME=value to take at most ${maxArgBytes} bytes (Linux's longest environment string), got ${bytes}: pass large data in a file instead`
        }]
        : []
    })
  )
)

const ProfileName = Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9_.-]{1,64}$/)).annotations({
  message: (issue) => ({
    message: `expected a profile name (letters, digits, "_", ".", "-", at most 64), got ${show(issue.actual)}`,
    override: true
  })
})

/** A file name or glob-free path part that a watch ignores: `node_modules`, `*.log` (a `*` matches within a name). */
const WatchIgnore = BoundedText({ maxBytes: 255, nonEmpty: true })

const WatchPaths = Schema.Array(PathText).pipe(Schema.minItems(1), Schema.maxItems(64))

const WatchOptions = Schema.Struct({
  paths: Schema.optional(WatchPaths),
  ignore: Schema.optional(Schema.Array(WatchIgnore).pipe(Schema.maxItems(256))),
  debounce: Schema.optional(DurationInput({ min: 1 }))
})

const WatchForms = Schema.Union(Schema.Boolean, WatchPaths, WatchOptions)

/**
 * What a daemon's watch looks at: `false` (the default: nothing), `true` (the
 * working directory), a list of paths, or `{ paths, ignore, debounce }`. Each
 * form is told apart by its type, so a bad one gets the errors of its own form.
 *
 * @since 0.1.0
 */
export const Watch = Schema.transformOrFail(Schema.Unknown, Schema.typeSchema(WatchForms), {
  strict: true,
  decode: (input, options, ast) =>
    typeof input === "boolean"
      ? ParseResult.succeed(input)
      : Array.isArray(input)
      ? ParseResult.decodeUnknown(WatchPaths)(input, options)
      : input !== null && typeof input === "object"
      ? ParseResult.decodeUnknown(WatchOptions)(input, options)
      : ParseResult.fail(
        new ParseResult.Type(ast, input, `expected true, false, a list of paths or { "paths", "ignore", "debounce" }, got ${show(input)}`)
      ),
  encode: (value, options) =>
    typeof value === "boolean"
      ? ParseResult.succeed(value)
      : Array.isArray(value)
      ? ParseResult.encodeUnknown(WatchPaths)(value, options)
      : ParseResult.encodeUnknown(WatchOptions)(value, options)
}).annotations({
  jsonSchema: {
    description: "Restart the daemon when its files change.",
    anyOf: [
      { type: "boolean" },
      { type: "array", items: { type: "string" }, minItems: 1, maxItems: 64 },
      {
        type: "object",
        properties: {
          paths: { type: "array", items: { type: "string" }, minItems: 1, maxItems: 64 },
          ignore: { type: "array", items: { type: "string" }, maxItems: 256 },
          debounce: { anyOf: [{ type: "string" }, { type: "number" }] }
        },
        additionalProperties: false
      }
    ]
  }
})

/** @since 0.1.0 */
export type Watch = Schema.Schema.Type<typeof Watch>

const Account = Schema.String.pipe(Schema.pattern(/^(?:[a-z_][a-z0-9_-]{0,31}|\d{1,10})$/)).annotations({
  message: (issue) => ({
    message: `expected a user or group name (lowercase letters, digits, "_", "-") or a numeric id, got ${
      show(issue.actual)
    }`,
    override: true
  })
})

/**
 * The program to run and its arguments. In a config file either
 * `["node", "server.js"]` or `{ "program": "node", "args": ["server.js"] }`.
 *
 * @since 0.1.0
 */
export const Command = Schema.Struct({
  program: PathText.annotations({ description: "The executable: a path or a name looked up in PATH." }),
  args: withDefault(Schema.Array(Text), () => [])
})

/** @since 0.1.0 */
export type Command = Schema.Schema.Type<typeof Command>

const CommandArray = Schema.Tuple([PathText], Text)

const CommandInput = Schema.transformOrFail(Schema.Unknown, Schema.typeSchema(Command), {
  strict: true,
  decode: (input, options, ast) =>
    Array.isArray(input)
      ? ParseResult.map(ParseResult.decodeUnknown(CommandArray)(input, options), ([program, ...args]) => ({
        program,
        args
      }))
      : input !== null && typeof input === "object"
      ? ParseResult.decodeUnknown(Command)(input, options)
      : ParseResult.fail(
        new ParseResult.Type(
          ast,
          input,
          `expected ["program", "arg", ...] or { "program": ..., "args": [...] }, got ${show(input)}${
            typeof input === "string" ? ` (split it: ${show(input.trim().split(/\s+/))})` : ""
          }`
        )
      ),
  encode: (command) => ParseResult.succeed(command)
}).annotations({
  description: `The command: ["node", "server.js"] or { "program": "node", "args": ["server.js"] }.`,
  jsonSchema: {
    description: `The command: ["node", "server.js"] or { "program": "node", "args": ["server.js"] }.`,
    anyOf: [
      { type: "array", minItems: 1, items: { type: "string", minLength: 1 } },
      {
        type: "object",
        required: ["program"],
        properties: { program: { type: "string", minLength: 1 }, args: { type: "array", items: { type: "string" } } },
        additionalProperties: false
      }
    ]
  }
}) as unknown as Schema.Schema<Command, Schema.Schema.Encoded<typeof Command> | ReadonlyArray<string>>

/**
 * Resource limits, applied by the platform: cgroups under systemd, in
 * containers and natively (a group per daemon where the supervisor may write
 * one; otherwise memory by RSS sampling), rlimits for open files.
 *
 * @since 0.1.0
 */
export const Resources = Schema.Struct({
  memory: Schema.optional(ByteSize("a memory limit")).annotations({ description: "Memory limit (MemoryMax)." }),
  memorySwap: Schema.optional(ByteSize("a swap limit")),
  cpuQuota: Schema.optional(Num(1, 100_000, " (percent of one CPU: 150 = one and a half cores)")),
  cpuWeight: Schema.optional(Int(1, 10_000, " (relative CPU weight, default 100)")),
  ioReadBandwidth: Schema.optional(ByteSize("a read bandwidth per second")),
  ioWriteBandwidth: Schema.optional(ByteSize("a write bandwidth per second")),
  pidsMax: Schema.optional(Int(1, 4_194_304, " (maximum number of processes and threads)")),
  openFilesMax: Schema.optional(Int(1, 1_073_741_816, " (maximum open file descriptors)")),
  lockMemory: withDefault(Bool, () => false).annotations({
    description: "Keep the daemon's memory out of swap: a swap limit of 0 in its cgroup (systemd MemorySwapMax=0, " +
      "containers' swap equal to memory and swappiness 0, natively memory.swap.max=0 or v1 memory.swappiness=0), " +
      "plus LimitMEMLOCK=infinity / memlock ulimits for programs that lock memory themselves. " +
      "Duende does not call mlockall(2) in Node daemons: V8 aborts when it frees a locked page."
  })
})

/** @since 0.1.0 */
export type Resources = Schema.Schema.Type<typeof Resources>

/**
 * The health check: how often the daemon's `health` is called, how long it may
 * take, how many consecutive failures make it unhealthy, and a start period
 * during which failures do not count.
 *
 * @since 0.1.0
 */
export const HealthCheck = Schema.Struct({
  enabled: withDefault(Bool, () => defaults.health.enabled),
  interval: withDefault(DurationInput({ min: 1 }), () => Duration.millis(defaults.health.intervalMs)),
  timeout: withDefault(DurationInput({ min: 1 }), () => Duration.millis(defaults.health.timeoutMs)),
  retries: withDefault(Int(1, 1000, " (consecutive failures before unhealthy)"), () => defaults.health.retries),
  startPeriod: withDefault(DurationInput(), () => Duration.millis(defaults.health.startPeriodMs))
})

/** @since 0.1.0 */
export type HealthCheck = Schema.Schema.Type<typeof HealthCheck>

/**
 * When a stopped daemon is started again.
 * - `never`: not restarted.
 * - `on-failure`: restarted after a non-zero exit, a crash by signal, a missed watchdog or failed health.
 * - `always`: restarted whenever it exits, unless stopped by the user.
 * - `unless-stopped`: as `always`, and also restarted when the supervisor comes back
 *   unless the user had stopped it.
 *
 * @since 0.1.0
 */
export const RestartPolicyName = OneOf("never", "on-failure", "always", "unless-stopped")

/** @since 0.1.0 */
export type RestartPolicyName = Schema.Schema.Type<typeof RestartPolicyName>

/** A cron expression, checked by the parser that runs it (croner): `"0 3 * * *"` is 03:00 every day. */
const CronExpression = Schema.String.pipe(
  Schema.filter((text) => {
    const problem = cronProblem(text)
    return problem === undefined || problem
  })
).annotations({
  message: (issue) => ({
    message: typeof issue.actual === "string"
      ? `expected a cron expression such as "0 3 * * *" (minute hour day month weekday): ${cronProblem(issue.actual) ?? "invalid"}`
      : `expected a cron expression such as "0 3 * * *", got ${show(issue.actual)}`,
    override: true
  }),
  jsonSchema: { type: "string", examples: ["0 3 * * *", "*/15 * * * *"] }
})

/**
 * Restart policy: exponential backoff (initial delay × multiplier^n, capped at
 * max, ± jitter), a crash-loop limit (more than `burst` restarts within
 * `interval` → Failed) and a minimum uptime after which the backoff resets.
 *
 * @since 0.1.0
 */
export const Restart = Schema.Struct({
  policy: withDefault(RestartPolicyName, () => defaults.restart.policy),
  backoff: withDefault(
    Schema.Struct({
      initial: withDefault(DurationInput(), () => Duration.millis(defaults.restart.backoff.initialMs)),
      max: withDefault(DurationInput(), () => Duration.millis(defaults.restart.backoff.maxMs)),
      multiplier: withDefault(Num(1, 100), () => defaults.restart.backoff.multiplier),
      jitter: withDefault(Num(0, 1, " (fraction of the delay, 0.2 = ±20%)"), () => defaults.restart.backoff.jitter)
    }),
    () => ({
      initial: Duration.millis(defaults.restart.backoff.initialMs),
      max: Duration.millis(defaults.restart.backoff.maxMs),
      multiplier: defaults.restart.backoff.multiplier,
      jitter: defaults.restart.backoff.jitter
    })
  ),
  crashLoop: withDefault(
    Schema.Struct({
      burst: withDefault(Int(1, 10_000, " (restarts allowed within the interval)"), () => defaults.restart.crashLoop.burst),
      interval: withDefault(DurationInput({ min: 1 }), () => Duration.millis(defaults.restart.crashLoop.intervalMs))
    }),
    () => ({ burst: defaults.restart.crashLoop.burst, interval: Duration.millis(defaults.restart.crashLoop.intervalMs) })
  ),
  minUptime: withDefault(DurationInput(), () => Duration.millis(defaults.restart.minUptimeMs)),
  cron: Schema.optional(CronExpression).annotations({
    description: "Restart the daemon gracefully on this schedule (cron: minute hour day-of-month month day-of-week, " +
      "an optional seconds field first; the supervisor's local time), as PM2's cron_restart. Run by the native supervisor."
  })
})

/** @since 0.1.0 */
export type Restart = Schema.Schema.Type<typeof Restart>

type ReadinessValue =
  | "auto"
  | "notify"
  | "started"
  | { readonly tcp: number; readonly host?: string }
  | { readonly http: string }

/**
 * When the native supervisor considers a daemon ready:
 * - `"auto"` (default): a daemon built on Duende says so (READY=1 on its notify
 *   pipe); any other command is ready once it has stayed up for 2 seconds.
 * - `"notify"`: only when it sends READY=1.
 * - `"started"`: as soon as it runs.
 * - `{ "tcp": 8080, "host"?: "127.0.0.1" }`: when the port accepts connections.
 * - `{ "http": "http://127.0.0.1:8080/healthz" }`: when the URL answers 2xx/3xx.
 *
 * @since 0.1.0
 */
export const Readiness = Schema.transformOrFail(
  Schema.Unknown,
  Schema.Union(
    Schema.Literal("auto", "notify", "started"),
    Schema.Struct({ tcp: Schema.Number, host: Schema.optional(Schema.String) }),
    Schema.Struct({ http: Schema.String })
  ),
  {
    strict: true,
    decode: (input, _, ast): Effect.Effect<ReadinessValue, ParseResult.ParseIssue> => {
      const fail = (why: string) =>
        ParseResult.fail(
          new ParseResult.Type(
            ast,
            input,
            `expected "auto", "notify", "started", { "tcp": <port>, "host"?: <host> } or { "http": <url> }${why}, got ${
              show(input)
            }`
          )
        )
      if (input === "auto" || input === "notify" || input === "started") return ParseResult.succeed(input as ReadinessValue)
      if (input === null || typeof input !== "object" || Array.isArray(input)) return fail("")
      const probe = input as Record<string, unknown>
      const keys = Object.keys(probe).sort().join(",")
      if (keys === "tcp" || keys === "host,tcp") {
        const port = probe.tcp
        if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) {
          return fail(" (tcp: a port from 1 to 65535)")
        }
        if (probe.host !== undefined && (typeof probe.host !== "string" || probe.host === "")) {
          return fail(" (host: a host name or address)")
        }
        return ParseResult.succeed(probe.host === undefined ? { tcp: port } : { tcp: port, host: probe.host as string })
      }
      if (keys === "http") {
        const url = probe.http
        if (typeof url !== "string" || !/^https?:\/\/[^\s]+$/.test(url)) return fail(" (http: an http:// or https:// URL)")
        return ParseResult.succeed({ http: url })
      }
      return fail("")
    },
    encode: (value) => ParseResult.succeed(value)
  }
).annotations({
  jsonSchema: {
    description: "When the native supervisor considers the daemon ready.",
    anyOf: [
      { enum: ["auto", "notify", "started"] },
      {
        type: "object",
        required: ["tcp"],
        properties: { tcp: { type: "integer", minimum: 1, maximum: 65535 }, host: { type: "string", minLength: 1 } },
        additionalProperties: false
      },
      {
        type: "object",
        required: ["http"],
        properties: { http: { type: "string", pattern: "^https?://" } },
        additionalProperties: false
      }
    ]
  }
}) as unknown as Schema.Schema<ReadinessValue, ReadinessValue>

/** @since 0.1.0 */
export type Readiness = Schema.Schema.Type<typeof Readiness>

/**
 * The hardening directives Duende puts in a systemd unit by default; each can
 * be turned off by name in `platform.systemd.hardening`.
 *
 * @since 0.1.0
 */
export const systemdHardeningDirectives = [
  "DynamicUser",
  "NoNewPrivileges",
  "ProtectSystem",
  "ProtectHome",
  "PrivateTmp",
  "PrivateDevices",
  "PrivateUsers",
  "PrivateMounts",
  "PrivateIPC",
  "ProtectKernelTunables",
  "ProtectKernelModules",
  "ProtectKernelLogs",
  "ProtectControlGroups",
  "ProtectClock",
  "ProtectHostname",
  "ProtectProc",
  "RestrictNamespaces",
  "RestrictRealtime",
  "RestrictSUIDSGID",
  "LockPersonality",
  "RemoveIPC",
  "KeyringMode",
  "DevicePolicy",
  "SystemCallArchitectures",
  "SystemCallFilter",
  "SystemCallErrorNumber",
  "CapabilityBoundingSet",
  "RestrictAddressFamilies",
  "UMask"
] as const

/** A string matching `regex`, well-formed (no lone surrogate) and at most `maxBytes` of UTF-8. */
const patterned = (regex: RegExp, what: string, maxBytes = 4_095) =>
  Schema.String.pipe(
    Schema.pattern(regex),
    Schema.filter((s) => !hasLoneSurrogate(s) && utf8Bytes(s) <= maxBytes)
  ).annotations({
    message: (issue) => ({
      message: typeof issue.actual === "string" && utf8Bytes(issue.actual) > maxBytes
        ? `expected ${what} of at most ${maxBytes} bytes, got ${utf8Bytes(issue.actual)} bytes`
        : `expected ${what}, got ${show(issue.actual)}`,
      override: true
    })
  })

const ListenAddress = Schema.String.pipe(
  Schema.filter((text) => {
    const port = (p: string) => /^\d{1,5}$/.test(p) && Number(p) >= 1 && Number(p) <= 65535
    if (port(text)) return true
    const v4 = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d+)$/.exec(text)
    if (v4) return v4[1]!.split(".").every((o) => Number(o) <= 255) && port(v4[2]!)
    const v6 = /^\[([0-9A-Fa-f:.]+)\]:(\d+)$/.exec(text)
    if (v6) return port(v6[2]!)
    return /^[/@][A-Za-z0-9._/+-]{1,106}$/.test(text)
  })
).annotations({
  message: (issue) => ({
    message: `expected a port ("8080"), "host:port", "[v6]:port", "/path.sock" or "@abstract", got ${show(issue.actual)}`,
    override: true
  })
})

/**
 * The systemd section: scope, unit name, service type, opt-outs from the
 * default hardening, writable paths, capabilities, and the listen addresses of
 * a `.socket` unit for socket activation.
 *
 * @since 0.1.0
 */
export const SystemdSection = Schema.Struct({
  scope: withDefault(OneOf("system", "user"), () => "system" as const),
  /** The unit's base name (default: the daemon's name). */
  unit: Schema.optional(
    patterned(/^[A-Za-z0-9][A-Za-z0-9:_.-]{0,199}$/, `a unit name such as "my-api" (letters, digits, ":", "_", ".", "-")`)
  ),
  /** "notify" (default) for Duende daemons, "exec" for any other command. */
  type: withDefault(OneOf("notify", "exec"), () => "notify" as const),
  /** `false` turns all default hardening off; `{ "ProtectHome": false }` one directive. */
  hardening: withDefault(
    Schema.Union(
      Schema.Literal(false),
      Schema.partial(
        Schema.Struct(
          Object.fromEntries(systemdHardeningDirectives.map((d) => [d, Schema.Literal(false)])) as {
            readonly [K in typeof systemdHardeningDirectives[number]]: Schema.Literal<[false]>
          }
        )
      )
    ),
    () => ({})
  ),
  /** Paths the daemon may write despite ProtectSystem=strict. */
  readWritePaths: withDefault(
    Schema.Array(
      patterned(
        /^\/(?:[^\0-\x1f\x7f\\"']*[^\0-\x1f\x7f\\"'/ ])?$/,
        "an absolute path without quotes, backslashes or control characters"
      )
    ),
    () => []
  ),
  /** Capabilities granted (and the only ones kept), e.g. CAP_NET_BIND_SERVICE to bind port 80. */
  capabilities: withDefault(Schema.Array(patterned(/^CAP_[A-Z_]+$/, `a capability such as "CAP_NET_BIND_SERVICE"`)), () => []),
  /** A `.socket` unit: the addresses systemd listens on and hands over (socket activation). */
  socket: Schema.optional(Schema.Struct({
    listen: Schema.NonEmptyArray(ListenAddress),
    kind: withDefault(OneOf("stream", "datagram", "sequential-packet"), () => "stream" as const),
    /** FileDescriptorName=: how the daemon finds them in `ctx.listenSockets`. */
    name: Schema.optional(patterned(/^[A-Za-z0-9_.-]{1,255}$/, `a name of letters, digits, "_", ".", "-"`))
  }))
})

/** @since 0.1.0 */
export type SystemdSection = Schema.Schema.Type<typeof SystemdSection>

/**
 * An absolute path that reaches a mount option list or `-v`/`--mount` unchanged: no control characters,
 * "," or ":", and no `"` (podman and docker read `--mount` as a CSV record, where a quote starts a field).
 */
const MountPath = patterned(/^\/[^\u0000-\u001f\u007f,:"]*$/, `an absolute path without control characters, ",", ":" or '"'`)

const ContainerMount = Schema.Struct({
  type: withDefault(OneOf("bind", "tmpfs"), () => "bind" as const),
  source: Schema.optional(MountPath),
  target: MountPath,
  readOnly: withDefault(Bool, () => false)
}).pipe(
  Schema.filter((mount) =>
    mount.type === "bind" && mount.source === undefined
      ? "a bind mount needs a source"
      : mount.type === "tmpfs" && mount.source !== undefined
      ? "a tmpfs mount has no source"
      : true
  )
)

const PortNumber = Schema.Number.pipe(Schema.filter((n) => Number.isInteger(n) && n >= 1 && n <= 65535)).annotations({
  message: (issue) => ({ message: `expected a port from 1 to 65535, got ${show(issue.actual)}`, override: true })
})

/**
 * A socket the manager listens on and passes to the daemon (systemd's
 * protocol: fds from 3, `LISTEN_FDS`, `LISTEN_FDNAMES`), so that it stays
 * open while the daemon restarts: a TCP `port` on `host` (default loopback),
 * or a unix socket `path` (made 0600).
 *
 * @since 0.1.0
 */
export const Listener = Schema.Struct({
  /** How the daemon finds it (LISTEN_FDNAMES, `ctx.listenSockets`). */
  name: patterned(/^[A-Za-z0-9_.-]{1,255}$/, `a socket name of letters, digits, "_", ".", "-"`),
  port: Schema.optional(PortNumber),
  host: withDefault(
    patterned(
      /^(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)$|^[0-9a-fA-F:]*:[0-9a-fA-F:]*$/,
      "an IPv4 or IPv6 address (such as 127.0.0.1 or ::1)"
    ),
    () => "127.0.0.1"
  ),
  path: Schema.optional(
    patterned(/^\/[^\0-\x1f\x7f]*$/, "an absolute path without control characters for a unix socket", 107)
  ),
  backlog: withDefault(Int(1, 65_535, " (connections the kernel queues while the daemon is not accepting)"), () => 511)
}).pipe(
  Schema.filter((listener) =>
    (listener.port === undefined) !== (listener.path === undefined) ||
    "give either port (a TCP socket) or path (a unix socket), not both and not neither"
  )
)

/** @since 0.1.0 */
export type Listener = Schema.Schema.Type<typeof Listener>

const ContainerPort = Schema.Struct({
  container: PortNumber,
  host: Schema.optional(PortNumber),
  protocol: withDefault(OneOf("tcp", "udp"), () => "tcp" as const),
  hostIp: Schema.optional(
    patterned(
      /^(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)$|^[0-9a-fA-F:]+$/,
      "an IPv4 or IPv6 address"
    )
  )
})

/**
 * The container section. Fields left out take their platform's defaults, so
 * settings given to an adapter can fill in what a config file leaves out
 * (see `ContainerSection.resolve` in @duende/platform-container).
 *
 * @since 0.1.0
 */
export const ContainerSection = Schema.Struct({
  /** The image to run (podman, docker): `[registry[:port]/]path[:tag][@sha256:digest]`. */
  image: Schema.optional(
    patterned(
      /^(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]{1,5})?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/,
      `an image reference such as "docker.io/library/node:20" or "localhost/api:1.2.3"`
    ).pipe(Schema.maxLength(512))
  ),
  runtime: Schema.optional(OneOf("runc", "crun", "podman", "docker")),
  /** runc/crun: the root filesystem directory, or "host" (the host's /usr, /etc, /bin, /lib* bound read-only). */
  rootfs: Schema.optional(
    Schema.Union(Schema.Literal("host"), MountPath).annotations({
      message: (issue) => ({ message: `expected "host" or an absolute path, got ${show(issue.actual)}`, override: true })
    })
  ),
  mounts: Schema.optional(Schema.Array(ContainerMount)),
  /** "none" (runc/crun default), "host" or "bridge" (the engine's default network). */
  network: Schema.optional(OneOf("none", "host", "bridge")),
  /** Ports to publish (podman, docker). */
  ports: Schema.optional(Schema.Array(ContainerPort)),
  /** Run an init (tini, catatonit) as PID 1 that reaps orphans and forwards signals. */
  init: Schema.optional(Bool),
  /** "auto": a Duende daemon at its READY, any other command after a grace; "notify"; "started". */
  ready: Schema.optional(OneOf("auto", "notify", "started")),
  /** The `HEALTHCHECK` command (default `["duende", "health"]`). */
  healthCommand: Schema.optional(Schema.NonEmptyArray(Text)),
  /**
   * Who runs in the container: `"user"`, `"uid"`, `"user:group"` or `"uid:gid"`, in place of the config's
   * `user`/`group`. With neither, 65534:65534 (nobody): never root unless a config says so.
   */
  user: Schema.optional(
    patterned(
      /^(?:[a-z_][a-z0-9_-]{0,31}|\d{1,10})(?::(?:[a-z_][a-z0-9_-]{0,31}|\d{1,10}))?$/,
      `a user or uid, optionally ":group" or ":gid", such as "65534:65534" or "root"`
    )
  ),
  /** The only capabilities the process keeps (default none), e.g. CAP_NET_BIND_SERVICE to bind port 80. */
  capabilities: Schema.optional(Schema.Array(patterned(/^CAP_[A-Z_]+$/, `a capability such as "CAP_NET_BIND_SERVICE"`))),
  /** `false`: a writable root filesystem (default: read-only, with a tmpfs at /tmp). */
  readOnlyRootFilesystem: Schema.optional(Bool),
  /** `false`: setuid programs and file capabilities may raise privileges (default: they may not). */
  noNewPrivileges: Schema.optional(Bool),
  /** `false`: no masked /proc/kcore, /sys/firmware… and writable /proc/sys… (default: masked and read-only). */
  protectKernelPaths: Schema.optional(Bool)
})

/** @since 0.1.0 */
export type ContainerSection = Schema.Schema.Type<typeof ContainerSection>

/** A DNS-1123 label (RFC 1123): what Kubernetes takes as a namespace, a Service or a container name. */
const KubernetesLabelName = patterned(
  /^(?=.{1,63}$)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/,
  `a Kubernetes name such as "my-api" (lowercase letters, digits and "-", at most 63, starting and ending with a letter or digit)`
)

/** A DNS-1123 subdomain: what Kubernetes takes as a ServiceAccount or Secret name. */
const KubernetesObjectName = patterned(
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$/,
  `a Kubernetes object name such as "my-api" or "my.api" (lowercase letters, digits, "-" and ".", at most 253)`
)

/** A label or annotation key: `[prefix/]name`, the prefix a DNS subdomain, the name at most 63 characters. */
const KubernetesKey = patterned(
  /^(?:(?=[^/]{1,253}\/)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*\/)?(?=[^/]{1,63}$)[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?$/,
  `a label or annotation key such as "team" or "example.com/team" (a name of at most 63 letters, digits, "-", "_", "." with an optional DNS prefix and "/")`
).pipe(
  Schema.filter((key) =>
    key.startsWith("duende.dev/") || key === "app.kubernetes.io/name" || key === "app.kubernetes.io/instance" ||
      key === "app.kubernetes.io/managed-by"
      ? `expected a key Duende does not set itself (it owns "duende.dev/…", app.kubernetes.io/name, instance and managed-by), got ${
        show(key)
      }`
      : true
  )
)

/** A label value: empty, or at most 63 letters, digits, "-", "_", "." starting and ending with a letter or digit. */
const KubernetesLabelValue = patterned(
  /^(?:(?=.{1,63}$)[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?)?$/,
  `a label value (at most 63 letters, digits, "-", "_", ".", starting and ending with a letter or digit; may be empty)`
)

/** Kubernetes keeps every annotation of an object in 256 KiB, keys included. */
const maxAnnotationBytes = 262_144

const KubernetesPort = Schema.Struct({
  /** The port's name (an IANA service name: at most 15 lowercase letters, digits and "-", with a letter). */
  name: Schema.optional(
    patterned(
      /^(?=.{1,15}$)(?=.*[a-z])(?!.*--)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/,
      `a port name such as "http" (at most 15 lowercase letters, digits and "-", with at least one letter, no "--")`
    )
  ),
  /** The port the daemon listens on in the container. */
  port: PortNumber,
  /** The Service's port (default: the same number). */
  servicePort: Schema.optional(PortNumber),
  protocol: Schema.optional(OneOf("TCP", "UDP", "SCTP"))
})

const KubernetesProbe = Schema.Struct({
  /**
   * "exec" (default): `command` run in the container, `duende health` unless given (the daemon's
   * readiness and real health from its state file); "http": a GET of `path` on `port`; "none": no probes.
   */
  type: Schema.optional(OneOf("exec", "http", "none")),
  /** exec: the probe's command (default `["duende", "health"]`). */
  command: Schema.optional(Schema.NonEmptyArray(Text)),
  /** http: the path, such as "/healthz". */
  path: Schema.optional(
    patterned(/^\/[\x21-\x7e]*$/, `a URL path such as "/healthz" (starting with "/", no spaces or control characters)`, 2_048)
  ),
  /** http: the port's number, or the name of one of `ports`. */
  port: Schema.optional(
    Schema.Union(PortNumber, patterned(/^(?=.{1,15}$)(?=.*[a-z])[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/, "a port name")).annotations({
      message: (issue) => ({ message: `expected a port from 1 to 65535 or a port name, got ${show(issue.actual)}`, override: true })
    })
  ),
  /** http: "HTTP" (default) or "HTTPS" (the certificate is not verified, as the kubelet does). */
  scheme: Schema.optional(OneOf("HTTP", "HTTPS"))
}).pipe(
  Schema.filter((probe) => {
    const type = probe.type ?? "exec"
    if (type === "http" && probe.port === undefined) {
      return { path: ["port"], message: `expected the port of the HTTP probe (a number, or the name of one of "ports")` }
    }
    if (type !== "http" && (probe.path !== undefined || probe.port !== undefined || probe.scheme !== undefined)) {
      return { path: ["type"], message: `expected "http" when path, port or scheme is given, got ${show(probe.type ?? "exec")}` }
    }
    if (type !== "exec" && probe.command !== undefined) {
      return { path: ["type"], message: `expected "exec" (or nothing) when command is given, got ${show(type)}` }
    }
    return true
  })
)

const UserId = Int(0, 2_147_483_647, " (a numeric user or group id)")

const KubernetesSecurity = Schema.Struct({
  /** `runAsNonRoot` (default true): the kubelet refuses to start the container as uid 0. */
  runAsNonRoot: Schema.optional(Bool),
  /** The uid (default: the config's numeric `user`, else 65532). */
  runAsUser: Schema.optional(UserId),
  /** The gid (default: the config's numeric `group`, else 65532). */
  runAsGroup: Schema.optional(UserId),
  /** `readOnlyRootFilesystem` (default true); /tmp and Duende's state directory are emptyDirs. */
  readOnlyRootFilesystem: Schema.optional(Bool),
  /** `allowPrivilegeEscalation` (default false). */
  allowPrivilegeEscalation: Schema.optional(Bool),
  /** Drop every capability (default true). */
  dropAllCapabilities: Schema.optional(Bool),
  /** Capabilities added back, as Kubernetes names them: "NET_BIND_SERVICE" to bind port 80. */
  addCapabilities: Schema.optional(
    Schema.Array(patterned(/^(?!CAP_)[A-Z][A-Z0-9_]{0,63}$/, `a capability name without "CAP_", such as "NET_BIND_SERVICE"`))
  ),
  /** The seccomp profile (default "RuntimeDefault"). */
  seccompProfile: Schema.optional(OneOf("RuntimeDefault", "Unconfined")),
  /** An emptyDir at /tmp (default true), so a read-only root still has a writable /tmp. */
  tmpVolume: Schema.optional(Bool)
}).pipe(
  Schema.filter((security) =>
    security.runAsUser === 0 && security.runAsNonRoot !== false
      ? { path: ["runAsUser"], message: "expected a non-zero uid while runAsNonRoot is on (set runAsNonRoot to false to run as root), got 0" }
      : true
  )
)

/**
 * The Kubernetes section: the workload's kind and size, its image and
 * namespace, its ServiceAccount, ports (the Service), probes, requests, the
 * opt-outs from the default hardening, and extra labels and annotations.
 * Fields left out take the platform's defaults, so settings given to the
 * renderer or the adapter (`--image`, `--namespace`) fill in what a config
 * file leaves out (see `KubernetesSection.resolve` in @duende/platform-kubernetes).
 *
 * @since 0.1.0
 */
export const KubernetesSection = Schema.Struct({
  /** "Deployment" (default for restart "always"/"unless-stopped"), "StatefulSet", or "Job" (default for "never"/"on-failure"). */
  kind: Schema.optional(OneOf("Deployment", "StatefulSet", "Job")),
  /** How many pods (default 1); a PodDisruptionBudget is added above 1. */
  replicas: Schema.optional(Int(0, 10_000, " (pods)")),
  /** The image to run: `[registry[:port]/]path[:tag][@sha256:digest]`. */
  image: ContainerSection.fields.image,
  imagePullPolicy: Schema.optional(OneOf("Always", "IfNotPresent", "Never")),
  /** Secrets (by name) holding registry credentials. */
  imagePullSecrets: Schema.optional(Schema.Array(KubernetesObjectName)),
  /** The namespace (default: the kubeconfig context's, else "default"). */
  namespace: Schema.optional(KubernetesLabelName),
  serviceAccount: Schema.optional(Schema.Struct({
    /** Its name (default: the daemon's name). */
    name: Schema.optional(KubernetesObjectName),
    /** Render it (default true); false uses one that exists. */
    create: Schema.optional(Bool),
    /** Mount its API token in the pod (default false: the daemon does not talk to the API). */
    automountToken: Schema.optional(Bool)
  })),
  /** Ports the daemon listens on: the container's ports and the Service's. */
  ports: Schema.optional(Schema.Array(KubernetesPort).pipe(Schema.maxItems(100))),
  /** The Service's type (default "ClusterIP"; a StatefulSet's governing Service is headless). */
  serviceType: Schema.optional(OneOf("ClusterIP", "NodePort", "LoadBalancer")),
  /** The startup, readiness and liveness probes. */
  probe: Schema.optional(KubernetesProbe),
  /** What the scheduler reserves: CPU cores and memory (default: the memory limit). */
  requests: Schema.optional(Schema.Struct({
    cpu: Schema.optional(Num(0.001, 10_000, " (CPU cores: 0.25 is a quarter of one)")),
    memory: Schema.optional(ByteSize("a memory request"))
  })),
  /** Opt-outs from the default securityContext. */
  security: Schema.optional(KubernetesSecurity),
  /** Labels added to every object and pod. */
  labels: Schema.optional(Schema.Record({ key: KubernetesKey, value: KubernetesLabelValue })),
  /** Annotations added to every object and pod. */
  annotations: Schema.optional(
    Schema.Record({ key: KubernetesKey, value: BoundedText({ maxBytes: maxAnnotationBytes }) }).pipe(
      Schema.filter((annotations) => {
        const bytes = Object.entries(annotations).reduce((sum, [key, value]) => sum + utf8Bytes(key) + utf8Bytes(value), 0)
        return bytes <= maxAnnotationBytes / 2 ||
          `expected annotations of at most ${maxAnnotationBytes / 2} bytes in all (Kubernetes allows 256 KiB per object, and Duende adds its own), got ${bytes}`
      })
    )
  )
})

/** @since 0.1.0 */
export type KubernetesSection = Schema.Schema.Type<typeof KubernetesSection>

/**
 * Per-platform settings. Each section is read only by its platform.
 *
 * @since 0.1.0
 */
export const PlatformSections = Schema.Struct({
  native: Schema.optional(Schema.Struct({
    ready: withDefault(Readiness, () => "auto" as const),
    logs: withDefault(
      Schema.Struct({
        maxSize: withDefault(ByteSize("a log file size"), () => defaults.native.logs.maxSizeBytes),
        keep: withDefault(Int(0, 1000, " (rotated log files to keep)"), () => defaults.native.logs.keep)
      }),
      () => ({ maxSize: defaults.native.logs.maxSizeBytes, keep: defaults.native.logs.keep })
    ),
    /** Put the daemon in control groups of its own, where the supervisor may (false: never; memory is then sampled). */
    cgroups: withDefault(Bool, () => true).annotations({
      description: "Enforce resources with control groups of the daemon's own where the supervisor can write them " +
        "(false: never; resources.memory is then enforced by sampling the RSS of the process tree)."
    }),
    /** How long the process tree may stay above resources.memory when that limit is enforced by RSS sampling. */
    memoryGrace: withDefault(DurationInput({ min: 0 }), () => Duration.millis(defaults.native.memoryGraceMs)).annotations({
      description: "How long the process tree may stay above resources.memory before it is restarted, " +
        "where the limit is enforced by RSS sampling (no memory cgroup)."
    })
  })),
  systemd: Schema.optional(SystemdSection),
  launchd: Schema.optional(Schema.Struct({
    label: Schema.optional(
      Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9][A-Za-z0-9.-]{0,254}$/)).annotations({
        message: (issue) => ({
          message: `expected a reverse-DNS label such as "com.example.my-daemon", got ${show(issue.actual)}`,
          override: true
        })
      })
    ),
    /** "gui": a LaunchAgent of the logged-in user (gui/<uid>); "system": a LaunchDaemon (root's system domain). */
    domain: withDefault(OneOf("gui", "system"), () => "gui" as const),
    /** "auto": a Duende daemon at its ready line, any other command after a grace; "notify"; "started". */
    ready: Schema.optional(OneOf("auto", "notify", "started")),
    /** ProcessType: how macOS throttles the job's CPU and I/O (default: from resources.cpuWeight, else "Standard"). */
    processType: Schema.optional(OneOf("Background", "Standard", "Adaptive", "Interactive")),
    /** RunAtLoad: start the job when launchd loads it (at login for agents, at boot for daemons). */
    runAtLoad: withDefault(Bool, () => true),
    /** Sockets launchd listens on and hands over by name (launch_activate_socket): socket activation. */
    sockets: Schema.optional(Schema.Record({
      key: patterned(/^[A-Za-z0-9_.-]{1,255}$/, `a socket name of letters, digits, "_", ".", "-"`),
      value: Schema.Struct({
        listen: Schema.NonEmptyArray(
          ListenAddress.pipe(
            Schema.filter((address) => !address.startsWith("@"), {
              message: () => "macOS has no abstract sockets: use a port, \"host:port\" or a /path"
            })
          )
        ),
        kind: withDefault(OneOf("stream", "datagram", "sequential-packet"), () => "stream" as const),
        /** SockPathMode of a unix socket, e.g. 0o660 (written in decimal, as launchd reads it). */
        pathMode: Schema.optional(Int(0, 0o777, " (a file mode such as 432 = 0o660)"))
      })
    }))
  })),
  container: Schema.optional(ContainerSection),
  kubernetes: Schema.optional(KubernetesSection),
  pepita: Schema.optional(Schema.Struct({
    kernel: Schema.optional(PathText),
    rootfs: Schema.optional(PathText),
    vcpus: withDefault(Int(1, 64, " (virtual CPUs)"), () => defaults.pepita.vcpus),
    memory: withDefault(ByteSize("a VM memory size"), () => defaults.pepita.memoryBytes)
  })),
  wos: Schema.optional(Schema.Struct({
    priority: withDefault(Int(0, 7, " (0 is the highest priority, 7 the lowest)"), () => defaults.wos.priority)
  }))
})

/** @since 0.1.0 */
export type PlatformSections = Schema.Schema.Type<typeof PlatformSections>

/**
 * The schema of a daemon config file.
 *
 * @example
 * ```ts
 * import { DaemonConfig } from "@duende/core/DaemonConfigSchema"
 * import * as Schema from "effect/Schema"
 *
 * const config = Schema.decodeUnknownSync(DaemonConfig)({
 *   name: "api",
 *   command: ["node", "dist/server.js"],
 *   shutdownTimeout: "10s"
 * })
 * ```
 *
 * @since 0.1.0
 */
export const DaemonConfig = Schema.Struct({
  $schema: Schema.optional(BoundedText({ maxBytes: 4_096 })),
  name: DaemonName,
  version: withDefault(Version, () => defaults.version),
  description: Schema.optional(BoundedText({ maxBytes: 4_096 })),
  command: CommandInput,
  env: withDefault(Env, () => ({})),
  envProfiles: withDefault(
    Schema.Record({ key: ProfileName, value: Env }).pipe(
      Schema.filter((profiles) => Object.keys(profiles).length <= 64 || "at most 64 profiles")
    ),
    () => ({})
  ).annotations({
    description: "Named sets of environment variables (PM2's env_<name>): `duende start config --env production` " +
      "sets envProfiles.production over env."
  }),
  workingDirectory: Schema.optional(PathText.annotations({
    description: "Working directory; relative paths are resolved against the config file's directory."
  })),
  user: Schema.optional(Account),
  group: Schema.optional(Account),
  resources: withDefault(Resources, () => ({ lockMemory: false })),
  health: withDefault(HealthCheck, () => ({
    enabled: defaults.health.enabled,
    interval: Duration.millis(defaults.health.intervalMs),
    timeout: Duration.millis(defaults.health.timeoutMs),
    retries: defaults.health.retries,
    startPeriod: Duration.millis(defaults.health.startPeriodMs)
  })),
  restart: withDefault(Restart, () => Schema.decodeSync(Restart)({})),
  initTimeout: withDefault(DurationInput({ min: 1 }), () => Duration.millis(defaults.initTimeoutMs)),
  shutdownTimeout: withDefault(DurationInput({ min: 1 }), () => Duration.millis(defaults.shutdownTimeoutMs)),
  watchdogInterval: Schema.optional(DurationInput({ min: 2 }).annotations({
    description: "The manager restarts the daemon when no watchdog ping arrives within this interval; the daemon pings every half of it."
  })),
  pidFile: Schema.optional(PathText.annotations({ description: "Write the daemon's pid here while it runs." })),
  listen: withDefault(
    Schema.Array(Listener).pipe(
      Schema.maxItems(64),
      Schema.filter((all) => new Set(all.map((listener) => listener.name)).size === all.length || "listener names must differ")
    ),
    () => []
  ).annotations({
    description: "Sockets the manager holds and passes to the daemon (systemd's LISTEN_FDS), open across restarts: " +
      "a restart or a crash refuses no connection, and `duende restart` is a rolling restart."
  }),
  instances: withDefault(Instances(256), () => 1).annotations({
    description: "How many copies run side by side (\"max\": one per CPU), sharing the `listen` sockets (the kernel spreads " +
      "the connections); each has its own pid, log, restarts and DUENDE_INSTANCE (0, 1, …). Run by the native supervisor."
  }),
  watch: withDefault(Watch, () => false as const).annotations({
    description: "Restart the daemon gracefully when a file under these paths changes (true: the working directory), " +
      "debounced, skipping the ignored names (default node_modules, .git and dot-files). Run by the native supervisor."
  }),
  reload: withDefault(OneOf("signal", "replace"), () => "signal" as const).annotations({
    description: "What `duende reload` does: \"signal\" sends SIGHUP to the running process (the daemon's reload hook, same code); " +
      "\"replace\" starts a new process, waits for its READY and then stops the old one (new code, and with `listen` no refused connection). " +
      "The native supervisor replaces; a platform that cannot run two copies restarts instead."
  }),
  after: withDefault(Schema.Array(DaemonName).pipe(Schema.maxItems(256)), () => []).annotations({
    description: "Daemons (by name) that must be running before this one starts; stopped after it."
  }),
  platform: withDefault(PlatformSections, () => ({}))
}).annotations({ identifier: "DaemonConfig", title: "Duende daemon config" })

/**
 * A decoded daemon config: durations are `Duration`s, sizes are bytes and every
 * default is filled in.
 *
 * @since 0.1.0
 */
export type DaemonConfig = Schema.Schema.Type<typeof DaemonConfig>

/**
 * A daemon config as written by a user (JSON or `defineConfig`): durations as
 * "30s" or milliseconds, sizes as "512M" or bytes, defaults optional.
 *
 * @since 0.1.0
 */
export type Input = Schema.Schema.Encoded<typeof DaemonConfig>

/**
 * Decodes a config synchronously; throws a {@link ConfigError} naming every bad field.
 *
 * @example
 * ```ts
 * import { decodeSync } from "@duende/core/DaemonConfigSchema"
 *
 * const config = decodeSync({ name: "api", command: ["node", "api.js"] })
 * ```
 *
 * @since 0.1.0
 */
export const decodeSync = (input: unknown, source = "config"): DaemonConfig => {
  const result = decodeEither(input, source)
  if (Either.isLeft(result)) throw result.left
  return result.right
}

/**
 * Decodes a config, reporting every bad field (unknown keys included).
 *
 * @example
 * ```ts
 * import { decodeEither } from "@duende/core/DaemonConfigSchema"
 *
 * const result = decodeEither({ name: "Bad Name" })
 * ```
 *
 * @since 0.1.0
 */
export const decodeEither = (input: unknown, source = "config"): Either.Either<DaemonConfig, ConfigError> => {
  if (input === null || typeof input !== "object" || Array.isArray(input)) {
    return Either.left(
      new ConfigError({
        source,
        problems: [{ path: "", message: `expected an object with at least "name" and "command", got ${show(input)}` }]
      })
    )
  }
  // Depth, size, lone surrogates and "__proto__" keys are checked first, without recursion.
  const shape = inputShapeProblems(input)
  if (shape.length > 0) return Either.left(new ConfigError({ source, problems: shape }))
  return Either.flatMap(
    Either.mapLeft(
      // Numbers and booleans in env are taken as their text (DaemonConfig.load notes each).
      Schema.decodeUnknownEither(DaemonConfig, { errors: "all", onExcessProperty: "error" })(EnvText.withTextValues(input)),
      (error) => new ConfigError({ source, problems: formatIssues(DaemonConfig.ast, error.issue) })
    ),
    (config) => {
      const bytes = execBytes(config)
      return bytes <= maxExecBytes ? Either.right(config) : Either.left(
        new ConfigError({
          source,
          problems: [{
            path: "",
            message: `command and env together take ${bytes} bytes; Linux gives a program about 2 MiB for its arguments and environment, inherited variables included, so keep them under ${maxExecBytes} bytes (pass large data in a file)`
          }]
        })
      )
    }
  )
}

/** What a config's command line and environment take in the exec call. */
const maxExecBytes = 1_048_576

const execBytes = (config: DaemonConfig): number =>
  [config.command.program, ...config.command.args].reduce((sum, arg) => sum + utf8Bytes(arg) + 1, 0) +
  Object.entries(config.env).reduce((sum, [key, value]) => sum + utf8Bytes(key) + utf8Bytes(value) + 2, 0)

/**
 * Encodes a decoded config back to its file form (durations as "30s", sizes as "512M").
 *
 * @example
 * ```ts
 * import { decodeSync, encode } from "@duende/core/DaemonConfigSchema"
 *
 * const json = JSON.stringify(encode(decodeSync({ name: "api", command: ["api"] })))
 * ```
 *
 * @since 0.1.0
 */
export const encode = (config: DaemonConfig): Input => Schema.encodeSync(DaemonConfig)(config)

/**
 * The JSON Schema (draft-07) of config files.
 *
 * @example
 * ```ts
 * import { jsonSchema } from "@duende/core/DaemonConfigSchema"
 *
 * console.log(JSON.stringify(jsonSchema(), null, 2))
 * ```
 *
 * @since 0.1.0
 */
export const jsonSchema = (): JSONSchema.JsonSchema7Root => JSONSchema.make(DaemonConfig)

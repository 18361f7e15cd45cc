/**
 * @duende/policy: resilience policies for daemons, Effect-native and
 * deterministic under `TestClock`: {@link CircuitBreaker}, {@link RateLimiter},
 * {@link Backpressure} (a bulkhead), {@link QualityGate} (jidoka: stop the line
 * on a failed check) and {@link CostBreaker} (a budget per window). Each is a
 * service with `make` and `layer`, records Effect metrics tagged
 * `policy=<name>` (exported by `@duende/observe`), and has a Promise facade.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as CircuitBreaker from "./CircuitBreaker.js"
/** @since 0.1.0 */
export * as RateLimiter from "./RateLimiter.js"
/** @since 0.1.0 */
export * as Backpressure from "./Backpressure.js"
/** @since 0.1.0 */
export * as QualityGate from "./QualityGate.js"
/** @since 0.1.0 */
export * as CostBreaker from "./CostBreaker.js"

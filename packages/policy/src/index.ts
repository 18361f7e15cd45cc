/**
 * @duende/policy: resilience policies for daemons, Effect-native and
 * deterministic under `TestClock`. Today: {@link CircuitBreaker}.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as CircuitBreaker from "./CircuitBreaker.js"

/**
 * @duende/testing: deterministic lifecycle tests for Duende daemons. The
 * adapter contract suite every platform passes is the separate entry
 * `@duende/testing/AdapterContract` (it registers vitest tests, so it loads vitest).
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Behavior from "./Behavior.js"
/** @since 0.1.0 */
export * as Chaos from "./Chaos.js"
/** @since 0.1.0 */
export * as Integration from "./Integration.js"
/** @since 0.1.0 */
export * as LoadTest from "./LoadTest.js"
/** @since 0.1.0 */
export * as Simulation from "./Simulation.js"
/** @since 0.1.0 */
export * as TestHarness from "./TestHarness.js"
/** @since 0.1.0 */
export * as TestPlatform from "./TestPlatform.js"

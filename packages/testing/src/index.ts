/**
 * @duende/testing: deterministic lifecycle tests for Duende daemons and the
 * adapter contract suite every platform passes.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Integration from "./Integration.js"

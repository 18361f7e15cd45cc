import { afterEach, describe, expect, it } from "vitest"
import * as Integration from "../src/Integration.js"

const saved = process.env.DUENDE_REQUIRE_INTEGRATION
afterEach(() => {
  if (saved === undefined) delete process.env.DUENDE_REQUIRE_INTEGRATION
  else process.env.DUENDE_REQUIRE_INTEGRATION = saved
})

describe("Integration gates", () => {
  it("finds real executables and reports missing ones with a hint", () => {
    expect(Integration.which("node")).toMatch(/\/node$/)
    expect(Integration.tool("node")()).toBeUndefined()
    expect(Integration.tool("no-such-tool-xyz", "apt-get install xyz")()).toBe(
      "no-such-tool-xyz is not installed (apt-get install xyz)"
    )
  })

  it("skips with a label on a laptop", () => {
    delete process.env.DUENDE_REQUIRE_INTEGRATION
    const gate = Integration.check(Integration.tool("no-such-tool-xyz"))
    expect(gate.ok).toBe(false)
    expect(gate.label).toMatch(/^ \[skipped: no-such-tool-xyz is not installed/)
  })

  it("fails instead of skipping when CI requires integration", () => {
    process.env.DUENDE_REQUIRE_INTEGRATION = "1"
    expect(() => Integration.check(Integration.tool("no-such-tool-xyz"))).toThrow(
      /integration requirements missing and DUENDE_REQUIRE_INTEGRATION=1: no-such-tool-xyz/
    )
    expect(Integration.check(Integration.tool("node")).ok).toBe(true)
  })

  it("checks commands", () => {
    expect(Integration.command("true", [], "never")()).toBeUndefined()
    expect(Integration.command("false", [], "false fails")()).toBe("false fails")
  })
})

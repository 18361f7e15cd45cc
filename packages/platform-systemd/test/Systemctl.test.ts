import { describe, expect, it } from "@effect/vitest"
import * as Systemctl from "../src/Systemctl.js"

describe("Systemctl: reading the tools' output", () => {
  it("parseShow keeps requested properties and joins values printed over several lines", () => {
    const out = "ActiveState=active\nExecStart={ path=/bin/sh ; argv[]=/bin/sh -c a\nb=c ; }\nMainPID=7\n"
    expect(Systemctl.parseShow(out, ["ActiveState", "ExecStart", "MainPID"])).toEqual({
      ActiveState: "active",
      ExecStart: "{ path=/bin/sh ; argv[]=/bin/sh -c a\nb=c ; }",
      MainPID: "7"
    })
    expect(Systemctl.parseShow("StatusText=a=b\n", ["StatusText"])).toEqual({ StatusText: "a=b" })
  })

  it("parseJournalLine reads journalctl -o json, binary fields included", () => {
    const entry = Systemctl.parseJournalLine(JSON.stringify({
      MESSAGE: [104, 105, 0xc3, 0xa9],
      PRIORITY: "4",
      __REALTIME_TIMESTAMP: "1700000000123456",
      _PID: "12",
      _SYSTEMD_UNIT: "api.service"
    }))
    expect(entry).toMatchObject({ at: 1700000000123, priority: 4, message: "hié", pid: 12 })
    expect(entry?.fields._SYSTEMD_UNIT).toBe("api.service")
    expect(Systemctl.parseJournalLine("not json")).toBeUndefined()
    expect(Systemctl.parseJournalLine("{}")).toMatchObject({ at: 0, priority: 6, message: "", pid: undefined })
  })
})

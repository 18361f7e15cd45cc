// `systemctl show` prints a list property (Environment=) shell-quoted: words in double
// quotes with \" \\ \$ \` escaped and C escapes for control characters. The unit-file
// word syntax covers all of it but \$ and \`, which are read here first.
import * as Either from "effect/Either"
import * as UnitFile from "../../src/UnitFile.js"

export const environmentProperty = (text: string): Either.Either<ReadonlyArray<readonly [string, string]>, UnitFile.UnitFileError> =>
  UnitFile.parseEnvironment(text.replace(/\\([\s\S])/g, (escape, char: string) => (char === "$" || char === "`" ? char : escape)))

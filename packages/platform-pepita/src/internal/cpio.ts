/**
 * A writer of the `newc` cpio format (what the Linux kernel unpacks as an
 * initramfs), entries streamed to an open file so a 100 MB image is never
 * held in memory (one file at a time is). Device nodes and symlinks need no privileges: they are
 * only header fields.
 *
 * @internal
 */
import type { FileHandle } from "node:fs/promises"

export type Entry =
  | { readonly kind: "directory"; readonly path: string; readonly mode: number }
  | {
    readonly kind: "file"
    readonly path: string
    readonly mode: number
    readonly data: () => Promise<Uint8Array>
    /** The host file `data` reads unchanged, when there is one (lets the image's hash reuse a digest). */
    readonly source?: string
  }
  | { readonly kind: "symlink"; readonly path: string; readonly target: string }
  | { readonly kind: "char"; readonly path: string; readonly mode: number; readonly major: number; readonly minor: number }

const S_IFDIR = 0o040000
const S_IFREG = 0o100000
const S_IFLNK = 0o120000
const S_IFCHR = 0o020000

const hex = (n: number) => n.toString(16).padStart(8, "0")
const pad4 = (n: number) => (4 - (n % 4)) % 4

const header = (
  ino: number,
  mode: number,
  size: number,
  name: string,
  rdev: { readonly major: number; readonly minor: number } = { major: 0, minor: 0 }
): Buffer => {
  const nameBytes = Buffer.from(`${name}\0`, "utf8")
  const fields = [ino, mode, 0, 0, mode & S_IFDIR ? 2 : 1, 0, size, 0, 0, rdev.major, rdev.minor, nameBytes.length, 0]
  const head = Buffer.from(`070701${fields.map(hex).join("")}`, "ascii")
  return Buffer.concat([head, nameBytes, Buffer.alloc(pad4(head.length + nameBytes.length))])
}

/** Writes entries (paths without a leading slash) and the trailer; returns the bytes written. */
export const write = async (file: FileHandle, entries: Iterable<Entry>): Promise<number> => {
  let offset = 0
  let ino = 1
  const put = async (bytes: Uint8Array) => {
    await file.write(bytes, 0, bytes.length, offset)
    offset += bytes.length
  }
  const body = async (data: Uint8Array) => {
    await put(data)
    await put(Buffer.alloc(pad4(data.length)))
  }
  for (const entry of entries) {
    const path = entry.path.replace(/^\/+/, "")
    switch (entry.kind) {
      case "directory":
        await put(header(ino++, S_IFDIR | entry.mode, 0, path))
        break
      case "file": {
        const data = await entry.data()
        await put(header(ino++, S_IFREG | entry.mode, data.length, path))
        await body(data)
        break
      }
      case "symlink": {
        const target = Buffer.from(entry.target, "utf8")
        await put(header(ino++, S_IFLNK | 0o777, target.length, path))
        await body(target)
        break
      }
      case "char":
        await put(header(ino++, S_IFCHR | entry.mode, 0, path, entry))
        break
    }
  }
  await put(header(0, 0, 0, "TRAILER!!!"))
  return offset
}

// Types of readme-blocks.mjs, for the TypeScript test that uses it.
export interface Block {
  readonly file: string
  readonly line: number
  readonly code: string
  readonly mode: "check" | "skip" | "fragment" | "run" | "test"
  /** The module name (`as <file>.ts`), if the block has one. */
  readonly name: string | undefined
  readonly prelude: string
  readonly prints: string | undefined
  readonly reason: string | undefined
}
export declare const readmeFiles: (root: string) => Array<string>
export declare const extractBlocks: (text: string, file: string) => Array<Block>
export declare const importedPackages: (code: string) => Array<string>
export declare const moduleSource: (block: Block) => string
export declare const allBlocks: (root: string) => Array<Block>

// The part of the WebAssembly JavaScript API the host uses: TypeScript's
// declarations of it live in lib.dom, which a Node package does not load.
declare global {
  namespace WebAssembly {
    type ExternKind = "function" | "table" | "memory" | "global" | "tag"
    interface ModuleExportDescriptor {
      readonly name: string
      readonly kind: ExternKind
    }
    interface ModuleImportDescriptor {
      readonly module: string
      readonly name: string
      readonly kind: ExternKind
    }
    class Module {
      constructor(bytes: ArrayBufferView | ArrayBuffer)
      static exports(module: Module): Array<ModuleExportDescriptor>
      static imports(module: Module): Array<ModuleImportDescriptor>
    }
    class Memory {
      constructor(descriptor: { initial: number; maximum?: number })
      readonly buffer: ArrayBuffer
      grow(pages: number): number
    }
    class Table {
      get(index: number): unknown
    }
    class Instance {
      constructor(module: Module, imports?: Record<string, Record<string, unknown>>)
      readonly exports: Record<string, unknown>
    }
    function compile(bytes: ArrayBufferView | ArrayBuffer): Promise<Module>
  }
}

export {}

/** Serves the files directly in `directory` on 127.0.0.1, cross-origin isolated except under /plain/. */
export declare const serve: (
  directory: string,
  port?: number
) => Promise<{ readonly url: string; readonly close: () => Promise<void> }>

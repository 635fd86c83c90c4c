/** Side effects reach the pure stages only through these ports; `cli` builds the real adapters. */
export interface FsPort {
  readText(path: string): Promise<string>;
  /** Files below `dir`, as paths relative to it, sorted. */
  listFiles(dir: string): Promise<string[]>;
  exists(path: string): Promise<boolean>;
}

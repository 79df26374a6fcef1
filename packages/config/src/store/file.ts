// The file/directory store, istiod's embedded default: YAML and JSON files under one or more paths, watched
// recursively with debouncing. Each file reloads atomically: a file that no longer parses or validates keeps its last
// good content (nothing already applied is lost) and its errors are reported until it is fixed. Deleting a file
// deletes its objects; renaming one is a no-op for the objects it holds.
//
// Watching uses one non-recursive node:fs watcher per directory (Node 20's recursive fs.watch on Linux misses
// directories created after the watch starts), re-synced on every rescan; each event schedules a debounced rescan
// that compares the directory listing and file stats with what was loaded, and re-reads the files named by events.
import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, extname, join, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { CONFIG_EXTENSIONS, loadText } from '../load.js';
import type { ConfigObject } from '../resources.js';
import type { ConfigIssue, ValidateOptions } from '../validate.js';
import { SourcedStore } from './store.js';

export interface FileStoreOptions extends ValidateOptions {
  /** Files and directories (directories are read recursively; hidden entries are skipped). */
  paths: readonly string[];
  /** Watch for changes (default true). */
  watch?: boolean;
  /** Quiet time after the last file event before reloading, in ms (default 100). */
  debounceMs?: number;
  /** Aborting disposes the store. */
  signal?: AbortSignal;
  /** Called when a rescan fails unexpectedly (the store keeps its content); default: ignored. */
  onError?: (error: unknown) => void;
}

interface FileState {
  /** Identity of the content last read: size, mtime, ctime, inode. */
  stamp: string;
  /** The last good objects (null: never loaded successfully). */
  objects: ConfigObject[] | null;
}

export class FileStore extends SourcedStore {
  readonly #roots: string[];
  readonly #options: FileStoreOptions;
  readonly #files = new Map<string, FileState>();
  readonly #watchers = new Map<string, FSWatcher>();
  readonly #dirty = new Set<string>();
  #timer: ReturnType<typeof setTimeout> | null = null;
  #firstEventAt = 0;
  #scanning: Promise<void> | null = null;
  #rescanAgain = false;
  #generation = 0;

  private constructor(options: FileStoreOptions) {
    super();
    this.#options = options;
    this.#roots = options.paths.map((p) => resolve(p));
  }

  /** Loads every file, then (unless `watch: false`) keeps watching. */
  static async open(options: FileStoreOptions): Promise<FileStore> {
    if (options.paths.length === 0)
      throw new ConfigError('ERR_CONFIG_INVALID_OPTIONS', 'a file store needs at least one path');
    const store = new FileStore(options);
    for (const root of store.#roots) {
      try {
        await stat(root);
      } catch (cause) {
        throw new ConfigError('ERR_CONFIG_READ_FAILED', `cannot read ${root}: ${(cause as Error).message}`, { cause });
      }
    }
    await store.reload();
    if (options.signal) {
      if (options.signal.aborted) await store.dispose();
      else options.signal.addEventListener('abort', () => void store.dispose(), { once: true });
    }
    return store;
  }

  /** How many rescans have completed (tests use it to know a reload happened). */
  get generation(): number {
    return this.#generation;
  }

  /** The files currently loaded. */
  get files(): string[] {
    return [...this.#files.keys()].sort();
  }

  /** Rescans now (the watcher does this by itself); resolves when the store reflects the files. */
  async reload(): Promise<void> {
    this.assertOpen();
    if (this.#scanning) {
      this.#rescanAgain = true;
      return this.#scanning;
    }
    this.#scanning = (async () => {
      try {
        do {
          this.#rescanAgain = false;
          await this.#scan();
        } while (this.#rescanAgain && !this.closed);
      } finally {
        this.#scanning = null;
      }
    })();
    return this.#scanning;
  }

  protected override async onDispose(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    for (const w of this.#watchers.values()) w.close();
    this.#watchers.clear();
    await this.#scanning?.catch(() => {});
  }

  async #scan(): Promise<void> {
    const dirty = new Set(this.#dirty);
    this.#dirty.clear();
    const dirs = new Set<string>();
    const found = new Map<string, string>(); // file -> stamp
    for (const root of this.#roots) await this.#walk(root, true, dirs, found);
    if (this.closed) return;
    const changes = new Map<string, { objects: ConfigObject[] | null; issues: ConfigIssue[] }>();
    for (const file of this.#files.keys()) {
      if (!found.has(file)) {
        this.#files.delete(file);
        changes.set(file, { objects: null, issues: [] });
      }
    }
    for (const [file, stamp] of found) {
      const known = this.#files.get(file);
      if (known && known.stamp === stamp && !dirty.has(file)) continue;
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch {
        continue; // deleted between listing and reading: the next event rescans
      }
      const r = loadText(text, { ...this.#options, file });
      const hasErrors = r.issues.some((i) => i.severity === 'error');
      const previous = known?.objects ?? null;
      const objects = hasErrors ? previous : r.objects;
      this.#files.set(file, { stamp, objects });
      changes.set(file, {
        objects: objects ?? [],
        issues: hasErrors
          ? [
              ...r.issues,
              {
                severity: 'error',
                path: '',
                message: previous
                  ? 'the file has errors: its last good content stays in effect until they are fixed'
                  : 'the file has errors: none of its objects are in effect until they are fixed',
                file,
              },
            ]
          : r.issues,
      });
    }
    if (changes.size > 0) this.replaceSources(changes);
    if (this.#options.watch !== false && !this.closed) this.#syncWatchers(dirs);
    this.#generation++;
  }

  async #walk(path: string, isRoot: boolean, dirs: Set<string>, found: Map<string, string>): Promise<void> {
    let s;
    try {
      s = await stat(path);
    } catch {
      if (isRoot) dirs.add(dirname(path)); // watch the parent so the path is seen when it comes back
      return;
    }
    if (s.isDirectory()) {
      dirs.add(path);
      let entries;
      try {
        entries = await readdir(path, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        if (e.name.startsWith('.')) continue;
        const full = join(path, e.name);
        if (e.isDirectory()) await this.#walk(full, false, dirs, found);
        else if (CONFIG_EXTENSIONS.has(extname(e.name).toLowerCase())) await this.#walk(full, false, dirs, found);
      }
      return;
    }
    if (!s.isFile()) return;
    if (isRoot) dirs.add(dirname(path));
    found.set(path, `${s.size}:${s.mtimeMs}:${s.ctimeMs}:${s.ino}`);
  }

  #syncWatchers(dirs: Set<string>): void {
    for (const [dir, w] of this.#watchers) {
      if (!dirs.has(dir)) {
        w.close();
        this.#watchers.delete(dir);
      }
    }
    for (const dir of dirs) {
      if (this.#watchers.has(dir)) continue;
      try {
        const w = watch(dir, { persistent: false }, (_event, name) => this.#onEvent(dir, name));
        w.on('error', () => {
          w.close();
          this.#watchers.delete(dir);
          this.#onEvent(dir, null);
        });
        this.#watchers.set(dir, w);
      } catch {
        // The directory vanished between listing and watching; its parent's watcher sees that.
      }
    }
  }

  #onEvent(dir: string, name: string | Buffer | null): void {
    if (this.closed) return;
    if (name) this.#dirty.add(join(dir, typeof name === 'string' ? name : name.toString('utf8')));
    const debounce = this.#options.debounceMs ?? 100;
    const now = Date.now();
    if (this.#timer === null) this.#firstEventAt = now;
    else clearTimeout(this.#timer);
    // A steady stream of events still reloads at least every 10 debounce periods.
    const wait = Math.max(0, Math.min(debounce, this.#firstEventAt + debounce * 10 - now));
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (this.closed) return;
      this.reload().catch((e: unknown) => this.#options.onError?.(e));
    }, wait);
  }
}

/** Opens a file store over `paths` (see FileStore). */
export function openFileStore(options: FileStoreOptions): Promise<FileStore> {
  return FileStore.open(options);
}

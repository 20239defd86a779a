import { readFileSync } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import { StoreLockedError } from '../domain/errors.js';

/** Lock files this process holds: a lock naming our pid but not listed here was left by an earlier process. */
const heldHere = new Set<string>();

/** Held while a process owns a store; released on close. A lock whose process is gone (a crash) is taken over. */
export class LockFile {
  readonly path: string;
  #held = false;

  private constructor(path: string) {
    this.path = path;
  }

  static async acquire(path: string, storeFile: string): Promise<LockFile> {
    for (let attempt = 0; attempt < 3; attempt += 1) {
      try {
        const handle = await open(path, 'wx');
        try {
          await handle.writeFile(`${process.pid}\n`);
          await handle.sync();
        } finally {
          await handle.close();
        }
        const lock = new LockFile(path);
        lock.#held = true;
        heldHere.add(path);
        return lock;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        const holder = readHolder(path);
        if (holder === process.pid && heldHere.has(path))
          throw new StoreLockedError(storeFile, 'by this process');
        // Our pid without our lock: an earlier process that had the same pid (a container restart) died.
        if (holder !== undefined && holder !== process.pid && isAlive(holder)) {
          throw new StoreLockedError(storeFile, `by process ${holder}`);
        }
        // The holder died without releasing it (kill -9): the lock is stale.
        await unlink(path).catch(() => {});
      }
    }
    throw new StoreLockedError(storeFile, 'the lock file keeps reappearing');
  }

  async release(): Promise<void> {
    if (!this.#held) return;
    this.#held = false;
    heldHere.delete(this.path);
    if (readHolder(this.path) === process.pid) await unlink(this.path).catch(() => {});
  }
}

function readHolder(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

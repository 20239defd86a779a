import { randomBytes } from 'node:crypto';
import { link, open, readdir, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { StoreCorruptError, StoreLockedError } from '../domain/errors.js';
import { isProcessAlive, readRegularFile } from './durable-json-file.js';

/**
 * An empty or unreadable lock younger than this is a process still creating it (an older version of this code
 * created the file first and wrote its pid after), so it counts as held; older, it is a crash's leftover.
 */
export const EMPTY_LOCK_GRACE_MS = 10_000;

/** Lock paths (resolved) this process holds or is acquiring: a second open in one process is refused at once. */
const claimedHere = new Set<string>();

/** Who a lock file names. `token` tells apart two locks of one pid (a process that restarted with the same pid). */
interface Holder {
  pid: number | undefined;
  token: string;
}

/**
 * Held while a process owns a store; released on close. A lock whose process is gone (a crash) is taken over.
 *
 * Every step is atomic, so any number of processes racing for one store end with exactly one owner:
 * - a lock is written in full to a private temp file first and then `link()`ed into place, which fails if a lock
 *   exists; nobody ever sees a lock half-written (where `link` is unsupported, `open(wx)` plus the grace period
 *   above stands in);
 * - a stale lock is taken over only by whoever wins a second lock named after that stale lock's token (itself
 *   acquired the same way, so a crash mid-takeover is taken over in turn). The winner checks the stale lock is
 *   still there, removes it, and links its own; a process that finds a lock it cannot judge stale backs off;
 * - `release()` removes the lock only while it still names this process and token.
 */
export class LockFile {
  readonly path: string;
  readonly #token: string;
  #held = true;

  private constructor(path: string, token: string) {
    this.path = path;
    this.#token = token;
  }

  static async acquire(path: string, storeFile: string): Promise<LockFile> {
    const key = resolve(path);
    if (claimedHere.has(key)) throw new StoreLockedError(storeFile, 'by this process');
    claimedHere.add(key);
    const token = randomBytes(8).toString('hex');
    try {
      const content = `${process.pid}\n${token}\n`;
      await acquireFile(path, content, storeFile);
      const lock = new LockFile(path, token);
      await removeTakeoverLeftovers(path);
      return lock;
    } catch (error) {
      claimedHere.delete(key);
      throw error;
    }
  }

  /** Removes the lock if it still names this process and token; a lock someone else holds is left alone. */
  async release(): Promise<void> {
    if (!this.#held) return;
    this.#held = false;
    try {
      const holder = await readHolder(this.path).catch(() => undefined);
      if (holder?.pid === process.pid && holder.token === this.#token)
        await unlink(this.path).catch(() => {});
    } finally {
      claimedHere.delete(resolve(this.path));
    }
  }
}

/**
 * Makes `path` hold `content`, atomically, or throws `StoreLockedError`. Takes over a stale lock through a
 * second lock named after it, acquired by this same function: at most one process removes a given stale lock.
 */
async function acquireFile(path: string, content: string, storeFile: string): Promise<void> {
  // A few rounds: a lock can vanish between a failed create and the read of it (its owner closed).
  for (let round = 0; round < 5; round += 1) {
    if (await createExclusive(path, content)) return;
    const holder = await readHolder(path);
    if (holder === undefined) continue; // Released meanwhile: try again.
    const stale = await staleness(path, holder, storeFile);
    // Taking over: whoever wins `<lock>.takeover-<token>` may replace this one stale lock, and nobody else.
    const takeover = `${path}.takeover-${holder.token}`;
    await acquireFile(takeover, content, storeFile).catch((error: unknown) => {
      if (error instanceof StoreLockedError)
        throw new StoreLockedError(storeFile, `${stale} is being taken over`);
      throw error;
    });
    try {
      const still = await readHolder(path);
      // Anyone else who read this stale lock is still waiting on the takeover lock we hold, so it is ours to remove.
      if (still?.token === holder.token) await unlink(path).catch(() => {});
      if (await createExclusive(path, content)) return;
    } finally {
      await removeIfOurs(takeover, content);
    }
  }
  throw new StoreLockedError(storeFile, 'the lock file keeps changing hands');
}

/** Throws `StoreLockedError` if `holder`'s lock is live; otherwise says which stale lock it is, for messages. */
async function staleness(path: string, holder: Holder, storeFile: string): Promise<string> {
  if (holder.pid === undefined) {
    const age = await stat(path).then(
      (info) => Date.now() - info.mtimeMs,
      () => 0,
    );
    if (age < EMPTY_LOCK_GRACE_MS) throw new StoreLockedError(storeFile, 'by a process that is opening it');
    return 'an empty lock file';
  }
  // Our own pid on a lock this process does not hold: an earlier process with the same pid (a container restart).
  if (holder.pid !== process.pid && isProcessAlive(holder.pid)) {
    throw new StoreLockedError(storeFile, `by process ${holder.pid}`);
  }
  return `the lock of dead process ${holder.pid}`;
}

/** Creates `path` holding `content` if it does not exist; false if it does. Never leaves it empty or partial. */
async function createExclusive(path: string, content: string): Promise<boolean> {
  const temp = join(dirname(path), `${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  await writeSynced(temp, content, 'wx');
  try {
    await link(temp, path);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw error;
    // No hard links on this file system: create in place. Readers may see it empty for a moment (the grace).
    try {
      await writeSynced(path, content, 'wx');
      return true;
    } catch (fallbackError) {
      if ((fallbackError as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw fallbackError;
    }
  } finally {
    await unlink(temp).catch(() => {});
  }
}

async function writeSynced(path: string, content: string, flags: string): Promise<void> {
  const handle = await open(path, flags);
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function removeIfOurs(path: string, content: string): Promise<void> {
  const holder = await readHolder(path);
  if (holder && `${holder.pid}\n${holder.token}\n` === content) await unlink(path).catch(() => {});
}

/**
 * Who holds the lock at `path`; `undefined` if there is none. A lock without a pid (empty, or not ours) gets a
 * token from its inode and mtime, so the takeover lock of one such file is never mistaken for another's.
 */
async function readHolder(path: string): Promise<Holder | undefined> {
  let buffer: Buffer | undefined;
  try {
    buffer = await readRegularFile(path);
  } catch (error) {
    if (error instanceof StoreCorruptError) throw error;
    return undefined;
  }
  if (buffer === undefined) return undefined;
  const [pidLine = '', token = ''] = buffer.toString('utf8').split('\n');
  const pid = /^\d{1,10}$/.test(pidLine.trim()) ? Number(pidLine.trim()) : undefined;
  if (pid !== undefined && pid > 0 && /^[0-9a-f]{16}$/.test(token)) return { pid, token };
  // Written by an older version (pid only) or by nobody we know: name it by the file itself.
  const info = await stat(path).catch(() => undefined);
  if (!info) return undefined;
  const fileToken = `f${info.ino}-${Math.trunc(info.mtimeMs)}`;
  return { pid: pid !== undefined && pid > 0 ? pid : undefined, token: fileToken };
}

/**
 * Removes what a crash in the middle of a takeover can leave: takeover locks and lock temp files of processes
 * that are gone. Called while holding the lock, so no takeover of it is under way; a live process's files stay.
 */
async function removeTakeoverLeftovers(path: string): Promise<void> {
  const dir = dirname(path);
  const prefix = `${basename(path)}.`;
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.startsWith(prefix) || name === basename(path)) continue;
    const full = join(dir, name);
    if (name.endsWith('.tmp')) {
      // `<lock>[.takeover-<token>].<pid>.<random>.tmp`
      const pid = Number(name.split('.').at(-3));
      if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && !isProcessAlive(pid)) {
        await unlink(full).catch(() => {});
      }
    } else if (name.slice(prefix.length).startsWith('takeover-')) {
      const holder = await readHolder(full).catch(() => undefined);
      if (holder?.pid !== undefined && holder.pid !== process.pid && !isProcessAlive(holder.pid)) {
        await unlink(full).catch(() => {});
      }
    }
  }
}

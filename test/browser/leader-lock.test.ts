import { describe, expect, it } from 'vitest';
import { type HeldLock, MemoryLockManager, memoryLocks, webLocks } from '../../src/browser/leader-lock.js';

describe('memoryLocks (webLocks on an in-memory navigator.locks)', () => {
  it('grants one holder at a time, then the waiting tabs in request order', async () => {
    const manager = new MemoryLockManager();
    const locks = memoryLocks(manager);
    const order: string[] = [];
    const first = await locks.acquire('app');
    const inOrder = (name: string) => (held: HeldLock) => {
      order.push(name);
      return held;
    };
    const second = locks.acquire('app').then(inOrder('second'));
    const third = locks.acquire('app').then(inOrder('third'));
    await Promise.resolve();
    expect(order).toEqual([]);
    first.release();
    expect(await first.lost).toBe('released');
    const held2 = await second;
    expect(order).toEqual(['second']);
    held2.release();
    const held3 = await third;
    expect(order).toEqual(['second', 'third']);
    held3.release();
    await held3.lost;
    expect(manager.heldNames).toEqual([]);
  });

  it('another name is another lock', async () => {
    const locks = memoryLocks();
    const a = await locks.acquire('a');
    const b = await locks.acquire('b');
    a.release();
    b.release();
    expect(await Promise.all([a.lost, b.lost])).toEqual(['released', 'released']);
  });

  it('a waiting acquisition gives up when its signal aborts, and leaves the line', async () => {
    const locks = memoryLocks();
    const holder = await locks.acquire('app');
    const abort = new AbortController();
    const waiting = locks.acquire('app', { signal: abort.signal });
    const after = locks.acquire('app');
    abort.abort(new Error('gave up'));
    await expect(waiting).rejects.toThrow('gave up');
    holder.release();
    const next = await after;
    next.release();
    await expect(locks.acquire('app', { signal: AbortSignal.abort(new Error('already')) })).rejects.toThrow(
      'already',
    );
  });

  it('a steal takes the lock at once, ahead of the line; the old holder learns it was stolen', async () => {
    const locks = memoryLocks();
    const frozen = await locks.acquire('app');
    const waiting = locks.acquire('app');
    const thief = await locks.acquire('app', { steal: true });
    expect(await frozen.lost).toBe('stolen');
    // The old holder letting go afterwards changes nothing: the thief still holds it, the line still waits.
    frozen.release();
    let waited = false;
    void waiting.then(() => (waited = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(waited).toBe(false);
    thief.release();
    expect(await thief.lost).toBe('released');
    (await waiting).release();
  });
});

describe('webLocks', () => {
  it('passes mode exclusive and the signal, never a signal with steal (the API refuses the pair)', async () => {
    const seen: unknown[] = [];
    const locks = webLocks({
      request(_name, options, callback) {
        seen.push(options);
        return callback({});
      },
    });
    const signal = new AbortController().signal;
    (await locks.acquire('app', { signal })).release();
    (await locks.acquire('app', { steal: true })).release();
    expect(seen).toEqual([
      { mode: 'exclusive', signal },
      { mode: 'exclusive', steal: true },
    ]);
  });

  it('without navigator.locks it says what to pass instead', () => {
    expect(() => webLocks(undefined)).toThrow(/navigator\.locks.*LeaderLock/);
  });
});

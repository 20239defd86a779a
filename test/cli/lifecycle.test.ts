import { afterEach, describe, expect, it, vi } from 'vitest';
import { sleep } from '../../src/cli/lifecycle.js';
import { MAX_TIMER_DELAY_MS } from '../../src/core/timers.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('review of issue 10: the CLI sleep is clamped like every other timer', () => {
  it('waits the longest a timer can for a delay above 2^31-1 ms, instead of 1 ms; a negative or NaN one means now', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    let done = false;
    void sleep(2 ** 31 + 1_000).then(() => (done = true));
    // Fake timers fire an overflowing delay after 1 ms, as Node does.
    await vi.advanceTimersByTimeAsync(60_000);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(MAX_TIMER_DELAY_MS - 60_000);
    expect(done).toBe(true);
    // The other end of the clamp: a negative or NaN delay means now.
    const now: number[] = [];
    void sleep(-5).then(() => now.push(1));
    void sleep(Number.NaN).then(() => now.push(2));
    await vi.advanceTimersByTimeAsync(0);
    expect(now).toEqual([1, 2]);
  });
});

import { describe, expect, it } from 'vitest';
import { clampDelay, MAX_TIMER_DELAY_MS } from '../../src/core/timers.js';
import { InvalidOptionsError } from '../../src/index.js';
import { backoffDelay, DEFAULT_RETRY, resolveRetryPolicy } from '../../src/protocol/backoff.js';

describe('backoffDelay (exponential, full jitter)', () => {
  const policy = { baseDelayMs: 100, maxDelayMs: 1_000 };

  it('doubles the ceiling per attempt up to the cap', () => {
    expect([1, 2, 3, 4, 5, 10].map((attempt) => backoffDelay(attempt, policy, () => 1))).toEqual([
      100, 200, 400, 800, 1_000, 1_000,
    ]);
  });

  it('draws uniformly below the ceiling', () => {
    expect(backoffDelay(3, policy, () => 0)).toBe(0);
    expect(backoffDelay(3, policy, () => 0.5)).toBe(200);
    const draws = Array.from({ length: 200 }, () => backoffDelay(4, policy));
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...draws)).toBeLessThanOrEqual(800);
    expect(new Set(draws).size).toBeGreaterThan(20);
  });

  it("honours a server's Retry-After as the least delay", () => {
    expect(backoffDelay(1, policy, () => 0.1, 5_000)).toBe(5_000);
  });

  it('resolves defaults and refuses nonsense', () => {
    expect(resolveRetryPolicy()).toEqual(DEFAULT_RETRY);
    expect(resolveRetryPolicy({ maxAttempts: 2, baseDelayMs: undefined })).toEqual({
      ...DEFAULT_RETRY,
      maxAttempts: 2,
    });
    expect(() => resolveRetryPolicy({ baseDelayMs: -1 })).toThrow(InvalidOptionsError);
    expect(() => resolveRetryPolicy({ maxItemAttempts: 0 })).toThrow(/maxItemAttempts/);
    expect(() => resolveRetryPolicy({ baseDelayMs: 10, maxDelayMs: 5 })).toThrow(/maxDelayMs/);
  });
});

describe('clampDelay (every timer of the library)', () => {
  it('keeps ordinary delays, rounds up fractions', () => {
    expect([0, 1, 1.2, 500, 30_000].map(clampDelay)).toEqual([0, 1, 2, 500, 30_000]);
  });

  it('caps what setTimeout would fire after 1 ms, and maps nonsense to now', () => {
    expect(clampDelay(MAX_TIMER_DELAY_MS)).toBe(2 ** 31 - 1);
    expect(clampDelay(2 ** 31)).toBe(MAX_TIMER_DELAY_MS);
    expect(clampDelay(99_999_999_999_000)).toBe(MAX_TIMER_DELAY_MS);
    expect(clampDelay(Number.POSITIVE_INFINITY)).toBe(MAX_TIMER_DELAY_MS);
    expect(clampDelay(-5)).toBe(0);
    expect(clampDelay(Number.NEGATIVE_INFINITY)).toBe(0);
    expect(clampDelay(Number.NaN)).toBe(0);
  });

  it('backoffDelay never returns more than a timer can wait, whatever the policy or Retry-After', () => {
    const huge = { baseDelayMs: 1e12, maxDelayMs: 1e15 };
    expect(backoffDelay(30, huge, () => 1)).toBe(MAX_TIMER_DELAY_MS);
    expect(backoffDelay(1, policy(), () => 0.5, 99_999_999_999_000)).toBe(MAX_TIMER_DELAY_MS);
    expect(backoffDelay(1, policy(), () => 0.5, Number.POSITIVE_INFINITY)).toBe(MAX_TIMER_DELAY_MS);
  });
});

function policy() {
  return { baseDelayMs: 100, maxDelayMs: 1_000 };
}

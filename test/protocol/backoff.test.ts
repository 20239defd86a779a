import { describe, expect, it } from 'vitest';
import { backoffDelay, DEFAULT_RETRY, InvalidOptionsError, resolveRetryPolicy } from '../../src/index.js';

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

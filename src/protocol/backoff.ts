import { clampDelay } from '../core/timers.js';
import { InvalidOptionsError } from '../domain/errors.js';
import type { RetryOptions, RetryPolicy } from '../domain/types.js';

export const DEFAULT_RETRY: RetryPolicy = Object.freeze({
  baseDelayMs: 500,
  maxDelayMs: 30_000,
  maxAttempts: 5,
  maxItemAttempts: 8,
});

export function resolveRetryPolicy(options: RetryOptions = {}): RetryPolicy {
  const policy = { ...DEFAULT_RETRY, ...stripUndefined(options) };
  for (const key of ['baseDelayMs', 'maxDelayMs'] as const) {
    if (!Number.isFinite(policy[key]) || policy[key] < 0) {
      throw new InvalidOptionsError(`retry.${key} must be a non-negative number, got ${policy[key]}`);
    }
  }
  for (const key of ['maxAttempts', 'maxItemAttempts'] as const) {
    if (!Number.isInteger(policy[key]) || policy[key] < 1) {
      throw new InvalidOptionsError(`retry.${key} must be a whole number of at least 1, got ${policy[key]}`);
    }
  }
  if (policy.maxDelayMs < policy.baseDelayMs) {
    throw new InvalidOptionsError('retry.maxDelayMs must not be less than retry.baseDelayMs');
  }
  return policy;
}

/**
 * Exponential backoff with full jitter: a uniform delay in [0, min(cap, base * 2^(attempt-1))].
 * Full jitter spreads retries of many clients after a shared outage; `leastMs` (a server's Retry-After) wins if larger.
 * Clamped to what a timer can wait (`clampDelay`), however large the policy or the Retry-After.
 */
export function backoffDelay(
  attempt: number,
  policy: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs'>,
  random: () => number = Math.random,
  leastMs = 0,
): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 30);
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** exponent);
  return clampDelay(Math.max(Math.round(random() * ceiling), leastMs));
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * The longest delay `setTimeout` honours: 2^31-1 ms (about 24.8 days). Node fires a longer one after 1 ms, so an
 * unclamped huge delay (a far `Retry-After`, a raised cap) turns a wait into a retry storm.
 */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/**
 * A delay every timer can take as given: whole milliseconds in [0, MAX_TIMER_DELAY_MS]. Infinity and anything
 * longer wait the longest a timer can; negative values and NaN (a bug upstream, which Node would also run at once)
 * mean now.
 */
export function clampDelay(ms: number): number {
  if (Number.isNaN(ms) || ms <= 0) return 0;
  if (ms >= MAX_TIMER_DELAY_MS) return MAX_TIMER_DELAY_MS;
  return Math.ceil(ms);
}

import { InvalidArgumentError } from 'commander';

/** A commander parser for a whole number in [min, max]. */
export function wholeNumber(min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`Expected a whole number from ${min} to ${max}.`);
    }
    return n;
  };
}

/** A commander parser for a probability from 0 to 1. */
export function rate(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) {
    throw new InvalidArgumentError('Expected a number from 0 to 1, e.g. 0.03.');
  }
  return n;
}

/** A commander parser for a non-empty string. */
export function nonEmpty(value: string): string {
  if (value.trim() === '') throw new InvalidArgumentError('Expected a non-empty value.');
  return value;
}

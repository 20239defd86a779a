/** Key names whose values never reach an inspector, a trace or a log. */
export const SECRET_KEY_PATTERN =
  /token|authorization|password|passwd|secret|api[-_]?key|cookie|credential|session[-_]?key/i;

export const REDACTED = '[redacted]';

export interface SanitizeOptions {
  /** More key names (exact) or patterns whose values are redacted. */
  secretKeys?: readonly (string | RegExp)[];
  /** Literal secret values (a token, say) scrubbed wherever they appear in strings. */
  secretValues?: readonly string[];
  /** Deeper structures are cut. Default 6. */
  maxDepth?: number;
  /** Longer arrays are cut to this many items plus a note. Default 20. */
  maxArrayItems?: number;
  /** Longer strings are cut. Default 500. */
  maxStringLength?: number;
}

export type Sanitizer = (value: unknown) => unknown;

/**
 * Makes a JSON-safe copy fit for display: secrets redacted by key and by value, `Bearer …` strings redacted,
 * functions and symbols named instead of kept, cycles and depth cut, long arrays and strings shortened.
 */
export function createSanitizer(options: SanitizeOptions = {}): Sanitizer {
  const maxDepth = options.maxDepth ?? 6;
  const maxArray = options.maxArrayItems ?? 20;
  const maxString = options.maxStringLength ?? 500;
  const secretValues = (options.secretValues ?? []).filter((value) => value.length >= 4);
  const exactKeys = new Set(options.secretKeys?.filter((k): k is string => typeof k === 'string'));
  const keyPatterns = [
    SECRET_KEY_PATTERN,
    ...(options.secretKeys ?? []).filter((k): k is RegExp => k instanceof RegExp),
  ];
  const isSecretKey = (key: string) => exactKeys.has(key) || keyPatterns.some((pattern) => pattern.test(key));

  const scrub = (text: string): string => {
    let out = text.replace(/\bBearer\s+[^\s"',}]+/gi, `Bearer ${REDACTED}`);
    for (const secret of secretValues) out = out.split(secret).join(REDACTED);
    return out.length > maxString ? `${out.slice(0, maxString)}… (${out.length} chars)` : out;
  };

  const walk = (value: unknown, depth: number, seen: WeakSet<object>): unknown => {
    switch (typeof value) {
      case 'string':
        return scrub(value);
      case 'number':
        return Number.isFinite(value) ? value : String(value);
      case 'boolean':
      case 'undefined':
        return value;
      case 'bigint':
        return `${value}n`;
      case 'symbol':
        return value.toString();
      case 'function':
        return `[function ${value.name || 'anonymous'}]`;
    }
    if (value === null) return null;
    const object = value as object;
    if (seen.has(object)) return '[circular]';
    if (depth >= maxDepth) return Array.isArray(object) ? `[array of ${object.length}]` : '[object]';
    seen.add(object);
    try {
      if (value instanceof Error) return { name: value.name, message: scrub(value.message) };
      if (value instanceof Date) return value.toISOString();
      if (value instanceof Map) return walk(Object.fromEntries(value), depth, seen);
      if (value instanceof Set) return walk([...value], depth, seen);
      if (Array.isArray(value)) {
        const items = value.slice(0, maxArray).map((item) => walk(item, depth + 1, seen));
        if (value.length > maxArray) items.push(`… ${value.length - maxArray} more`);
        return items;
      }
      const out: Record<string, unknown> = {};
      for (const [key, entry] of Object.entries(object)) {
        // Own keys only, and never onto a prototype: "__proto__" becomes a plain property.
        Object.defineProperty(out, key, {
          value: isSecretKey(key) ? REDACTED : walk(entry, depth + 1, seen),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return out;
    } finally {
      seen.delete(object);
    }
  };

  return (value) => walk(value, 0, new WeakSet());
}

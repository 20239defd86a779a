import { createHash } from 'node:crypto';

/**
 * The longest key kept as it is, in UTF-8 bytes: a key of the records' primary key holds partition, entity type and
 * id, and a btree entry must stay under about 2,700 bytes.
 */
export const MAX_PLAIN_KEY_BYTES = 256;

/**
 * A string as a PostgreSQL `text` key holds it. PostgreSQL text refuses NUL, and node-postgres turns a lone
 * surrogate into U+FFFD (so two ids would become one): the key is the body of the string's JSON literal, which
 * escapes both and is one-to-one. A key longer than `MAX_PLAIN_KEY_BYTES` becomes `"` and its SHA-256 (an escaped
 * body never starts with a bare `"`, so the two spellings never meet).
 */
export function sqlKey(value: string): string {
  const body = JSON.stringify(value).slice(1, -1);
  if (Buffer.byteLength(body, 'utf8') <= MAX_PLAIN_KEY_BYTES) return body;
  return `"${createHash('sha256').update(body, 'utf8').digest('base64url')}`;
}

/** Whether `sqlKey` hashed the string it spelled (it was too long to keep). */
export function isHashedKey(key: string): boolean {
  return key.startsWith('"');
}

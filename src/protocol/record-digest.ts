/**
 * A short fingerprint of a record's content as the server keeps it: everything but the writer's bookkeeping
 * (`syncPending`, `baseVersion`, `ownVersions`) and a `deleted: false` (the same record as one without it), with
 * keys sorted at every level (a server may store fields in another order). Used to tell a record the server holds
 * at some version apart from another writer's record at the same number: a client lists the versions it pushed
 * without hearing back (`ownVersions`) with their fingerprints, and the server (on push) and the pull planner
 * compare. FNV-1a over the canonical JSON, two 32-bit lanes: not a cryptographic hash, and it need not be one (it
 * only decides whether a write was a client's own; a writer who could forge one could write anyway).
 */
export function recordDigest(record: object): string {
  const json = stableJson(serverContent(record));
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < json.length; i += 1) {
    const c = json.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995) ^ (b >>> 15);
  }
  return (a >>> 0).toString(16).padStart(8, '0') + (b >>> 0).toString(16).padStart(8, '0');
}

/** A record without the writer's bookkeeping: what the server stores of it and serves back. */
export function serverContent(record: object): Record<string, unknown> {
  const {
    syncPending: _pending,
    baseVersion: _base,
    ownVersions: _own,
    ...rest
  } = record as Record<string, unknown>;
  if (rest.deleted !== true) delete rest.deleted;
  return rest;
}

/** JSON with every object's keys sorted; a key named `__proto__` is kept as data. */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = Object.create(null);
    for (const key of Object.keys(v).sort()) sorted[key] = (v as Record<string, unknown>)[key];
    return sorted;
  });
}

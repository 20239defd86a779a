/**
 * The demo's agreement check, as a pure function: the oracle that says whether the server and every client hold the
 * same live records. It must be able to fail: each kind of difference is reported, naming the client.
 */
import { describe, expect, it } from 'vitest';
import { type AgreementInput, type ClientRecords, checkAgreement } from '../../src/cli/agreement.js';
import { formatAgreement, verdict } from '../../src/cli/summary.js';
import type { FailureRecord, RepositoryEntity } from '../../src/domain/types.js';
import type { StoredItem } from '../../src/server/server-state.js';

const entity = (id: string, version: number, extra: Record<string, unknown> = {}): RepositoryEntity => ({
  id,
  version,
  createdAt: 1,
  updatedAt: 1,
  syncPending: false,
  ...extra,
});

const tombstone = (id: string, version: number, pending = false): RepositoryEntity => ({
  ...entity(id, version, { deleted: true }),
  syncPending: pending,
});

const stored = (item: RepositoryEntity, appliedVersions = [item.version]): StoredItem => ({
  item: { ...item, syncPending: false },
  appliedCount: appliedVersions.length,
  appliedVersions,
});

const deadLetter = (
  id: string,
  version: number,
  lastError = 'Injected fault: item rejected',
): FailureRecord => ({
  id,
  version,
  attempts: 1,
  lastError,
  retryable: false,
  nextAttemptAt: undefined,
  deadLettered: true,
  failedAt: 1,
});

const a = entity('a', 1, { text: 'A' });
const b = entity('b', 2, { text: 'B' });

/** Two clients that hold what the server holds: a and b live, d deleted (the phone keeps its acked tombstone). */
function agreeing(): AgreementInput {
  return {
    entityType: 'note',
    server: [stored(a), stored(b, [1, 2])],
    tombstones: [tombstone('d', 3)],
    clients: [
      { client: 'phone', local: [a, b, tombstone('d', 3)], failures: [] },
      { client: 'laptop', local: [a, b], failures: [] },
    ],
  };
}

/** `agreeing()` with the laptop's side replaced. */
function withLaptop(laptop: Partial<ClientRecords>): AgreementInput {
  const input = agreeing();
  const [phone, before] = input.clients as [ClientRecords, ClientRecords];
  return { ...input, clients: [phone, { ...before, ...laptop }] };
}

const problems = (input: AgreementInput) =>
  checkAgreement([input]).differences.map((d) => `${d.client ?? 'server'} ${d.id}: ${d.problem}`);

describe('checkAgreement with two clients', () => {
  it('agrees when both clients hold every live server record at its version and content', () => {
    const report = checkAgreement([agreeing()]);
    expect(report).toMatchObject({ agree: true, clients: ['phone', 'laptop'], matched: 2, deleted: 1 });
    expect(report.differences).toEqual([]);
    expect(verdict(report, { conflicts: 3, policy: 'server-wins' })).toBe(
      '✔ phone, laptop and server agree: 2 live records, 1 deleted; 3 conflicts resolved (server-wins); ' +
        '0 applied twice, 0 dead-lettered',
    );
    expect(formatAgreement(report)[0]).toBe(
      '  note           2 live on phone, laptop and the server at the same version and content, 1 deleted, ' +
        '0 applied twice, 0 dead-lettered',
    );
  });

  it('reports a record that differs on one client', () => {
    const input = withLaptop({ local: [entity('a', 1, { text: 'changed' }), b] });
    expect(problems(input)).toEqual(['laptop a: content differs on the laptop at v1 (text)']);
    const report = checkAgreement([input]);
    expect(report.agree).toBe(false);
    expect(report.matched).toBe(1);
    expect(verdict(report)).toBe('✘ phone, laptop and server disagree: 1 difference (listed above)');
  });

  it('reports a record at another version on one client', () => {
    expect(problems(withLaptop({ local: [a, entity('b', 1, { text: 'B' })] }))).toEqual([
      'laptop b: laptop v1, server v2',
    ]);
  });

  it('reports a record missing on one client', () => {
    expect(problems(withLaptop({ local: [a] }))).toEqual(['laptop b: on the server but not on the laptop']);
  });

  it('reports an extra record on one client: one the server never had, and one it deleted', () => {
    const input = withLaptop({ local: [a, b, entity('e', 1), entity('d', 2)] });
    expect(problems(input)).toEqual([
      'laptop e: synced on the laptop at v1, but missing on the server',
      'laptop d: synced on the laptop at v2, but deleted on the server at v3',
    ]);
  });

  it('reports changes and deletes still pending, and a delete the server did not take', () => {
    const input = withLaptop({
      local: [{ ...a, version: 2, syncPending: true }, tombstone('b', 3, true), tombstone('f', 1)],
    });
    const extra = { ...input, server: [...input.server, stored(entity('f', 2))] };
    expect(problems(extra)).toEqual([
      'phone f: on the server but not on the phone',
      'laptop a: change still pending on the laptop at v2 (the server holds v1)',
      'laptop b: delete still pending on the laptop at v3 (the server holds v2)',
      'laptop f: deleted on the laptop at v1, live on the server at v2',
    ]);
  });

  it('reports a version the server applied twice once, as the server’s', () => {
    const input = agreeing();
    const report = checkAgreement([{ ...input, server: [stored(a), stored(b, [1, 2, 2])] }]);
    expect(report.appliedTwice).toBe(1);
    expect(report.differences).toEqual([
      { entityType: 'note', id: 'b', problem: 'applied twice by the server (versions applied: 1, 2, 2)' },
    ]);
  });

  it('lists a dead letter with its client, and accepts it while the server holds no newer version', () => {
    const c = { ...entity('c', 1, { text: 'C' }), syncPending: true };
    const input = withLaptop({ local: [a, b, c], failures: [deadLetter('c', 1)] });
    const report = checkAgreement([input]);
    expect(report.agree).toBe(true);
    expect(report.deadLetters).toEqual([
      {
        entityType: 'note',
        client: 'laptop',
        id: 'c',
        version: 1,
        reason: 'Injected fault: item rejected',
        heldByServer: false,
      },
    ]);
    expect(verdict(report)).toBe(
      '✔ phone, laptop and server agree: 2 live records, 1 deleted; 0 applied twice, 1 dead-lettered (rejected by the server)',
    );
    expect(formatAgreement(report).join('\n')).toContain('laptop: note/c v1: Injected fault: item rejected');

    const newer = { ...input, server: [...input.server, stored(entity('c', 2, { text: 'C2' }))] };
    expect(problems(newer)).toEqual([
      'phone c: on the server but not on the phone',
      'laptop c: dead-lettered on the laptop at v1, yet the server holds v2',
    ]);
  });

  it('accepts a dead letter the server holds at the same version and content (baseVersion aside), and says so', () => {
    const c = { ...entity('c', 2, { text: 'C' }), syncPending: true, baseVersion: 1 };
    const input = agreeing();
    const report = checkAgreement([
      {
        ...input,
        server: [...input.server, stored(entity('c', 2, { text: 'C' }))],
        clients: [
          { client: 'phone', local: [a, b, entity('c', 2, { text: 'C' })], failures: [] },
          { client: 'laptop', local: [a, b, c], failures: [deadLetter('c', 2)] },
        ],
      },
    ]);
    expect(report.agree).toBe(true);
    expect(report.deadLetters[0]?.heldByServer).toBe(true);
    expect(report.matched).toBe(2);
    expect(verdict(report)).toContain('1 of them held by the server at the same version');
  });

  it('ignores key order and syncPending when comparing content', () => {
    const reordered = { text: 'A', version: 1, id: 'a', updatedAt: 1, createdAt: 1, syncPending: true };
    const input = agreeing();
    const report = checkAgreement([{ ...input, server: [stored(reordered), ...input.server.slice(1)] }]);
    expect(report.agree).toBe(true);
  });
});

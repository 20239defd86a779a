/**
 * `npm run reliability [-- --scale N]`: runs the reliability suites at N times their `npm test` size (default 10),
 * gathers the figures each suite recorded, prints a table and writes docs/reliability.md.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPORT_DIR } from '../test/reliability/report.js';

const scaleArg = process.argv.indexOf('--scale');
const scale = scaleArg > 0 ? Number(process.argv[scaleArg + 1]) : 10;
if (!Number.isInteger(scale) || scale < 1) throw new Error('--scale takes a whole number of at least 1');

const SUITES = [
  'test/reliability',
  'test/e2e/crash.test.ts',
  'test/e2e/pull-crash.test.ts',
  'test/e2e/pull-kill.test.ts',
  'test/e2e/live.test.ts',
  'test/e2e/postgres-scale-out.test.ts',
].filter((path) => existsSync(path));
rmSync(REPORT_DIR, { recursive: true, force: true });
const started = Date.now();
const run = spawnSync('npx', ['vitest', 'run', ...SUITES], {
  stdio: 'inherit',
  env: { ...process.env, RELIABILITY_SCALE: String(scale) },
});
const seconds = Math.round((Date.now() - started) / 1000);

const figures = existsSync(REPORT_DIR)
  ? readdirSync(REPORT_DIR)
      .filter((file) => file.endsWith('.json'))
      .sort()
      .map(
        (file) => JSON.parse(readFileSync(join(REPORT_DIR, file), 'utf8')) as Record<string, string | number>,
      )
  : [];

const rows = figures.flatMap(({ suite, ...rest }) =>
  Object.entries(rest).map(([name, value]) => `| ${suite} | ${name} | ${value} |`),
);
const passed = run.status === 0;
const table = ['| suite | figure | value |', '| --- | --- | --- |', ...rows].join('\n');
console.log(
  `\n${table}\n\n${passed ? 'All reliability suites passed' : 'Some reliability suites FAILED'} in ${seconds} s`,
);

const doc = `# Reliability

Sync libraries fail in the field in the same few ways: stuck queues that look healthy, lost writes after a crash
or a cancel, duplicates after a lost acknowledgement, listeners and timers that leak. Each suite below would catch
one of them; \`npm test\` runs them at a small size, \`npm run reliability\` at ${scale}× that size.

## Latest run

${passed ? 'All suites passed' : '**Some suites failed**'} (scale ${scale}, ${seconds} s, Node ${process.version}, 2 cores).
Figures are written by the tests themselves after their assertions pass; \`lost\`, \`appliedTwice\`, \`stuck\`,
\`overlaps\`, \`unopenable\` and \`leaks\` are counted, not assumed.

${table}

## What each suite does

- **chaos** (\`test/reliability/chaos.test.ts\`): three entity types sync to the reference server over HTTP with
  every fault kind mixed (one of each first, then 30% random: 500, 503 + Retry-After, 429, hangs past the client
  timeout, connection resets, commit-then-drop-the-reply, per-item rejects, malformed bodies, slow drip) while the
  app keeps editing records. Afterwards the server must hold exactly the latest version of every record that was not
  rejected, each version applied once; rejected records are dead-lettered locally with their reason; no entity
  actor is left syncing.
- **crash** (\`test/e2e/crash.test.ts\`): a child process syncing a lowdb store is killed with SIGKILL at random
  moments and restarted, also between the server's commit and the local acknowledgement. The store always opens,
  nothing is lost, nothing is applied twice.
- **pull-crash** (\`test/e2e/pull-crash.test.ts\`): a child process applies pulled pages of a change feed to a
  lowdb store and is killed with SIGKILL at random points, mid-pull; the next child resumes from the stored
  checkpoint. After every kill the store holds exactly the pages up to its checkpoint, never a checkpoint past data
  not stored, and the pull ends equal to the feed with no change skipped or applied twice.
- **live** (\`test/e2e/live.test.ts\`): two clients in live mode against the reference server. \`latencyMs\` is the time
  from one client's save (then sync) to the other's repository holding the record, with no sync asked of it;
  \`idleRequests\` counts both clients' requests for changes over \`idleSeconds\` with nothing changing (one held
  request each, renewed every \`liveWaitSeconds\`). It also stops the server (the watch backs off and resumes) and
  the coordinator (the held request ends at once).
- **live-postgres**: the live suite again with the server on the PostgreSQL store (vitest's \`postgres\` project runs
  the protocol suites twice).
- **postgres-scale-out** (\`test/e2e/postgres-scale-out.test.ts\`): two sync server processes on one PostgreSQL
  database behind a round-robin loopback proxy; three clients create, edit and delete while syncing both ways; one
  server is SIGKILLed while a batch is in it (and again once a batch it took is committed but not yet answered) and
  restarted. After a quiet round every client, the database and both servers hold the same live records; no version
  is applied twice; every write a client was acknowledged for is in the database; every batch a kill left
  unanswered was retried under its own key. **postgres-live-across-processes**: a client long-polling one server
  hears of a push to the other (LISTEN/NOTIFY) within \`latencyMs\`.
- **pull-kill** (\`test/e2e/pull-kill.test.ts\`): a child process (\`test/fixtures/pull-sync-child.ts\`) syncs a lowdb
  store both ways with the reference server over HTTP, pulling 3,000 records with edits and deletes in pages of 50,
  and is killed with SIGKILL at random points (while pushing its own edits or while pulling); between kills the
  server changes and the client gets new local edits. After every kill the store opens read-only and is checked
  against every write of the server's change feed: every record whose latest write the stored checkpoint covers is
  held at least at that version, nothing went back, nothing is synced at a version the server never had, and no
  change is stored twice across kills. A final run ends equal to the server, with every edit of its own on it.
- **convergence** (\`test/reliability/convergence.test.ts\`): three clients (each its own lowdb store, repository
  syncing both ways and coordinator) and the reference server over HTTP. fast-check generates up to 40 steps:
  creates, edits and deletes over six ids on random clients (some during a run), syncs of one or all clients, a
  fault on the next push or pull (every kind, including a reply lost after the server applied the batch), restarts
  (some mid-run), under one conflict policy per sequence, with tombstones kept or purged at once (forcing resets).
  After a quiet round all three clients and the server hold the same live records at the same version and content,
  nothing pending, nothing deleted alive again, nothing applied twice. Fixed seed; \`FC_SEED=… FC_PATH=…\` replays.
  The divergences it found are kept beside it as regression tests, two open ones as \`it.fails\`.
- **property** (\`test/reliability/property.test.ts\`): fast-check generates random sequences of saves, edits during
  sync, syncs, cancels, network outages, server faults and restarts against a lowdb file and the reference server,
  and checks the invariants after every step against a simple model; once the network is healthy the outbox must
  drain. A failure prints its seed and path: replay with \`FC_SEED=… FC_PATH=… npx vitest run test/reliability/property.test.ts\`.
- **watchdog** (\`test/reliability/watchdog.test.ts\`): walks every error transition of the machines (read from their
  definitions; a new one without a scenario fails the test) and checks that a retry is scheduled while items are
  pending, that \`getProgress\` shows \`nextRetryAt\` and \`lastError\`, and that the retry drains the outbox.
- **pull-watchdog** (\`test/reliability/pull-watchdog.test.ts\`): the same for the pull machine: one scenario per
  error transition (checkpoint read, fatal, exhausted and recovered retries, a reset beyond the cap, a late page, a
  store error), each ending where it should, an \`error\` ending with a visible retry (after the reset window for
  \`PULL_RESET_LIMIT\`), and the retry leaving the client equal to the server with nobody calling \`sync()\`.
- **leaks** (\`test/reliability/leaks.test.ts\`): sync runs with failures and cancels; listener counts, timers, handles
  and live actors stay flat and heap growth is bounded.
- **bad-input** (\`test/reliability/bad-input.test.ts\`): a table of hostile and broken inputs, each with the typed
  error and message it must get.
- **store-races** (\`test/reliability/store-races.test.ts\`): six processes leave the start line within a fraction
  of a millisecond and open one store (retrying while it is locked), save one record, hold the store and close it;
  rounds start on a new store, a store used before, a lock left by a dead process and an old empty lock file. No two
  may hold the store at once, every acknowledged save must be there afterwards, and the store must always reopen.
- **hostile-remote-copies** (\`test/reliability/hostile-copies.test.ts\`): a hostile server answers conflicts with
  every kind of bad server copy (a bare \`{ id, version }\`, negative, fractional, huge, string, lower or equal
  versions, another id, \`null\`, bad timestamps, deep nesting, \`__proto__\` keys, extra fields) under server-wins,
  client-wins and a merge function, into a lowdb store that is then compacted, closed and reopened. Every store must
  reopen with a valid record whose version never went down; the item is resolved, or failed with a clear error.
- **hostile-replies** (\`test/reliability/hostile-replies.test.ts\`): a server that lies in every way a reply can
  (compression bombs, redirects to a host that accepts everything, three-century Retry-After, acks of other
  versions or ids, broken, empty, cut or 400,000-deep JSON, wrong statuses, resets, silence, bad conflict copies),
  each through a lowdb store, the coordinator and the HTTP remote. Nothing may be marked synced, the run must end,
  the error must be one of ours, the reader must stop at the size cap and requests stay bounded; then the store
  reopens and syncs everything to the reference server, each version applied once.
- **secrets** (\`test/reliability/secrets.test.ts\`): plants a bearer token, a 200-character JWT, a token seen only
  in a throwing \`getToken\`'s message, a base-URL password, its Basic-auth form and a configured API key. A hostile
  server echoes them in batch errors, item reasons, a 400's item list, a malformed reply, a 403, a redirect
  Location, a 401 followed by a failing refresh, a bad \`version\` that the schema message quotes and an unknown id,
  and puts the JWT into conflict copies as field names and values, nested past 64 levels and storable as they are.
  Every 12-character piece of every secret is then searched for in thrown errors (message, stack, cause chain),
  \`SyncResult\`s, failure records, progress events, logger calls, the trace file and the store's files on disk,
  leaving out only record contents the server sent as data: a storable copy holding a secret must be stored
  verbatim (records are never rewritten), and a copy that is refused must not be quoted in any message.
- **security** (\`test/reliability/security.test.ts\`): the server refuses missing and wrong tokens (compared in
  constant time via SHA-256 digests), oversized bodies and public binds; the inspector refuses requests without
  its token or from other origins; no token appears in logs, errors, results, progress, traces or inspector output.

## Reproduce

\`\`\`sh
npm ci
npm run reliability            # scale 10; --scale N for another size
\`\`\`
`;
writeFileSync('docs/reliability.md', doc);
// Formatted by the project's one formatter, so a regenerated report passes `biome check` as committed.
const formatted = spawnSync('npx', ['biome', 'format', '--write', 'docs/reliability.md'], {
  stdio: 'inherit',
});
if (formatted.status !== 0) throw new Error('biome could not format docs/reliability.md');
console.log('Wrote docs/reliability.md');
process.exit(passed ? 0 : 1);

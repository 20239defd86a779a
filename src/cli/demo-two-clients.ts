/**
 * The demo's story: two clients, a phone and a laptop, sync the same records through one server, both ways.
 *
 * 1. Both online: each creates its own records and syncs them while the other pulls them; the phone edits some
 *    records mid-sync, the laptop deletes some.
 * 2. The laptop goes offline: its sync fails and its app stops syncing, while both keep editing, deleting and
 *    creating; some of the laptop's changes touch records the phone changes too. The phone syncs.
 * 3. The laptop is back: it pushes what it did offline, meets the phone's changes as conflicts (resolved by the
 *    policy), and both pull until neither has anything left to push or pull.
 */
import type { ProgressStream } from '../core/progress-stream.js';
import type { RepositoryEntity, SyncResult } from '../domain/types.js';
import type { DemoClient, Repo } from './demo-client.js';
import {
  type Configuration,
  DEMO_TYPES,
  type DemoType,
  demoId,
  demoRecords,
  editConfiguration,
  seededRandom,
  splitCounts,
} from './demo-data.js';
import { sleep } from './lifecycle.js';
import { createProgressView, type ProgressView } from './progress-view.js';
import { formatCount, formatDuration, plural } from './table.js';

const print = (line = '') => console.log(line);

/** Records the phone re-saves while its first configuration run is under way, and at what point. */
const MID_SYNC_EDITS = 20;
const MID_SYNC_AT_PERCENT = 30;
/** Model records the laptop deletes (already synced ones) while its first model-info run is under way. */
const MID_SYNC_DELETES = 20;
/** What each client does while the laptop is offline (fewer when there are not enough records). */
const OFFLINE = {
  /** Configuration records both edit: edit/edit conflicts. */
  editedOnBoth: 12,
  /** Edited on the laptop, deleted on the phone: edit/delete conflicts. */
  laptopEditsPhoneDeletes: 3,
  /** Deleted on the laptop, edited on the phone: delete/edit conflicts. */
  laptopDeletesPhoneEdits: 3,
  /** Configuration records only the phone edits. */
  phoneOnlyEdits: 8,
  phoneDeletesTelemetry: 15,
  laptopDeletesTelemetry: 10,
  /** New configuration records each creates. */
  creates: 10,
} as const;

export interface ScenarioOptions {
  items: number;
  seed: number;
  /** Give up waiting for retries at this time (epoch ms). */
  deadline: number;
  tty: boolean;
}

export interface MidSyncEdit {
  /** The records as re-saved: a new value at the next `revision`. */
  saved: Configuration[];
  atPercent: number;
  alreadySynced: number;
}

/** The records both clients changed while the laptop was offline, by kind of conflict. */
export interface ConflictPlan {
  editedOnBoth: string[];
  laptopEditsPhoneDeletes: string[];
  laptopDeletesPhoneEdits: string[];
}

export interface ScenarioResult {
  settled: boolean;
  wallMs: number;
  edit: MidSyncEdit | undefined;
  plan: ConflictPlan;
  /** Deletes each client made (`repo.delete` calls that found a live record), by client name. */
  deletes: Map<string, number>;
}

/** Runs the three parts of the story; the clients' coordinators are left running (the inspector may show them). */
export async function runTwoClients(
  phone: DemoClient,
  laptop: DemoClient,
  options: ScenarioOptions,
): Promise<ScenarioResult> {
  const deletes = new Map([
    [phone.name, 0],
    [laptop.name, 0],
  ]);
  const remove = async (client: DemoClient, type: DemoType, ids: readonly string[]) => {
    let n = 0;
    for (const id of ids) if (await client.repo(type).delete(id)) n += 1;
    deletes.set(client.name, (deletes.get(client.name) ?? 0) + n);
    return n;
  };
  const started = Date.now();

  print();
  print('1. Both online: each creates its own records and syncs them; each pulls the other’s');
  await seed([phone, laptop], options);
  let view = watch([phone, laptop], options);
  const edit = editMidSync(phone, view);
  const deleteWork = deleteMidSync(laptop, view, remove);
  let settled = await syncUntilQuiet([phone, laptop], options.deadline, [edit, deleteWork]);
  view.stop();

  print();
  print('2. The laptop goes offline; both keep working, on some of the same records');
  const plan = planOfflineWork(options);
  laptop.setOnline(false);
  await laptopOffline(laptop, plan, remove);
  // The app does not know yet: it syncs as usual, and every request fails before it leaves the laptop.
  print(`  laptop  sync while offline: ${describeOfflineSync(await laptop.syncAll())}`);
  print('  laptop  the app stops syncing until the network is back');
  await laptop.pause();
  await phoneWhileLaptopOffline(phone, plan, remove);
  view = watch([phone], options);
  settled = (await syncUntilQuiet([phone], options.deadline)) && settled;
  view.stop();

  print();
  print(
    '3. The laptop is back online: it pushes what it did offline, meets the phone’s changes, and both pull',
  );
  laptop.setOnline(true);
  // A new coordinator: the laptop's runs count from 1 again.
  laptop.resume();
  view = watch([phone, laptop], options);
  settled = (await syncUntilQuiet([laptop, phone], options.deadline)) && settled;
  view.stop();
  const wallMs = Date.now() - started;
  return {
    settled,
    wallMs,
    edit: edit.result(),
    plan: {
      editedOnBoth: plan.editedOnBoth,
      laptopEditsPhoneDeletes: plan.laptopEditsPhoneDeletes,
      laptopDeletesPhoneEdits: plan.laptopDeletesPhoneEdits,
    },
    deletes,
  };
}

/** Each client creates its half of the records, in its own id range per type (the phone's first). */
async function seed(clients: readonly DemoClient[], options: ScenarioOptions): Promise<void> {
  const random = seededRandom(options.seed);
  const halves = [Math.ceil(options.items / 2), Math.floor(options.items / 2)];
  const first = Object.fromEntries(DEMO_TYPES.map((type) => [type, 1])) as Record<DemoType, number>;
  const now = Date.now();
  for (const [i, client] of clients.entries()) {
    const started = Date.now();
    const counts = splitCounts(halves[i] ?? 0);
    for (const type of DEMO_TYPES) {
      await client.repo(type).saveMany(demoRecords(type, counts[type], random, now, first[type]));
      first[type] += counts[type];
    }
    const parts = DEMO_TYPES.map((type) => `${formatCount(counts[type])} ${type}`).join(', ');
    print(`  ${client.name.padEnd(7)} created ${parts} in ${formatDuration(Date.now() - started)}`);
  }
}

function watch(clients: readonly DemoClient[], options: ScenarioOptions): ProgressView {
  return createProgressView(
    clients.map((client) => ({ label: client.name, progress: client.coordinator.progress })),
    DEMO_TYPES,
    { tty: options.tty },
  );
}

/** Work started from a progress event: awaited before the sync loop decides whether anything is left. */
interface MidSyncWork<T> {
  settled(): Promise<void>;
  result(): T | undefined;
}

/**
 * Starts `work` once, when `type`'s first run on `progress` has pushed `MID_SYNC_AT_PERCENT` of its records: the
 * records change while the sync that carries them is under way.
 */
function whenRunPasses<T>(progress: ProgressStream, type: DemoType, work: (percent: number) => Promise<T>) {
  let running: Promise<T> | undefined;
  let result: T | undefined;
  const subscription = progress.subscribe((p) => {
    if (running || p.entityType !== type || p.runId !== 1 || p.totalItems === 0) return;
    if (p.percent < MID_SYNC_AT_PERCENT) return;
    subscription.unsubscribe();
    running = work(p.percent).then((value) => {
      result = value;
      return value;
    });
    // Handled where `settled()` awaits it; this only keeps an early failure from counting as unhandled.
    running.catch(() => {});
  });
  return {
    settled: async () => {
      await running;
    },
    result: () => result,
  } satisfies MidSyncWork<T>;
}

/**
 * The phone re-saves 20 configuration records spread over the collection, some already synced, some not yet sent:
 * the edits must reach the server, and the laptop.
 */
function editMidSync(phone: DemoClient, view: ProgressView): MidSyncWork<MidSyncEdit> {
  const repo = phone.repo('configuration');
  return whenRunPasses(phone.coordinator.progress, 'configuration', async (atPercent) => {
    const chosen = spread(await repo.getAll(), MID_SYNC_EDITS) as Configuration[];
    const alreadySynced = chosen.filter((record) => !record.syncPending).length;
    const saved = (await repo.saveMany(
      chosen.map((record) => editConfiguration(record, phone.name)),
    )) as Configuration[];
    view.note(
      `  ✎ phone: configuration at ${atPercent}%: re-saved ${plural(saved.length, 'record')} mid-sync ` +
        `(${alreadySynced} already synced, ${saved.length - alreadySynced} not yet acknowledged)`,
    );
    return { saved, atPercent, alreadySynced };
  });
}

/** The laptop deletes 20 of its model records the server already holds: the deletes sync as tombstones. */
function deleteMidSync(
  laptop: DemoClient,
  view: ProgressView,
  remove: (client: DemoClient, type: DemoType, ids: readonly string[]) => Promise<number>,
): MidSyncWork<number> {
  const repo = laptop.repo('model-info');
  return whenRunPasses(laptop.coordinator.progress, 'model-info', async (atPercent) => {
    const synced = (await repo.getAll()).filter((record) => !record.syncPending);
    const deleted = await remove(laptop, 'model-info', ids(spread(synced, MID_SYNC_DELETES)));
    view.note(
      `  ✖ laptop: model-info at ${atPercent}%: deleted ${plural(deleted, 'synced record')} mid-sync`,
    );
    return deleted;
  });
}

/** Who changes what while the laptop is offline: drawn from the seed among the records both hold. */
interface OfflinePlan extends ConflictPlan {
  phoneOnlyEdits: string[];
  phoneDeletesTelemetry: string[];
  laptopDeletesTelemetry: string[];
  /** The next free number of each type's id range, for the records both create. */
  nextNumber: number;
}

function planOfflineWork(options: ScenarioOptions): OfflinePlan {
  const random = seededRandom(options.seed + 7);
  const counts = splitCounts(Math.ceil(options.items / 2));
  const laptopCounts = splitCounts(Math.floor(options.items / 2));
  // Every record the two created, by id: the same whatever the timing, so the seed alone decides who changes what.
  const idsOf = (type: DemoType) =>
    shuffle(
      Array.from({ length: counts[type] + laptopCounts[type] }, (_, i) => demoId(type, i + 1)),
      random,
    );
  const config = idsOf('configuration');
  const telemetry = idsOf('telemetry');
  return {
    editedOnBoth: config.splice(0, OFFLINE.editedOnBoth),
    laptopEditsPhoneDeletes: config.splice(0, OFFLINE.laptopEditsPhoneDeletes),
    laptopDeletesPhoneEdits: config.splice(0, OFFLINE.laptopDeletesPhoneEdits),
    phoneOnlyEdits: config.splice(0, OFFLINE.phoneOnlyEdits),
    phoneDeletesTelemetry: telemetry.splice(0, OFFLINE.phoneDeletesTelemetry),
    laptopDeletesTelemetry: telemetry.splice(0, OFFLINE.laptopDeletesTelemetry),
    nextNumber: Math.max(...DEMO_TYPES.map((type) => counts[type] + laptopCounts[type])) + 1,
  };
}

async function laptopOffline(
  laptop: DemoClient,
  plan: OfflinePlan,
  remove: (client: DemoClient, type: DemoType, ids: readonly string[]) => Promise<number>,
): Promise<void> {
  const edited = await edit(laptop, [...plan.editedOnBoth, ...plan.laptopEditsPhoneDeletes]);
  const deletedConfig = await remove(laptop, 'configuration', plan.laptopDeletesPhoneEdits);
  const deletedTelemetry = await remove(laptop, 'telemetry', plan.laptopDeletesTelemetry);
  const created = await create(laptop, plan.nextNumber + OFFLINE.creates);
  print(
    `  laptop  offline: edited ${plural(edited, 'configuration record')}, deleted ${deletedConfig} configuration ` +
      `and ${deletedTelemetry} telemetry, created ${created} configuration`,
  );
}

async function phoneWhileLaptopOffline(
  phone: DemoClient,
  plan: OfflinePlan,
  remove: (client: DemoClient, type: DemoType, ids: readonly string[]) => Promise<number>,
): Promise<void> {
  const shared = [...plan.editedOnBoth, ...plan.laptopDeletesPhoneEdits];
  const edited = await edit(phone, [...shared, ...plan.phoneOnlyEdits]);
  const deletedConfig = await remove(phone, 'configuration', plan.laptopEditsPhoneDeletes);
  const deletedTelemetry = await remove(phone, 'telemetry', plan.phoneDeletesTelemetry);
  const created = await create(phone, plan.nextNumber);
  const changedOffline = shared.length + plan.laptopEditsPhoneDeletes.length;
  print(
    `  phone   online: edited ${plural(edited, 'configuration record')}, deleted ${deletedConfig} configuration ` +
      `and ${deletedTelemetry} telemetry, created ${created} configuration (${changedOffline} of these records ` +
      'the laptop changed offline too), and syncs:',
  );
}

/** Edits the configuration records `ids` the client holds; resolves how many it edited. */
async function edit(client: DemoClient, ids: readonly string[]): Promise<number> {
  const repo = client.repo('configuration');
  const records = (await Promise.all(ids.map((id) => repo.get(id)))).filter(
    (record): record is RepositoryEntity => record !== undefined,
  );
  await repo.saveMany(records.map((record) => editConfiguration(record as Configuration, client.name)));
  return records.length;
}

/** Creates `OFFLINE.creates` configuration records numbered from `first`. */
async function create(client: DemoClient, first: number): Promise<number> {
  const random = seededRandom(first);
  const records = demoRecords('configuration', OFFLINE.creates, random, Date.now(), first);
  await client.repo('configuration').saveMany(records);
  return records.length;
}

/** What a sync without a network did: `failed after 9 retries (Network error: …): 38 changes kept pending, …`. */
function describeOfflineSync(results: readonly SyncResult[]): string {
  const failed = results.find((r) => r.state === 'error');
  if (!failed) return 'synced (the network was not down after all)';
  const retries = results.reduce((n, r) => n + r.retries, 0);
  const unsent = results.reduce((n, r) => n + r.totalItems - r.syncedItems, 0);
  const pulled = results.reduce((n, r) => n + r.pulledItems + r.deletedItems, 0);
  return (
    `failed after ${retries} ${retries === 1 ? 'retry' : 'retries'} (${failed.lastError ?? failed.errorMessage}): ` +
    `${plural(unsent, 'change')} kept pending (the server was out of reach: no attempt counted against them), ` +
    `${pulled > 0 ? `${pulled} pulled` : 'nothing pulled'}`
  );
}

/**
 * Syncs the clients until none has anything left: each syncs until its outbox is empty (waiting for scheduled
 * retries), then again until a round in which no client pushed, pulled or resolved anything. Returns false if the
 * deadline cut it short.
 */
async function syncUntilQuiet(
  clients: readonly DemoClient[],
  deadline: number,
  work: readonly MidSyncWork<unknown>[] = [],
): Promise<boolean> {
  for (;;) {
    const rounds = await Promise.all(clients.map((client) => syncUntilSettled(client, deadline, work)));
    if (!rounds.every((round) => round.settled)) return false;
    if (rounds.every((round) => !round.changed)) return true;
    if (Date.now() >= deadline) return false;
  }
}

/**
 * Syncs every type of `client` until nothing is due and no pull stopped early: mid-sync changes and retryable
 * failures go out in later runs. Waits for the next scheduled retry when only those are left.
 */
async function syncUntilSettled(
  client: DemoClient,
  deadline: number,
  work: readonly MidSyncWork<unknown>[],
): Promise<{ settled: boolean; changed: boolean }> {
  let changed = false;
  for (;;) {
    const results = await client.syncAll();
    await Promise.all(work.map((w) => w.settled()));
    changed ||= results.some((r) => r.syncedItems + r.pulledItems + r.deletedItems + r.conflicts > 0);
    const pullStopped = results.some((r) => r.state === 'error' && r.phase === 'pull');
    const now = Date.now();
    const outboxes = await Promise.all(
      [...client.repos.values()].map((repo: Repo) => repo.local.outbox(now)),
    );
    const due = outboxes.reduce((sum, o) => sum + o.total, 0);
    const next = Math.min(...outboxes.map((o) => o.nextDueAt ?? Number.POSITIVE_INFINITY));
    if (due === 0 && next === Number.POSITIVE_INFINITY && !pullStopped) return { settled: true, changed };
    if (now >= deadline || (due === 0 && !pullStopped && next > deadline)) return { settled: false, changed };
    if (due === 0 && !pullStopped) await sleep(next - now + 5);
  }
}

/** `count` records spread evenly over `records` (every n-th). */
function spread<T>(records: readonly T[], count: number): T[] {
  const step = Math.max(1, Math.floor(records.length / count));
  return records.filter((_, i) => i % step === 0).slice(0, count);
}

const ids = (records: readonly RepositoryEntity[]) => records.map((record) => record.id);

/** A seeded Fisher-Yates shuffle (a copy). */
function shuffle<T>(values: readonly T[], random: () => number): T[] {
  const out = [...values];
  for (let i = out.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

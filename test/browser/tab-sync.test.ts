/**
 * One syncing tab (issue 15): three "tabs" in one process, each with its own `TabSync`, its own repository on a
 * `MemoryLocalDataSource` and its own `HttpRemoteDataSource` to a real reference server on 127.0.0.1. They elect
 * through one in-memory lock (`memoryLocks`, the Web Locks adapter on an in-memory `navigator.locks`) and talk over
 * Node's real `BroadcastChannel`, a fresh channel name per test. Nothing of ours is mocked; the channel is wrapped
 * only to freeze a tab (it stops sending) or to see what it received.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  LeaderUnavailableError,
  MemoryLockManager,
  memoryLocks,
  type TabChannel,
  type TabChannelListener,
  TabSync,
  type TabSyncOptions,
} from '../../src/browser.js';
import { HttpRemoteDataSource } from '../../src/http.js';
import {
  CoordinatorStoppedError,
  MemoryLocalDataSource,
  Repository,
  type RepositoryEntity,
  SyncCoordinator,
  type SyncProgress,
} from '../../src/index.js';
import { createSyncServer, type SyncServer } from '../../src/server.js';
import { until } from '../helpers/until.js';

interface Note extends RepositoryEntity {
  text: string;
}

const TYPE = 'notes';
const HEARTBEAT_MS = 40;
const TIMEOUT_MS = 300;
/** How long any awaited event may take before the test fails: far above every timeout the tabs use. */
const WATCHDOG_MS = 5_000;

/** A `BroadcastChannel` a test can silence (a frozen tab sends nothing) and whose received messages it can see. */
class TestChannel implements TabChannel {
  readonly #channel: BroadcastChannel;
  readonly received: unknown[] = [];
  muted = false;
  /** When this tab last sent a message (`Date.now()`): other tabs have heard nothing newer from it. */
  lastPostedAt = 0;
  /** Drops received messages this picks (a deaf leader). */
  dropIncoming: (data: unknown) => boolean = () => false;
  readonly #wrapped = new Map<TabChannelListener, (event: MessageEvent) => void>();

  constructor(name: string) {
    this.#channel = new BroadcastChannel(name);
  }

  postMessage(message: unknown): void {
    if (this.muted) return;
    this.#channel.postMessage(message);
    this.lastPostedAt = Date.now();
  }

  addEventListener(_type: 'message', listener: TabChannelListener): void {
    const wrapped = (event: MessageEvent) => {
      this.received.push(event.data);
      if (!this.dropIncoming(event.data)) listener(event);
    };
    this.#wrapped.set(listener, wrapped);
    this.#channel.addEventListener('message', wrapped as (event: Event) => void);
  }

  removeEventListener(_type: 'message', listener: TabChannelListener): void {
    const wrapped = this.#wrapped.get(listener);
    if (wrapped) this.#channel.removeEventListener('message', wrapped as (event: Event) => void);
  }

  close(): void {
    this.#channel.close();
  }

  heartbeatsFrom(tabId: string): number {
    return this.received.filter((m) => isKind(m, 'heartbeat') && (m as { from: string }).from === tabId)
      .length;
  }
}

const isKind = (message: unknown, kind: string) =>
  typeof message === 'object' && message !== null && (message as { kind?: unknown }).kind === kind;

interface Tab {
  readonly name: string;
  readonly sync: TabSync;
  readonly channel: TestChannel;
  readonly local: MemoryLocalDataSource<Note>;
  readonly repository: Repository<Note>;
  /** Every coordinator this tab built, in order. */
  readonly coordinators: SyncCoordinator[];
  /** Where this tab's page lifecycle events (`freeze`, `resume`) come from. */
  readonly page: EventTarget;
  /** Holds this tab's next requests to the server until the test ends; resolves once one is held. */
  holdRequests(): Promise<void>;
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Fails loudly if `promise` has not settled within `ms`. */
function within<T>(promise: Promise<T>, what: string, ms = WATCHDOG_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const watchdog = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Watchdog: no ${what} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, watchdog]).finally(() => clearTimeout(timer));
}

/** Resolves with the first tab that is (or becomes) leader among `tabs`. */
function leaderAmong(tabs: readonly Tab[]): Promise<Tab> {
  const already = tabs.find((tab) => tab.sync.isLeader);
  if (already) return Promise.resolve(already);
  return new Promise((resolve) => {
    const subscriptions = tabs.map((tab) =>
      tab.sync.onLeadershipChange((isLeader) => {
        if (!isLeader) return;
        for (const subscription of subscriptions) subscription.unsubscribe();
        resolve(tab);
      }),
    );
  });
}

/** Resolves once `tab` stops being leader. */
function leadershipLost(tab: Tab): Promise<void> {
  return new Promise((resolve) => {
    const subscription = tab.sync.onLeadershipChange((isLeader) => {
      if (isLeader) return;
      subscription.unsubscribe();
      resolve();
    });
  });
}

function nextProgress(tab: Tab, matches: (progress: SyncProgress) => boolean): Promise<SyncProgress> {
  return new Promise((resolve) => {
    const subscription = tab.sync.progress.subscribe((progress) => {
      if (!matches(progress)) return;
      resolve(progress);
      queueMicrotask(() => subscription.unsubscribe());
    });
  });
}

async function world(options: Partial<TabSyncOptions> = {}) {
  const server: SyncServer = await createSyncServer({ token: 'tabs-test-token-5c1e' });
  cleanups.push(() => server.close());
  const channelName = `actorsync-test-${randomUUID()}`;
  const manager = new MemoryLockManager();
  const lock = memoryLocks(manager);

  const tab = (name: string): Tab => {
    const channel = new TestChannel(channelName);
    const page = new EventTarget();
    const local = new MemoryLocalDataSource<Note>();
    let hold: { held: () => void } | undefined;
    const remote = new HttpRemoteDataSource<Note>({
      baseUrl: server.url,
      getToken: () => server.token,
      timeoutMs: 5_000,
      fetch: async (input, init) => {
        if (hold) {
          hold.held();
          // Held until the request is aborted (its run stopped) or the test ends.
          await new Promise((_, reject) => {
            const signal = input instanceof Request ? input.signal : init?.signal;
            signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
            cleanups.push(() => reject(new Error('test over')));
          });
        }
        return fetch(input, init);
      },
    });
    const repository = new Repository<Note>({ entityType: TYPE, local, remote });
    const coordinators: SyncCoordinator[] = [];
    const sync = new TabSync({
      tabId: name,
      name: 'notes-app',
      lock,
      channel,
      pageEvents: [page],
      heartbeatIntervalMs: HEARTBEAT_MS,
      heartbeatTimeoutMs: TIMEOUT_MS,
      requestTimeoutMs: 1_000,
      localChangeDelayMs: 20,
      syncOnLeadership: false,
      createCoordinator: () => {
        const coordinator = new SyncCoordinator({ retry: { baseDelayMs: 5, maxDelayMs: 20 } });
        coordinator.register(repository);
        coordinators.push(coordinator);
        return coordinator;
      },
      ...options,
    });
    cleanups.push(async () => {
      await sync.close();
      channel.close();
    });
    const holdRequests = () => new Promise<void>((held) => (hold = { held }));
    return { name, sync, channel, local, repository, coordinators, page, holdRequests };
  };

  const tabs = [tab('tab-a'), tab('tab-b'), tab('tab-c')];
  const followersOf = (leader: Tab) => tabs.filter((t) => t !== leader);
  /** Waits until every other open tab has heard `leader` (its heartbeats carry its id). */
  const heardBy = (leader: Tab, others: readonly Tab[]) =>
    within(
      until(
        () => others.every((t) => t.sync.leaderTabId === leader.name),
        `every follower to hear ${leader.name}`,
        WATCHDOG_MS,
      ),
      'followers hearing the leader',
    );
  const serverIds = async () =>
    (await server.store.list({ partition: 'default', entityType: TYPE })).map((r) => r.item.id).sort();
  return { server, tabs, manager, followersOf, heardBy, addTab: tab, serverIds, channelName };
}

describe('TabSync: one syncing tab among three', () => {
  it('elects exactly one leader; the others hear it and stay followers', async () => {
    const { tabs, manager, followersOf, heardBy } = await world();
    const leader = await within(leaderAmong(tabs), 'leader');
    const followers = followersOf(leader);
    await heardBy(leader, followers);
    // Let several heartbeat periods pass, counted in heartbeats received, not in sleeps.
    const before = followers.map((f) => f.channel.heartbeatsFrom(leader.name));
    await within(
      until(
        () => followers.every((f, i) => f.channel.heartbeatsFrom(leader.name) >= (before[i] ?? 0) + 5),
        'five more heartbeats',
      ),
      'heartbeats',
    );
    expect(tabs.filter((t) => t.sync.isLeader)).toEqual([leader]);
    expect(leader.sync.stats.leaderships).toBe(1);
    for (const follower of followers) {
      expect(follower.sync.stats.leaderships).toBe(0);
      expect(follower.sync.coordinator).toBeUndefined();
    }
    expect(manager.heldNames).toEqual(['notes-app']);
    expect(leader.coordinators).toHaveLength(1);
    expect(followers.flatMap((f) => f.coordinators)).toEqual([]);
  });

  it("a follower's sync runs on the leader and resolves with its result; every tab sees the leader's progress", async () => {
    const { server, tabs, followersOf, heardBy, addTab } = await world();
    const leader = await within(leaderAmong(tabs), 'leader');
    const [follower, other] = followersOf(leader) as [Tab, Tab];
    await heardBy(leader, [follower, other]);
    await leader.repository.save({ id: 'n1', text: 'saved in the leader tab' });

    const seenByOther = nextProgress(other, (p) => p.entityType === TYPE && p.isComplete);
    const result = await within(follower.sync.sync(TYPE), 'sync result');
    expect(result).toMatchObject({ entityType: TYPE, state: 'synced', syncedItems: 1, totalItems: 1 });
    expect(await leader.repository.pendingCount()).toBe(0);
    expect(
      (await server.store.list({ partition: 'default', entityType: TYPE })).map((r) => r.item.id),
    ).toEqual(['n1']);

    // Followers republish the leader's progress: the same run, the same counts, in every tab.
    const progress = await within(seenByOther, 'progress in the other follower');
    expect(progress).toMatchObject({ runId: result.runId, state: 'synced', syncedItems: 1, percent: 100 });
    for (const tab of tabs) expect(tab.sync.getProgress(TYPE)).toEqual(progress);
    expect(follower.sync.isSyncing(TYPE)).toBe(false);

    // A tab that opens later asks for the latest progress and gets it without any new run.
    const late = addTab('tab-late');
    const replayed = await within(
      nextProgress(late, (p) => p.entityType === TYPE && p.isComplete),
      'progress replayed to a late tab',
    );
    expect(replayed).toEqual(progress);
    expect(late.sync.isLeader).toBe(false);
  });

  it('closing the leader hands over within the heartbeat timeout, and the new leader syncs', async () => {
    const { tabs, followersOf, heardBy, serverIds } = await world();
    const first = await within(leaderAmong(tabs), 'leader');
    const followers = followersOf(first);
    await heardBy(first, followers);

    const closedAt = Date.now();
    const next = leaderAmong(followers);
    await first.sync.close();
    const second = await within(next, 'a new leader after close', TIMEOUT_MS);
    const handoverMs = Date.now() - closedAt;
    expect(handoverMs).toBeLessThan(TIMEOUT_MS);
    expect(first.coordinators[0]?.send.bind(first.coordinators[0], { type: 'SYNC_ALL' })).toThrow(
      CoordinatorStoppedError,
    );
    const last = followers.find((t) => t !== second) as Tab;
    await heardBy(second, [last]);
    expect(followers.filter((t) => t.sync.isLeader)).toEqual([second]);

    await second.repository.save({ id: 'n2', text: 'saved after the handover' });
    const result = await within(last.sync.sync(TYPE), 'sync through the new leader');
    expect(result).toMatchObject({ state: 'synced', syncedItems: 1 });
    expect(await serverIds()).toEqual(['n2']);
    console.log(`handover after close: ${handoverMs} ms`);
  });

  it('a silent leader (frozen: no heartbeat, lock still held) is displaced by a steal and comes back a follower', async () => {
    const { tabs, followersOf, heardBy, serverIds } = await world();
    const frozen = await within(leaderAmong(tabs), 'leader');
    const followers = followersOf(frozen);
    await heardBy(frozen, followers);

    const frozenAt = Date.now();
    const lost = leadershipLost(frozen);
    const next = leaderAmong(followers);
    frozen.channel.muted = true;
    const thief = await within(next, 'a follower taking over from the silent leader');
    const takeoverMs = Date.now() - frozenAt;
    // Silence must last the timeout, counted from the last message the leader sent (up to one heartbeat before it
    // fell silent, more when the machine is busy), and not much longer (an interval of jitter, the noticing tick).
    expect(Date.now() - frozen.channel.lastPostedAt).toBeGreaterThanOrEqual(TIMEOUT_MS);
    expect(takeoverMs).toBeLessThan(TIMEOUT_MS + 3 * HEARTBEAT_MS + 500);
    // The old holder learns it lost the lock and stops its coordinator.
    await within(lost, 'the frozen leader learning it was displaced');
    expect(() => frozen.coordinators[0]?.send({ type: 'SYNC_ALL' })).toThrow(CoordinatorStoppedError);

    // It wakes up as a follower of the new leader. (Should both followers have stolen, one after the other, the
    // second holds the lock: wait for the tabs to agree.)
    frozen.channel.muted = false;
    await within(
      until(() => {
        const leaders = tabs.filter((t) => t.sync.isLeader);
        return leaders.length === 1 && tabs.every((t) => t.sync.leaderTabId === leaders[0]?.name);
      }, 'one leader that every tab hears'),
      'agreement on the new leader',
    );
    const leader = tabs.find((t) => t.sync.isLeader) as Tab;
    expect(leader).not.toBe(frozen);
    if (leader !== thief) console.log('both followers stole; the second kept the lock');
    await leader.repository.save({ id: 'n3', text: 'saved in the new leader' });
    expect(await within(frozen.sync.sync(TYPE), 'sync from the woken tab')).toMatchObject({ syncedItems: 1 });
    expect(await serverIds()).toEqual(['n3']);
    console.log(`takeover from a silent leader: ${takeoverMs} ms (timeout ${TIMEOUT_MS} ms)`);
  });

  it('a freeze event makes the leader let go at once; on resume it rejoins as a follower', async () => {
    const { tabs, followersOf, heardBy } = await world();
    const leader = await within(leaderAmong(tabs), 'leader');
    const followers = followersOf(leader);
    await heardBy(leader, followers);

    const frozenAt = Date.now();
    const next = leaderAmong(followers);
    leader.page.dispatchEvent(new Event('freeze'));
    expect(leader.sync.isLeader).toBe(false);
    const successor = await within(next, 'a new leader after the freeze', TIMEOUT_MS);
    expect(Date.now() - frozenAt).toBeLessThan(TIMEOUT_MS);
    expect(() => leader.coordinators[0]?.send({ type: 'SYNC_ALL' })).toThrow(CoordinatorStoppedError);

    leader.page.dispatchEvent(new Event('resume'));
    await heardBy(
      successor,
      tabs.filter((t) => t !== successor),
    );
    expect(tabs.filter((t) => t.sync.isLeader)).toEqual([successor]);
    expect(leader.sync.stats.leaderships).toBe(1);
  });

  it('a request the leader accepted and was running when it died is answered by the next leader', async () => {
    const { tabs, followersOf, heardBy, serverIds } = await world();
    const leader = await within(leaderAmong(tabs), 'leader');
    // The lock goes to the tabs in the order they asked: `other` is next in line, so the requester stays a follower
    // and its request has to cross the channel twice.
    const [other, follower] = followersOf(leader) as [Tab, Tab];
    await heardBy(leader, [follower, other]);
    for (const tab of tabs) await tab.repository.save({ id: `${tab.name}-note`, text: 'pending' });
    // The leader takes the request and starts the run, whose push then hangs until the leader dies.
    const held = leader.holdRequests();
    const answer = follower.sync.sync(TYPE);
    await within(held, "the leader's run reaching the server");
    await within(
      until(() => follower.channel.received.some((m) => isKind(m, 'sync-accepted')), 'sync-accepted'),
      'the leader accepting',
    );
    // It dies as a crash would look: the channel goes quiet at once, then the lock goes.
    const next = leaderAmong([follower, other]);
    leader.channel.muted = true;
    await within(leader.sync.close(), 'the dying leader stopping');
    const successor = await within(next, 'the next leader');
    expect(successor).toBe(other);
    const result = await within(answer, 'the answer from the next leader');
    expect(result).toMatchObject({ state: 'synced', syncedItems: 1 });
    expect(await serverIds()).toEqual([`${other.name}-note`]);
    // Sent to each leader in turn, answered once, by the second.
    const sent = other.channel.received.filter((m) => isKind(m, 'sync-request'));
    expect(sent).toHaveLength(2);
    const replies = follower.channel.received.filter((m) => isKind(m, 'sync-reply'));
    expect(replies).toEqual([expect.objectContaining({ from: other.name, to: follower.name })]);
  });

  it('a request no leader takes is rejected with LeaderUnavailableError after requestTimeoutMs', async () => {
    const { tabs, followersOf, heardBy } = await world({ requestTimeoutMs: 400 });
    const leader = await within(leaderAmong(tabs), 'leader');
    const [follower] = followersOf(leader) as [Tab];
    await heardBy(leader, followersOf(leader));
    // A deaf leader: alive (it heartbeats) but it never gets the request.
    leader.channel.dropIncoming = (data) => isKind(data, 'sync-request');
    const sentAt = Date.now();
    const error = await within(
      follower.sync.sync(TYPE).then(
        () => undefined,
        (e: unknown) => e,
      ),
      'the typed rejection',
    );
    expect(error).toBeInstanceOf(LeaderUnavailableError);
    expect(error).toMatchObject({ code: 'LEADER_UNAVAILABLE', entityType: TYPE });
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(400);
    expect(leader.sync.isLeader).toBe(true);
  });

  it('malformed channel messages are ignored and counted; the tabs carry on', async () => {
    const { tabs, followersOf, heardBy, channelName } = await world();
    const leader = await within(leaderAmong(tabs), 'leader');
    const followers = followersOf(leader);
    await heardBy(leader, followers);
    const before = tabs.map((t) => t.sync.stats.malformedMessages);
    const intruder = new BroadcastChannel(channelName);
    cleanups.push(() => intruder.close());
    const junk: unknown[] = [
      null,
      'sync everything',
      { v: 2, from: 'x', kind: 'heartbeat', syncing: [] },
      { v: 1, from: 'x', kind: 'sync-request' },
      { v: 1, from: 'x', kind: 'heartbeat', syncing: 'notes' },
      { v: 1, from: leader.name, kind: 'progress', progress: { entityType: TYPE, state: 'hacked' } },
      { v: 1, from: 'x', kind: 'sync-reply', to: followers[0]?.name, requestId: 'r', results: [{}] },
    ];
    for (const message of junk) intruder.postMessage(message);
    // A valid message after the junk: once a tab has it, it has had the junk (one sender, delivered in order).
    const marker = { v: 1, from: 'intruder', kind: 'progress-request' };
    intruder.postMessage(marker);
    await within(
      until(
        () =>
          tabs.every((t) =>
            t.channel.received.some(
              (m) => isKind(m, 'progress-request') && (m as { from: string }).from === 'intruder',
            ),
          ),
        'the marker',
      ),
      'the marker',
    );
    for (const [i, tab] of tabs.entries()) {
      expect(tab.sync.stats.malformedMessages - (before[i] ?? 0), tab.name).toBe(junk.length);
    }
    expect(tabs.filter((t) => t.sync.isLeader)).toEqual([leader]);
    for (const tab of tabs) expect(tab.sync.getProgress(TYPE)).toBeUndefined();
    await leader.repository.save({ id: 'n4', text: 'after the junk' });
    expect(await within((followers[0] as Tab).sync.sync(TYPE), 'sync after the junk')).toMatchObject({
      syncedItems: 1,
    });
  });

  it('a follower notifying local changes makes the leader sync that type, once for a burst', async () => {
    const { tabs, followersOf, heardBy } = await world();
    const leader = await within(leaderAmong(tabs), 'leader');
    const [follower] = followersOf(leader) as [Tab];
    await heardBy(leader, followersOf(leader));
    await leader.repository.saveMany([
      { id: 'n5', text: 'one' },
      { id: 'n6', text: 'two' },
    ]);
    const done = nextProgress(follower, (p) => p.entityType === TYPE && p.isComplete);
    for (let i = 0; i < 5; i += 1) follower.sync.notifyLocalChange(TYPE);
    const progress = await within(done, 'the run the notification started');
    expect(progress).toMatchObject({ state: 'synced', syncedItems: 2, runId: 1 });
    // A burst is one run: the next run (asked for now) is the second.
    expect(await within(follower.sync.sync(TYPE), 'a sync after the burst')).toMatchObject({
      runId: 2,
      syncedItems: 0,
    });
  });
});

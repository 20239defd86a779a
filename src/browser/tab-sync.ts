import type { SyncCoordinator } from '../coordinator/sync-coordinator.js';
import { ProgressStream, type Subscription } from '../core/progress-stream.js';
import { ActorSyncError, errorMessage, InvalidOptionsError } from '../domain/errors.js';
import type { SyncLogger, SyncProgress, SyncResult } from '../domain/types.js';
import {
  type ForwardedRequest,
  forwardStep,
  type HeardLeader,
  syncingAfter,
  takeoverDue,
} from './election.js';
import { type HeldLock, type LeaderLock, webLocks } from './leader-lock.js';
import { broadcastChannel, type TabChannel, type TabChannelMessage } from './tab-channel.js';
import {
  type OutgoingTabMessage,
  parseTabMessage,
  TAB_MESSAGE_VERSION,
  type TabMessage,
} from './tab-messages.js';
import { LeaderUnavailableError, TabSyncClosedError } from './tab-sync-errors.js';

/** What `createCoordinator` is given: `signal` aborts if this tab stops being leader before it returned. */
export interface Leadership {
  readonly signal: AbortSignal;
}

/** Something page lifecycle events come from (`document` for `freeze`/`resume`, `window` for `pagehide`/`pageshow`). */
export interface PageEventTarget {
  addEventListener(type: string, listener: () => void): void;
  removeEventListener(type: string, listener: () => void): void;
}

export interface TabSyncOptions {
  /**
   * Builds the coordinator, registering its repositories (and opening what they need), when this tab becomes the
   * leader; it is stopped when the tab stops being leader. Called again on each new leadership.
   */
  createCoordinator: (leadership: Leadership) => SyncCoordinator | Promise<SyncCoordinator>;
  /** Names the lock and the channel: the tabs of one app share it. Default `'actorsync'`. */
  name?: string;
  /** Leader election. Default `webLocks()` (`navigator.locks`). */
  lock?: LeaderLock;
  /** How tabs talk. Default a `BroadcastChannel` named `actorsync:<name>`, closed by `close()`. */
  channel?: TabChannel;
  /** How often the leader says it is alive. Default 1,000. */
  heartbeatIntervalMs?: number;
  /** Silence after which a follower takes the lock from the leader (`steal`). Default 4,000; more than the interval. */
  heartbeatTimeoutMs?: number;
  /** How long a sync asked of the leader may go unanswered by any leader before it is rejected. Default 10,000. */
  requestTimeoutMs?: number;
  /** Local changes notified within this time are synced in one run. Default 250. */
  localChangeDelayMs?: number;
  /** A new leader syncs every type once its coordinator is ready (what followers saved meanwhile). Default true. */
  syncOnLeadership?: boolean;
  /** Where `freeze`/`resume` and `pagehide`/`pageshow` come from. Default `document` and `window`, where they exist. */
  pageEvents?: readonly PageEventTarget[];
  logger?: SyncLogger;
  /** This tab's id on the channel. Default `crypto.randomUUID()`. */
  tabId?: string;
  /** Epoch ms; replace in tests. */
  now?: () => number;
  /** Jitter of the takeover time, so followers do not all steal at once. Default `Math.random`. */
  random?: () => number;
}

export interface TabSyncStats {
  /** Channel messages ignored because they were not valid messages of this protocol. */
  malformedMessages: number;
  /** Times this tab became leader. */
  leaderships: number;
}

export type LeadershipListener = (isLeader: boolean) => void;

type StepDownReason = 'stolen' | 'released' | 'failed' | 'paused' | 'closed';

interface PendingSync extends ForwardedRequest {
  resolve(results: SyncResult[]): void;
  reject(error: Error): void;
}

const SILENT: SyncLogger = { debug() {}, info() {}, warn() {}, error() {} };
const PAUSE_EVENTS = ['freeze', 'pagehide'] as const;
const RESUME_EVENTS = ['resume', 'pageshow'] as const;

/**
 * One syncing tab among the tabs of one app (docs/browser.md, "One syncing tab"). The tab holding the lock is the
 * leader: it runs the `SyncCoordinator` and says so on the channel every `heartbeatIntervalMs`, with its progress.
 * Every tab, leader or follower, reads the same way (`progress`, `getProgress`, `isSyncing`) and asks the same way
 * (`sync`, `syncAll`, `notifyLocalChange`): a follower's requests go to the leader and come back with its results.
 * A closed or crashed leader's lock passes to the next tab in line; a silent one (frozen) is displaced by a steal.
 */
export class TabSync {
  readonly tabId: string;
  /** Progress of every type, from whichever tab is leader: the latest per type to new subscribers, then live. */
  readonly progress: ProgressStream;
  readonly #options: Required<
    Omit<TabSyncOptions, 'lock' | 'channel' | 'logger' | 'tabId' | 'now' | 'random' | 'pageEvents'>
  >;
  readonly #lock: LeaderLock;
  readonly #channel: TabChannel;
  readonly #ownsChannel: boolean;
  readonly #logger: SyncLogger;
  readonly #now: () => number;
  readonly #jitterMs: number;
  readonly #pageEvents: readonly PageEventTarget[];
  readonly #requests = new Map<string, PendingSync>();
  /** Requests of other tabs this leader has accepted, by request id: one run per request, however often sent. */
  readonly #served = new Map<string, { from: string; entityType: string | undefined; running: boolean }>();
  readonly #localChanges = new Map<string, ReturnType<typeof setTimeout>>();
  /** Types whose local changes came in before the coordinator was ready. */
  readonly #changedBeforeReady = new Set<string>();
  readonly #listeners = new Set<LeadershipListener>();
  readonly #stats: TabSyncStats = { malformedMessages: 0, leaderships: 0 };
  readonly #ticker: ReturnType<typeof setInterval>;
  /** A follower's own deadline for the leader's next sign of life, moved on by each heartbeat. */
  #takeoverTimer: ReturnType<typeof setTimeout> | undefined;
  #isLeader = false;
  /** Counts leaderships begun and ended: work started in one term answers nothing in another. */
  #term = 0;
  #held: HeldLock | undefined;
  #leadership: AbortController | undefined;
  #coordinator: SyncCoordinator | undefined;
  #coordinatorProgress: Subscription | undefined;
  /** The waiting (non-steal) acquisition, while there is one. */
  #campaign: AbortController | undefined;
  #stealing = false;
  /** After a failed `createCoordinator`, the next try waits until then. */
  #campaignAfter = 0;
  #leader: HeardLeader | undefined;
  #silentSince: number;
  #syncing: ReadonlySet<string> = new Set();
  #paused = false;
  #closed = false;
  #nextRequest = 0;

  constructor(options: TabSyncOptions) {
    this.#options = resolveOptions(options);
    this.#logger = options.logger ?? SILENT;
    this.#now = options.now ?? Date.now;
    this.tabId = options.tabId ?? globalThis.crypto.randomUUID();
    this.#jitterMs = (options.random ?? Math.random)() * this.#options.heartbeatIntervalMs;
    this.#lock = options.lock ?? webLocks();
    this.#ownsChannel = options.channel === undefined;
    this.#channel = options.channel ?? broadcastChannel(`actorsync:${this.#options.name}`);
    this.progress = new ProgressStream((error) =>
      this.#logger.error('A progress listener threw', { error: errorMessage(error) }),
    );
    this.#silentSince = this.#now();
    this.#channel.addEventListener('message', this.#onMessage);
    this.#pageEvents = options.pageEvents ?? defaultPageEvents();
    for (const target of this.#pageEvents) {
      for (const type of PAUSE_EVENTS) target.addEventListener(type, this.#pause);
      for (const type of RESUME_EVENTS) target.addEventListener(type, this.#resume);
    }
    this.#ticker = setInterval(() => this.#tick(), this.#options.heartbeatIntervalMs);
    this.#post({ kind: 'progress-request' });
    this.#campaignNow();
    this.#armTakeover();
  }

  /** True while this tab is the leader (it holds the lock; its coordinator may still be starting). */
  get isLeader(): boolean {
    return this.#isLeader;
  }

  /** The leader's coordinator, on the leader once it is ready; `undefined` on followers. */
  get coordinator(): SyncCoordinator | undefined {
    return this.#coordinator;
  }

  /** The id of the leader tab last heard from (this tab's own while it leads). */
  get leaderTabId(): string | undefined {
    return this.#leader?.tabId;
  }

  get stats(): Readonly<TabSyncStats> {
    return { ...this.#stats };
  }

  /** Calls `listener` with `isLeader` each time this tab becomes or stops being the leader. */
  onLeadershipChange(listener: LeadershipListener): Subscription {
    this.#listeners.add(listener);
    return { unsubscribe: () => this.#listeners.delete(listener) };
  }

  /** The latest progress of `entityType`, from whichever tab ran it. */
  getProgress(entityType: string): SyncProgress | undefined {
    return this.progress.latest(entityType);
  }

  /** True while the leader runs `entityType` (as the leader last said, on a follower). */
  isSyncing(entityType: string): boolean {
    if (this.#isLeader) return this.#coordinator?.isSyncing(entityType) ?? false;
    return this.#syncing.has(entityType);
  }

  /**
   * Syncs `entityType` on the leader: here if this tab leads, else through the channel. Resolves with the result of
   * a run that started after the call. A request the leader dropped (it closed, crashed or was displaced) goes to
   * the next leader; with no leader for `requestTimeoutMs` it rejects with `LeaderUnavailableError`.
   */
  async sync(entityType: string): Promise<SyncResult> {
    const [result] = await this.#request(entityType);
    if (!result)
      throw new ActorSyncError('MALFORMED_REPLY', `The leader answered no result for "${entityType}"`);
    return result;
  }

  /** Syncs every type the leader registered (see `sync`). */
  syncAll(): Promise<SyncResult[]> {
    return this.#request(undefined);
  }

  /**
   * Says that this tab saved local changes of `entityType`: the leader syncs it within `localChangeDelayMs`, once
   * for all the changes notified meanwhile.
   */
  notifyLocalChange(entityType: string): void {
    if (this.#closed) return;
    if (this.#isLeader) this.#queueLocalChange(entityType);
    else this.#post({ kind: 'local-change', entityType });
  }

  /**
   * Leaves the election: a leader stops its coordinator (waiting for it) and then lets the lock go, so the next tab
   * takes over at once. Open requests reject with `TabSyncClosedError`. Safe to call more than once.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#ticker);
    clearTimeout(this.#takeoverTimer);
    this.#campaign?.abort();
    this.#channel.removeEventListener('message', this.#onMessage);
    for (const target of this.#pageEvents) {
      for (const type of PAUSE_EVENTS) target.removeEventListener(type, this.#pause);
      for (const type of RESUME_EVENTS) target.removeEventListener(type, this.#resume);
    }
    for (const request of this.#requests.values()) request.reject(new TabSyncClosedError());
    this.#requests.clear();
    await this.#stepDown('closed');
    if (this.#ownsChannel) this.#channel.close();
    this.progress.close();
    this.#listeners.clear();
  }

  #request(entityType: string | undefined): Promise<SyncResult[]> {
    if (this.#closed) return Promise.reject(new TabSyncClosedError());
    const requestId = `${this.tabId}:${++this.#nextRequest}`;
    const result = new Promise<SyncResult[]>((resolve, reject) => {
      this.#requests.set(requestId, { requestId, entityType, sentAt: this.#now(), resolve, reject });
    });
    this.#pump();
    return result;
  }

  /** Moves every open request on: runs it here (leader), sends it to the leader, or expires it. */
  #pump(): void {
    const now = this.#now();
    for (const request of [...this.#requests.values()]) {
      if (this.#isLeader) {
        if (this.#coordinator && request.sentTo !== this.tabId) this.#runOwn(request, this.#coordinator);
        continue;
      }
      const step = forwardStep(request, this.#leader, now, this.#options.requestTimeoutMs);
      if (step === 'send' && this.#leader) {
        this.#requests.set(request.requestId, {
          ...request,
          sentTo: this.#leader.tabId,
          sentAt: now,
          acceptedBy: undefined,
        });
        this.#post({
          kind: 'sync-request',
          requestId: request.requestId,
          ...(request.entityType === undefined ? {} : { entityType: request.entityType }),
        });
      } else if (step === 'expire') {
        this.#requests.delete(request.requestId);
        request.reject(new LeaderUnavailableError(request.entityType, this.#options.requestTimeoutMs));
      }
    }
  }

  #runOwn(request: PendingSync, coordinator: SyncCoordinator): void {
    const term = this.#term;
    this.#requests.set(request.requestId, {
      ...request,
      sentTo: this.tabId,
      acceptedBy: this.tabId,
      sentAt: this.#now(),
    });
    void runOn(coordinator, request.entityType).then(
      (results) => {
        // A run cut short by the end of this leadership is not an answer: the request waits for the next leader.
        if (term !== this.#term || !this.#requests.delete(request.requestId)) return;
        request.resolve(results);
      },
      (error: unknown) => {
        if (term !== this.#term || !this.#requests.delete(request.requestId)) return;
        request.reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  }

  #serve(from: string, requestId: string, entityType: string | undefined): void {
    this.#post({ kind: 'sync-accepted', to: from, requestId });
    if (this.#served.has(requestId)) return;
    this.#served.set(requestId, { from, entityType, running: false });
    this.#runServed();
  }

  /** Runs the accepted requests of other tabs not yet running, once the coordinator is ready. */
  #runServed(): void {
    const coordinator = this.#coordinator;
    if (!coordinator) return;
    const term = this.#term;
    for (const [requestId, served] of this.#served) {
      if (served.running) continue;
      served.running = true;
      void runOn(coordinator, served.entityType).then(
        (results) => {
          if (term !== this.#term) return;
          this.#served.delete(requestId);
          this.#post({ kind: 'sync-reply', to: served.from, requestId, results });
        },
        (error: unknown) => {
          if (term !== this.#term) return;
          this.#served.delete(requestId);
          const code = error instanceof ActorSyncError ? error.code : 'UNEXPECTED';
          this.#post({
            kind: 'sync-failed',
            to: served.from,
            requestId,
            error: { code, message: errorMessage(error) },
          });
        },
      );
    }
  }

  #queueLocalChange(entityType: string): void {
    if (this.#localChanges.has(entityType)) return;
    const timer = setTimeout(() => {
      this.#localChanges.delete(entityType);
      const coordinator = this.#coordinator;
      if (!this.#isLeader) return;
      if (!coordinator) {
        this.#changedBeforeReady.add(entityType);
        return;
      }
      coordinator.sync(entityType).catch((error: unknown) =>
        this.#logger.warn('A sync of local changes could not start', {
          entityType,
          error: errorMessage(error),
        }),
      );
    }, this.#options.localChangeDelayMs);
    this.#localChanges.set(entityType, timer);
  }

  readonly #onMessage = (event: TabChannelMessage): void => {
    if (this.#closed) return;
    const message = parseTabMessage(event.data);
    if (!message) {
      this.#stats.malformedMessages += 1;
      this.#logger.debug('Ignored a malformed message from another tab');
      return;
    }
    if (message.from === this.tabId || ('to' in message && message.to !== this.tabId)) return;
    this.#receive(message);
  };

  #receive(message: TabMessage): void {
    switch (message.kind) {
      case 'heartbeat':
        if (this.#isLeader) return;
        this.#heard(message.from, true);
        this.#syncing = syncingAfter(this.#syncing, message);
        this.#pump();
        return;
      case 'progress':
        if (this.#isLeader) return;
        this.#heard(message.from, false);
        this.#syncing = syncingAfter(this.#syncing, message.progress);
        this.progress.publish(message.progress);
        return;
      case 'progress-snapshot':
        if (this.#isLeader) return;
        this.#heard(message.from, true);
        for (const progress of message.progress) this.progress.publish(progress);
        this.#syncing = syncingAfter(this.#syncing, message);
        return;
      case 'progress-request':
        if (this.#isLeader) this.#sendProgressSnapshot(message.from);
        return;
      case 'sync-request':
        if (this.#isLeader) this.#serve(message.from, message.requestId, message.entityType);
        return;
      case 'local-change':
        if (this.#isLeader) this.#queueLocalChange(message.entityType);
        return;
      case 'sync-accepted': {
        this.#heard(message.from, false);
        const request = this.#requests.get(message.requestId);
        if (request && request.sentTo === message.from) {
          this.#requests.set(message.requestId, { ...request, acceptedBy: message.from });
        }
        return;
      }
      case 'sync-reply': {
        const request = this.#requests.get(message.requestId);
        if (!request || this.#isLeader) return;
        if (request.entityType !== undefined && message.results.length !== 1) {
          this.#stats.malformedMessages += 1;
          return;
        }
        this.#requests.delete(message.requestId);
        request.resolve(message.results);
        return;
      }
      case 'sync-failed': {
        const request = this.#requests.get(message.requestId);
        if (!request || this.#isLeader) return;
        this.#requests.delete(message.requestId);
        request.reject(new ActorSyncError(message.error.code, message.error.message));
        return;
      }
    }
  }

  /** A sign of life from `tabId`; a heartbeat (or snapshot) also makes it the leader this tab knows. */
  #heard(tabId: string, fromLeader: boolean): void {
    if (!fromLeader && this.#leader?.tabId !== tabId) return;
    const now = this.#now();
    this.#leader = { tabId, heardAt: now };
    this.#silentSince = now;
    if (fromLeader) this.#armTakeover();
  }

  #sendProgressSnapshot(to: string): void {
    const progress: SyncProgress[] = [];
    this.progress.subscribe((latest) => progress.push(latest)).unsubscribe();
    this.#post({ kind: 'progress-snapshot', to, progress, syncing: this.#syncingHere() });
  }

  #syncingHere(): string[] {
    const coordinator = this.#coordinator;
    return coordinator ? coordinator.entityTypes.filter((type) => coordinator.isSyncing(type)) : [];
  }

  #tick(): void {
    if (this.#closed) return;
    if (this.#isLeader) {
      this.#leader = { tabId: this.tabId, heardAt: this.#now() };
      this.#post({ kind: 'heartbeat', syncing: this.#syncingHere() });
    } else this.#campaignNow();
    this.#pump();
  }

  /**
   * Sets the follower's takeover deadline: the last sign of life plus the timeout and this tab's jitter. Each tab
   * keeps its own timer (not the shared tick), so followers that went silent together steal at different moments,
   * and the first one's heartbeat usually reaches the others before their own deadline.
   */
  #armTakeover(): void {
    clearTimeout(this.#takeoverTimer);
    if (this.#closed || this.#paused || this.#isLeader) return;
    const { heartbeatTimeoutMs } = this.#options;
    const wait = this.#silentSince + heartbeatTimeoutMs + this.#jitterMs - this.#now();
    this.#takeoverTimer = setTimeout(
      () => {
        if (this.#closed || this.#paused || this.#isLeader) return;
        if (!takeoverDue(this.#now(), this.#silentSince, heartbeatTimeoutMs, this.#jitterMs)) {
          this.#armTakeover();
          return;
        }
        this.#logger.info('No heartbeat from the syncing tab: taking over', { tabId: this.tabId });
        this.#steal();
      },
      Math.max(0, Math.ceil(wait)) + 1,
    );
  }

  /** Waits in line for the lock (once at a time). */
  #campaignNow(): void {
    if (this.#closed || this.#paused || this.#isLeader || this.#campaign || this.#stealing) return;
    if (this.#now() < this.#campaignAfter) return;
    const campaign = new AbortController();
    this.#campaign = campaign;
    this.#lock.acquire(this.#options.name, { signal: campaign.signal }).then(
      (held) => {
        if (this.#campaign === campaign) this.#campaign = undefined;
        void this.#lead(held);
      },
      (error: unknown) => {
        if (this.#campaign === campaign) this.#campaign = undefined;
        if (!campaign.signal.aborted) {
          this.#logger.warn('Waiting for the sync lock failed', { error: errorMessage(error) });
        }
      },
    );
  }

  /** Takes the lock from a silent leader, ahead of the tabs in line. */
  #steal(): void {
    if (this.#closed || this.#paused || this.#isLeader || this.#stealing) return;
    this.#campaign?.abort();
    this.#campaign = undefined;
    this.#stealing = true;
    this.#lock.acquire(this.#options.name, { steal: true }).then(
      (held) => {
        this.#stealing = false;
        void this.#lead(held);
      },
      (error: unknown) => {
        this.#stealing = false;
        this.#logger.warn('Taking over the sync lock failed', { error: errorMessage(error) });
        this.#silentSince = this.#now();
        this.#armTakeover();
      },
    );
  }

  async #lead(held: HeldLock): Promise<void> {
    if (this.#closed || this.#paused || this.#isLeader) {
      held.release();
      return;
    }
    this.#isLeader = true;
    clearTimeout(this.#takeoverTimer);
    this.#held = held;
    const term = ++this.#term;
    this.#stats.leaderships += 1;
    const leadership = new AbortController();
    this.#leadership = leadership;
    this.#leader = { tabId: this.tabId, heardAt: this.#now() };
    void held.lost.then((loss) => {
      if (this.#held === held) void this.#stepDown(loss);
    });
    this.#post({ kind: 'heartbeat', syncing: [] });
    this.#logger.info('This tab is now the syncing tab', { tabId: this.tabId });
    this.#notify(true);
    let coordinator: SyncCoordinator;
    try {
      coordinator = await this.#options.createCoordinator({ signal: leadership.signal });
    } catch (error) {
      this.#logger.error('Creating the coordinator failed: leaving the lock to another tab', {
        error: errorMessage(error),
      });
      if (term === this.#term) {
        this.#campaignAfter = this.#now() + this.#options.heartbeatTimeoutMs;
        await this.#stepDown('failed');
      }
      return;
    }
    if (term !== this.#term) {
      await coordinator.stop();
      return;
    }
    this.#coordinator = coordinator;
    this.#coordinatorProgress = coordinator.progress.subscribe((progress) => {
      this.progress.publish(progress);
      this.#post({ kind: 'progress', progress });
    });
    this.#runServed();
    this.#pump();
    for (const entityType of this.#changedBeforeReady) this.#queueLocalChange(entityType);
    this.#changedBeforeReady.clear();
    if (this.#options.syncOnLeadership) {
      coordinator
        .syncAll()
        .catch((error: unknown) =>
          this.#logger.warn('The first sync of a new syncing tab failed', { error: errorMessage(error) }),
        );
    }
  }

  /**
   * Ends this tab's leadership: the coordinator stops (aborting its requests) and the lock goes. Going away (close)
   * waits for the stop before letting the lock go, so two coordinators never overlap; a freezing page lets it go at
   * once (its actors are stopped already; the rest would only finish after the page wakes).
   */
  async #stepDown(reason: StepDownReason): Promise<void> {
    if (!this.#isLeader) return;
    this.#isLeader = false;
    this.#term += 1;
    const held = this.#held;
    const coordinator = this.#coordinator;
    this.#held = undefined;
    this.#coordinator = undefined;
    this.#leadership?.abort();
    this.#leadership = undefined;
    this.#coordinatorProgress?.unsubscribe();
    this.#coordinatorProgress = undefined;
    for (const timer of this.#localChanges.values()) clearTimeout(timer);
    this.#localChanges.clear();
    this.#changedBeforeReady.clear();
    this.#served.clear();
    const now = this.#now();
    // This tab's own requests that were running here go to the next leader as if never sent.
    for (const request of this.#requests.values()) {
      if (request.sentTo === this.tabId) {
        this.#requests.set(request.requestId, {
          ...request,
          sentTo: undefined,
          acceptedBy: undefined,
          sentAt: now,
        });
      }
    }
    this.#leader = undefined;
    this.#silentSince = now;
    this.#syncing = new Set();
    this.#logger.info('This tab is no longer the syncing tab', { tabId: this.tabId, reason });
    this.#notify(false);
    this.#armTakeover();
    const stopped = coordinator?.stop();
    if (reason !== 'paused') await stopped;
    held?.release();
    this.#campaignNow();
  }

  readonly #pause = (): void => {
    if (this.#closed || this.#paused) return;
    this.#paused = true;
    this.#campaign?.abort();
    this.#campaign = undefined;
    void this.#stepDown('paused');
  };

  readonly #resume = (): void => {
    if (this.#closed || !this.#paused) return;
    this.#paused = false;
    this.#silentSince = this.#now();
    this.#campaignNow();
    this.#armTakeover();
  };

  #notify(isLeader: boolean): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(isLeader);
      } catch (error) {
        this.#logger.error('A leadership listener threw', { error: errorMessage(error) });
      }
    }
  }

  #post(message: OutgoingTabMessage): void {
    try {
      this.#channel.postMessage({ v: TAB_MESSAGE_VERSION, from: this.tabId, ...message });
    } catch (error) {
      // A closed channel, or a value the channel cannot clone: the tab carries on; the others time out.
      this.#logger.warn('Posting to the other tabs failed', {
        kind: message.kind,
        error: errorMessage(error),
      });
    }
  }
}

function runOn(coordinator: SyncCoordinator, entityType: string | undefined): Promise<SyncResult[]> {
  return entityType === undefined
    ? coordinator.syncAll()
    : coordinator.sync(entityType).then((result) => [result]);
}

function defaultPageEvents(): PageEventTarget[] {
  const scope = globalThis as { document?: PageEventTarget; window?: PageEventTarget };
  return [scope.document, scope.window].filter(
    (target): target is PageEventTarget => typeof target?.addEventListener === 'function',
  );
}

function resolveOptions(
  options: TabSyncOptions,
): Required<Omit<TabSyncOptions, 'lock' | 'channel' | 'logger' | 'tabId' | 'now' | 'random' | 'pageEvents'>> {
  if (typeof options.createCoordinator !== 'function') {
    throw new InvalidOptionsError('TabSync needs createCoordinator, a function that builds the coordinator');
  }
  const resolved = {
    createCoordinator: options.createCoordinator,
    name: options.name ?? 'actorsync',
    heartbeatIntervalMs: options.heartbeatIntervalMs ?? 1_000,
    heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? 4_000,
    requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
    localChangeDelayMs: options.localChangeDelayMs ?? 250,
    syncOnLeadership: options.syncOnLeadership ?? true,
  };
  if (typeof resolved.name !== 'string' || resolved.name.length === 0) {
    throw new InvalidOptionsError('name must be a non-empty string');
  }
  for (const key of [
    'heartbeatIntervalMs',
    'heartbeatTimeoutMs',
    'requestTimeoutMs',
    'localChangeDelayMs',
  ] as const) {
    const value = resolved[key];
    if (!Number.isFinite(value) || value < (key === 'localChangeDelayMs' ? 0 : 1) || value > 2 ** 31 - 1) {
      throw new InvalidOptionsError(`${key} must be a number of milliseconds, got ${String(value)}`);
    }
  }
  if (resolved.heartbeatTimeoutMs <= resolved.heartbeatIntervalMs) {
    throw new InvalidOptionsError(
      `heartbeatTimeoutMs (${resolved.heartbeatTimeoutMs}) must be longer than heartbeatIntervalMs (${resolved.heartbeatIntervalMs})`,
    );
  }
  return resolved;
}

import { InvalidOptionsError } from '../domain/errors.js';

/** The reason the reference server gives for an item it rejects by injected fault (the demo's verdict names it). */
export const INJECTED_REJECT_REASON = 'Injected fault: item rejected';

/** Faults the reference server can inject, for demos and tests. */
export const FAULT_KINDS = [
  'error500',
  'unavailable503',
  'tooMany429',
  'timeout',
  'reset',
  'dropReply',
  'reject',
  'malformed',
  'slowDrip',
] as const;

export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultOptions {
  /** Probability (0-1) that a sync request gets a fault, spread evenly over `kinds`. */
  rate?: number;
  /** Kinds `rate` draws from. Default all. */
  kinds?: readonly FaultKind[];
  /** Per-kind probabilities, on top of `rate`. */
  rates?: Partial<Record<FaultKind, number>>;
  /** Faults for the next requests, in order, before any random ones: deterministic tests. */
  script?: readonly (FaultKind | 'none')[];
  /**
   * Added to every sync request: a fixed delay or a [min, max] range in ms. Delays are 0 or more; any longer than a
   * timer can wait (2^31-1 ms, Infinity included) wait that long.
   */
  latencyMs?: number | readonly [number, number];
  /** The Retry-After of 429 and 503 replies, in whole seconds. Default 1. */
  retryAfterSeconds?: number;
  /** How long a `timeout` fault holds the request before dropping it. Default 30,000 ms. */
  hangMs?: number;
  /** Pause between the bytes of a `slowDrip` reply. Default 5 ms. */
  dripIntervalMs?: number;
  random?: () => number;
}

/** Refuses a delay a timer cannot mean: NaN, negative, not a number. Infinity waits the longest a timer can. */
function assertDelay(name: string, value: number | undefined): void {
  if (value === undefined) return;
  if (!(typeof value === 'number' && value >= 0)) {
    throw new InvalidOptionsError(
      `${name} must be a number of milliseconds, 0 or more, got ${String(value)}`,
    );
  }
}

/** Draws the fault for each request and counts what it injected. */
export class FaultPlan {
  readonly injected: Record<FaultKind, number> = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<
    FaultKind,
    number
  >;
  readonly options: Readonly<FaultOptions>;
  readonly #script: (FaultKind | 'none')[];
  readonly #random: () => number;
  #stopped = false;

  constructor(options: FaultOptions = {}) {
    const rate = options.rate ?? 0;
    if (!(rate >= 0 && rate <= 1))
      throw new InvalidOptionsError(`fault rate must be between 0 and 1, got ${rate}`);
    for (const kind of [...(options.kinds ?? []), ...Object.keys(options.rates ?? {})]) {
      if (!FAULT_KINDS.includes(kind as FaultKind)) {
        throw new InvalidOptionsError(`unknown fault kind "${kind}" (known: ${FAULT_KINDS.join(', ')})`);
      }
    }
    for (const [kind, probability] of Object.entries(options.rates ?? {})) {
      if (!(typeof probability === 'number' && probability >= 0 && probability <= 1)) {
        throw new InvalidOptionsError(`rate of fault "${kind}" must be between 0 and 1, got ${probability}`);
      }
    }
    assertDelay('hangMs', options.hangMs);
    assertDelay('dripIntervalMs', options.dripIntervalMs);
    const latency = options.latencyMs;
    if (Array.isArray(latency)) {
      const [min, max] = latency as readonly [number, number];
      assertDelay('latencyMs[0]', min);
      assertDelay('latencyMs[1]', max);
      if (latency.length !== 2 || min > max) {
        throw new InvalidOptionsError(
          `latencyMs must be a delay or a [min, max] range, got [${latency.join(', ')}]`,
        );
      }
    } else {
      assertDelay('latencyMs', latency as number | undefined);
    }
    const retryAfter = options.retryAfterSeconds;
    if (retryAfter !== undefined && !(Number.isSafeInteger(retryAfter) && retryAfter >= 0)) {
      throw new InvalidOptionsError(
        `retryAfterSeconds must be a whole number of seconds, 0 or more, got ${retryAfter}`,
      );
    }
    this.options = options;
    this.#script = [...(options.script ?? [])];
    this.#random = options.random ?? Math.random;
  }

  /** Appends to the remaining script (tests steer a running server). */
  queue(...faults: (FaultKind | 'none')[]): void {
    this.#script.push(...faults);
  }

  /** Injects no fault from now on, scripted or drawn (latency stays): e.g. to read the server as it is. */
  stop(): void {
    this.#stopped = true;
  }

  next(): FaultKind | undefined {
    if (this.#stopped) return undefined;
    const scripted = this.#script.shift();
    const fault = scripted !== undefined ? (scripted === 'none' ? undefined : scripted) : this.#draw();
    if (fault) this.injected[fault] += 1;
    return fault;
  }

  latency(): number {
    const latency = this.options.latencyMs ?? 0;
    if (typeof latency === 'number') return latency;
    const [min, max] = latency;
    return min + this.#random() * (max - min);
  }

  pick<T>(items: readonly T[]): T | undefined {
    return items[Math.floor(this.#random() * items.length)];
  }

  #draw(): FaultKind | undefined {
    for (const [kind, probability] of Object.entries(this.options.rates ?? {})) {
      if (this.#random() < (probability ?? 0)) return kind as FaultKind;
    }
    const rate = this.options.rate ?? 0;
    if (rate > 0 && this.#random() < rate) return this.pick(this.options.kinds ?? FAULT_KINDS);
    return undefined;
  }
}

/** Every error actorsync raises; `code` is stable, `message` is for people. */
export class ActorSyncError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A batch failure that will not succeed on retry (bad request, too large): its items fail permanently. */
export class PermanentSyncError extends ActorSyncError {
  constructor(message: string, options?: ErrorOptions) {
    super('PERMANENT', message, options);
  }
}

/** A batch failure worth retrying; `retryAfterMs` (from a `Retry-After` header, say) sets the least delay. */
export class TransientSyncError extends ActorSyncError {
  readonly retryAfterMs: number | undefined;
  /** `code` is for subclasses (`RemoteUnavailableError`). */
  constructor(message: string, options?: ErrorOptions & { retryAfterMs?: number }, code = 'TRANSIENT') {
    super(code, message, options);
    this.retryAfterMs = options?.retryAfterMs;
  }
}

/**
 * The remote could not be reached or says it is unavailable for now (no network, connection refused or reset, a
 * 429, 502, 503 or 504): nothing about the items sent. Retried like any transient failure; a run whose batch still
 * meets it after its attempts stops early and leaves its items pending without counting an attempt against them,
 * so a device offline for hours never dead-letters its changes. (A 500 or a timeout may be the batch's own doing
 * and counts, so a batch that always breaks the server is dead-lettered in the end.)
 */
export class RemoteUnavailableError extends TransientSyncError {
  constructor(message: string, options?: ErrorOptions & { retryAfterMs?: number }) {
    super(message, options, 'UNAVAILABLE');
  }
}

/** Ends the whole run at once (rejected credentials, say): retrying other batches would fail the same way. */
export class FatalSyncError extends ActorSyncError {
  constructor(message: string, options?: ErrorOptions) {
    super('FATAL', message, options);
  }
}

/** The remote's reply does not describe the batch that was sent; nothing in it is trusted. */
export class MalformedReplyError extends ActorSyncError {
  constructor(message: string) {
    super('MALFORMED_REPLY', message);
  }
}

export class UnknownEntityTypeError extends ActorSyncError {
  readonly entityType: string;
  constructor(entityType: string, known: readonly string[]) {
    super(
      'UNKNOWN_ENTITY_TYPE',
      `Unknown entity type "${entityType}": register its repository first (registered: ${known.length ? known.join(', ') : 'none'})`,
    );
    this.entityType = entityType;
  }
}

export class MissingRemoteError extends ActorSyncError {
  constructor(entityType: string) {
    super('MISSING_REMOTE', `Repository "${entityType}" has no remote data source, so it cannot be synced`);
  }
}

export class InvalidEntityError extends ActorSyncError {
  constructor(message: string) {
    super('INVALID_ENTITY', message);
  }
}

export class InvalidOptionsError extends ActorSyncError {
  constructor(message: string) {
    super('INVALID_OPTIONS', message);
  }
}

/**
 * A pulled page that was not fetched from the checkpoint the store holds (its `since` is another one): a late
 * reply (a slow long-poll, a retried request answered late) or a second puller. Applying it could bring back a
 * record deleted since and move the checkpoint backwards, so the store refuses it whole and writes nothing; pull
 * again from `checkpoint()`.
 */
export class StalePageError extends ActorSyncError {
  /** The checkpoint the page says it was pulled from (`undefined`: the beginning). */
  readonly since: string | undefined;
  /** What the store expected: its checkpoint, or during a reset the checkpoint of the reset's last page. */
  readonly expected: string | undefined;
  constructor(since: string | undefined, expected: string | undefined) {
    super(
      'STALE_PAGE',
      `A pulled page from ${describeCheckpoint(since)} does not follow the store, which is at ${describeCheckpoint(expected)}: nothing was applied; pull again from the stored checkpoint`,
    );
    this.since = since;
    this.expected = expected;
  }
}

/** A checkpoint for a message: opaque, and possibly long, so only its length is shown. */
function describeCheckpoint(checkpoint: string | undefined): string {
  return checkpoint === undefined ? 'the beginning' : `a checkpoint (${checkpoint.length} characters)`;
}

/**
 * The server asked for more resets (pulls from the beginning) than `maxResets` within the reset window: the run
 * stops before pulling everything again, and the type's next automatic run waits until the window allows one.
 * A server that asks for a reset on every request would otherwise have the client download everything in a loop.
 */
export class PullResetLimitError extends ActorSyncError {
  constructor(entityType: string, maxResets: number, windowMs: number) {
    super(
      'PULL_RESET_LIMIT',
      `The server asked to pull "${entityType}" from the beginning again, but ${maxResets} reset${maxResets === 1 ? '' : 's'} within ${Math.round(windowMs / 60_000)} minutes is the limit: waiting before the next one`,
    );
  }
}

/** The coordinator was stopped; no more work is accepted. */
export class CoordinatorStoppedError extends ActorSyncError {
  constructor() {
    super('STOPPED', 'The sync coordinator has been stopped');
  }
}

/** Classifies any thrown value for retry decisions. */
export type FailureKind = 'transient' | 'permanent' | 'fatal';

export function failureKind(error: unknown): FailureKind {
  if (error instanceof PermanentSyncError) return 'permanent';
  if (error instanceof FatalSyncError) return 'fatal';
  return 'transient';
}

/**
 * An error as data: what travels through the actors and their events. `code` is an `ActorSyncError` code (or one of
 * the item codes below); only the facade and the CLI turn it into a sentence.
 */
export interface ErrorInfo {
  code: string;
  message: string;
  /** Whether trying again may succeed. */
  retryable: boolean;
}

/** The code of an item the remote refused on its own (its reason is the message), or a conflict left unresolved. */
export const ITEM_FAILED = 'ITEM_FAILED';

/** The code of a thrown value that is not an `ActorSyncError`: a bug or an unexpected failure of a dependency. */
export const UNEXPECTED = 'UNEXPECTED';

/** Any thrown value as data: its code, its message and whether a retry may succeed. */
export function toErrorInfo(error: unknown): ErrorInfo {
  return {
    code: error instanceof ActorSyncError ? error.code : UNEXPECTED,
    message: errorMessage(error),
    retryable: failureKind(error) === 'transient',
  };
}

/** A message for people, whatever was thrown. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  if (typeof error === 'string') return error;
  try {
    return JSON.stringify(error) ?? String(error);
  } catch {
    return String(error);
  }
}

/** A store file is not valid JSON or not in actorsync's format. The file is left exactly as it was. */
export class StoreCorruptError extends ActorSyncError {
  readonly file: string;
  constructor(file: string, reason: string) {
    super('STORE_CORRUPT', `Refusing to open store file ${file}: ${reason}. The file was left untouched.`);
    this.file = file;
  }
}

/** Another live process (or this one) has the store open. */
export class StoreLockedError extends ActorSyncError {
  readonly file: string;
  constructor(file: string, holder: string) {
    super('STORE_LOCKED', `Store ${file} is already open (${holder}); one process owns a store at a time`);
    this.file = file;
  }
}

/** A write could not be made durable; the store refuses further writes until reopened. */
export class StoreWriteError extends ActorSyncError {
  constructor(message: string, options?: ErrorOptions) {
    super('STORE_WRITE', message, options);
  }
}

/** The store was opened with `readOnly: true`: it refuses every write, and writes nothing itself. */
export class StoreReadOnlyError extends ActorSyncError {
  readonly file: string;
  constructor(file: string) {
    super('STORE_READ_ONLY', `Store ${file} was opened read-only; open it without readOnly to write`);
    this.file = file;
  }
}

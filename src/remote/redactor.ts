/** What a secret is replaced with. */
export const REDACTED = '[redacted]';

/** Shorter secrets are not redacted: replacing every "ab" would shred messages and hide nothing worth hiding. */
export const MIN_SECRET_LENGTH = 4;

/**
 * A run of at least this many characters of a secret is redacted even where the whole secret is not there: a
 * server, a proxy or a schema message may quote a token cut short, and the rest still identifies it.
 */
export const MIN_PARTIAL_LENGTH = 12;

/**
 * Pieces of each secret of this length, taken at every multiple of it, find the partial runs: a run of
 * `2 * ANCHOR_LENGTH - 1` characters (11, under `MIN_PARTIAL_LENGTH`) always holds one whole piece.
 */
const ANCHOR_LENGTH = 6;

/** Tokens remembered at most; a rotating token source would otherwise grow the set without end. */
const MAX_REMEMBERED = 256;

/** `Bearer xyz` / `Basic xyz` with what looks like a credential after it (at least 4 token characters). */
const AUTH_SCHEME = /\b(Bearer|Basic)\s+[\w.~+/=-]{4,}/g;

/** Where a piece of a secret's form sits in it. */
interface Anchor {
  form: string;
  at: number;
}

/**
 * Removes every secret it knows of from text before the text leaves the library in a message (errors, failure
 * reasons, logs): the tokens `getToken` returned, configured secrets and the credentials of a URL. Never for
 * record data (a conflict's copy, a pulled change): rewriting it would corrupt a record stored as synced.
 * Each is replaced in its raw, URL-encoded, JSON-escaped and base64 forms, and so is any run of
 * `MIN_PARTIAL_LENGTH` characters or more of one of those forms. Pure apart from the secrets it remembers.
 */
export class Redactor {
  /** Given at construction (configured secrets, URL credentials): never forgotten. */
  readonly #fixed = new Set<string>();
  /** Remembered later (tokens); insertion-ordered, so the oldest is evicted first. */
  readonly #remembered = new Set<string>();
  /** Every form of every secret, longest first so that a secret inside another is not left half-replaced. */
  #forms: string[] = [];
  /** Pieces of every form long enough for partial runs, by `pieceHash` (numbers look up faster than strings). */
  #anchors = new Map<number, Anchor[]>();

  constructor(secrets: Iterable<string | undefined> = []) {
    for (const secret of secrets) if (isRedactable(secret)) this.#fixed.add(secret);
    this.#rebuild();
  }

  /** Adds a secret (a token just returned, say); too short or already known ones change nothing. */
  remember(secret: string | undefined): void {
    if (!isRedactable(secret) || this.#fixed.has(secret) || this.#remembered.has(secret)) return;
    this.#remembered.add(secret);
    if (this.#remembered.size > MAX_REMEMBERED) {
      const [oldest] = this.#remembered;
      if (oldest !== undefined) this.#remembered.delete(oldest);
    }
    this.#rebuild();
  }

  /** `text` with every known secret, and every long enough run of one, replaced by `[redacted]`. */
  redact(text: string): string {
    let result = text;
    for (const form of this.#forms) {
      if (result.includes(form)) result = result.split(form).join(REDACTED);
    }
    const runs = this.#partialRuns(result);
    if (runs.length === 0) return result;
    let out = '';
    let from = 0;
    for (const [start, end] of runs) {
      out += result.slice(from, start) + REDACTED;
      from = end;
    }
    return out + result.slice(from);
  }

  /**
   * Like `redact`, and also whatever follows `Bearer ` or `Basic `: for text that may quote a credential not seen
   * yet (the message of a `getToken` that threw).
   */
  redactLoose(text: string): string {
    return this.redact(text).replace(AUTH_SCHEME, `$1 ${REDACTED}`);
  }

  /** Whether `text` still carries a known secret or a long enough run of one. */
  leaks(text: string): boolean {
    return this.#forms.some((form) => text.includes(form)) || this.#partialRuns(text).length > 0;
  }

  #rebuild(): void {
    const secrets = [...this.#fixed, ...this.#remembered];
    this.#forms = [...new Set(secrets.flatMap(formsOf))].sort((a, b) => b.length - a.length);
    this.#anchors = new Map();
    for (const form of this.#forms) {
      // A form no longer than a partial run is only ever found whole.
      if (form.length <= MIN_PARTIAL_LENGTH) continue;
      for (let at = 0; at + ANCHOR_LENGTH <= form.length; at += ANCHOR_LENGTH) {
        const hash = pieceHash(form, at);
        const list = this.#anchors.get(hash);
        if (list) list.push({ form, at });
        else this.#anchors.set(hash, [{ form, at }]);
      }
    }
  }

  /**
   * The stretches of `text`, in order and disjoint, that match `MIN_PARTIAL_LENGTH` or more characters of a
   * secret's form: each position is looked up as a piece, and a hit is grown both ways while text and form agree.
   */
  #partialRuns(text: string): [number, number][] {
    const runs: [number, number][] = [];
    if (this.#anchors.size === 0 || text.length < MIN_PARTIAL_LENGTH) return runs;
    for (let i = 0; i + ANCHOR_LENGTH <= text.length; ) {
      let next = i + 1;
      for (const anchor of this.#anchors.get(pieceHash(text, i)) ?? []) {
        const run = runAround(text, i, anchor);
        if (run === undefined) continue;
        runs.push(run);
        // The run needs no second look, except its last few characters: another run (of another secret, or of
        // this one at another place) may start in them and go on, and its last piece starts at most that far back.
        next = Math.max(next, run[1] - (2 * ANCHOR_LENGTH - 2));
      }
      i = next;
    }
    return mergedRuns(runs);
  }
}

/** A hash of the `ANCHOR_LENGTH` characters of `text` from `at`. */
function pieceHash(text: string, at: number): number {
  let hash = 0;
  for (let k = at; k < at + ANCHOR_LENGTH; k += 1) hash = (Math.imul(hash, 31) + text.charCodeAt(k)) | 0;
  return hash;
}

/**
 * The stretch of `text` around position `i` that agrees with `anchor`'s form around its piece, if the piece really
 * is there (hashes can collide) and the stretch is at least `MIN_PARTIAL_LENGTH` long.
 */
function runAround(text: string, i: number, { form, at }: Anchor): [number, number] | undefined {
  for (let k = 0; k < ANCHOR_LENGTH; k += 1) {
    if (text.charCodeAt(i + k) !== form.charCodeAt(at + k)) return undefined;
  }
  let start = i;
  let formStart = at;
  while (start > 0 && formStart > 0 && text[start - 1] === form[formStart - 1]) {
    start -= 1;
    formStart -= 1;
  }
  let end = i + ANCHOR_LENGTH;
  let formEnd = at + ANCHOR_LENGTH;
  while (end < text.length && formEnd < form.length && text[end] === form[formEnd]) {
    end += 1;
    formEnd += 1;
  }
  return end - start >= MIN_PARTIAL_LENGTH ? [start, end] : undefined;
}

/** `runs` sorted, with overlapping or touching ones joined. */
function mergedRuns(runs: [number, number][]): [number, number][] {
  if (runs.length < 2) return runs;
  runs.sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const [start, end] of runs) {
    const last = merged.at(-1);
    if (last && start <= last[1]) last[1] = Math.max(last[1], end);
    else merged.push([start, end]);
  }
  return merged;
}

function isRedactable(secret: string | undefined): secret is string {
  return secret !== undefined && secret.length >= MIN_SECRET_LENGTH;
}

/** The ways a secret shows up in text: as is, URL-encoded, JSON-escaped, base64 (Basic auth). */
function formsOf(secret: string): string[] {
  const forms = [
    secret,
    encodeURIComponent(secret),
    JSON.stringify(secret).slice(1, -1),
    base64(secret),
    base64url(secret),
  ];
  return forms.filter((form) => form.length >= MIN_SECRET_LENGTH);
}

/**
 * A URL for messages: scheme, host and path only. Credentials go, and so do the query and fragment, where APIs put
 * keys and tokens (`?access_token=…`).
 */
export function printableUrl(url: URL | string): string {
  let parsed: URL;
  try {
    parsed = typeof url === 'string' ? new URL(url) : url;
  } catch {
    return 'an invalid URL';
  }
  return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
}

/** The base64 of `text`'s UTF-8 bytes, as `Authorization: Basic` carries it (Web APIs only, for browsers). */
export function base64(text: string): string {
  let binary = '';
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** `base64` with the URL-safe alphabet and no padding (RFC 4648 §5). */
export function base64url(text: string): string {
  return base64(text).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

/** What a secret is replaced with. */
export const REDACTED = '[redacted]';

/** Shorter secrets are not redacted: replacing every "ab" would shred messages and hide nothing worth hiding. */
export const MIN_SECRET_LENGTH = 4;

/** Tokens remembered at most; a rotating token source would otherwise grow the set without end. */
const MAX_REMEMBERED = 256;

/** `Bearer xyz` / `Basic xyz` with what looks like a credential after it (at least 4 token characters). */
const AUTH_SCHEME = /\b(Bearer|Basic)\s+[\w.~+/=-]{4,}/g;

/**
 * Removes every secret it knows of from text before the text leaves the library (errors, failure reasons, logs):
 * the tokens `getToken` returned, configured secrets and the credentials of a URL. Each is replaced in its raw,
 * URL-encoded, JSON-escaped and base64 forms. Pure apart from the set it remembers.
 */
export class Redactor {
  /** Insertion-ordered, so the oldest is evicted first. */
  readonly #secrets = new Set<string>();
  /** Every form of every secret, longest first so that a secret inside another is not left half-replaced. */
  #forms: string[] = [];

  constructor(secrets: Iterable<string | undefined> = []) {
    for (const secret of secrets) this.remember(secret);
  }

  /** Adds a secret (a token just returned, say); too short or already known ones change nothing. */
  remember(secret: string | undefined): void {
    if (secret === undefined || secret.length < MIN_SECRET_LENGTH || this.#secrets.has(secret)) return;
    this.#secrets.add(secret);
    if (this.#secrets.size > MAX_REMEMBERED) {
      const [oldest] = this.#secrets;
      if (oldest !== undefined) this.#secrets.delete(oldest);
    }
    this.#forms = [...new Set([...this.#secrets].flatMap(formsOf))].sort((a, b) => b.length - a.length);
  }

  /** `text` with every known secret replaced by `[redacted]`. */
  redact(text: string): string {
    let result = text;
    for (const form of this.#forms) {
      if (result.includes(form)) result = result.split(form).join(REDACTED);
    }
    return result;
  }

  /**
   * Like `redact`, and also whatever follows `Bearer ` or `Basic `: for text that may quote a credential not seen
   * yet (the message of a `getToken` that threw).
   */
  redactLoose(text: string): string {
    return this.redact(text).replace(AUTH_SCHEME, `$1 ${REDACTED}`);
  }

  /** Whether `text` still carries a known secret. */
  leaks(text: string): boolean {
    return this.#forms.some((form) => text.includes(form));
  }
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

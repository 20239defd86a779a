import { describe, expect, it } from 'vitest';
import {
  base64,
  base64url,
  MIN_PARTIAL_LENGTH,
  MIN_SECRET_LENGTH,
  printableUrl,
  REDACTED,
  Redactor,
} from '../../src/remote/redactor.js';

describe('Redactor', () => {
  const token = 'tok/9f8e+7d6c=secret';

  it('replaces a secret in its raw, URL-encoded, JSON-escaped and base64 forms', () => {
    const redactor = new Redactor([token]);
    const texts = [
      `Bearer ${token}`,
      `?access_token=${encodeURIComponent(token)}`,
      JSON.stringify({ echoed: `a"${token}` }),
      `Basic ${Buffer.from(token).toString('base64')}`,
      Buffer.from(token).toString('base64url'),
    ];
    for (const text of texts) {
      expect(redactor.leaks(text), text).toBe(true);
      const redacted = redactor.redact(text);
      expect(redacted, text).toContain(REDACTED);
      expect(redactor.leaks(redacted), redacted).toBe(false);
    }
    expect(redactor.redact(`x ${token} y ${token}`)).toBe(`x ${REDACTED} y ${REDACTED}`);
  });

  it('a secret quoted inside JSON with escapes is found too', () => {
    const quoted = 'pa"ss\\word-1';
    const redactor = new Redactor([quoted]);
    expect(redactor.redact(JSON.stringify({ error: `bad ${quoted}` }))).toBe(`{"error":"bad ${REDACTED}"}`);
  });

  it('remembers secrets added later, ignores short and missing ones', () => {
    const redactor = new Redactor(['ab', undefined, '']);
    expect(MIN_SECRET_LENGTH).toBe(4);
    expect(redactor.redact('ab abc about')).toBe('ab abc about');
    redactor.remember('later-token-1234');
    expect(redactor.redact('got later-token-1234!')).toBe(`got ${REDACTED}!`);
  });

  it('replaces the longer of two overlapping secrets whole', () => {
    const redactor = new Redactor(['user', 'user:password-1']);
    expect(redactor.redact('user:password-1 and user')).toBe(`${REDACTED} and ${REDACTED}`);
  });

  it('redactLoose also hides whatever follows Bearer or Basic', () => {
    const redactor = new Redactor();
    expect(redactor.redactLoose('refresh failed for Authorization: Bearer eyJhbGc.iOiJ-IUzI1NiJ9')).toBe(
      `refresh failed for Authorization: Bearer ${REDACTED}`,
    );
    expect(redactor.redactLoose('Basic dXNlcjpwYXNz')).toBe(`Basic ${REDACTED}`);
    expect(redactor.redactLoose('the auth server is down')).toBe('the auth server is down');
    // redact alone leaves unknown text alone.
    expect(redactor.redact('Bearer eyJhbGc')).toBe('Bearer eyJhbGc');
  });

  it('keeps a bounded number of tokens: the oldest go first, configured secrets stay', () => {
    const redactor = new Redactor(['configured-api-key-77']);
    const tokens = Array.from({ length: 300 }, (_, i) => `${i}:${crypto.randomUUID()}`);
    for (const token of tokens) redactor.remember(token);
    expect(redactor.leaks(tokens[299] as string)).toBe(true);
    expect(redactor.leaks(tokens[100] as string)).toBe(true);
    expect(redactor.leaks(tokens[0] as string)).toBe(false);
    expect(redactor.redact('key configured-api-key-77')).toBe(`key ${REDACTED}`);
  });

  it(`redacts any run of ${MIN_PARTIAL_LENGTH} or more characters of a secret, in every form`, () => {
    const jwt = `${'eyJhbGciOiJIUzI1NiJ9'}.${'eyJzdWIiOiJzeW5jLXVzZXIiLCJzY29wZSI6IndyaXRlIn0'.repeat(3)}.c2lnbmF0dXJl-_x`;
    const redactor = new Redactor();
    redactor.remember(jwt);
    // Every cut of the token at least MIN_PARTIAL_LENGTH long, wherever it starts, in text on both sides.
    for (let start = 0; start + MIN_PARTIAL_LENGTH <= jwt.length; start += 1) {
      for (const length of [MIN_PARTIAL_LENGTH, MIN_PARTIAL_LENGTH + 5, 70]) {
        const piece = jwt.slice(start, start + length);
        if (piece.length < MIN_PARTIAL_LENGTH) continue;
        const text = `received "${piece}…" here`;
        const redacted = redactor.redact(text);
        expect(redacted, text).toBe(`received "${REDACTED}…" here`);
        expect(redactor.leaks(text)).toBe(true);
        expect(redactor.leaks(redacted)).toBe(false);
      }
    }
    // A prefix of its base64 form (a cut Basic header) too.
    const basic = new Redactor(['sync-user:correct-horse-battery']);
    const encoded = base64('sync-user:correct-horse-battery');
    expect(basic.redact(`Basic ${encoded.slice(0, 20)}`)).toBe(`Basic ${REDACTED}`);
    // Shorter runs, and text that merely shares a few characters, are left alone.
    expect(redactor.redact(`x ${jwt.slice(3, 3 + MIN_PARTIAL_LENGTH - 1)} y`)).toBe(
      `x ${jwt.slice(3, 3 + MIN_PARTIAL_LENGTH - 1)} y`,
    );
    expect(redactor.redact('the eyJhbGci header of some other token')).toBe(
      'the eyJhbGci header of some other token',
    );
  });

  it('joins overlapping runs of two secrets into one redaction', () => {
    const redactor = new Redactor(['first-secret-abcdefgh', 'abcdefgh-second-secret']);
    expect(redactor.redact('<cret-abcdefgh-second-se>')).toBe(`<${REDACTED}>`);
  });
});

describe('printableUrl', () => {
  it('drops credentials, query and fragment', () => {
    expect(printableUrl('https://user:secret@api.example.com:8443/v1/sync?access_token=abc#frag')).toBe(
      'https://api.example.com:8443/v1/sync',
    );
    expect(printableUrl(new URL('http://127.0.0.1:9/'))).toBe('http://127.0.0.1:9/');
    expect(printableUrl('not a url')).toBe('an invalid URL');
  });
});

describe('base64 (Web APIs only, for browsers)', () => {
  it('encodes the UTF-8 bytes as Node does, padded and URL-safe', () => {
    for (const text of ['', 'a', 'ab', 'user:pässwörd', 'ключ€🔑', '~~~???>>>', '\u0000\u00ff']) {
      expect(base64(text), text).toBe(Buffer.from(text, 'utf8').toString('base64'));
      expect(base64url(text), text).toBe(Buffer.from(text, 'utf8').toString('base64url'));
    }
  });
});

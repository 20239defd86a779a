/** A push as a client sends it: POST `${url}/v1/sync/${type}`, JSON, bearer `token`, Idempotency-Key `key`. */
export function syncRequest(url: string, token: string, key: string, body: string, type = 'note'): Request {
  return new Request(`${url}/v1/sync/${type}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'idempotency-key': key, 'content-type': 'application/json' },
    body,
  });
}

/** POSTs `body` to `${url}/v1/sync/${type}` as a client does (`syncRequest`). */
export function postSync(
  url: string,
  token: string,
  key: string,
  body: string,
  type = 'note',
): Promise<Response> {
  return fetch(syncRequest(url, token, key, body, type));
}

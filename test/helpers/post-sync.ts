/** POSTs `body` to `${url}/v1/sync/${type}` as a client does: JSON, bearer `token`, Idempotency-Key `key`. */
export function postSync(
  url: string,
  token: string,
  key: string,
  body: string,
  type = 'note',
): Promise<Response> {
  return fetch(`${url}/v1/sync/${type}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'idempotency-key': key, 'content-type': 'application/json' },
    body,
  });
}

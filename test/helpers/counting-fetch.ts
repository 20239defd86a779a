/** A pass-through `fetch` that counts the decoded body bytes the remote pulled from the real global fetch. */
export function countingFetch(): {
  fetch: typeof fetch;
  /** Bytes pulled from every reply together. */
  pulled: () => number;
  /** Bytes pulled from the reply that gave the most. */
  maxPulled: () => number;
} {
  let pulled = 0;
  let maxPulled = 0;
  const counted: typeof fetch = async (input, init) => {
    const response = await globalThis.fetch(input, init);
    if (!response.body) return response;
    let pulledHere = 0;
    const counter = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        pulled += chunk.byteLength;
        pulledHere += chunk.byteLength;
        maxPulled = Math.max(maxPulled, pulledHere);
        controller.enqueue(chunk);
      },
    });
    return new Response(response.body.pipeThrough(counter), {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };
  return { fetch: counted, pulled: () => pulled, maxPulled: () => maxPulled };
}

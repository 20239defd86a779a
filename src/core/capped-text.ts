/**
 * The text of a byte stream, or `undefined` once more than `maxBytes` arrived: the stream is then cancelled, so the
 * rest is neither read nor (for a compressed body) inflated. Counts bytes as received, never a declared length. One
 * decoder over every chunk, so a character split between two chunks is decoded whole. Runs anywhere (no Node APIs):
 * the client caps replies with it, the server caps request bodies.
 */
export async function readCappedText(
  body: ReadableStream<Uint8Array>,
  maxBytes: number,
): Promise<string | undefined> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => {});
      return undefined;
    }
    chunks.push(value);
  }
  const decoder = new TextDecoder();
  return chunks.map((chunk) => decoder.decode(chunk, { stream: true })).join('') + decoder.decode();
}

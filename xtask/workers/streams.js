// Reading a guest's `stream<u8>` (a jco stream) in chunks.

/** The largest read asked of a guest stream at once, in bytes. */
export const CHUNK = 64 * 1024;

/**
 * Yields the bytes of a jco `stream<u8>` (or of a `ReadableStream`, what
 * the shim gives for absent contents) as `Uint8Array` chunks until it ends.
 */
export async function* readChunks(stream) {
  if (stream instanceof ReadableStream) {
    for await (const chunk of stream) {
      yield chunk instanceof Uint8Array ? chunk : Uint8Array.from(chunk);
    }
    return;
  }
  for (;;) {
    const result = await stream.read({ count: CHUNK });
    if (result === undefined || result === null) {
      return;
    }
    const { done, value } = result;
    if (value !== undefined && value.length > 0) {
      yield value instanceof Uint8Array ? value : Uint8Array.from(value);
    }
    if (done) {
      return;
    }
  }
}

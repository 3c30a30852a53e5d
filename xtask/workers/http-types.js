// `wasi:http/types@0.3.0` for the Worker: jco's preview3-shim resources,
// with two changes, and conversions between `Headers` and `fields`:
// - the transmission future of `request.new` / `response.new` resolves
//   with what the body's consumer reports (the `res` of `consume-body`):
//   the next component's outcome, or, for the response the Worker sends,
//   the Worker's once it has handed the last byte to the runtime (so
//   `event.after()` runs after the response, as on edge-host);
// - bodies move in chunks: jco 1.35 lowers a stream it lifted before (a
//   body one component passes to the next, as a middleware does with its
//   origin's) one element per read, a byte per event-loop turn; given an
//   async iterator that reads 64 KiB at a time, it moves whole chunks.

import { types } from "@bytecodealliance/preview3-shim/http";
import { CHUNK } from "./streams.js";

const { Fields, RequestOptions, Request: ShimRequest, Response: ShimResponse } = types;

/** Headers the `fields` resource refuses (hop-by-hop, or `host`, which is the authority). */
const FORBIDDEN = new Set([
  "connection",
  "host",
  "http2-settings",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
]);

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Resolves the transmission future of each response made by `Response.new`. */
const transmissions = new WeakMap();

/**
 * A jco `stream<u8>` whose async iterator reads up to [`CHUNK`] bytes at a
 * time; other contents (absent, a `ReadableStream`) are returned as they are.
 */
function chunked(contents) {
  if (!contents || typeof contents.read !== "function" || contents instanceof ReadableStream) {
    return contents;
  }
  return {
    read: (options) => contents.read(options),
    [Symbol.asyncIterator]() {
      return {
        next: () => contents.read({ count: CHUNK }),
        return: async () => {
          await contents.return?.();
          return { done: true, value: undefined };
        },
      };
    },
  };
}

/** `request` with the shim's methods and objects; `new` takes chunked contents. */
function Request() {
  throw new TypeError("requests are made with Request.new");
}
Request.prototype = ShimRequest.prototype;
Request.new = (headers, contents, trailers, options) =>
  ShimRequest.new(headers, chunked(contents), trailers, options);
Request.consumeBody = (request, result) => {
  const body = ShimRequest.consumeBody(request, result);
  Promise.resolve(result).then((outcome) => request._resolve(outcome), () => {});
  return body;
};

/**
 * `response` with the shim's methods; only `new` differs. Responses are
 * the shim's own objects (the prototype is shared), so jco's resource
 * checks accept them.
 */
function Response() {
  throw new TypeError("responses are made with Response.new");
}
Response.prototype = ShimResponse.prototype;
Response.new = (headers, contents, trailers) => {
  const [response] = ShimResponse.new(headers, chunked(contents), trailers);
  const transmitted = new Promise((resolve) => transmissions.set(response, resolve));
  return [response, transmitted];
};
Response.consumeBody = (response, result) => {
  const body = ShimResponse.consumeBody(response, result);
  Promise.resolve(result).then(
    (outcome) => {
      transmissions.get(response)?.(outcome);
      transmissions.delete(response);
    },
    () => {},
  );
  return body;
};

/** The `wasi:http/types` import. */
export const wasiHttpTypes = { Fields, Request, RequestOptions, Response };

/** `Headers` as `fields`, without the headers `fields` refuses. */
export function toWasiFields(headers) {
  const entries = [];
  for (const [name, value] of headers) {
    if (!FORBIDDEN.has(name)) {
      entries.push([name, encoder.encode(value)]);
    }
  }
  return Fields.fromList(entries);
}

/** `fields` as `Headers`. */
export function fromWasiFields(fields) {
  const headers = new Headers();
  for (const [name, value] of fields.copyAll()) {
    headers.append(name, decoder.decode(value));
  }
  return headers;
}

// `wasi:http/types@0.3.0` for the Worker: jco's preview3-shim resources,
// with a `response.new` whose transmission future tells the truth on
// Workers (it resolves when the Worker has handed the body's last byte to
// the runtime, so `event.after()` runs after the response, as on edge-host),
// and conversions between `Headers` and `fields`.

import { types } from "@bytecodealliance/preview3-shim/http";

const { Fields, Request, RequestOptions, Response: ShimResponse } = types;

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

/** Resolves the transmission future of each response made by the guest. */
const transmissions = new WeakMap();

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
  const [response] = ShimResponse.new(headers, contents, trailers);
  const transmitted = new Promise((resolve) => transmissions.set(response, resolve));
  return [response, transmitted];
};
Response.consumeBody = (response, result) => ShimResponse.consumeBody(response, result);

/** Settles the transmission future of a guest-made `response` (once; later calls do nothing). */
export function settleTransmission(response, result) {
  const resolve = transmissions.get(response);
  if (resolve) {
    transmissions.delete(response);
    resolve(result);
  }
}

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

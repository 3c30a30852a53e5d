// `wasi:http/client@0.3.0` on Workers: the guest's outgoing requests go
// through the Worker's `fetch`.

import { fromWasiFields, toWasiFields, wasiHttpTypes } from "./http-types.js";
import { readChunks } from "./streams.js";

const { Response: WasiResponse } = wasiHttpTypes;

/** Methods whose requests `fetch` refuses to give a body. */
const BODILESS_METHODS = ["GET", "HEAD"];

/** An error `send` returns to the guest: jco passes `payload` as the `error-code`. */
class HttpError extends Error {
  constructor(payload) {
    super(payload.val ?? payload.tag);
    this.payload = payload;
  }
}

/** The `wasi:http/client` import. */
export function outboundHttp() {
  return { "wasi:http/client": { send } };
}

/**
 * Sends `request` with `fetch`. The body is read whole first (it goes out
 * with a `content-length`), and trailers cannot be sent, as with browsers'
 * Fetch; the response body streams back to the guest.
 */
async function send(request) {
  const scheme = request.getScheme();
  const authority = request.getAuthority();
  if (!authority) {
    throw new HttpError({ tag: "HTTP-request-URI-invalid" });
  }
  const protocol = scheme?.tag === "HTTPS" ? "https" : scheme?.tag === "other" ? scheme.val : "http";
  const url = `${protocol}://${authority}${request.getPathWithQuery() ?? "/"}`;
  const method = request.getMethod();
  const init = {
    method: method.tag === "other" ? method.val : method.tag.toUpperCase(),
    headers: fromWasiFields(request.getHeaders()),
    redirect: "manual",
  };
  const contents = request._body();
  try {
    if (contents) {
      const parts = [];
      for await (const chunk of readChunks(contents)) {
        parts.push(chunk);
      }
      const body = new Blob(parts);
      if (body.size > 0 && BODILESS_METHODS.includes(init.method)) {
        throw new HttpError({ tag: "internal-error", val: `Workers' fetch cannot send a ${init.method} request with a body` });
      }
      // A GET passed on with its (empty) incoming body goes out without one.
      if (body.size > 0 || !BODILESS_METHODS.includes(init.method)) {
        init.body = body;
      }
    }
    const trailers = await request._trailers();
    if (trailers?.tag === "err") {
      request._resolve(trailers);
      throw new HttpError(trailers.val);
    }
    if (trailers?.val && trailers.val.copyAll().length > 0) {
      throw new HttpError({ tag: "internal-error", val: "Workers' fetch cannot send request trailers" });
    }
  } catch (error) {
    const payload = error instanceof HttpError ? error.payload : { tag: "internal-error", val: String(error) };
    request._resolve({ tag: "err", val: payload });
    throw error instanceof HttpError ? error : new HttpError(payload);
  }
  request._resolve({ tag: "ok", val: undefined });
  let response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    throw new HttpError({ tag: "internal-error", val: `fetch ${url}: ${error}` });
  }
  const [wasiResponse] = WasiResponse.new(
    toWasiFields(response.headers),
    response.body ?? undefined,
    Promise.resolve({ tag: "ok", val: undefined }),
  );
  wasiResponse.setStatusCode(response.status);
  return wasiResponse;
}

// The Cloudflare Worker around a jco-transpiled `wasi:http@0.3.0` service
// component (`cargo xtask workers` bundles this file, `component.js` and the
// WASI shims into the Worker's `worker.js`).
//
// Each request gets a fresh component instance, as edge-host does by
// default: `edge:fetch` answers (request id, client address, geo) and
// deferred tasks belong to that request alone, and an instance that traps
// takes no other request with it.

import { coreModules, instantiate } from "./component-modules.js";
import { edgeFetch } from "./edge-fetch.js";
import { outboundHttp } from "./outbound.js";
import { fromWasiFields, toWasiFields, wasiHttpTypes } from "./http-types.js";
import { readChunks } from "./streams.js";
import { wasi } from "./wasi.js";

const { Request: WasiRequest, Response: WasiResponse } = wasiHttpTypes;

/** `wasi:http/types.method` cases, as jco represents them. */
const METHODS = ["get", "head", "post", "put", "delete", "connect", "options", "trace", "patch"];

/** Statuses whose responses have no body (`Response` refuses one). */
const NULL_BODY_STATUSES = [101, 204, 205, 304];

export default {
  async fetch(request, env, ctx) {
    const event = edgeFetch(request, ctx);
    const imports = {
      ...wasi(guestEnvironment(env)),
      ...outboundHttp(),
      ...event.imports,
    };
    let component;
    try {
      component = await instantiate((name) => coreModules[name], imports);
    } catch (error) {
      console.error(`edgeware: instantiating the component failed: ${error}`);
      return failure(event.requestId, 500);
    }
    try {
      const response = await component.handler.handle(toWasiRequest(request));
      return fromWasiResponse(response);
    } catch (error) {
      console.error(`edgeware: request ${event.requestId} failed: ${describe(error)}`);
      if (event.passThrough) {
        // `ctx.passThroughOnException()` was called when the guest asked
        // for it: rethrowing sends the request on to the origin.
        throw error;
      }
      return failure(event.requestId, 500);
    }
  },
};

/** The guest's environment (`wasi:cli/environment`): the Worker's text bindings (`[vars]`). */
function guestEnvironment(env) {
  return Object.fromEntries(Object.entries(env ?? {}).filter(([, value]) => typeof value === "string"));
}

/** The incoming `Request` as a `wasi:http/types.request`, its body streamed. */
function toWasiRequest(request) {
  const url = new URL(request.url);
  const trailers = Promise.resolve({ tag: "ok", val: undefined });
  const [wasiRequest] = WasiRequest.new(toWasiFields(request.headers), request.body ?? undefined, trailers, undefined);
  const method = request.method.toLowerCase();
  wasiRequest.setMethod(METHODS.includes(method) ? { tag: method } : { tag: "other", val: request.method });
  wasiRequest.setPathWithQuery(url.pathname + url.search);
  wasiRequest.setScheme({ tag: url.protocol === "https:" ? "HTTPS" : "HTTP" });
  wasiRequest.setAuthority(url.host);
  return wasiRequest;
}

/**
 * The guest's response as a `Response` whose body streams from the guest's
 * `stream<u8>` as the client reads it. When the last byte has been handed
 * to the runtime, the guest's transmission future resolves.
 */
function fromWasiResponse(response) {
  let sent;
  const outcome = new Promise((resolve) => (sent = resolve));
  const [contents] = WasiResponse.consumeBody(response, outcome);
  const chunks = readChunks(contents);
  const body = new ReadableStream({
    async pull(controller) {
      try {
        const { done, value } = await chunks.next();
        if (done) {
          controller.close();
          sent({ tag: "ok", val: undefined });
        } else {
          controller.enqueue(value);
        }
      } catch (error) {
        sent({ tag: "err", val: { tag: "internal-error", val: String(error) } });
        controller.error(error);
      }
    },
    cancel() {
      sent({ tag: "err", val: { tag: "connection-terminated" } });
      return chunks.return?.();
    },
  });
  const status = response.getStatusCode();
  const headers = fromWasiFields(response.getHeaders());
  if (NULL_BODY_STATUSES.includes(status)) {
    // These statuses carry no body: whatever the guest wrote is dropped.
    void chunks.return();
    sent({ tag: "ok", val: undefined });
    return new Response(null, { status, headers });
  }
  return new Response(body, { status, headers });
}

/** A plain-text error that names the request id and nothing more. */
function failure(requestId, status) {
  return new Response(`internal error (request id ${requestId})\n`, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}

/** An error thrown by jco's bindings: the guest's `error-code` if it returned one, else the trap. */
function describe(error) {
  if (error && typeof error === "object" && "payload" in error) {
    const code = JSON.stringify(error.payload, (_, v) => (typeof v === "bigint" ? v.toString() : v));
    return `the handler returned the error ${code}`;
  }
  return String(error?.stack ?? error);
}

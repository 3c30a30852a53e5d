// `edge:fetch@0.1.0` on Cloudflare Workers: `wait-until` is `ctx.waitUntil`,
// `fetch-event` answers from the request and from what the runtime tells
// about it: `request.cf` (on Cloudflare's edge, with its `colo`; a bare
// workerd fills only `clientIp`, or what a trusted proxy sends with
// `--cf-blob-header`), and, on the edge only, `cf-connecting-ip` and
// `cf-ray`, which Cloudflare sets and a client cannot.

/**
 * How long Cloudflare lets `ctx.waitUntil` work run after the response has
 * been sent (or the client went away), in milliseconds.
 */
const DEFERRED_DEADLINE_MS = 30_000n;

/** The `request.cf` fields that make up `fetch-event.geolocation`. */
const GEO_FIELDS = { city: "city", country: "country", region: "regionCode", latitude: "latitude", longitude: "longitude" };

/**
 * The `edge:fetch` imports for one request, and what the Worker needs to
 * know of the guest's calls: its request id and whether it asked for
 * pass-through on exception.
 */
export function edgeFetch(request, ctx) {
  const cf = request.cf && typeof request.cf === "object" ? request.cf : {};
  // Cloudflare's edge names its data center in `request.cf.colo`; only
  // then do `cf-*` headers come from Cloudflare rather than from a client.
  const edge = typeof cf.colo === "string";
  const requestId = (edge && request.headers.get("cf-ray")) || crypto.randomUUID();
  const event = {
    requestId,
    passThrough: false,
    imports: {},
  };
  let tasks = 0;
  event.imports["edge:fetch/wait-until"] = {
    waitUntil(task) {
      const index = tasks++;
      // A lifted `future<result<_, string>>` is a promise of the result.
      ctx.waitUntil(
        Promise.resolve(task).then(
          (result) => {
            if (result?.tag === "err") {
              console.error(`edgeware: request ${requestId} deferred task ${index} REJECTED: ${result.val}`);
            }
          },
          (error) => console.error(`edgeware: request ${requestId} deferred task ${index} REJECTED: ${error}`),
        ),
      );
    },
  };
  event.imports["edge:fetch/fetch-event"] = {
    clientAddress() {
      if (edge) {
        return request.headers.get("cf-connecting-ip") || undefined;
      }
      // workerd's own view of the peer, `ip:port`.
      return typeof cf.clientIp === "string" && cf.clientIp !== "" ? cf.clientIp : undefined;
    },
    requestId() {
      return requestId;
    },
    deferredDeadlineMs() {
      return DEFERRED_DEADLINE_MS;
    },
    requestDeadlineMs() {
      // Workers bound CPU time, not the wall-clock time to answer.
      return undefined;
    },
    geo() {
      const geo = {};
      let known = false;
      for (const [field, key] of Object.entries(GEO_FIELDS)) {
        const value = cf[key];
        if (value !== undefined && value !== null && value !== "") {
          geo[field] = String(value);
          known = true;
        } else {
          geo[field] = undefined;
        }
      }
      return known ? geo : undefined;
    },
    passThroughOnException() {
      // Only Cloudflare's edge has an origin behind the Worker's route: a
      // bare workerd would pass the request to its own address, that is to
      // the Worker again, in a loop. There the failure answers 500.
      if (edge) {
        ctx.passThroughOnException();
        event.passThrough = true;
      }
    },
  };
  return event;
}

// The Geyser SDK for JavaScript. The `geyser:function/*` and `wasi:config/*` imports are
// provided by the host; componentize-js binds them when `geyser-js-build` builds the
// component, and nothing outside this file names them.
import * as hostKv from 'geyser:function/kv@0.2.0';
import { log as hostLog } from 'geyser:function/logging@0.2.0';
import { publish as hostPublish } from 'geyser:function/publish@0.2.0';
import * as hostConfig from 'wasi:config/store@0.2.0-rc.1';

/** A host capability refused a call. */
export class GeyserError extends Error {}

/** A kv call failed; `kind` is `invalid-key`, `value-too-large`, `not-a-number`,
 * `unavailable` (a retry may help) or `quota-exceeded`. */
export class KvError extends GeyserError {
  constructor(kind, message) {
    super(`kv ${kind}: ${message}`);
    this.name = 'KvError';
    this.kind = kind;
  }
}

export class PublishError extends GeyserError {
  constructor(message) {
    super(message);
    this.name = 'PublishError';
  }
}

export class ConfigError extends GeyserError {
  constructor(message) {
    super(message);
    this.name = 'ConfigError';
  }
}

// componentize-js throws an `err` result's payload wrapped in an Error whose `payload` holds it.
function payloadOf(error) {
  return error && typeof error === 'object' && 'payload' in error ? error.payload : undefined;
}

function kvCall(fn, ...args) {
  try {
    return fn(...args);
  } catch (error) {
    const payload = payloadOf(error);
    if (payload && typeof payload.tag === 'string') throw new KvError(payload.tag, String(payload.val));
    throw error;
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function toBytes(value) {
  if (typeof value === 'string') return encoder.encode(value);
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  throw new TypeError(`kv values are strings or bytes, not ${typeof value}`);
}

/** The tenant's key-value store: durable, shared by every node, seen only by this tenant. */
export const kv = {
  /** The value at `key` as bytes, or `undefined`. */
  get(key) {
    const value = kvCall(hostKv.get, key);
    return value ?? undefined;
  },
  getText(key) {
    const value = kv.get(key);
    return value === undefined ? undefined : decoder.decode(value);
  },
  getJson(key) {
    const value = kv.getText(key);
    return value === undefined ? undefined : JSON.parse(value);
  },
  set(key, value) {
    kvCall(hostKv.set, key, toBytes(value));
  },
  setJson(key, value) {
    kv.set(key, JSON.stringify(value));
  },
  /** Removes `key`; whether it existed. */
  delete(key) {
    return kvCall(hostKv.delete, key);
  },
  /** Atomically adds `delta` to the decimal integer at `key` (absent = 0); the new value. */
  increment(key, delta = 1) {
    return Number(kvCall(hostKv.increment, key, BigInt(delta)));
  },
  /** Sets `key` to `next` if it holds `expected` (`undefined`: absent); whether it did. */
  compareAndSwap(key, expected, next) {
    return kvCall(
      hostKv.compareAndSwap,
      key,
      expected === undefined || expected === null ? undefined : toBytes(expected),
      toBytes(next),
    );
  },
  /** Keys starting with `prefix`, in byte order, at most `limit`. */
  listKeys(prefix = '', limit = 1000) {
    return kvCall(hostKv.listKeys, prefix, limit);
  },
};

function write(level, parts) {
  hostLog(level, parts.map((p) => (typeof p === 'string' ? p : JSON.stringify(p))).join(' '));
}

/** Log lines the tenant reads with `geyser logs`, per invocation. */
export const log = {
  trace: (...parts) => write('trace', parts),
  debug: (...parts) => write('debug', parts),
  info: (...parts) => write('info', parts),
  warn: (...parts) => write('warn', parts),
  error: (...parts) => write('error', parts),
};

/** Publishes `payload` to the tenant's `topic` (the node needs Kafka). */
export function publish(topic, payload, { key } = {}) {
  try {
    hostPublish(topic, key === undefined ? undefined : toBytes(key), toBytes(payload));
  } catch (error) {
    const payloadValue = payloadOf(error);
    throw new PublishError(payloadValue === undefined ? String(error) : String(payloadValue));
  }
}

function configCall(fn, ...args) {
  try {
    return fn(...args);
  } catch (error) {
    const payload = payloadOf(error);
    throw new ConfigError(payload ? String(payload.val) : String(error));
  }
}

/** The function's variables and secrets (`geyser config set`); secrets are decrypted by the
 * host for the invocation only. */
export const config = {
  get(name) {
    return configCall(hostConfig.get, name) ?? undefined;
  },
  all() {
    return Object.fromEntries(configCall(hostConfig.getAll));
  },
};

function describe(error) {
  if (error instanceof Error) return error.stack ? `${error}\n${error.stack}` : String(error);
  return String(error);
}

function failed(what, error) {
  log.error(`${what} threw: ${describe(error)}`);
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** An HTTP function: `handler(request)` returns a `Response` (or a promise of one). A throw is
 * logged with its stack, answered 500 and metered as a failed invocation. */
export function serve(handler) {
  addEventListener('fetch', (event) =>
    event.respondWith(
      (async () => {
        try {
          const response = await handler(event.request);
          if (!(response instanceof Response)) throw new TypeError('the handler did not return a Response');
          return response;
        } catch (error) {
          failed('the HTTP handler', error);
          // A 5xx answer is metered as a failed invocation.
          return new Response(JSON.stringify({ error: 'internal error' }), {
            status: 500,
            headers: { 'content-type': 'application/json' },
          });
        }
      })(),
    ),
  );
}

// Runs a handler; a throw is logged with its stack and rethrown as the `err` text.
async function guarded(what, handler, view) {
  try {
    await handler(view);
  } catch (error) {
    throw failed(what, error);
  }
}

/** An event function: `export const eventHandler = onEvent(async (event) => { ... })`.
 * Returning acknowledges the event; a throw is logged with its stack and has the event
 * retried and, after the binding's attempts, dead-lettered. */
export function onEvent(handler) {
  return {
    async handle(event) {
      const view = {
        id: event.id,
        source: event.source,
        topic: event.topic,
        key: event.key ?? undefined,
        payload: event.payload,
        headers: event.headers,
        attempt: event.attempt,
        text: () => decoder.decode(event.payload),
        json: () => JSON.parse(decoder.decode(event.payload)),
      };
      await guarded(`the event handler (event ${event.id})`, handler, view);
    },
  };
}

/** A scheduled function: `export const scheduleHandler = onSchedule(async (tick) => { ... })`.
 * `tick.scheduledTime` (RFC 3339) identifies the tick across retries. */
export function onSchedule(handler) {
  return {
    async onTick(tick) {
      const view = {
        schedule: tick.schedule,
        scheduledTime: tick.scheduledTime,
        fireTime: tick.fireTime,
        payload: tick.payload ?? undefined,
        json: () => (tick.payload == null ? undefined : JSON.parse(tick.payload)),
      };
      await guarded(`the schedule handler (tick ${tick.scheduledTime})`, handler, view);
    },
  };
}

// Types of the Geyser SDK for JavaScript (src/index.js).

/** A host capability refused a call. */
export class GeyserError extends Error {}

export type KvErrorKind = 'invalid-key' | 'value-too-large' | 'not-a-number' | 'unavailable' | 'quota-exceeded';

/** A kv call failed; `unavailable` may succeed on retry. */
export class KvError extends GeyserError {
  readonly kind: KvErrorKind;
}

/** Publishing failed (no broker on the node, a topic outside the tenant's namespace, ...). */
export class PublishError extends GeyserError {}

/** The function's configuration could not be read. */
export class ConfigError extends GeyserError {}

export type Bytes = Uint8Array | ArrayBuffer | string;

/** The tenant's key-value store: durable, shared by every node, seen only by this tenant.
 * Keys are 1–256 bytes, values at most 1 MiB. */
export const kv: {
  get(key: string): Uint8Array | undefined;
  getText(key: string): string | undefined;
  getJson<T = unknown>(key: string): T | undefined;
  set(key: string, value: Bytes): void;
  setJson(key: string, value: unknown): void;
  /** Whether the key existed. */
  delete(key: string): boolean;
  /** Atomically adds `delta` (default 1) to the decimal integer at `key` (absent = 0). */
  increment(key: string, delta?: number): number;
  /** Sets `key` to `next` if it holds `expected` (`undefined`: absent); whether it did. */
  compareAndSwap(key: string, expected: Bytes | undefined | null, next: Bytes): boolean;
  /** Keys starting with `prefix`, in byte order, at most `limit` (default 1000). */
  listKeys(prefix?: string, limit?: number): string[];
};

type LogFn = (...parts: unknown[]) => void;

/** Log lines the tenant reads with `geyser logs`, per invocation. */
export const log: { trace: LogFn; debug: LogFn; info: LogFn; warn: LogFn; error: LogFn };

/** Publishes to the tenant's `topic` (`<tenant>.<topic>`); the node needs Kafka. */
export function publish(topic: string, payload: Bytes, options?: { key?: Bytes }): void;

/** The function's variables and secrets (`geyser config set`, `geyser secret set`). */
export const config: {
  get(name: string): string | undefined;
  all(): Record<string, string>;
};

/** Answers every request to the function. A throw is logged with its stack and answered 500
 * (metered as a failed invocation). The request's path is below the function's mount. */
export function serve(handler: (request: Request) => Response | Promise<Response>): void;

export interface Event {
  /** Stable across redeliveries (`topic/partition/offset` for Kafka): the idempotency key. */
  id: string;
  source: string;
  topic: string;
  key: Uint8Array | undefined;
  payload: Uint8Array;
  headers: [string, Uint8Array][];
  /** 1 on the first delivery. */
  attempt: number;
  text(): string;
  json<T = unknown>(): T;
}

export interface Tick {
  schedule: string;
  /** When the tick was due (RFC 3339): identifies it across retries. */
  scheduledTime: string;
  /** When it fired (RFC 3339). */
  fireTime: string;
  /** The schedule's payload (JSON text). */
  payload: string | undefined;
  json<T = unknown>(): T | undefined;
}

/** `export const eventHandler = onEvent(async (event) => { ... })`: a throw has the event
 * retried and, after the binding's attempts, dead-lettered. */
export function onEvent(handler: (event: Event) => void | Promise<void>): { handle(event: unknown): Promise<void> };

/** `export const scheduleHandler = onSchedule(async (tick) => { ... })`. */
export function onSchedule(handler: (tick: Tick) => void | Promise<void>): { onTick(tick: unknown): Promise<void> };

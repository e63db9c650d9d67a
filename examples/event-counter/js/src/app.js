// The event counter in JavaScript: the same kv layout and behaviour as the Rust one
// (examples/event-counter/src/lib.rs), both handlers in one component.
//
// - Each record increments kv `count:<record key>` (records without a key count under `-`).
// - A payload that is a decimal sequence number is checked for per-key order: violations
//   count in `disorder:<key>`.
// - A payload starting with `fail` throws: watch the retries and the dead-letter topic.
// - GET /counts/{key} and GET /disorder/{key} answer the numbers as plain text.
import { kv, onEvent, serve } from 'geyser-sdk';

const decoder = new TextDecoder();

export const eventHandler = onEvent(async (event) => {
  const payload = event.text();
  if (payload.startsWith('fail')) throw new Error(`refusing ${event.id} on attempt ${event.attempt}`);
  const key = event.key === undefined ? '-' : decoder.decode(event.key);
  if (/^\s*-?\d+\s*$/.test(payload)) {
    const sequence = Number(payload);
    const last = kv.getText(`last:${key}`);
    if (last !== undefined && sequence <= Number(last)) kv.increment(`disorder:${key}`);
    kv.set(`last:${key}`, String(sequence));
  }
  kv.increment(`count:${key}`);
});

serve(async (request) => {
  const match = /^\/(counts|disorder)\/([^/]+)$/.exec(new URL(request.url).pathname);
  if (!match || request.method !== 'GET') return new Response('not found\n', { status: 404 });
  const prefix = match[1] === 'counts' ? 'count' : 'disorder';
  const key = decodeURIComponent(match[2]);
  return new Response(kv.getText(`${prefix}:${key}`) ?? '0', {
    headers: { 'content-type': 'text/plain; charset=utf-8' },
  });
});

// The coordinator's HTTP/JSON API (services/web_api.h). The token lives in
// this tab's session storage and travels as an Authorization header: no
// cookies, so another site cannot make the browser act for the user.

const TOKEN_KEY = 'pgan.token';
const BASE = 'api/v1/';

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

// The API's error body: {"error": {"code", "status", "message", "field"}}.
export class ApiError extends Error {
  constructor(httpStatus, body) {
    const error = (body && body.error) || {};
    super(error.message || `HTTP ${httpStatus}`);
    this.httpStatus = httpStatus;
    this.status = error.status || '';
    this.field = error.field || '';
  }
}

// Listeners of a 401: the token is wrong or was revoked.
const unauthorized = new Set();
export function onUnauthorized(listener) {
  unauthorized.add(listener);
}

// The ApiError of a refused response; a 401 is told to the listeners.
async function refusal(response) {
  // Not the API's JSON (a proxy's page, say): the status says enough.
  const error = new ApiError(response.status, await response.json().catch(() => null));
  if (response.status === 401) unauthorized.forEach((listener) => listener(error));
  return error;
}

async function request(path, { method = 'GET', body, contentType, signal } = {}) {
  const headers = { Authorization: `Bearer ${token() || ''}` };
  if (contentType) headers['Content-Type'] = contentType;
  const response = await fetch(BASE + path, { method, headers, body, signal, cache: 'no-store' });
  if (!response.ok) throw await refusal(response);
  return response;
}

export async function getJson(path, options) {
  return (await request(path, options)).json();
}

export async function postJson(path, body, contentType = 'application/json') {
  return (await request(path, { method: 'POST', body, contentType })).json();
}

export async function getBlob(path, options) {
  return (await request(path, options)).blob();
}

// An int64 of protobuf's JSON mapping (a string) or a number, as a number.
export function num(value) {
  return value === undefined || value === null || value === '' ? 0 : Number(value);
}

// Server-sent events from /events, read with fetch (EventSource cannot send
// the Authorization header). Reconnects with Last-Event-ID after a drop, so
// no change is missed; `handlers` has a function per event name (ready, job,
// tick, snapshot, reset) and `error` for a refusal (the stream then ends);
// `onState` hears 'live' / 'offline'. Returns a function that closes the
// stream.
export function subscribe(query, handlers, onState = () => {}) {
  const controller = new AbortController();
  let lastId = null;
  let retryMs = 3000;
  let closed = false;

  const dispatch = (block) => {
    let event = 'message';
    const data = [];
    for (const line of block.split('\n')) {
      if (line === '' || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
      else if (field === 'id') lastId = value;
      else if (field === 'retry' && /^\d+$/.test(value)) retryMs = Number(value);
    }
    if (data.length === 0) return;
    const handler = handlers[event];
    if (handler) handler(JSON.parse(data.join('\n')));
  };

  const run = async () => {
    while (!closed) {
      try {
        const headers = { Authorization: `Bearer ${token() || ''}` };
        if (lastId !== null) headers['Last-Event-ID'] = lastId;
        const response = await fetch(BASE + 'events' + (query ? `?${query}` : ''), {
          headers,
          signal: controller.signal,
          cache: 'no-store',
        });
        // A refusal (a wrong token, no such job, not yours) is final; a
        // busy or restarting coordinator (503, 429, a proxy's 502) is
        // retried.
        if (response.status >= 400 && response.status < 500 && response.status !== 429) {
          const error = await refusal(response);
          onState('offline');
          if (response.status !== 401 && handlers.error) handlers.error(error);
          return;
        }
        if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
        onState('live');
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value.replace(/\r\n?/g, '\n');
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            dispatch(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
          }
        }
      } catch (error) {
        if (closed) return;
      }
      onState('offline');
      await new Promise((resolve) => setTimeout(resolve, retryMs));
    }
  };
  run();
  return () => {
    closed = true;
    controller.abort();
  };
}

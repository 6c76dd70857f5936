/**
 * WebSocket compression (permessage-deflate, RFC 7692) across the gateway.
 *
 * The gateway reads the client → workspace frames for the idle rule, so it
 * must be able to read them when they are compressed. The offer it passes on
 * holds only permessage-deflate (an extension it does not know could make the
 * frames unreadable), and the workspace's 101 answer is given one parameter
 * more on its way to the client: `client_no_context_takeover`, which a server
 * may always answer (RFC 7692 §7.1.1.2). The browser then compresses each
 * message on its own, so the gateway inflates a small message alone, without
 * a window of earlier ones per socket; the workspace's inflater reads such
 * messages as it reads any. The workspace → client direction, where the
 * bytes are, keeps the context takeover both ends agreed on and passes
 * through untouched.
 */

/** What the client's frames look like after the handshake. */
export type ClientCompression = 'none' | 'per-message' | 'unreadable';

const DEFLATE = 'permessage-deflate';
const NO_CONTEXT = 'client_no_context_takeover';

interface Element {
  name: string;
  params: string[];
}

function elements(value: string): Element[] {
  return value
    .split(',')
    .map((text) => text.split(';').map((part) => part.trim()))
    .filter((parts) => parts[0] !== '')
    .map(([name, ...params]) => ({ name: name!.toLowerCase(), params }));
}

function paramName(param: string): string {
  return param.split('=')[0]!.trim().toLowerCase();
}

/** The client's `Sec-WebSocket-Extensions` offer as the workspace gets it: its permessage-deflate offers, or nothing. */
export function deflateOffers(offer: string): string | undefined {
  const kept = offer.split(',').filter((text) => text.split(';')[0]!.trim().toLowerCase() === DEFLATE);
  return kept.length > 0 ? kept.map((text) => text.trim()).join(', ') : undefined;
}

const HEAD_END = '\r\n\r\n';
const EXTENSIONS_LINE = /^sec-websocket-extensions:(.*)$/i;

/**
 * The workspace's 101 answer as the client gets it, and what the client's
 * frames will be. `answer` may go on past the head (the workspace's first
 * frames): only the head is rewritten, in latin1 so every byte stays.
 */
export function pinClientCompression(answer: Buffer): { answer: Buffer; compression: ClientCompression } {
  const text = answer.toString('latin1');
  const headEnd = text.indexOf(HEAD_END);
  const lines = text.slice(0, headEnd).split('\r\n');
  let compression: ClientCompression = 'none';
  let changed = false;
  for (let i = 1; i < lines.length; i++) {
    const match = EXTENSIONS_LINE.exec(lines[i]!);
    if (!match) continue;
    const answered = elements(match[1]!);
    for (const element of answered) {
      if (element.name !== DEFLATE || compression !== 'none') {
        compression = 'unreadable';
        continue;
      }
      compression = 'per-message';
      if (!element.params.some((p) => paramName(p) === NO_CONTEXT)) {
        element.params.push(NO_CONTEXT);
        changed = true;
      }
    }
    lines[i] = `Sec-WebSocket-Extensions: ${answered.map((e) => [e.name, ...e.params].join('; ')).join(', ')}`;
  }
  if (!changed) return { answer, compression };
  return { answer: Buffer.from(lines.join('\r\n') + text.slice(headEnd), 'latin1'), compression };
}

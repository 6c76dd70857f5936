import { OPCODE } from '../proxy/frame-scanner.js';

/*
 * What an open code-server 4.100.3 tab sends when nobody touches it, measured
 * through the gateway in headless Chromium (test/e2e/, README "Idle rule"):
 * two WebSockets (the management connection and the extension host), each a
 * stream of VS Code protocol messages, one message per binary frame. Every
 * message starts with a 13-byte header whose first byte is its type (1
 * Regular, 3 Ack, 9 KeepAlive). Left alone for 10 minutes the tab sends only:
 *
 *   - KeepAlive (13 bytes, type 9) every 5 s on each socket;
 *   - Ack (13 bytes, type 3) ~2 s after it received something and had nothing to send;
 *   - the latency probe `telemetry.ping` (a Regular message of 38 bytes, 37-39
 *     as its request id grows): a burst of 5, 2 s apart, every 70 s (the
 *     status bar's connection-latency measurement);
 *   - `extensions.getExtensionsControlManifest` (Regular, 63 bytes, 62-64) every 5 minutes;
 *   - once, ~70 s after the last input, `$onDidChangeWindowActive(false)` (55 bytes).
 *
 * Typing sends Regular messages of other sizes: in the editor a keystroke is
 * `$acceptModelChanged` (~1.9 kB) plus auto-save traffic, in the terminal
 * `remoteterminal.$input` (51 bytes for one key) and `$acceptTerminalInteraction` (53).
 *
 * The sizes are those of uncompressed messages. The browser offers
 * permessage-deflate and code-server accepts it; the gateway has the browser
 * compress each message on its own (proxy/websocket-extensions.ts) and
 * inflates a copy of the small ones (proxy/frame-scanner.ts), so these sizes
 * are what the idle rule reads with compression on too. Compressed, a
 * keep-alive is 4-10 bytes, a latency ping 12-17, a terminal keystroke 11-14:
 * nothing cheaper could tell them apart.
 */
const HEADER_BYTES = 13;
const TYPE_REGULAR = 1;
const TYPE_ACK = 3;
const TYPE_KEEPALIVE = 9;
/**
 * Regular messages whose whole size marks them as one of the tab's own timers:
 * 13 header bytes + the IPC call `[100, id, channel, method]` with no argument,
 * where the request id takes 1-3 bytes (ids below 2^21).
 */
const BACKGROUND_CALL_SIZES: ReadonlySet<number> = new Set([
  // telemetry.ping: 13 + 24..26
  37, 38, 39,
  // extensions.getExtensionsControlManifest: 13 + 49..51
  62, 63, 64,
]);

/**
 * Whether a client → workspace WebSocket frame is something the student did.
 * Pings, pongs and close frames never are. Binary frames are VS Code messages:
 * bare KeepAlive and Ack messages, and the measured background calls, are not
 * activity; every other message is. Text and continuation frames (other
 * applications behind the workspace's port proxy) always count.
 */
export function isStudentFrame(opcode: number, length: number, firstByte: number): boolean {
  if (opcode === OPCODE.text || opcode === OPCODE.continuation) return true;
  if (opcode !== OPCODE.binary) return false;
  if (length === HEADER_BYTES) return firstByte !== TYPE_KEEPALIVE && firstByte !== TYPE_ACK;
  if (firstByte === TYPE_REGULAR && BACKGROUND_CALL_SIZES.has(length)) return false;
  return true;
}

/** For frames the gateway cannot read (an extension it did not offer was negotiated): every data frame counts, as the safe side. */
export function isDataFrame(opcode: number): boolean {
  return opcode === OPCODE.text || opcode === OPCODE.binary || opcode === OPCODE.continuation;
}

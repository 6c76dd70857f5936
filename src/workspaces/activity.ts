import { OPCODE } from '../proxy/frame-scanner.js';

/**
 * VS Code's remote protocol (code-server's WebSockets) frames every message
 * with a 13-byte header whose first byte is the message type. An open,
 * untouched tab still sends KeepAlive (type 9) every few seconds and Ack
 * (type 3) for what it received; those alone must not keep a workspace alive.
 */
const VSCODE_HEADER_BYTES = 13;
const VSCODE_KEEPALIVE = 9;
const VSCODE_ACK = 3;

/**
 * Whether a client → workspace WebSocket frame is something the student did.
 * Pings, pongs and close frames never are; data frames are, except VS Code's
 * bare keep-alive and acknowledgement messages.
 */
export function isStudentFrame(opcode: number, length: number, firstByte: number): boolean {
  if (opcode !== OPCODE.text && opcode !== OPCODE.binary && opcode !== OPCODE.continuation) return false;
  if (length === VSCODE_HEADER_BYTES && (firstByte === VSCODE_KEEPALIVE || firstByte === VSCODE_ACK)) return false;
  return true;
}

/**
 * The agent's wire format between the `vouch` front end (native/vouch-client.c) and the Node
 * process that runs the command: frames of one type byte, a 4-byte big-endian payload length and
 * the payload. The request's fields are NUL-terminated (see native/vouch-client.c).
 *
 * Everything here is untrusted input from another process of the same user: frames are capped,
 * the request is parsed strictly and a malformed one is an `AgentProtocolError`, never a crash.
 */
import { VouchError } from '../errors.ts';

export const AGENT_PROTOCOL = 'vouch-agent/1';
/** Largest frame either side accepts (the request carries the whole environment). */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024;
const MAX_ARGS = 100_000;

export type FrameType =
  | 'R' | 'D' | 'Z' // to the agent: request, stdin bytes, end of stdin
  | 'O' | 'E' | 'W' | 'M' | 'X' | 'F'; // from it: stdout, stderr, want stdin, terminal mode, exit, declined

export class AgentProtocolError extends VouchError<'AGENT_PROTOCOL'> {
  constructor(message: string) {
    super('AGENT_PROTOCOL', message);
  }
}

export function encodeFrame(type: FrameType, payload: Uint8Array | string = ''): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const frame = Buffer.allocUnsafe(5 + body.length);
  frame[0] = type.charCodeAt(0);
  frame.writeUInt32BE(body.length, 1);
  frame.set(body, 5);
  return frame;
}

export interface Frame {
  readonly type: string;
  readonly payload: Buffer;
}

/** Splits a byte stream into frames; `push` returns the frames completed by `chunk`. */
export class FrameReader {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const frames: Frame[] = [];
    for (;;) {
      if (this.pending.length < 5) break;
      const length = this.pending.readUInt32BE(1);
      if (length > MAX_FRAME_BYTES) throw new AgentProtocolError(`frame of ${length} bytes exceeds the ${MAX_FRAME_BYTES}-byte limit`);
      if (this.pending.length < 5 + length) break;
      frames.push({ type: String.fromCharCode(this.pending[0]!), payload: this.pending.subarray(5, 5 + length) });
      this.pending = this.pending.subarray(5 + length);
    }
    return frames;
  }
}

export interface AgentRequest {
  /** The front end's installation (the directory holding bin/ and dist/). */
  readonly installation: string;
  readonly cwd: string;
  readonly umask: number;
  readonly tty: { readonly stdin: boolean; readonly stdout: boolean; readonly stderr: boolean };
  /** Terminal width, 0 when no output is a terminal. */
  readonly columns: number;
  /** The arguments after the program name. */
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

/** Parses an 'R' frame's payload (fields as native/vouch-client.c sends them). */
export function parseRequest(payload: Buffer): AgentRequest {
  if (payload.length === 0 || payload[payload.length - 1] !== 0) throw new AgentProtocolError('request does not end with a NUL');
  const fields = payload.subarray(0, payload.length - 1).toString('utf8').split('\0');
  let at = 0;
  const next = (what: string): string => {
    const v = fields[at++];
    if (v === undefined) throw new AgentProtocolError(`request ends before its ${what}`);
    return v;
  };
  const protocol = next('protocol');
  if (protocol !== AGENT_PROTOCOL) throw new AgentProtocolError(`unsupported protocol ${JSON.stringify(protocol.slice(0, 40))}`);
  const installation = next('installation');
  const cwd = next('working directory');
  if (!installation.startsWith('/') || !cwd.startsWith('/')) throw new AgentProtocolError('installation and working directory must be absolute paths');
  const umaskText = next('umask');
  if (!/^[0-7]{1,4}$/.test(umaskText)) throw new AgentProtocolError('umask is not octal');
  const ttys = next('terminal flags');
  if (!/^[01]{3}$/.test(ttys)) throw new AgentProtocolError('terminal flags are not three 0/1 digits');
  const columnsText = next('columns');
  const argcText = next('argument count');
  if (!/^\d{1,5}$/.test(columnsText) || !/^\d{1,6}$/.test(argcText)) throw new AgentProtocolError('columns or argument count is not a number');
  const argc = Number(argcText);
  if (argc > MAX_ARGS || at + argc > fields.length) throw new AgentProtocolError('argument count exceeds the request');
  const args = fields.slice(at, at + argc);
  const env: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const entry of fields.slice(at + argc)) {
    const eq = entry.indexOf('=');
    // Entries without '=' cannot be set through process.env; a shell never passes one.
    if (eq <= 0) continue;
    env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return {
    installation, cwd, umask: parseInt(umaskText, 8),
    tty: { stdin: ttys[0] === '1', stdout: ttys[1] === '1', stderr: ttys[2] === '1' },
    columns: Number(columnsText), args, env,
  };
}

/** Builds an 'R' payload as the front end (native/vouch-client.c) does; for tests. */
export function encodeRequest(r: AgentRequest): Buffer {
  const tty = (b: boolean): string => (b ? '1' : '0');
  const fields = [
    AGENT_PROTOCOL, r.installation, r.cwd, r.umask.toString(8), tty(r.tty.stdin) + tty(r.tty.stdout) + tty(r.tty.stderr),
    String(r.columns), String(r.args.length), ...r.args, ...Object.entries(r.env).map(([k, v]) => `${k}=${v}`),
  ];
  return Buffer.from(fields.map((f) => `${f}\0`).join(''), 'utf8');
}

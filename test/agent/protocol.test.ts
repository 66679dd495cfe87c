// The agent's wire format (src/agent/protocol.ts): requests round-trip exactly, frames survive any
// chunking, and malformed input is a typed AGENT_PROTOCOL error, never a crash.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AGENT_PROTOCOL, encodeFrame, encodeRequest, FrameReader, MAX_FRAME_BYTES, parseRequest, type AgentRequest } from '../../src/agent/protocol.ts';
import { hasCode } from '../../src/errors.ts';

const RUNS = Number(process.env['VOUCH_PROPERTY_RUNS'] ?? 300);

// Fields are NUL-terminated, so no field holds a NUL (C strings cannot either).
const field = fc.string({ maxLength: 40 }).filter((s) => !s.includes('\0'));
const absolute = field.map((s) => `/${s}`);
const request: fc.Arbitrary<AgentRequest> = fc.record({
  installation: absolute,
  cwd: absolute,
  umask: fc.integer({ min: 0, max: 0o777 }),
  tty: fc.record({ stdin: fc.boolean(), stdout: fc.boolean(), stderr: fc.boolean() }),
  columns: fc.integer({ min: 0, max: 9999 }),
  args: fc.array(field, { maxLength: 8 }),
  env: fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !k.includes('=') && !k.includes('\0') && k !== '__proto__'), field, { maxKeys: 6 }),
});

test('a request parses back to exactly what was encoded', () => {
  fc.assert(
    fc.property(request, (r) => {
      const back = parseRequest(encodeRequest(r));
      assert.deepEqual(JSON.parse(JSON.stringify(back)), JSON.parse(JSON.stringify(r)));
    }),
    { numRuns: RUNS },
  );
});

test('an environment value may hold "=" (only the first one separates the name)', () => {
  const r = parseRequest(encodeRequest({
    installation: '/i', cwd: '/c', umask: 0o22, tty: { stdin: false, stdout: true, stderr: false }, columns: 80,
    args: ['list', 'a=b'], env: { NOTARY_AUTH: 'dXNlcjpwYT1zcw==' },
  }));
  assert.equal(r.env['NOTARY_AUTH'], 'dXNlcjpwYT1zcw==');
  assert.deepEqual(r.args, ['list', 'a=b']);
});

function malformed(payload: string): string {
  try {
    parseRequest(Buffer.from(payload, 'utf8'));
  } catch (e) {
    assert.ok(hasCode(e, 'AGENT_PROTOCOL'), String(e));
    return (e as Error).message;
  }
  return assert.fail(`accepted ${JSON.stringify(payload)}`);
}

test('malformed requests are refused with a reason', () => {
  const ok = [AGENT_PROTOCOL, '/inst', '/cwd', '22', '010', '80', '1', 'version'];
  const join = (fields: string[]) => fields.map((f) => `${f}\0`).join('');
  assert.equal(parseRequest(Buffer.from(join(ok))).args[0], 'version');
  assert.match(malformed(''), /does not end with a NUL/);
  assert.match(malformed(join(ok).slice(0, -1)), /does not end with a NUL/);
  assert.match(malformed(join(['vouch-agent/2', ...ok.slice(1)])), /unsupported protocol "vouch-agent\/2"/);
  assert.match(malformed(join([AGENT_PROTOCOL, 'inst', ...ok.slice(2)])), /absolute paths/);
  assert.match(malformed(join([...ok.slice(0, 3), '9', ...ok.slice(4)])), /umask is not octal/);
  assert.match(malformed(join([...ok.slice(0, 4), '01', ...ok.slice(5)])), /terminal flags/);
  assert.match(malformed(join([...ok.slice(0, 5), '-1', ...ok.slice(6)])), /not a number/);
  assert.match(malformed(join([...ok.slice(0, 6), '5', 'version'])), /argument count exceeds the request/);
  assert.match(malformed(join(ok.slice(0, 3))), /ends before its umask/);
});

test('random bytes never crash the request parser', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      try {
        parseRequest(Buffer.from(bytes));
      } catch (e) {
        assert.ok(hasCode(e, 'AGENT_PROTOCOL'), String(e));
      }
    }),
    { numRuns: RUNS },
  );
});

test('frames come out whole however the stream is cut', () => {
  const frame = fc.record({ type: fc.constantFrom('O', 'E', 'W', 'X', 'D'), payload: fc.uint8Array({ maxLength: 64 }) });
  fc.assert(
    fc.property(fc.array(frame, { maxLength: 10 }), fc.array(fc.integer({ min: 1, max: 16 }), { minLength: 1, maxLength: 10 }), (frames, cuts) => {
      const bytes = Buffer.concat(frames.map((f) => encodeFrame(f.type as 'O', f.payload)));
      const reader = new FrameReader();
      const out: { type: string; payload: number[] }[] = [];
      let at = 0;
      for (let i = 0; at < bytes.length; i++) {
        const n = cuts[i % cuts.length] as number;
        for (const f of reader.push(bytes.subarray(at, at + n))) out.push({ type: f.type, payload: [...f.payload] });
        at += n;
      }
      assert.deepEqual(out, frames.map((f) => ({ type: f.type, payload: [...f.payload] })));
    }),
    { numRuns: RUNS },
  );
});

test('a frame announcing more than the limit is refused before it is buffered', () => {
  const head = Buffer.alloc(5);
  head[0] = 'D'.charCodeAt(0);
  head.writeUInt32BE(MAX_FRAME_BYTES + 1, 1);
  assert.throws(() => new FrameReader().push(head), (e: unknown) => hasCode(e, 'AGENT_PROTOCOL') && /exceeds the 16777216-byte limit/.test((e as Error).message));
});

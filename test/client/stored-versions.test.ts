/**
 * `RemoteStore.newestStoredVersion`: the by-version search a publish uses to recreate a delegation
 * above the versions the server still holds. A scripted transport answers by-version downloads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RemoteStore } from '../../src/client/remote.ts';
import type { HttpRequest, HttpResponse, HttpTransport } from '../../src/client/transport.ts';

const NOT_FOUND = Buffer.from('{"errors":[{"code":"METADATA_NOT_FOUND","message":"You have requested metadata that does not exist.","detail":{}}]}');

/** A transport whose server stores `targets/a` versions for which `stored(n)` holds. */
function scripted(stored: (version: number) => boolean | 'error'): { transport: HttpTransport; urls: string[] } {
  const urls: string[] = [];
  const answer = (req: HttpRequest): HttpResponse => {
    urls.push(req.url);
    const m = /^v2\/example\.com\/g\/_trust\/tuf\/([0-9]+)\.targets\/a\.json$/.exec(req.url);
    assert.ok(m, `unexpected request ${req.url}`);
    const found = stored(Number(m[1]));
    if (found === 'error') return { status: 503, headers: {}, body: Buffer.alloc(0) };
    return found ? { status: 200, headers: {}, body: Buffer.from('{}') } : { status: 404, headers: {}, body: NOT_FOUND };
  };
  const transport = {
    baseUrl: new URL('https://notary.example.com/'),
    request: (req: HttpRequest): Promise<HttpResponse> => Promise.resolve(answer(req)),
  };
  return { transport: transport as unknown as HttpTransport, urls };
}

test('finds the newest of versions 1..n in about 2·log2(n) downloads', async () => {
  await fc.assert(
    fc.asyncProperty(fc.oneof(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 100_000 })), async (n) => {
      const { transport, urls } = scripted((v) => v <= n);
      assert.equal(await new RemoteStore(transport, 'example.com/g').newestStoredVersion('targets/a'), n);
      const bound = n === 0 ? 1 : 2 * Math.ceil(Math.log2(n + 1)) + 1;
      assert.ok(urls.length <= bound, `${urls.length} downloads for n=${n}`);
    }),
    { numRuns: 200 },
  );
});

test('a server that claims every version is stored gets a bounded number of requests', async () => {
  const { transport, urls } = scripted(() => true);
  assert.equal(await new RemoteStore(transport, 'example.com/g').newestStoredVersion('targets/a'), 2 ** 30);
  assert.equal(urls.length, 31);
  assert.equal(urls[0], 'v2/example.com/g/_trust/tuf/1.targets/a.json');
});

test('errors other than not-found are not mistaken for an absent version', async () => {
  const { transport } = scripted((v) => (v <= 2 ? true : 'error'));
  await assert.rejects(new RemoteStore(transport, 'example.com/g').newestStoredVersion('targets/a'), { code: 'SERVER_UNAVAILABLE', message: 'unable to reach trust server at this time: 503.' });
});

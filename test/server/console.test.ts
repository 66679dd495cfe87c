// The web console (src/server/console.ts) of a real `vouch server` over HTTPS: pages and their
// contents, escaping, the auth it inherits from the API, the expiry metrics and the access log;
// and the pages in Debian's chromium (playwright-core), screenshot compared with a committed
// baseline (test/fixtures/console/).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:https';
import { chromium, type BrowserContext } from 'playwright-core';
import { PNG } from 'pngjs';
import pixelmatch from 'pixelmatch';

import { TokenAuth } from '../../src/server/auth.ts';
import { fileMetaOf } from '../../src/tuf/verify.ts';
import { ecdsaSigner } from '../tuf/builder-keys.ts';
import { startVouchHarness, type VouchHarness } from './harness.ts';
import { httpsServer, Publisher } from './publisher.ts';
import { ISSUER, SERVICE, tokenIssuer } from './tokens.ts';

const NOW = new Date('2026-06-01T00:00:00Z');
const now = () => NOW;
const BASELINE = join(import.meta.dirname, '..', 'fixtures', 'console', 'timeline.png');
const CHROMIUM = '/usr/bin/chromium';

interface Answer { status: number; headers: Record<string, string | string[] | undefined>; body: string }

function get(h: VouchHarness, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const r = request(new URL(path, h.url), { ca: readFileSync(h.caFile), agent: false, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    r.on('error', reject);
    r.end();
  });
}

async function publishApp(h: VouchHarness, gun: string, tags: number): Promise<Publisher> {
  const pub = new Publisher(httpsServer(h.url, h.caFile), gun, { now });
  await pub.init();
  const changes = Array.from({ length: tags }, (_, i) => ({ kind: 'addTarget' as const, role: 'targets', name: `v${i}`, meta: fileMetaOf(Buffer.from(`content ${i}`)) }));
  const releases = ecdsaSigner();
  pub.delegations.set('targets/releases', releases);
  const { files, commit } = await pub.changeFiles([
    ...changes,
    { kind: 'updateDelegation', name: 'targets/releases', threshold: 1, addKeys: [releases.publicKey], addPaths: ['v'] },
  ]);
  const res = await pub.post(files);
  assert.equal(res.statusCode, 200, res.body);
  commit();
  return pub;
}

async function browser(): Promise<{ ctx: BrowserContext; close: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'vouch-chromium-'));
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM, headless: true, ignoreHTTPSErrors: true, viewport: { width: 1100, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  return { ctx, close: async () => { await ctx.close(); rmSync(dir, { recursive: true, force: true }); } };
}

void describe('console', () => {
  let h: VouchHarness;
  let pub: Publisher;
  before(async () => {
    h = await startVouchHarness({ now });
    pub = await publishApp(h, 'example.com/app', 3);
    await pub.addTarget('<script>alert(1)</script>');
  });
  after(() => h.stop());

  void test('/ redirects to /console/, which lists the collections with a search', async () => {
    const root = await get(h, '/');
    assert.equal(root.status, 302);
    assert.equal(root.headers['location'], '/console/');
    const other = new Publisher(httpsServer(h.url, h.caFile), 'example.com/other', { now });
    await other.init();
    const list = await get(h, '/console/');
    assert.equal(list.status, 200);
    assert.equal(list.headers['content-type'], 'text/html; charset=utf-8');
    assert.match(String(list.headers['content-security-policy']), /default-src 'none'/);
    assert.match(list.body, /<a href="\/console\/c\/example\.com\/app">example\.com\/app<\/a>/);
    assert.match(list.body, /2 of 2 collections/);
    const found = await get(h, '/console/?q=OTHER');
    assert.match(found.body, /1 of 2 collections/);
    assert.doesNotMatch(found.body, /example\.com\/app</);
    assert.doesNotMatch(list.body, /<script/, 'the console ships no script');
  });

  void test('a collection page: tags with digests, sizes and signing role; delegations; keys with certificate expiry; changes', async () => {
    const res = await get(h, '/console/c/example.com/app');
    assert.equal(res.status, 200);
    const targets = pub.targetsMeta!;
    const v1 = targets.signed.targets.get('v1')!;
    const sha = Buffer.from(v1.hashes.get('sha256')!).toString('hex');
    assert.match(res.body, new RegExp(`<tr><td>v1</td><td class="mono">${sha}</td><td>${v1.length}</td><td>targets</td><td class="mono">${pub.targets.keyId.slice(0, 12)}</td></tr>`));
    assert.match(res.body, /&#60;script&#62;alert\(1\)&#60;\/script&#62;/, 'tag names are escaped');
    assert.doesNotMatch(res.body, /<script>alert/);
    const releases = pub.delegations.get('targets/releases')!;
    assert.match(res.body, new RegExp(`<tr><td>targets/releases</td><td class="mono">${releases.keyId.slice(0, 12)}</td><td>1</td><td>v</td></tr>`));
    assert.match(res.body, new RegExp(`<tr><td>root</td><td class="mono">${pub.root.keyId}</td><td>ecdsa-x509</td><td>2036-`));
    assert.match(res.body, /<td>timestamp<\/td><td class="mono">[0-9a-f]{64}<\/td><td>ecdsa<\/td><td><span class="muted">no certificate/);
    assert.match(res.body, /<table id="changes">.*<td>update<\/td><td>3<\/td>/s);
    assert.match(res.body, /<span id="tag-count">4 tags<\/span>/);
    // The timestamp expires 14 days after NOW: inside the highlighted 30 days.
    assert.match(res.body, /<g data-expiry="2026-06-15T00:00:00Z" data-soon="1"><text[^>]*>timestamp</);
    assert.match(res.body, /<g data-expiry="2029-05-31T00:00:00Z"><text[^>]*>targets</);
    const missing = await get(h, '/console/c/example.com/none');
    assert.equal(missing.status, 404);
    const bad = await get(h, '/console/c/a/../b');
    assert.ok(bad.status === 400 || bad.status === 404, String(bad.status));
  });

  void test('the expiry page spans every collection', async () => {
    const res = await get(h, '/console/expiry');
    assert.equal(res.status, 200);
    assert.match(res.body, /example\.com\/app · timestamp/);
    assert.match(res.body, /example\.com\/other · root/);
    assert.match(res.body, /<span id="soon-count" class="soon">2 expire within 30 days/);
  });

  void test('metrics: expiry per collection and role, publishes and rejections by reason; access log with request IDs', async () => {
    const bad = await pub.post(new Map([['targets', Buffer.from('{}')]]));
    assert.equal(bad.statusCode, 400);
    const res = await get(h, '/metrics');
    assert.match(res.body, /vouch_server_expires_timestamp_seconds\{gun="example.com\/app",role="timestamp",key_id=""\} 1781481600\n/);
    const certExpiry = Math.floor(new Date(new X509Certificate(Buffer.from(pub.root.publicKey.publicBytes)).validTo).getTime() / 1000);
    assert.match(res.body, new RegExp(`vouch_server_expires_timestamp_seconds\\{gun="example.com/app",role="root",key_id="${pub.root.keyId}"\\} ${certExpiry}\n`));
    assert.match(res.body, /vouch_server_publishes_total [1-9]/);
    assert.match(res.body, /vouch_server_publish_rejections_total\{reason="MALFORMED_JSON"\} 1\n/);
    const one = await get(h, '/console/');
    const id = one.headers['x-request-id'];
    assert.match(String(id), /^[0-9a-f]{16}$/);
    assert.notEqual(id, (await get(h, '/console/')).headers['x-request-id']);
  });

  void test('in chromium: the collection page paints, the timeline matches the baseline and highlights the next 30 days', async (t) => {
    if (!existsSync(CHROMIUM)) return t.skip('no /usr/bin/chromium');
    const b = await browser();
    try {
      const page = await b.ctx.newPage();
      await page.goto(`${h.url}/console/c/example.com/app`);
      assert.equal(await page.locator('#tags tbody tr').count(), 4);
      const svg = page.locator('svg.timeline');
      const shot = PNG.sync.read(await svg.screenshot());
      // Structural: the highlight colour (#c0392b) is drawn, the soon band (#fdecea) too.
      let red = 0;
      let band = 0;
      for (let i = 0; i < shot.data.length; i += 4) {
        const [r, g, bl] = [shot.data[i]!, shot.data[i + 1]!, shot.data[i + 2]!];
        if (Math.abs(r - 0xc0) < 12 && Math.abs(g - 0x39) < 12 && Math.abs(bl - 0x2b) < 12) red++;
        if (r === 0xfd && g === 0xec && bl === 0xea) band++;
      }
      assert.ok(red > 50, `highlighted pixels: ${red}`);
      assert.ok(band > 50, `30-day band pixels: ${band}`);
      // Pixels: the bars right of the label column (the labels hold random key IDs) against the baseline.
      const crop = new PNG({ width: shot.width - 300, height: shot.height });
      PNG.bitblt(shot, crop, 300, 0, shot.width - 300, shot.height, 0, 0);
      const actual = PNG.sync.write(crop);
      if (!existsSync(BASELINE) || process.env['VOUCH_UPDATE_SCREENSHOTS'] === '1') {
        mkdirSync(join(BASELINE, '..'), { recursive: true });
        writeFileSync(BASELINE, actual);
      }
      const expected = PNG.sync.read(readFileSync(BASELINE));
      assert.deepEqual([crop.width, crop.height], [expected.width, expected.height]);
      const diff = pixelmatch(crop.data, expected.data, undefined, crop.width, crop.height, { threshold: 0.1 });
      assert.ok(diff < crop.width * crop.height * 0.01, `${diff} pixels differ from ${BASELINE}`);
    } finally {
      await b.close();
    }
  });
});

void describe('console with token auth', () => {
  const issuer = tokenIssuer();
  let h: VouchHarness;
  before(async () => {
    // The real clock: the token issuer's certificates are made for it.
    h = await startVouchHarness({ auth: new TokenAuth({ realm: 'https://auth.example.com/token', service: SERVICE, issuer: ISSUER, rootCertBundle: issuer.bundle }) });
  });
  after(() => h.stop());

  void test('pages need what the API needs: catalog for the list, pull on the GUN for its page', async () => {
    const anon = await get(h, '/console/');
    assert.equal(anon.status, 401);
    assert.match(String(anon.headers['www-authenticate']), /scope="registry:catalog:\*"/);
    const page = await get(h, '/console/c/a/b');
    assert.equal(page.status, 401);
    assert.match(String(page.headers['www-authenticate']), /scope="repository:a\/b:pull"/);
    const catalog = issuer.token({ access: [{ type: 'registry', name: 'catalog', actions: ['*'] }] });
    assert.equal((await get(h, '/console/', { authorization: `Bearer ${catalog}` })).status, 200);
    assert.equal((await get(h, '/console/expiry', { authorization: `Bearer ${catalog}` })).status, 200);
    const otherGun = issuer.token({ access: [{ type: 'repository', name: 'a/c', actions: ['pull'] }] });
    assert.equal((await get(h, '/console/c/a/b', { authorization: `Bearer ${otherGun}` })).status, 401);
    const pull = issuer.token({ access: [{ type: 'repository', name: 'a/b', actions: ['pull'] }] });
    assert.equal((await get(h, '/console/c/a/b', { authorization: `Bearer ${pull}` })).status, 404, 'admitted: the GUN just has no data');
  });
});

void describe('console on 10,000 tags', () => {
  let h: VouchHarness;
  before(async () => {
    h = await startVouchHarness({ now });
    await publishApp(h, 'example.com/big', 10_000);
  });
  after(() => h.stop());

  void test('the first page paints in chromium with one page of tags (first paint reported, not asserted)', async (t) => {
    if (!existsSync(CHROMIUM)) return t.skip('no /usr/bin/chromium');
    const b = await browser();
    try {
      const page = await b.ctx.newPage();
      await page.goto(`${h.url}/console/c/example.com/big`); // warm the server's cache
      const samples: number[] = [];
      for (let i = 0; i < 3; i++) {
        await page.goto(`${h.url}/console/c/example.com/big?page=2`);
        // Headless chromium records no paint timing entries: the second animation frame after
        // the load, measured from the navigation's start, bounds the first paint from above.
        samples.push(await page.evaluate(() => new Promise<number>((resolve) => {
          const raf = (globalThis as unknown as { requestAnimationFrame(this: void, cb: () => void): void }).requestAnimationFrame;
          raf(() => raf(() => resolve(performance.now())));
        })));
      }
      assert.match(await page.locator('#tag-count').innerText(), /^10000 tags$/);
      assert.equal(await page.locator('#tags tbody tr').count(), 500);
      assert.match(await page.locator('.pager').innerText(), /Page 2 of 20/);
      const t0 = performance.now();
      const html = await get(h, '/console/c/example.com/big?page=3');
      t.diagnostic(`server answer of page 3 over HTTPS: ${(performance.now() - t0).toFixed(0)} ms, ${html.body.length} bytes`);
      t.diagnostic(`first paint (upper bound), 10,000 tags: ${samples.map((s) => s.toFixed(0)).join(', ')} ms`);
      assert.ok(samples.every((s) => s > 0), 'a paint happened');
    } finally {
      await b.close();
    }
  });
});

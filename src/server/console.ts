/**
 * The read-only web console `vouch server` serves at `/console/` (docs/operations.md): the
 * collections, one collection's tags, delegations, keys and changes, and expiry timelines drawn
 * as server-rendered SVG. Plain HTML and CSS held in this module (the CLI is one bundled file),
 * no script at all, nothing fetched from elsewhere.
 *
 * Contract:
 * - Everything shown is read through the same `TrustService`/store reads the API serves, so the
 *   console never shows what a client could not fetch; metadata that does not parse is shown as
 *   such, never thrown past the page.
 * - The collection list comes from the changefeed (the store keeps no list of GUNs): the feed is
 *   read incrementally, so a page view costs the changes since the last one.
 * - Every text that comes from metadata or the URL is HTML-escaped; pages are at most
 *   `TAGS_PER_PAGE` tags long (first paint stays fast on 10,000-tag collections).
 */
import { certificateBundle } from '../tuf/certs.ts';
import { parseMetadata, type Metadata, type RootSigned, type TargetsSigned } from '../tuf/metadata.ts';
import { DAY_MS } from '../tuf/time.ts';
import { ServerError } from './errors.ts';
import type { TrustService } from './service.ts';
import type { ChangeRecord } from './store.ts';

export const TAGS_PER_PAGE = 500;
/** Expiries closer than this are highlighted. */
export const SOON_MS = 30 * DAY_MS;
/** Delegation files read per collection page (a collection may delegate without bound). */
const MAX_DELEGATIONS = 200;
const FEED_PAGE = 1000;

export interface CollectionSummary {
  readonly gun: string;
  readonly lastChange: Date;
  readonly version: number;
  readonly changes: number;
}

export interface ExpiryItem {
  /** `root`, `targets/releases`, `root certificate 1a2b…`. */
  readonly label: string;
  readonly kind: 'role' | 'certificate';
  readonly expires: Date;
  readonly gun: string;
  /** The role the file or key belongs to. */
  readonly role: string;
  /** For certificates: the key ID in root.json. */
  readonly keyId?: string;
}

export interface TagRow {
  readonly name: string;
  readonly sha256: string;
  readonly length: number;
  readonly role: string;
  /** Key IDs whose signatures the role file carries. */
  readonly signers: readonly string[];
}

export interface DelegationRow {
  readonly name: string;
  readonly keyIds: readonly string[];
  readonly threshold: number;
  readonly paths: readonly string[] | undefined;
}

export interface KeyRow {
  readonly role: string;
  readonly keyId: string;
  readonly keyType: string;
  readonly certExpires: Date | undefined;
}

export interface CollectionDetail {
  readonly gun: string;
  readonly tags: readonly TagRow[];
  readonly delegations: readonly DelegationRow[];
  readonly keys: readonly KeyRow[];
  readonly expiries: readonly ExpiryItem[];
  readonly changes: readonly ChangeRecord[];
  readonly problems: readonly string[];
}

const CSS = `
:root{--fg:#1d232a;--muted:#5b6570;--line:#d8dde2;--bg:#fff;--accent:#1f5fa8;--soon:#c0392b;--ok:#2e7d32}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg)}
header{background:#1d232a;color:#fff;padding:10px 20px;display:flex;gap:20px;align-items:center}
header a{color:#fff;text-decoration:none}header .brand{font-weight:700;font-size:16px}
main{padding:16px 20px;max-width:1200px}h1{font-size:20px;margin:4px 0 12px}h2{font-size:16px;margin:20px 0 8px}
table{border-collapse:collapse;width:100%;table-layout:fixed}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid var(--line);overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
th{color:var(--muted);font-weight:600;background:#f5f7f9}code,.mono{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12px}
.muted{color:var(--muted)}.soon{color:var(--soon);font-weight:600}.problem{color:var(--soon)}
form.search{margin:0 0 12px}form.search input{padding:4px 8px;width:320px;border:1px solid var(--line);border-radius:3px}
.pager a{margin-right:8px}.counts span{margin-right:16px}svg.timeline{display:block;border:1px solid var(--line);background:#fcfcfd}
`;

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function iso(d: Date | undefined): string {
  if (d === undefined || Number.isNaN(d.getTime())) return '—';
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">`
    + `<title>${escapeHtml(title)} · Vouch</title><style>${CSS}</style></head><body>`
    + `<header><a class="brand" href="/console/">Vouch</a><a href="/console/">Collections</a><a href="/console/expiry">Expiry</a></header>`
    + `<main>${body}</main></body></html>`;
}

const collectionHref = (gun: string): string => `/console/c/${gun.split('/').map(encodeURIComponent).join('/')}`;

/**
 * The expiry timeline: one row per item, a bar from now to its expiry on a shared time axis, the
 * next `SOON_MS` shaded and the items inside it drawn in the highlight colour.
 */
export function timelineSvg(items: readonly ExpiryItem[], now: Date, opts: { showGun?: boolean; width?: number } = {}): string {
  const width = opts.width ?? 1000;
  const labelW = 300;
  const rowH = 22;
  const top = 28;
  const sorted = [...items].sort((a, b) => a.expires.getTime() - b.expires.getTime());
  const height = top + Math.max(1, sorted.length) * rowH + 10;
  const t0 = now.getTime();
  const latest = Math.max(t0 + 365 * DAY_MS, ...sorted.map((i) => i.expires.getTime()));
  const earliest = Math.min(t0 - 7 * DAY_MS, ...sorted.map((i) => i.expires.getTime()));
  const span = Math.max(1, latest - earliest);
  const x = (t: number): number => labelW + ((t - earliest) / span) * (width - labelW - 20);
  const out: string[] = [];
  out.push(`<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="expiry timeline">`);
  out.push(`<rect data-soon-band="1" x="${x(t0).toFixed(1)}" y="${top - 8}" width="${(x(t0 + SOON_MS) - x(t0)).toFixed(1)}" height="${height - top}" fill="#fdecea"/>`);
  // Year ticks.
  const firstYear = new Date(earliest).getUTCFullYear() + 1;
  for (let y = firstYear; Date.UTC(y, 0, 1) <= latest; y++) {
    const tx = x(Date.UTC(y, 0, 1)).toFixed(1);
    out.push(`<line x1="${tx}" y1="${top - 10}" x2="${tx}" y2="${height}" stroke="#d8dde2"/><text x="${tx}" y="14" font-size="11" fill="#5b6570" text-anchor="middle">${y}</text>`);
  }
  const nx = x(t0).toFixed(1);
  out.push(`<line x1="${nx}" y1="${top - 10}" x2="${nx}" y2="${height}" stroke="#1d232a" stroke-width="1.5"/><text x="${nx}" y="${top - 12}" font-size="11" fill="#1d232a">now</text>`);
  sorted.forEach((item, i) => {
    const y = top + i * rowH;
    const t = item.expires.getTime();
    const soon = t - t0 < SOON_MS;
    const colour = soon ? '#c0392b' : item.kind === 'certificate' ? '#6a4fa3' : '#1f5fa8';
    const label = opts.showGun === true ? `${item.gun} · ${item.label}` : item.label;
    const from = Math.min(x(t0), x(t));
    const bar = Math.abs(x(t) - x(t0));
    out.push(`<g data-expiry="${escapeHtml(iso(item.expires))}"${soon ? ' data-soon="1"' : ''}>`
      + `<text x="4" y="${y + 14}" font-size="12" fill="${soon ? '#c0392b' : '#1d232a'}">${escapeHtml(label.length > 44 ? `${label.slice(0, 43)}…` : label)}</text>`
      + `<rect x="${from.toFixed(1)}" y="${y + 5}" width="${Math.max(2, bar).toFixed(1)}" height="12" rx="2" fill="${colour}" opacity="0.85"/>`
      + `<circle cx="${x(t).toFixed(1)}" cy="${y + 11}" r="4" fill="${colour}"/>`
      + `<title>${escapeHtml(`${label} expires ${iso(item.expires)}`)}</title></g>`);
  });
  if (sorted.length === 0) out.push(`<text x="4" y="${top + 14}" font-size="12" fill="#5b6570">nothing to show</text>`);
  out.push('</svg>');
  return out.join('');
}

function signedKeyIds(m: Metadata): string[] {
  return m.signatures.map((s) => s.keyid);
}

export class TrustConsole {
  private readonly service: TrustService;
  private readonly now: () => Date;
  private feedCursor = 0;
  private readonly known = new Map<string, { lastChange: Date; version: number; changes: number; deleted: boolean }>();
  private feedRead: Promise<void> | undefined;
  /** Parsed collections by GUN, valid while the current timestamp (and so everything) is the same. */
  private readonly details = new Map<string, { timestampSha: string; tags: boolean; detail: Promise<CollectionDetail> }>();

  constructor(service: TrustService, now: () => Date) {
    this.service = service;
    this.now = now;
  }

  /** Reads the changefeed past the last seen ID (one reader at a time). */
  private refresh(): Promise<void> {
    this.feedRead ??= (async () => {
      try {
        for (;;) {
          const batch = await this.service.store.getChanges({ changeId: this.feedCursor, records: FEED_PAGE, reversed: false });
          for (const c of batch) {
            const prev = this.known.get(c.gun);
            this.known.set(c.gun, {
              lastChange: c.createdAt, version: c.category === 'deletion' ? prev?.version ?? 0 : c.version,
              changes: (prev?.changes ?? 0) + 1, deleted: c.category === 'deletion',
            });
            this.feedCursor = Math.max(this.feedCursor, c.id);
          }
          if (batch.length < FEED_PAGE) return;
        }
      } finally {
        this.feedRead = undefined;
      }
    })();
    return this.feedRead;
  }

  async collections(): Promise<CollectionSummary[]> {
    await this.refresh();
    const out: CollectionSummary[] = [];
    for (const [gun, k] of this.known) if (!k.deleted) out.push({ gun, lastChange: k.lastChange, version: k.version, changes: k.changes });
    return out.sort((a, b) => a.gun.localeCompare(b.gun));
  }

  /** Role and certificate expiries of one collection (what `…_expires_timestamp_seconds` exports). */
  async expiries(gun: string): Promise<ExpiryItem[]> {
    return [...(await this.detail(gun, { tags: false })).expiries];
  }

  /**
   * One collection, parsed once per timestamp: a new timestamp is the only way any of its files
   * (or its changefeed rows) change, so a page view of an unchanged 10,000-tag collection costs
   * no parsing.
   */
  async detail(gun: string, opts: { tags?: boolean } = {}): Promise<CollectionDetail> {
    const timestampSha = (await this.service.getCurrent(gun, 'timestamp')).sha256;
    const wantTags = opts.tags !== false;
    const hit = this.details.get(gun);
    if (hit !== undefined && hit.timestampSha === timestampSha && (hit.tags || !wantTags)) return hit.detail;
    const detail = this.load(gun, wantTags);
    this.details.delete(gun);
    if (this.details.size >= 32) this.details.delete(this.details.keys().next().value as string);
    this.details.set(gun, { timestampSha, tags: wantTags, detail });
    detail.catch(() => this.details.delete(gun));
    return detail;
  }

  private async load(gun: string, wantTags: boolean): Promise<CollectionDetail> {
    const svc = this.service;
    const problems: string[] = [];
    const expiries: ExpiryItem[] = [];
    const keys: KeyRow[] = [];
    const tags: TagRow[] = [];
    const delegations: DelegationRow[] = [];
    const rootFile = await svc.getCurrent(gun, 'root');
    let root: Metadata<RootSigned> | undefined;
    try {
      root = parseMetadata('root', rootFile.data);
    } catch (e) {
      problems.push(`root.json does not parse: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (root !== undefined) {
      expiries.push({ label: 'root', kind: 'role', role: 'root', expires: new Date(root.signed.expires.epochMs), gun });
      for (const [role, rk] of root.signed.roles) {
        for (const id of rk.keyIds) {
          const key = root.signed.keys.get(id);
          let certExpires: Date | undefined;
          if (key?.keyType.endsWith('-x509') === true) {
            try {
              certExpires = certificateBundle(key)[0]?.notAfter;
            } catch {
              problems.push(`the ${role} key ${id} holds no readable certificate`);
            }
            if (certExpires !== undefined) expiries.push({ label: `${role} certificate ${id.slice(0, 12)}`, kind: 'certificate', role, keyId: id, expires: certExpires, gun });
          }
          keys.push({ role, keyId: id, keyType: key?.keyType ?? 'missing', certExpires });
        }
      }
    }
    for (const role of ['snapshot', 'timestamp'] as const) {
      try {
        const m = parseMetadata(role, (await svc.getCurrent(gun, role)).data);
        expiries.push({ label: role, kind: 'role', role, expires: new Date(m.signed.expires.epochMs), gun });
      } catch (e) {
        if (e instanceof ServerError && e.code !== 'METADATA_NOT_FOUND') throw e;
        problems.push(`${role}.json cannot be read: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    // Breadth-first over targets and its delegations, as far as the snapshot lists them.
    const queue = ['targets'];
    let read = 0;
    while (queue.length > 0 && read <= MAX_DELEGATIONS) {
      const role = queue.shift() as string;
      read++;
      let m: Metadata<TargetsSigned>;
      try {
        m = parseMetadata(role, (await svc.getCurrent(gun, role)).data) as Metadata<TargetsSigned>;
      } catch (e) {
        if (e instanceof ServerError && e.code === 'UNAVAILABLE') throw e;
        if (role === 'targets') problems.push(`targets.json cannot be read: ${e instanceof Error ? e.message : String(e)}`);
        continue;
      }
      expiries.push({ label: role, kind: 'role', role, expires: new Date(m.signed.expires.epochMs), gun });
      if (wantTags) {
        const signers = signedKeyIds(m);
        for (const [name, fm] of m.signed.targets) {
          const sha = fm.hashes.get('sha256');
          tags.push({ name, sha256: sha === undefined ? '' : Buffer.from(sha).toString('hex'), length: fm.length, role, signers });
        }
      }
      for (const d of m.signed.delegations.roles) {
        delegations.push({ name: d.name, keyIds: d.keyIds, threshold: d.threshold, paths: d.paths });
        queue.push(d.name);
      }
    }
    if (queue.length > 0) problems.push(`more than ${MAX_DELEGATIONS} delegation files: the rest are not shown`);
    tags.sort((a, b) => (a.name === b.name ? a.role.localeCompare(b.role) : a.name < b.name ? -1 : 1));
    const changes = await svc.store.getChanges({ changeId: -1, records: 20, reversed: true, gun });
    return { gun, tags, delegations, keys, expiries, changes: changes.reverse(), problems };
  }

  renderList(q: string): Promise<string> {
    return this.collections().then((all) => {
      const needle = q.trim().toLowerCase();
      const shown = needle === '' ? all : all.filter((c) => c.gun.toLowerCase().includes(needle));
      const rows = shown.map((c) => `<tr><td><a href="${collectionHref(c.gun)}">${escapeHtml(c.gun)}</a></td>`
        + `<td>${c.version}</td><td>${c.changes}</td><td>${iso(c.lastChange)}</td></tr>`).join('');
      return page('Collections', `<h1>Collections</h1>`
        + `<form class="search" method="get" action="/console/"><input type="search" name="q" placeholder="Search collections" value="${escapeHtml(q)}"> <button>Search</button></form>`
        + `<p class="counts"><span id="count">${shown.length} of ${all.length} collections</span></p>`
        + `<table id="collections"><colgroup><col style="width:55%"><col><col><col style="width:25%"></colgroup>`
        + `<thead><tr><th>Collection</th><th>Timestamp version</th><th>Changes</th><th>Last change</th></tr></thead><tbody>${rows}</tbody></table>`);
    });
  }

  async renderCollection(gun: string, q: string, pageNo: number): Promise<string> {
    const d = await this.detail(gun);
    const now = this.now();
    const needle = q.trim().toLowerCase();
    const matching = needle === '' ? d.tags : d.tags.filter((t) => t.name.toLowerCase().includes(needle));
    const pages = Math.max(1, Math.ceil(matching.length / TAGS_PER_PAGE));
    const p = Math.min(Math.max(1, pageNo), pages);
    const shown = matching.slice((p - 1) * TAGS_PER_PAGE, p * TAGS_PER_PAGE);
    const signerLabel = (t: TagRow): string => t.signers.map((s) => s.slice(0, 12)).join(', ');
    const tagRows = shown.map((t) => `<tr><td>${escapeHtml(t.name)}</td><td class="mono">${escapeHtml(t.sha256)}</td><td>${t.length}</td>`
      + `<td>${escapeHtml(t.role)}</td><td class="mono">${escapeHtml(signerLabel(t))}</td></tr>`).join('');
    const base = collectionHref(gun);
    const link = (n: number): string => `${base}?page=${n}${needle === '' ? '' : `&amp;q=${encodeURIComponent(q)}`}`;
    const pager = pages <= 1 ? '' : `<p class="pager">Page ${p} of ${pages}: ${p > 1 ? `<a href="${link(p - 1)}">previous</a>` : ''}${p < pages ? `<a href="${link(p + 1)}">next</a>` : ''}</p>`;
    const delegationRows = d.delegations.map((r) => `<tr><td>${escapeHtml(r.name)}</td><td class="mono">${escapeHtml(r.keyIds.map((k) => k.slice(0, 12)).join(', '))}</td>`
      + `<td>${r.threshold}</td><td>${r.paths === undefined ? '<span class="muted">none</span>' : escapeHtml(r.paths.map((x) => (x === '' ? '""' : x)).join(', '))}</td></tr>`).join('');
    const keyRows = d.keys.map((k) => {
      const soon = k.certExpires !== undefined && k.certExpires.getTime() - now.getTime() < SOON_MS;
      return `<tr><td>${escapeHtml(k.role)}</td><td class="mono">${escapeHtml(k.keyId)}</td><td>${escapeHtml(k.keyType)}</td>`
        + `<td${soon ? ' class="soon"' : ''}>${k.certExpires === undefined ? '<span class="muted">no certificate</span>' : iso(k.certExpires)}</td></tr>`;
    }).join('');
    const changeRows = d.changes.map((c) => `<tr><td>${c.id}</td><td>${iso(c.createdAt)}</td><td>${escapeHtml(c.category)}</td><td>${c.version}</td><td class="mono">${escapeHtml(c.sha256)}</td></tr>`).join('');
    const problems = d.problems.map((x) => `<p class="problem">${escapeHtml(x)}</p>`).join('');
    return page(gun, `<h1>${escapeHtml(gun)}</h1>${problems}`
      + `<p class="counts"><span id="tag-count">${d.tags.length} tags</span><span>${d.delegations.length} delegations</span><span>${d.keys.length} keys</span></p>`
      + `<h2>Expiry</h2>${timelineSvg(d.expiries, now)}`
      + `<h2>Tags</h2><form class="search" method="get" action="${base}"><input type="search" name="q" placeholder="Search tags" value="${escapeHtml(q)}"> <button>Search</button></form>${pager}`
      + `<table id="tags"><colgroup><col style="width:22%"><col style="width:40%"><col style="width:8%"><col style="width:12%"><col></colgroup>`
      + `<thead><tr><th>Tag</th><th>SHA-256</th><th>Size</th><th>Signed by role</th><th>Signing keys</th></tr></thead><tbody>${tagRows}</tbody></table>`
      + `<h2>Delegations</h2><table id="delegations"><thead><tr><th>Role</th><th>Keys</th><th>Threshold</th><th>Paths</th></tr></thead><tbody>${delegationRows}</tbody></table>`
      + `<h2>Root and administrative keys</h2><table id="keys"><thead><tr><th>Role</th><th>Key ID</th><th>Type</th><th>Certificate expires</th></tr></thead><tbody>${keyRows}</tbody></table>`
      + `<h2>Recent changes</h2><table id="changes"><colgroup><col style="width:8%"><col style="width:20%"><col style="width:10%"><col style="width:8%"><col></colgroup>`
      + `<thead><tr><th>ID</th><th>When</th><th>Category</th><th>Version</th><th>Timestamp SHA-256</th></tr></thead><tbody>${changeRows}</tbody></table>`);
  }

  async allExpiries(): Promise<ExpiryItem[]> {
    const out: ExpiryItem[] = [];
    for (const c of await this.collections()) {
      try {
        out.push(...(await this.expiries(c.gun)));
      } catch (e) {
        if (e instanceof ServerError && e.code === 'METADATA_NOT_FOUND') continue;
        throw e;
      }
    }
    return out;
  }

  async renderExpiry(): Promise<string> {
    const items = await this.allExpiries();
    const now = this.now();
    const soon = items.filter((i) => i.expires.getTime() - now.getTime() < SOON_MS);
    return page('Expiry', `<h1>Expiry across all collections</h1>`
      + `<p class="counts"><span id="soon-count" class="${soon.length > 0 ? 'soon' : ''}">${soon.length} expire within 30 days</span><span>${items.length} roles and certificates</span></p>`
      + timelineSvg(items, now, { showGun: true }));
  }
}

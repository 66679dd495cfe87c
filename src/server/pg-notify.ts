/**
 * PostgreSQL LISTEN/NOTIFY for cross-replica cache invalidation: every write transaction of the
 * SQL store ends with `pg_notify('vouch_tuf', <gun>)`, and each server process listens on one
 * dedicated connection.
 *
 * Contract: events go to `emit` — `changed` per notified GUN, `live` once LISTEN is established
 * (again), `down` as soon as the connection fails or a heartbeat (every `heartbeatMs`) goes
 * unanswered. Reconnects run in the background with backoff up to 1 s; `start()` never throws
 * (a database that is down at start-up simply starts in `down`). `stop()` ends everything.
 * sql-store.ts imports this module only for a PostgreSQL store.
 */
import type pg from 'pg';
import { parsePostgresUrl } from '../storage/config.ts';
import { pgDriver, pgSsl } from '../storage/database.ts';
import { NOTIFY_CHANNEL } from './sql-schema.ts';
import type { StoreEvent } from './store.ts';

export class PgNotifications {
  private readonly dbUrl: string;
  private readonly emit: (e: StoreEvent) => void;
  private readonly heartbeatMs: number;
  private client: pg.Client | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private backoffMs = 250;
  private stopped = false;
  private up = false;

  constructor(dbUrl: string, emit: (e: StoreEvent) => void, opts: { heartbeatMs?: number } = {}) {
    this.dbUrl = dbUrl;
    this.emit = emit;
    this.heartbeatMs = opts.heartbeatMs ?? 5_000;
  }

  async start(): Promise<void> {
    await this.connect();
  }

  private markDown(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat);
    client.end().catch(() => undefined);
    if (this.up) {
      this.up = false;
      this.emit({ type: 'down' });
    }
    if (this.stopped) return;
    this.retryTimer = setTimeout(() => void this.connect(), this.backoffMs);
    this.retryTimer.unref();
    this.backoffMs = Math.min(this.backoffMs * 2, 1_000);
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const c = parsePostgresUrl(this.dbUrl);
    const client = new (pgDriver().Client)({
      host: c.host, port: c.port, user: c.user, password: c.password, database: c.database, ssl: pgSsl(c),
      connectionTimeoutMillis: 5_000, keepAlive: true, query_timeout: 5_000,
    });
    this.client = client;
    client.on('error', () => this.markDown(client));
    client.on('end', () => this.markDown(client));
    client.on('notification', (n) => {
      if (n.channel === NOTIFY_CHANNEL && n.payload !== undefined) this.emit({ type: 'changed', gun: n.payload });
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${NOTIFY_CHANNEL}`);
    } catch {
      this.markDown(client);
      return;
    }
    if (this.client !== client) return;
    this.backoffMs = 250;
    this.up = true;
    this.emit({ type: 'live' });
    this.heartbeat = setInterval(() => {
      client.query('select 1').catch(() => this.markDown(client));
    }, this.heartbeatMs);
    this.heartbeat.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }
}

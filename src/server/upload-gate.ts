/**
 * Admission of uploads to parsing and validation by size, so that the JavaScript heap they need
 * is bounded whatever the number of concurrent publishes.
 *
 * Why: a parsed and validated upload costs the heap up to ≈ 28 times its size (nested empty JSON
 * arrays; ≈ 9 times for ordinary targets lists), and the server runs with a bounded heap
 * (`npm start`). Bodies wait here already buffered (outside the heap); only their parsing waits.
 *
 * Contract: `run(bytes, work)` runs `work` once the uploads running hold at most `capacity - bytes`
 * bytes; an upload larger than `capacity` runs alone. Waiting is first come, first served, so a
 * large upload is never starved by small ones. A failing `work` releases its bytes like any other.
 */
export class UploadGate {
  private readonly capacity: number;
  private running = 0;
  private readonly queue: { readonly bytes: number; readonly start: () => void }[] = [];

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  /** Bytes of uploads now being parsed or validated. */
  get inFlight(): number {
    return this.running;
  }

  async run<T>(bytes: number, work: () => Promise<T>): Promise<T> {
    if (this.queue.length === 0 && this.fits(bytes)) this.running += bytes;
    else await new Promise<void>((start) => this.queue.push({ bytes, start }));
    try {
      return await work();
    } finally {
      this.running -= bytes;
      this.admitWaiting();
    }
  }

  private fits(bytes: number): boolean {
    return this.running === 0 || this.running + bytes <= this.capacity;
  }

  private admitWaiting(): void {
    for (let next = this.queue[0]; next !== undefined && this.fits(next.bytes); next = this.queue[0]) {
      this.queue.shift();
      this.running += next.bytes;
      next.start();
    }
  }
}

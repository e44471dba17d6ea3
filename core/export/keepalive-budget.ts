// Chrome rejects a keepalive fetch once the page's keepalive bodies in flight would exceed 64 KiB
// (Fetch spec, "HTTP-network-or-cache fetch": inflightKeepaliveBytes), and refuses a 9th pending
// keepalive request. OpenTelemetry and Sentry stay at ≤ 60 KB; we do too, and at 8 requests.

/** Keepalive bytes and requests in flight for one page (one Sender). */
export class KeepaliveBudget {
  private bytes = 0;
  private count = 0;

  constructor(
    readonly maxBytes = 60_000,
    private readonly maxRequests = 8,
  ) {}

  /**
   * Body bytes one more keepalive request may carry now, within `share` of the budget (0 when the
   * request count is used up; below 0 when more than that share is in flight).
   */
  room(share = 1): number {
    return this.count >= this.maxRequests ? 0 : this.maxBytes * share - this.bytes;
  }

  reserve(bytes: number): void {
    this.bytes += bytes;
    this.count++;
  }

  release(bytes: number): void {
    this.bytes -= bytes;
    this.count--;
  }
}

/** One pending wake-up: asking for an earlier time moves it, asking for a later one is a no-op. */
export class WakeTimer {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private at = 0;

  constructor(
    private readonly fire: () => void,
    private readonly now: () => number,
  ) {}

  wakeAt(at: number): void {
    if (this.timer !== undefined && this.at <= at) return;
    this.cancel();
    this.at = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.fire();
    }, Math.min(Math.max(0, at - this.now()), 0x7fffffff)); // a longer delay fires at once: wake early, look again
    // Node and workerd: a pending retry must not keep the process alive.
    if (typeof this.timer === "object") (this.timer as { unref?: () => void }).unref?.();
  }

  cancel(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

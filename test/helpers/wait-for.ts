/** Polls `check` until it returns a value other than undefined/false; fails with `reason` on timeout. */
export async function waitFor<T>(
  reason: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 5000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${reason}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

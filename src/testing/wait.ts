/** Polls `cond` every 50 ms until it holds; after `timeoutMs` throws with what `what` says was awaited. Test support. */
export async function waitFor(cond: () => Promise<boolean> | boolean, timeoutMs: number, what: () => string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(what());
}

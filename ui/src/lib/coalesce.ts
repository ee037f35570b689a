/**
 * Runs an async task at most once at a time. Calls that arrive while it runs are folded
 * into one more run afterwards, so a burst of core events costs two re-reads, not one
 * per event, and the last run always sees the latest state.
 */
export function coalesce(task: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | null = null;
  let again: Promise<void> | null = null;

  const run = (): Promise<void> => {
    running = (async () => {
      try {
        await task();
      } finally {
        running = null;
      }
    })();
    return running;
  };

  return () => {
    if (!running) return run();
    again ??= running
      .catch(() => undefined)
      .then(() => {
        again = null;
        return run();
      });
    return again;
  };
}

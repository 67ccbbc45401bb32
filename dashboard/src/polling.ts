// Data that refreshes itself: `load` runs now, whenever `deps` change, and `everyMs` after each answer
// (0: once). The next request waits for the last answer, so a slow server (a job's detail reads the peers'
// events from the broker) never has requests piling up, and every answer is shown; answers to older `deps`
// are dropped. The last good value stays on screen while a refresh fails, with the error beside it.
import { useCallback, useEffect, useRef, useState } from "react";

export interface Polled<T> {
  data: T | undefined;
  error: Error | undefined;
  updatedAt: Date | undefined;
  refresh: () => void;
}

export function usePolling<T>(load: () => Promise<T>, everyMs: number, deps: unknown[]): Polled<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<Error>();
  const [updatedAt, setUpdatedAt] = useState<Date>();
  const generation = useRef(0);
  const loadNow = useCallback(load, deps);

  const fetchOnce = useCallback(
    (mine: number): Promise<void> =>
      loadNow().then(
        (value) => {
          if (mine !== generation.current) return;
          setData(value);
          setError(undefined);
          setUpdatedAt(new Date());
        },
        (err: Error) => {
          if (mine === generation.current) setError(err);
        },
      ),
    [loadNow],
  );

  useEffect(() => {
    const mine = ++generation.current;
    let timer: number | undefined;
    setData(undefined);
    setError(undefined);
    const tick = () =>
      fetchOnce(mine).then(() => {
        if (everyMs && mine === generation.current) timer = window.setTimeout(tick, everyMs);
      });
    tick();
    return () => {
      generation.current += 1; // this effect's answers and timers end here
      window.clearTimeout(timer);
    };
  }, [fetchOnce, everyMs]);

  const refresh = useCallback(() => void fetchOnce(generation.current), [fetchOnce]);
  return { data, error, updatedAt, refresh };
}

// Data that refreshes itself: `load` runs now, whenever `deps` change, and every `everyMs` after that
// (0: once); the last good value stays on screen while a refresh fails, with the error beside it.
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

  const refresh = useCallback(() => {
    const mine = ++generation.current;
    loadNow().then(
      (value) => {
        if (mine !== generation.current) return; // a newer request (other deps) answers instead
        setData(value);
        setError(undefined);
        setUpdatedAt(new Date());
      },
      (err: Error) => mine === generation.current && setError(err),
    );
  }, [loadNow]);

  useEffect(() => {
    setData(undefined);
    setError(undefined);
    refresh();
    if (!everyMs) return undefined;
    const timer = window.setInterval(refresh, everyMs);
    return () => window.clearInterval(timer);
  }, [refresh, everyMs]);

  return { data, error, updatedAt, refresh };
}

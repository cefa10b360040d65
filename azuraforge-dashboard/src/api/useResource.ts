// Loads one thing from the API for a page; loads again when its key or the signed-in user changes.
import { useCallback, useEffect, useRef, useState } from "react";
import { useAuth } from "./auth";

export interface Resource<T> {
  data: T | undefined;
  error: Error | null;
  reload: () => void;
  /** Patch the loaded value in place (live updates), without a request. */
  setData: (update: (current: T | undefined) => T | undefined) => void;
}

export function useResource<T>(key: string, load: () => Promise<T>): Resource<T> {
  const { me } = useAuth();
  const [data, setData] = useState<T>();
  const [error, setError] = useState<Error | null>(null);
  const [version, setVersion] = useState(0);
  const loadRef = useRef(load);
  useEffect(() => {
    loadRef.current = load;
  });

  useEffect(() => {
    let current = true;
    loadRef.current().then(
      (value) => {
        if (!current) return;
        setData(value);
        setError(null);
      },
      (reason: unknown) => {
        if (current) setError(reason instanceof Error ? reason : new Error(String(reason)));
      },
    );
    return () => {
      current = false;
    };
  }, [key, me, version]);

  const reload = useCallback(() => setVersion((v) => v + 1), []);
  return { data, error, reload, setData };
}

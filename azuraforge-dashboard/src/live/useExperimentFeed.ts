// Live events for the experiments list: the list-wide socket /ws/experiments when the API has one,
// otherwise one socket per active experiment.
import { useEffect, useRef, useState } from "react";
import { useAuth } from "../api/auth";
import { websocketUrl } from "../api/client";
import type { ProgressEvent } from "../api/types";
import { followExperiment, keepSocketOpen } from "./socket";

interface Handlers {
  onEvent: (event: ProgressEvent) => void;
  /** The list-wide socket came back after a drop: events may have been missed. */
  onResync: () => void;
}

export function useExperimentFeed(activeIds: string[], handlers: Handlers): void {
  const who = useAuth().me?.username ?? null;
  // Who was signed in when the list-wide socket could not be opened (a 401 or an API without it).
  const [listWideFailed, setListWideFailed] = useState<{ who: string | null } | null>(null);
  const listWide = listWideFailed?.who !== who;
  const latest = useRef(handlers);
  useEffect(() => {
    latest.current = handlers;
  });

  useEffect(() => {
    if (!listWide) return;
    return keepSocketOpen({
      url: () => websocketUrl("/ws/experiments"),
      onMessage: (data) => latest.current.onEvent(data as ProgressEvent),
      onOpen: (reconnect) => reconnect && latest.current.onResync(),
      shouldReconnect: (everOpened) => {
        if (!everOpened) setListWideFailed({ who });
        return everOpened;
      },
    });
  }, [listWide, who]);

  const sockets = useRef(new Map<string, () => void>());
  const wantedKey = listWide ? "" : [...activeIds].sort().join(",");
  useEffect(() => {
    const wanted = new Set(wantedKey ? wantedKey.split(",") : []);
    for (const [id, close] of sockets.current) {
      if (!wanted.has(id)) {
        close();
        sockets.current.delete(id);
      }
    }
    for (const id of wanted) {
      if (!sockets.current.has(id)) sockets.current.set(id, followExperiment(id, (e) => latest.current.onEvent(e)));
    }
  }, [wantedKey]);
  useEffect(() => {
    const open = sockets.current;
    return () => {
      open.forEach((close) => close());
      open.clear();
    };
  }, []);
}

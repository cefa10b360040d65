// One experiment's progress as React state, fed by followExperiment.
import { useEffect, useReducer, useState } from "react";
import { applyEvent, initialLiveState, type LiveState } from "./series";
import { followExperiment, type ConnectionState } from "./socket";

/** Callers render one component per experiment (key={id}): the state is not reset when id changes. */
export function useExperimentEvents(
  id: string,
  enabled: boolean,
): { live: LiveState; connection: ConnectionState } {
  const [live, dispatch] = useReducer(applyEvent, initialLiveState);
  const [connection, setConnection] = useState<ConnectionState>("closed");
  useEffect(() => (enabled ? followExperiment(id, dispatch, setConnection) : undefined), [id, enabled]);
  return { live, connection };
}

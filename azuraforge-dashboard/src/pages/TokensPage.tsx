// The signed-in user's API tokens: create one (shown once, to copy), see when each was used, revoke.
import { useState, type FormEvent } from "react";
import { useAuth } from "../api/auth";
import { api, ApiError } from "../api/client";
import type { CreatedToken, NewToken } from "../api/types";
import { useResource } from "../api/useResource";
import { formatDate } from "../format";

type Scope = NewToken["scopes"][number];

export function TokensPage() {
  const { me } = useAuth();
  const tokens = useResource("tokens", api.listTokens);
  const [name, setName] = useState("");
  const [scopes, setScopes] = useState<Scope[]>(["read"]);
  const [days, setDays] = useState("");
  const [created, setCreated] = useState<CreatedToken | null>(null);
  const [error, setError] = useState<string | null>(null);
  const allowed: Scope[] = me?.admin ? ["read", "write", "admin"] : ["read", "write"];

  const create = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    try {
      const body: NewToken = { name: name.trim(), scopes, ...(days && { expires_in_days: Number(days) }) };
      setCreated(await api.createToken(body));
      setName("");
      tokens.reload();
    } catch (failure) {
      setError(failure instanceof ApiError ? failure.message : String(failure));
    }
  };
  const revoke = async (id: string) => {
    await api.revokeToken(id);
    tokens.reload();
  };
  const toggle = (scope: Scope) =>
    setScopes((current) => (current.includes(scope) ? current.filter((s) => s !== scope) : [...current, scope]));

  return (
    <section>
      <h1>API tokens</h1>
      <p>For scripts and the command line: send one as <code>Authorization: Bearer &lt;token&gt;</code>.</p>
      <form className="inline-form" onSubmit={create}>
        <label>
          Name <input value={name} onChange={(e) => setName(e.target.value)} aria-label="Token name" />
        </label>
        {allowed.map((scope) => (
          <label key={scope}>
            <input type="checkbox" checked={scopes.includes(scope)} onChange={() => toggle(scope)} /> {scope}
          </label>
        ))}
        <label>
          Expires in (days) <input type="number" min={1} value={days} onChange={(e) => setDays(e.target.value)} />
        </label>
        <button type="submit" className="primary" disabled={!name.trim() || !scopes.length}>
          Create token
        </button>
      </form>
      {error && <p className="error">{error}</p>}
      {created && (
        <div className="notice" role="status">
          <p>Copy the token now: it is not shown again.</p>
          <code className="new-token">{created.token}</code>{" "}
          <button type="button" onClick={() => navigator.clipboard?.writeText(created.token)}>
            Copy
          </button>
        </div>
      )}
      <table>
        <thead>
          <tr>
            <th>Name</th>
            <th>Scopes</th>
            <th>Created</th>
            <th>Expires</th>
            <th>Last used</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {tokens.data?.map((token) => (
            <tr key={token.id}>
              <td>{token.name}</td>
              <td>{token.scopes.join(", ")}</td>
              <td>{formatDate(token.created_at)}</td>
              <td>{token.expires_at ? formatDate(token.expires_at) : "never"}</td>
              <td>{token.last_used_at ? formatDate(token.last_used_at) : "never"}</td>
              <td>
                {token.revoked_at ? (
                  "revoked"
                ) : (
                  <button type="button" onClick={() => revoke(token.id)}>
                    Revoke
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

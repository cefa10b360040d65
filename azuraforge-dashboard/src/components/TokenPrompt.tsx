// Asks for the API token after a 401; the token is kept in this browser's localStorage.
import { useState, type FormEvent } from "react";
import { saveToken } from "../api/auth";

export function TokenPrompt() {
  const [token, setToken] = useState("");
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (token.trim()) saveToken(token.trim());
  };
  return (
    <div className="modal-backdrop">
      <form className="modal" onSubmit={submit} aria-labelledby="token-title">
        <h2 id="token-title">API token required</h2>
        <p>
          This AzuraForge API asks for a token (the <code>AZURAFORGE_API_TOKEN</code> it was started with). It is
          kept in this browser only.
        </p>
        <label htmlFor="api-token">Token</label>
        <input id="api-token" type="password" autoFocus autoComplete="current-password" value={token} onChange={(e) => setToken(e.target.value)} />
        <div className="actions">
          <button type="submit" className="primary" disabled={!token.trim()}>
            Save token
          </button>
        </div>
      </form>
    </div>
  );
}

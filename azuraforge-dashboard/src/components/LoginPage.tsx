// Shown instead of the pages when the API answers 401: a username and password start a session (a cookie the
// page cannot read); no token is kept in the browser.
import { useState, type FormEvent } from "react";
import { signedIn } from "../api/auth";
import { api, ApiError } from "../api/client";

export function LoginPage() {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [sending, setSending] = useState(false);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setSending(true);
    setError(null);
    try {
      signedIn(await api.login(username.trim(), password));
    } catch (failure) {
      setError(failure instanceof ApiError ? String(failure.message) : "The API cannot be reached; try again.");
    } finally {
      setSending(false);
    }
  };
  return (
    <section className="login">
      <form className="modal" onSubmit={submit} aria-labelledby="login-title">
        <h2 id="login-title">Log in to AzuraForge</h2>
        <p>Accounts are created by a site admin (the first one with <code>azuraforge users create NAME --admin</code>).</p>
        <label htmlFor="login-username">Username</label>
        <input id="login-username" autoFocus autoComplete="username" value={username} onChange={(e) => setUsername(e.target.value)} />
        <label htmlFor="login-password">Password</label>
        <input id="login-password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} />
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <div className="actions">
          <button type="submit" className="primary" disabled={sending || !username.trim() || !password}>
            Log in
          </button>
        </div>
      </form>
    </section>
  );
}

// "Register this model": a run's model as the next version of a name (the app's name by default), then the
// model's page. Used on a run's page and, for its best trial, on a sweep's page.
import { useState, type FormEvent } from "react";
import { useNavigate } from "react-router";
import { api, type ApiError } from "../api/client";

interface Props {
  experimentId: string;
  app: string;
  projectId: string;
  label?: string;
}

export function RegisterModel({ experimentId, app, projectId, label = "Register this model" }: Props) {
  const navigate = useNavigate();
  const [name, setName] = useState(app.replace(/[^A-Za-z0-9._-]/g, "-"));
  const [open, setOpen] = useState(false);
  const [error, setError] = useState<string>();
  const register = (event: FormEvent) => {
    event.preventDefault();
    setError(undefined);
    api.registerVersion(name, experimentId).then(
      (version) => navigate(`/models/${encodeURIComponent(version.name)}?project=${encodeURIComponent(projectId)}`),
      (reason: ApiError) => setError(reason.issues[0]?.msg ?? reason.message),
    );
  };
  if (!open) {
    return (
      <p>
        <button type="button" onClick={() => setOpen(true)}>
          {label}
        </button>
      </p>
    );
  }
  return (
    <form className="register-model" onSubmit={register}>
      <label>
        Model name <input id="model-name" value={name} onChange={(event) => setName(event.target.value)} />
      </label>{" "}
      <button type="submit" className="primary">
        Register
      </button>
      {error && <p className="error">Could not register: {error}</p>}
    </form>
  );
}

// The signed-in user, the project switcher and logging out, in the top bar.
import { useNavigate } from "react-router";
import { chooseProject, signedOut, useAuth } from "../api/auth";
import { api } from "../api/client";

export function UserMenu() {
  const { me, project } = useAuth();
  const navigate = useNavigate();
  if (!me) return null;
  const logout = async () => {
    await api.logout();
    signedOut();
    navigate("/");
  };
  return (
    <>
      <label className="project-switcher">
        <span>Project</span>
        <select aria-label="Project" value={project} onChange={(e) => chooseProject(e.target.value)}>
          {me.projects.map((p) => (
            <option key={p.id} value={p.id}>
              {p.name} ({p.role})
            </option>
          ))}
        </select>
      </label>
      <span className="user" title={`signed in by ${me.via}`}>
        {me.username}
        {me.admin && " (admin)"}
      </span>
      {me.via === "session" && (
        <button type="button" className="ghost" onClick={logout}>
          Log out
        </button>
      )}
    </>
  );
}

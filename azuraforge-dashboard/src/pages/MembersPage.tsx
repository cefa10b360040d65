// The members of the selected project and their roles; its owners add users, change roles and remove members.
import { useState, type FormEvent } from "react";
import { useAuth } from "../api/auth";
import { api, ApiError } from "../api/client";
import type { Role } from "../api/types";
import { useResource } from "../api/useResource";

const ROLES: Role[] = ["viewer", "editor", "owner"];

export function MembersPage() {
  const { me, project } = useAuth();
  const members = useResource(`members?${project}`, () => api.listMembers(project));
  const [username, setUsername] = useState("");
  const [role, setRole] = useState<Role>("viewer");
  const [error, setError] = useState<string | null>(null);
  const mine = me?.projects.find((p) => p.id === project);
  const isOwner = mine?.role === "owner";

  const act = async (action: () => Promise<unknown>) => {
    setError(null);
    try {
      await action();
      members.reload();
    } catch (failure) {
      setError(failure instanceof ApiError ? failure.message : String(failure));
    }
  };
  const invite = (event: FormEvent) => {
    event.preventDefault();
    void act(() => api.setMember(project, username.trim(), role)).then(() => setUsername(""));
  };

  return (
    <section>
      <h1>Members of {mine?.name ?? project}</h1>
      <p>Viewers read and watch runs; editors also launch, cancel and delete them; owners manage the members.</p>
      {isOwner && (
        <form className="inline-form" onSubmit={invite}>
          <label>
            Username <input value={username} onChange={(e) => setUsername(e.target.value)} aria-label="Username to add" />
          </label>
          <select aria-label="Role to give" value={role} onChange={(e) => setRole(e.target.value as Role)}>
            {ROLES.map((r) => (
              <option key={r}>{r}</option>
            ))}
          </select>
          <button type="submit" className="primary" disabled={!username.trim()}>
            Add or change
          </button>
        </form>
      )}
      {error && <p className="error">{error}</p>}
      {members.error && <p className="error">{members.error.message}</p>}
      <table>
        <thead>
          <tr>
            <th>User</th>
            <th>Role</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {members.data?.map((member) => (
            <tr key={member.user_id}>
              <td>{member.username}</td>
              <td>
                {isOwner ? (
                  <select
                    aria-label={`Role of ${member.username}`}
                    value={member.role}
                    onChange={(e) => void act(() => api.setMember(project, member.username, e.target.value as Role))}
                  >
                    {ROLES.map((r) => (
                      <option key={r}>{r}</option>
                    ))}
                  </select>
                ) : (
                  member.role
                )}
              </td>
              <td>
                {isOwner && (
                  <button type="button" onClick={() => void act(() => api.removeMember(project, member.username))}>
                    Remove
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

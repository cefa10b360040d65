// The frame around every page: navigation, project switcher and user menu, theme toggle; the login page when
// the API asks for one.
import { useEffect } from "react";
import { NavLink, Route, Routes } from "react-router";
import { signedIn, useAuth } from "./api/auth";
import { api } from "./api/client";
import { LoginPage } from "./components/LoginPage";
import { UserMenu } from "./components/UserMenu";
import { AuditPage } from "./pages/AuditPage";
import { ComparePage } from "./pages/ComparePage";
import { DatasetsPage } from "./pages/DatasetsPage";
import { ExperimentPage } from "./pages/ExperimentPage";
import { ExperimentsPage } from "./pages/ExperimentsPage";
import { MembersPage } from "./pages/MembersPage";
import { ModelPage } from "./pages/ModelPage";
import { ModelsPage } from "./pages/ModelsPage";
import { NewExperimentPage } from "./pages/NewExperimentPage";
import { NotFoundPage } from "./pages/NotFoundPage";
import { ReportPage } from "./pages/ReportPage";
import { TokensPage } from "./pages/TokensPage";
import { SweepPage } from "./pages/SweepPage";
import { SweepsPage } from "./pages/SweepsPage";
import { toggleTheme, useTheme } from "./theme";

export function App() {
  const { me, loginRequired } = useAuth();
  const theme = useTheme();
  useEffect(() => {
    if (!me && !loginRequired) api.me().then(signedIn, () => {}); // a 401 shows the login page
  }, [me, loginRequired]);
  return (
    <>
      <header className="topbar">
        <NavLink to="/" className="brand">
          AzuraForge
        </NavLink>
        {me && (
          <nav>
            <NavLink to="/" end>
              Experiments
            </NavLink>
            <NavLink to="/new">New experiment</NavLink>
            <NavLink to="/sweeps">Sweeps</NavLink>
            <NavLink to="/models">Models</NavLink>
            <NavLink to="/datasets">Datasets</NavLink>
            <NavLink to="/members">Members</NavLink>
            {me.via === "session" && <NavLink to="/tokens">Tokens</NavLink>}
            {me.admin && <NavLink to="/audit">Audit</NavLink>}
          </nav>
        )}
        <div className="topbar-actions">
          <UserMenu />
          <button type="button" className="ghost" onClick={toggleTheme} aria-label="Toggle dark and light theme">
            {theme === "dark" ? "☀ Light" : "☾ Dark"}
          </button>
        </div>
      </header>
      <main>
        {loginRequired ? (
          <LoginPage />
        ) : (
          me && (
            <Routes>
              <Route path="/" element={<ExperimentsPage />} />
              <Route path="/new" element={<NewExperimentPage />} />
              <Route path="/experiments/:id" element={<ExperimentPage />} />
              <Route path="/experiments/:id/report" element={<ReportPage />} />
              <Route path="/compare" element={<ComparePage />} />
              <Route path="/sweeps" element={<SweepsPage />} />
              <Route path="/sweeps/:id" element={<SweepPage />} />
              <Route path="/models" element={<ModelsPage />} />
              <Route path="/models/:name" element={<ModelPage />} />
              <Route path="/datasets" element={<DatasetsPage />} />
              <Route path="/members" element={<MembersPage />} />
              <Route path="/tokens" element={<TokensPage />} />
              <Route path="/audit" element={<AuditPage />} />
              <Route path="*" element={<NotFoundPage />} />
            </Routes>
          )
        )}
      </main>
    </>
  );
}

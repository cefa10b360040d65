// The frame around every page: navigation, theme toggle, token prompt.
import { NavLink, Route, Routes } from "react-router";
import { saveToken, useAuth } from "./api/auth";
import { TokenPrompt } from "./components/TokenPrompt";
import { ComparePage } from "./pages/ComparePage";
import { ExperimentPage } from "./pages/ExperimentPage";
import { ExperimentsPage } from "./pages/ExperimentsPage";
import { ModelPage } from "./pages/ModelPage";
import { ModelsPage } from "./pages/ModelsPage";
import { NewExperimentPage } from "./pages/NewExperimentPage";
import { NotFoundPage } from "./pages/NotFoundPage";
import { ReportPage } from "./pages/ReportPage";
import { toggleTheme, useTheme } from "./theme";

export function App() {
  const { token, tokenRequired } = useAuth();
  const theme = useTheme();
  return (
    <>
      <header className="topbar">
        <NavLink to="/" className="brand">
          AzuraForge
        </NavLink>
        <nav>
          <NavLink to="/" end>
            Experiments
          </NavLink>
          <NavLink to="/new">New experiment</NavLink>
          <NavLink to="/models">Models</NavLink>
        </nav>
        <div className="topbar-actions">
          {token && (
            <button type="button" className="ghost" onClick={() => saveToken(null)} title="Forget the API token">
              Forget token
            </button>
          )}
          <button type="button" className="ghost" onClick={toggleTheme} aria-label="Toggle dark and light theme">
            {theme === "dark" ? "☀ Light" : "☾ Dark"}
          </button>
        </div>
      </header>
      <main>
        <Routes>
          <Route path="/" element={<ExperimentsPage />} />
          <Route path="/new" element={<NewExperimentPage />} />
          <Route path="/experiments/:id" element={<ExperimentPage />} />
          <Route path="/experiments/:id/report" element={<ReportPage />} />
          <Route path="/compare" element={<ComparePage />} />
          <Route path="/models" element={<ModelsPage />} />
          <Route path="/models/:name" element={<ModelPage />} />
          <Route path="*" element={<NotFoundPage />} />
        </Routes>
      </main>
      {tokenRequired && <TokenPrompt />}
    </>
  );
}

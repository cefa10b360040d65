// report.md rendered with GitHub-flavoured tables; its relative images and links point into the artifacts.
import Markdown, { type Components } from "react-markdown";
import remarkGfm from "remark-gfm";
import { ArtifactImage, downloadArtifact } from "./Artifact";

/** A link or image source relative to the report (images/loss.png), not to the web (https:, /, #). */
export function artifactPathOf(url: string | undefined): string | null {
  if (!url || /^([a-z][a-z0-9+.-]*:|\/|#)/i.test(url)) return null;
  return url.replace(/^\.\//, "");
}

export function MarkdownReport({ experimentId, markdown }: { experimentId: string; markdown: string }) {
  const components: Components = {
    img: ({ src, alt }) => {
      const path = artifactPathOf(typeof src === "string" ? src : undefined);
      // Only the experiment's own images: a report is built from user input, and a remote image would tell
      // another host who reads it.
      return path ? <ArtifactImage experimentId={experimentId} path={path} alt={alt ?? path} /> : <span className="remote-image">[image not loaded: {alt || "remote"}]</span>;
    },
    a: ({ href, children }) => {
      const path = artifactPathOf(href);
      if (!path) return <a href={href} target="_blank" rel="noreferrer">{children}</a>;
      return (
        <a
          href={`/api/v1/experiments/${experimentId}/artifacts/${path}`}
          onClick={(event) => {
            event.preventDefault();
            void downloadArtifact(experimentId, path);
          }}
        >
          {children}
        </a>
      );
    },
  };
  return (
    <article className="report">
      <Markdown remarkPlugins={[remarkGfm]} components={components}>
        {markdown}
      </Markdown>
    </article>
  );
}

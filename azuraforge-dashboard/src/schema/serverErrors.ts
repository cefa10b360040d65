// Places the API's 422 issues next to the form fields they are about.
import type { ValidationIssue } from "../api/types";

export interface PlacedErrors {
  /** Field name -> the server's messages about it. */
  fields: Record<string, string>;
  /** Issues about no field of the form, as "where: what" lines. */
  other: string[];
}

/**
 * A config field's issue has a loc like ["body", "config", "epochs"] (or "grid" instead of "config",
 * possibly followed by a list index); any other loc (["body", "name"], say) is about the request itself.
 */
export function placeServerErrors(issues: ValidationIssue[], fieldNames: string[]): PlacedErrors {
  const known = new Set(fieldNames);
  const placed: PlacedErrors = { fields: {}, other: [] };
  for (const issue of issues) {
    const field = fieldOf(issue.loc, known);
    if (field) {
      const previous = placed.fields[field];
      placed.fields[field] = previous ? `${previous} ${issue.msg}` : issue.msg;
    } else {
      placed.other.push(`${issue.loc.join(".")}: ${issue.msg}`);
    }
  }
  return placed;
}

function fieldOf(loc: (string | number)[], known: Set<string>): string | null {
  const section = loc.findIndex((part) => part === "config" || part === "grid");
  if (section < 0) return null;
  const candidate = loc[section + 1];
  return typeof candidate === "string" && known.has(candidate) ? candidate : null;
}

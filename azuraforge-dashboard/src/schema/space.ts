// A sweep's search space from the form: for each searched field, a range (numbers) or choices (enums, yes/no),
// checked against the field's schema the way the API checks it.
import type { SearchParam } from "../api/types";
import { parseText, type FieldSpec } from "./fields";

/** What the user typed for one field's search. */
export interface SearchRow {
  on: boolean;
  low: string;
  high: string;
  step: string;
  log: boolean;
  choices: string;
}

export function canSearch(field: FieldSpec): boolean {
  return field.kind === "number" || field.kind === "integer" || field.kind === "enum" || field.kind === "boolean";
}

export function initialRow(field: FieldSpec): SearchRow {
  const choices = field.kind === "boolean" ? ["true", "false"] : field.options.map(String);
  return { on: false, low: "", high: "", step: "1", log: false, choices: choices.join(", ") };
}

export interface BuiltSpace {
  space: Record<string, SearchParam>;
  /** Field name -> what is wrong with its search; empty when the space can be sent. */
  errors: Record<string, string>;
}

export function buildSpace(fields: FieldSpec[], rows: Record<string, SearchRow>): BuiltSpace {
  const built: BuiltSpace = { space: {}, errors: {} };
  for (const field of fields) {
    const row = rows[field.name];
    if (!row?.on || !canSearch(field)) continue;
    const result = field.kind === "number" || field.kind === "integer" ? range(field, row) : choices(field, row);
    if (typeof result === "string") built.errors[field.name] = result;
    else built.space[field.name] = result;
  }
  return built;
}

function range(field: FieldSpec, row: SearchRow): SearchParam | string {
  const low = parseText({ ...field, nullable: false, required: true }, row.low);
  const high = parseText({ ...field, nullable: false, required: true }, row.high);
  if (!low.ok) return `From: ${low.error}`;
  if (!high.ok) return `To: ${high.error}`;
  const [from, to] = [low.value as number, high.value as number];
  if (from >= to) return "From must be below To.";
  if (row.log && from <= 0) return "A log range must start above 0.";
  if (field.kind === "number") return { type: "float", low: from, high: to, log: row.log };
  const step = Number(row.step);
  if (!Number.isInteger(step) || step < 1) return "Step must be a whole number of at least 1.";
  if (row.log && step !== 1) return "A log range takes no step.";
  return { type: "int", low: from, high: to, step, log: row.log };
}

function choices(field: FieldSpec, row: SearchRow): SearchParam | string {
  const values: unknown[] = [];
  for (const item of row.choices.split(",").map((text) => text.trim()).filter(Boolean)) {
    const parsed = parseText({ ...field, nullable: false, required: true }, item);
    if (!parsed.ok) return `${item}: ${parsed.error}`;
    values.push(parsed.value);
  }
  if (values.length < 2) return "Enter two or more choices separated by commas.";
  return { type: "categorical", choices: values as (string | number | boolean | null)[] };
}

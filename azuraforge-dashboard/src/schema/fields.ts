// Reads an app's config JSON schema (as pydantic v2 writes it) into the fields of a form,
// and turns what the user typed back into a config (and a grid), with the schema's checks.
import type { Config, JsonSchema } from "../api/types";

export type FieldKind = "integer" | "number" | "string" | "boolean" | "enum" | "json";

export interface FieldSpec {
  name: string;
  title: string;
  description: string | undefined;
  kind: FieldKind;
  /** The allowed values of an enum field (pydantic Literal or Enum). */
  options: unknown[];
  nullable: boolean;
  required: boolean;
  default: unknown;
  minimum: number | undefined;
  maximum: number | undefined;
  exclusiveMinimum: number | undefined;
  exclusiveMaximum: number | undefined;
  minLength: number | undefined;
  maxLength: number | undefined;
  pattern: string | undefined;
}

/** What the user typed, as text, for every field; `grid` marks fields holding a list of values. */
export interface FormValues {
  text: Record<string, string>;
  grid: Record<string, boolean>;
}

export function fieldsFromSchema(schema: JsonSchema): FieldSpec[] {
  const required = new Set(schema.required ?? []);
  return Object.entries(schema.properties ?? {}).map(([name, property]) =>
    fieldFromProperty(name, property, required.has(name), schema.$defs ?? {}),
  );
}

function resolveRef(node: JsonSchema, defs: Record<string, JsonSchema>): JsonSchema {
  const single = node.allOf?.length === 1 ? node.allOf[0] : undefined;
  const ref = node.$ref ?? single?.$ref;
  if (!ref) return node;
  const target = defs[ref.replace("#/$defs/", "")];
  if (!target) return node;
  const { $ref: _ref, allOf: _allOf, ...own } = node;
  return { ...resolveRef(target, defs), ...own };
}

function fieldFromProperty(
  name: string,
  property: JsonSchema,
  required: boolean,
  defs: Record<string, JsonSchema>,
): FieldSpec {
  let node = resolveRef(property, defs);
  let nullable = false;
  const alternatives = node.anyOf ?? node.oneOf;
  if (alternatives) {
    const nonNull = alternatives.filter((option) => option.type !== "null");
    nullable = nonNull.length < alternatives.length;
    const { anyOf: _anyOf, oneOf: _oneOf, ...own } = node;
    node = nonNull.length === 1 && nonNull[0] ? { ...resolveRef(nonNull[0], defs), ...own } : own;
  }
  let type = node.type;
  if (Array.isArray(type)) {
    nullable ||= type.includes("null");
    const nonNull = type.filter((t) => t !== "null");
    type = nonNull.length === 1 ? nonNull[0] : undefined;
  }
  const options = node.enum ?? (node.const !== undefined ? [node.const] : []);
  return {
    name,
    // pydantic writes no title beside a $ref; make one the way it does for other fields.
    title: property.title ?? name.split("_").map((word) => word.charAt(0).toUpperCase() + word.slice(1)).join(" "),
    description: property.description ?? node.description,
    kind: options.length ? "enum" : kindOf(type),
    options,
    nullable,
    required,
    default: property.default,
    minimum: node.minimum,
    maximum: node.maximum,
    exclusiveMinimum: node.exclusiveMinimum,
    exclusiveMaximum: node.exclusiveMaximum,
    minLength: node.minLength,
    maxLength: node.maxLength,
    pattern: node.pattern,
  };
}

function kindOf(type: string | undefined): FieldKind {
  return type === "integer" || type === "number" || type === "string" || type === "boolean" ? type : "json";
}

/** Fields that can take a grid: several values, separated by commas, one experiment each. */
export function canGrid(field: FieldSpec): boolean {
  return field.kind !== "json";
}

export function valueToText(field: FieldSpec, value: unknown): string {
  if (value === null || value === undefined) return "";
  if (field.kind === "json") return JSON.stringify(value);
  return String(value);
}

export function initialValues(fields: FieldSpec[], defaults: Config): FormValues {
  const text: Record<string, string> = {};
  for (const field of fields) text[field.name] = valueToText(field, defaults[field.name] ?? field.default);
  return { text, grid: {} };
}

type Parsed = { ok: true; value: unknown } | { ok: false; error: string };

/** One value typed as text: parsed by the field's type, then checked against the schema's bounds. */
export function parseText(field: FieldSpec, text: string): Parsed {
  if (text.trim() === "") {
    if (field.nullable) return { ok: true, value: null };
    if (!field.required) return { ok: true, value: undefined };
    return { ok: false, error: "Enter a value." };
  }
  const parsed = parseByKind(field, text);
  if (!parsed.ok) return parsed;
  const error = checkBounds(field, parsed.value);
  return error ? { ok: false, error } : parsed;
}

function parseByKind(field: FieldSpec, text: string): Parsed {
  const trimmed = text.trim();
  switch (field.kind) {
    case "integer":
      return /^[-+]?\d+$/.test(trimmed)
        ? { ok: true, value: Number(trimmed) }
        : { ok: false, error: "Enter a whole number, e.g. 10." };
    case "number": {
      const value = Number(trimmed);
      return Number.isFinite(value) ? { ok: true, value } : { ok: false, error: "Enter a number, e.g. 0.001." };
    }
    case "boolean":
      return trimmed === "true" || trimmed === "false"
        ? { ok: true, value: trimmed === "true" }
        : { ok: false, error: "Enter true or false." };
    case "enum": {
      const match = field.options.find((option) => String(option) === trimmed);
      return match !== undefined
        ? { ok: true, value: match }
        : { ok: false, error: `Choose one of: ${field.options.map(String).join(", ")}.` };
    }
    case "string":
      return { ok: true, value: text };
    case "json":
      try {
        return { ok: true, value: JSON.parse(text) };
      } catch {
        return { ok: false, error: "Enter valid JSON, e.g. [64, 32] or {\"key\": 1}." };
      }
  }
}

function checkBounds(field: FieldSpec, value: unknown): string | null {
  if (typeof value === "number") {
    if (field.minimum !== undefined && value < field.minimum) return `Must be at least ${field.minimum}.`;
    if (field.maximum !== undefined && value > field.maximum) return `Must be at most ${field.maximum}.`;
    if (field.exclusiveMinimum !== undefined && value <= field.exclusiveMinimum)
      return `Must be greater than ${field.exclusiveMinimum}.`;
    if (field.exclusiveMaximum !== undefined && value >= field.exclusiveMaximum)
      return `Must be less than ${field.exclusiveMaximum}.`;
  }
  if (typeof value === "string") {
    if (field.minLength !== undefined && value.length < field.minLength)
      return `Must be at least ${field.minLength} characters long.`;
    if (field.maxLength !== undefined && value.length > field.maxLength)
      return `Must be at most ${field.maxLength} characters long.`;
    if (field.pattern !== undefined && !new RegExp(field.pattern, "u").test(value))
      return `Must match the pattern ${field.pattern}.`;
  }
  return null;
}

function parseGrid(field: FieldSpec, text: string): Parsed {
  const items = text
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean);
  if (items.length < 2) return { ok: false, error: "Enter two or more values separated by commas." };
  const values: unknown[] = [];
  for (const item of items) {
    const parsed = parseText(field, item);
    if (!parsed.ok) return { ok: false, error: `${item}: ${parsed.error}` };
    values.push(parsed.value);
  }
  return { ok: true, value: values };
}

export interface BuiltConfig {
  config: Config;
  grid: Record<string, unknown[]>;
  /** Field name -> what is wrong with it; empty when the form can be sent. */
  errors: Record<string, string>;
}

export function buildConfig(fields: FieldSpec[], values: FormValues): BuiltConfig {
  const built: BuiltConfig = { config: {}, grid: {}, errors: {} };
  for (const field of fields) {
    const text = values.text[field.name] ?? "";
    const inGrid = values.grid[field.name] === true && canGrid(field);
    const parsed = inGrid ? parseGrid(field, text) : parseText(field, text);
    if (!parsed.ok) built.errors[field.name] = parsed.error;
    else if (inGrid) built.grid[field.name] = parsed.value as unknown[];
    else if (parsed.value !== undefined) built.config[field.name] = parsed.value;
  }
  return built;
}

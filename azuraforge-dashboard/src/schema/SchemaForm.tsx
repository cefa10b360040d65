// The inputs of an app's config, generated from its JSON schema, each with its description and error.
import { canGrid, type FieldSpec, type FormValues } from "./fields";

interface Props {
  fields: FieldSpec[];
  values: FormValues;
  errors: Record<string, string>;
  onText: (name: string, text: string) => void;
  /** Without it, no field offers a grid (a sweep's base config). */
  onGrid?: (name: string, on: boolean) => void;
}

export function SchemaForm({ fields, values, errors, onText, onGrid }: Props) {
  return (
    <div className="schema-form">
      {fields.map((field) => (
        <FieldRow
          key={field.name}
          field={field}
          text={values.text[field.name] ?? ""}
          grid={values.grid[field.name] === true}
          error={errors[field.name]}
          onText={(text) => onText(field.name, text)}
          onGrid={onGrid && ((on) => onGrid(field.name, on))}
        />
      ))}
    </div>
  );
}

interface RowProps {
  field: FieldSpec;
  text: string;
  grid: boolean;
  error: string | undefined;
  onText: (text: string) => void;
  onGrid: ((on: boolean) => void) | undefined;
}

function FieldRow({ field, text, grid, error, onText, onGrid }: RowProps) {
  const id = `field-${field.name}`;
  const help = [field.description, boundsHint(field)].filter(Boolean).join(" ");
  const describedBy = [help && `${id}-help`, error && `${id}-error`].filter(Boolean).join(" ");
  const common = {
    id,
    name: field.name,
    "aria-invalid": error ? true : undefined,
    "aria-describedby": describedBy || undefined,
  };
  return (
    <div className={`field${error ? " field-invalid" : ""}`} data-field={field.name}>
      <div className="field-head">
        <label htmlFor={id}>
          {field.title}
          {field.required && !field.nullable && <span className="required"> *</span>}
        </label>
        {canGrid(field) && onGrid && (
          <label className="grid-toggle" title="Enter several values: one experiment per combination">
            <input type="checkbox" checked={grid} onChange={(e) => onGrid(e.target.checked)} /> grid
          </label>
        )}
      </div>
      {grid ? (
        <input {...common} type="text" value={text} placeholder="values separated by commas" onChange={(e) => onText(e.target.value)} />
      ) : (
        <FieldInput field={field} text={text} onText={onText} common={common} />
      )}
      {help && (
        <p className="field-help" id={`${id}-help`}>
          {help}
        </p>
      )}
      {error && (
        <p className="field-error" id={`${id}-error`} role="alert">
          {error}
        </p>
      )}
    </div>
  );
}

interface InputProps {
  field: FieldSpec;
  text: string;
  onText: (text: string) => void;
  common: Record<string, unknown>;
}

function FieldInput({ field, text, onText, common }: InputProps) {
  if (field.kind === "boolean" && !field.nullable) {
    return <input {...common} type="checkbox" checked={text === "true"} onChange={(e) => onText(String(e.target.checked))} />;
  }
  if (field.kind === "enum" || field.kind === "boolean") {
    const options = field.kind === "enum" ? field.options.map(String) : ["true", "false"];
    return (
      <select {...common} value={text} onChange={(e) => onText(e.target.value)}>
        {(field.nullable || text === "") && <option value="">{field.nullable ? "none" : "choose…"}</option>}
        {options.map((option) => (
          <option key={option} value={option}>
            {option}
          </option>
        ))}
      </select>
    );
  }
  if (field.kind === "json") {
    return (
      <textarea
        {...common}
        rows={2}
        value={text}
        spellCheck={false}
        placeholder={field.nullable ? "none (JSON, e.g. [1, 2])" : "JSON, e.g. [1, 2]"}
        onChange={(e) => onText(e.target.value)}
      />
    );
  }
  const numeric = field.kind === "integer" || field.kind === "number";
  return (
    <input
      {...common}
      type="text"
      inputMode={field.kind === "integer" ? "numeric" : numeric ? "decimal" : "text"}
      value={text}
      placeholder={field.nullable ? "none" : undefined}
      onChange={(e) => onText(e.target.value)}
    />
  );
}

function boundsHint(field: FieldSpec): string {
  const parts = [
    field.minimum !== undefined && `≥ ${field.minimum}`,
    field.exclusiveMinimum !== undefined && `> ${field.exclusiveMinimum}`,
    field.maximum !== undefined && `≤ ${field.maximum}`,
    field.exclusiveMaximum !== undefined && `< ${field.exclusiveMaximum}`,
  ].filter(Boolean);
  return parts.length ? `(${parts.join(", ")})` : "";
}

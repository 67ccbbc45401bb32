// A form generated from a component's JSON Schema (the job contract's model, GET /flow-server/components).
// Only the values a user sets are kept (the rest are the contract's defaults, shown as placeholders); each
// value is checked against the schema as it is typed, so an invalid one shows before the pipeline is saved.
import type { JsonSchema } from "./model";

type Values = Record<string, unknown>;

function resolve(schema: JsonSchema, root: JsonSchema): JsonSchema {
  if (schema.$ref) return root.$defs?.[schema.$ref.split("/").pop() as string] ?? {};
  return schema;
}

/** The non-null alternatives of a property (pydantic writes `X | None` as anyOf [X, null]). */
function variants(schema: JsonSchema, root: JsonSchema): JsonSchema[] {
  const all = schema.anyOf ? schema.anyOf.map((s) => resolve(s, root)) : [resolve(schema, root)];
  return all.filter((s) => s.type !== "null");
}

function nullable(schema: JsonSchema): boolean {
  return !!schema.anyOf?.some((s) => s.type === "null");
}

function checkOne(schema: JsonSchema, value: unknown): string | null {
  if (schema.const !== undefined) return value === schema.const ? null : `must be ${JSON.stringify(schema.const)}`;
  if (schema.enum) return schema.enum.includes(value) ? null : `one of ${schema.enum.map((e) => JSON.stringify(e)).join(", ")}`;
  switch (schema.type) {
    case "integer":
      if (typeof value !== "number" || !Number.isInteger(value)) return "a whole number";
      break;
    case "number":
      if (typeof value !== "number" || !Number.isFinite(value)) return "a number";
      break;
    case "string":
      if (typeof value !== "string") return "text";
      if (schema.minLength && value.length < schema.minLength) return `at least ${schema.minLength} characters`;
      return null;
    case "boolean":
      return typeof value === "boolean" ? null : "true or false";
    case "array":
      return Array.isArray(value) ? null : "a list";
    case "object":
      return value !== null && typeof value === "object" && !Array.isArray(value) ? null : "a mapping";
    default:
      return null;
  }
  const n = value as number;
  if (schema.minimum !== undefined && n < schema.minimum) return `at least ${schema.minimum}`;
  if (schema.exclusiveMinimum !== undefined && n <= schema.exclusiveMinimum) return `more than ${schema.exclusiveMinimum}`;
  if (schema.maximum !== undefined && n > schema.maximum) return `at most ${schema.maximum}`;
  if (schema.exclusiveMaximum !== undefined && n >= schema.exclusiveMaximum) return `less than ${schema.exclusiveMaximum}`;
  return null;
}

/** Why `value` does not fit `schema` (null: it fits). */
export function checkValue(schema: JsonSchema, value: unknown, root: JsonSchema): string | null {
  if (value === null) return nullable(schema) ? null : "may not be empty";
  const reasons = variants(schema, root).map((s) => checkOne(s, value));
  return reasons.some((r) => r === null) ? null : reasons.join(", or ");
}

/** Every set parameter's problem, by name (unknown names too: the contract refuses them). */
export function formErrors(schema: JsonSchema, values: Values): Record<string, string> {
  const errors: Record<string, string> = {};
  for (const [name, value] of Object.entries(values)) {
    const prop = schema.properties?.[name];
    const problem = prop ? checkValue(prop, value, schema) : "not a parameter of this step";
    if (problem) errors[name] = problem;
  }
  return errors;
}

function parseInput(text: string, schema: JsonSchema, root: JsonSchema): unknown {
  const kinds = variants(schema, root).map((s) => s.type);
  if (text === "null") return null;
  if (kinds.includes("integer") || kinds.includes("number")) {
    const n = Number(text);
    if (text.trim() !== "" && !Number.isNaN(n)) return n;
  }
  if (kinds.includes("object") || kinds.includes("array") || (kinds.includes(undefined) && /^[[{]/.test(text))) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

function shown(value: unknown): string {
  if (value === undefined) return "";
  return typeof value === "string" ? value : JSON.stringify(value);
}

function Field({ name, schema, root, value, error, onChange }: {
  name: string; schema: JsonSchema; root: JsonSchema; value: unknown; error?: string; onChange: (v: unknown) => void;
}) {
  const options = variants(schema, root);
  const choices = options.flatMap((s) => s.enum ?? (s.const !== undefined ? [s.const] : []));
  const id = `param-${name}`;
  const placeholder = schema.default === undefined ? "" : shown(schema.default);
  let input;
  if (options.length === 1 && options[0].type === "boolean") {
    input = (
      <select id={id} value={shown(value)} onChange={(e) => onChange(e.target.value === "" ? undefined : e.target.value === "true")}>
        <option value="">default ({placeholder})</option>
        <option value="true">true</option>
        <option value="false">false</option>
      </select>
    );
  } else if (choices.length && options.every((s) => s.enum || s.const !== undefined)) {
    input = (
      <select id={id} value={shown(value)} onChange={(e) => onChange(e.target.value === "" ? undefined : JSON.parse(e.target.value))}>
        <option value="">default ({placeholder})</option>
        {choices.map((c) => (
          <option key={JSON.stringify(c)} value={JSON.stringify(c)}>{shown(c)}</option>
        ))}
      </select>
    );
  } else {
    input = (
      <input id={id} value={shown(value)} placeholder={placeholder}
        onChange={(e) => onChange(e.target.value === "" ? undefined : parseInput(e.target.value, schema, root))} />
    );
  }
  return (
    <div className={`field${error ? " invalid" : ""}`} data-field={name}>
      <label htmlFor={id}>{name}</label>
      {input}
      {error && <div className="field-error" role="alert">{error}</div>}
      {schema.description && <div className="field-help">{schema.description}</div>}
    </div>
  );
}

export function SchemaForm({ schema, values, onChange }: { schema: JsonSchema; values: Values; onChange: (v: Values) => void }) {
  const errors = formErrors(schema, values);
  const fixed = new Set(Object.entries(schema.properties ?? {}).filter(([, p]) => p.const !== undefined).map(([k]) => k));
  return (
    <div className="schema-form">
      {Object.entries(schema.properties ?? {})
        .filter(([name]) => !fixed.has(name))
        .map(([name, prop]) => (
          <Field key={name} name={name} schema={prop} root={schema} value={values[name]} error={errors[name]}
            onChange={(v) => {
              const next = { ...values };
              if (v === undefined) delete next[name];
              else next[name] = v;
              onChange(next);
            }} />
        ))}
    </div>
  );
}

// A form generated from a plugin's settings schema (the JSON Schema subset of
// docs/plugin-abi.md): objects become fieldsets, booleans checkboxes, enums selects, numbers
// and strings inputs with their limits; what the form cannot express (arrays of objects,
// anyOf) is edited as JSON. `read()` checks the values as the server will and returns the
// settings object or the violations, each at its path ("/rules/rapid_items/threshold").
import { h } from "./dom.js";

/**
 * @param {object|null} schema the plugin's settings schema (null: any object, edited as JSON)
 * @param {object} value the settings now in force (defaults merged with the stored ones)
 * @param {string} idPrefix ids of the inputs start with it
 * @returns {{element: HTMLElement, read: () => {value?: object, errors?: {path: string, message: string}[]}, showErrors: (errors) => void}}
 */
export function schemaForm(schema, value, idPrefix) {
  const fields = [];
  const element = h("div", { class: "schema-form" });
  if (!schema || schema.type !== "object" || !schema.properties) {
    element.append(json("", "Settings (JSON)", value, schema || {}, fields, idPrefix));
  } else {
    element.append(...objectFields(schema, value || {}, "", fields, idPrefix));
  }
  return {
    element,
    read() {
      const errors = [];
      const result = {};
      for (const field of fields) {
        const read = field.read();
        if (read.error) errors.push({ path: field.path, message: read.error });
        else if (read.value !== undefined) place(result, field.path, read.value);
      }
      if (errors.length) return { errors };
      const checked = [];
      check(schema, result, "", checked);
      return checked.length ? { errors: checked } : { value: result };
    },
    showErrors(errors) {
      for (const field of fields) field.error.textContent = "";
      for (const error of errors) {
        const field = fields.find((candidate) => error.path === candidate.path || error.path.startsWith(candidate.path + "/")) || fields.find((candidate) => candidate.path === "");
        const target = field || fields[0];
        if (target) target.error.textContent += (target.error.textContent ? "; " : "") + (error.path && error.path !== target.path ? `${error.path}: ` : "") + error.message;
      }
      const first = fields.find((field) => field.error.textContent);
      if (first) first.input.focus();
    },
  };
}

function objectFields(schema, value, path, fields, idPrefix) {
  return Object.keys(schema.properties).sort().map((name) => {
    const child = schema.properties[name];
    const childPath = `${path}/${name}`;
    const current = value[name] !== undefined ? value[name] : child.default;
    if (child.type === "object" && child.properties) {
      return h("fieldset", {}, h("legend", {}, title(name, child)), ...objectFields(child, current || {}, childPath, fields, idPrefix));
    }
    return leaf(childPath, title(name, child), current, child, fields, idPrefix, (schema.required || []).includes(name));
  });
}

function title(name, schema) {
  return schema.title || name.replaceAll("_", " ");
}

function idOf(idPrefix, path) {
  return `${idPrefix}${path.replaceAll("/", "-") || "-root"}`;
}

function leaf(path, label, current, schema, fields, idPrefix, required) {
  const type = Array.isArray(schema.type) ? schema.type.find((name) => name !== "null") : schema.type;
  const id = idOf(idPrefix, path);
  const error = h("div", { class: "field-error", id: id + "-error", role: "alert" });
  let input;
  let read;
  if (schema.enum) {
    input = h("select", { id, "aria-describedby": id + "-error" }, schema.enum.map((option) => h("option", { value: JSON.stringify(option), selected: JSON.stringify(option) === JSON.stringify(current) }, String(option))));
    read = () => ({ value: JSON.parse(input.value) });
  } else if (type === "boolean") {
    input = h("input", { id, type: "checkbox", checked: current === true, "aria-describedby": id + "-error" });
    read = () => ({ value: input.checked });
  } else if (type === "integer" || type === "number") {
    input = h("input", { id, type: "number", step: type === "integer" ? "1" : "any", value: current ?? "", min: schema.minimum ?? null, max: schema.maximum ?? null, "aria-describedby": id + "-error" });
    read = () => {
      if (input.value.trim() === "") return required ? { error: "is required" } : { value: undefined };
      const number = Number(input.value);
      if (!Number.isFinite(number)) return { error: "is not a number" };
      if (type === "integer" && !Number.isInteger(number)) return { error: "must be a whole number" };
      return { value: number };
    };
  } else if (type === "string") {
    input = h("input", { id, value: current ?? "", maxlength: schema.maxLength ?? null, "aria-describedby": id + "-error" });
    read = () => (input.value === "" && !required && current === undefined ? { value: undefined } : { value: input.value });
  } else if (type === "array" && schema.items && ["string", "number", "integer"].includes(schema.items.type)) {
    input = h("input", { id, value: (current || []).join(", "), "aria-describedby": id + "-error" });
    read = () => {
      const parts = input.value.split(",").map((part) => part.trim()).filter((part) => part !== "");
      if (schema.items.type === "string") return { value: parts };
      const numbers = parts.map(Number);
      return numbers.some((number) => !Number.isFinite(number)) ? { error: "must be numbers separated by commas" } : { value: numbers };
    };
  } else {
    return json(path, label, current, schema, fields, idPrefix);
  }
  const wrapper = type === "boolean"
    ? h("div", { class: "field" }, h("label", { for: id }, input, " ", label), error)
    : h("div", { class: "field" }, h("label", { for: id }, label), input, schema.description ? h("div", { class: "muted" }, schema.description) : null, error);
  fields.push({ path, input, error, read });
  return wrapper;
}

function json(path, label, current, schema, fields, idPrefix) {
  const id = idOf(idPrefix, path);
  const error = h("div", { class: "field-error", id: id + "-error", role: "alert" });
  const input = h("textarea", { id, "aria-describedby": id + "-error", spellcheck: "false" });
  input.value = JSON.stringify(current ?? (path === "" ? {} : null), null, 2);
  fields.push({
    path, input, error,
    read() {
      try {
        const value = JSON.parse(input.value);
        if (path === "" && (typeof value !== "object" || value === null || Array.isArray(value))) return { error: "must be a JSON object" };
        return { value };
      } catch (failure) {
        return { error: `is not JSON: ${failure.message}` };
      }
    },
  });
  return h("div", { class: "field" }, h("label", { for: id }, label), input, error);
}

/** Puts `value` at a path ("/a/b") of `target`; the root path replaces the whole object. */
function place(target, path, value) {
  if (path === "") return Object.assign(target, value);
  const names = path.slice(1).split("/");
  let node = target;
  for (const name of names.slice(0, -1)) node = node[name] = node[name] || {};
  node[names[names.length - 1]] = value;
}

/** The checks the server makes (JSONSchema.swift), so most mistakes are shown before saving. */
function check(schema, value, path, errors) {
  if (!schema || typeof schema !== "object") return;
  const report = (message) => errors.push({ path, message });
  const types = schema.type ? [].concat(schema.type) : null;
  if (types && !types.some((type) => is(type, value))) return report(`must be ${types.join(" or ")}`);
  if (schema.enum && !schema.enum.some((option) => JSON.stringify(option) === JSON.stringify(value))) report(`must be one of ${schema.enum.map(String).join(", ")}`);
  if (typeof value === "number") {
    if (schema.minimum !== undefined && value < schema.minimum) report(`must be at least ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) report(`must be at most ${schema.maximum}`);
    if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum) report(`must be more than ${schema.exclusiveMinimum}`);
    if (schema.exclusiveMaximum !== undefined && value >= schema.exclusiveMaximum) report(`must be less than ${schema.exclusiveMaximum}`);
  }
  if (typeof value === "string") {
    if (schema.minLength !== undefined && [...value].length < schema.minLength) report(`must be at least ${schema.minLength} characters`);
    if (schema.maxLength !== undefined && [...value].length > schema.maxLength) report(`must be at most ${schema.maxLength} characters`);
    if (schema.pattern && !new RegExp(schema.pattern, "u").test(value)) report(`must match ${schema.pattern}`);
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) report(`needs at least ${schema.minItems} entries`);
    if (schema.maxItems !== undefined && value.length > schema.maxItems) report(`takes at most ${schema.maxItems} entries`);
    if (schema.items) value.forEach((element, index) => check(schema.items, element, `${path}/${index}`, errors));
  }
  if (value && typeof value === "object" && !Array.isArray(value)) {
    for (const name of schema.required || []) if (value[name] === undefined) errors.push({ path: `${path}/${name}`, message: "is required" });
    for (const [name, child] of Object.entries(value)) {
      const childSchema = schema.properties && schema.properties[name];
      if (childSchema) check(childSchema, child, `${path}/${name}`, errors);
      else if (schema.additionalProperties && typeof schema.additionalProperties === "object") check(schema.additionalProperties, child, `${path}/${name}`, errors);
    }
  }
}

function is(type, value) {
  switch (type) {
    case "object": return value !== null && typeof value === "object" && !Array.isArray(value);
    case "array": return Array.isArray(value);
    case "string": return typeof value === "string";
    case "integer": return Number.isInteger(value);
    case "number": return typeof value === "number" && Number.isFinite(value);
    case "boolean": return typeof value === "boolean";
    case "null": return value === null;
    default: return true;
  }
}

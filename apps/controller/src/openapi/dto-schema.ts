import { getMetadataStorage } from 'class-validator';
import type { Schema } from './build';

/** One class-validator rule on a DTO property, as registered by its decorator. */
interface Rule {
  type: string;
  name?: string;
  propertyName: string;
  constraints?: unknown[];
  each?: boolean;
}

// Rules with nothing to say in a schema: presence (IsOptional/IsDefined, read separately) and nesting (the caller refs the nested schema).
const NOT_SCHEMA = new Set(['conditionalValidation', 'isDefined', 'nestedValidation', 'whitelistValidation']);

function rules(dto: Function): Rule[] {
  return getMetadataStorage().getTargetValidationMetadatas(dto, '', false, false) as unknown as Rule[];
}

/** The properties a DTO validates, in declaration order, and whether each may be left out (@IsOptional). */
export function dtoProperties(dto: Function): { name: string; optional: boolean }[] {
  const all = rules(dto);
  const names = [...new Set(all.map((r) => r.propertyName))];
  return names.map((name) => ({ name, optional: all.some((r) => r.propertyName === name && r.type === 'conditionalValidation') }));
}

/**
 * The JSON Schema keywords a DTO property's class-validator decorators imply: type, minimum/maximum,
 * enum, const, pattern, lengths and array sizes (`each` rules go to `items`). The document takes its
 * limits from here, so they are the limits the ValidationPipe enforces.
 */
export function fieldSchema(dto: Function, prop: string, extra: Schema = {}): Schema {
  const own = rules(dto).filter((r) => r.propertyName === prop && !NOT_SCHEMA.has(r.type));
  if (own.length === 0 && !rules(dto).some((r) => r.propertyName === prop)) throw new Error(`${dto.name}.${prop} has no validation rules: not a DTO field`);
  const top: Schema = {};
  const items: Schema = {};
  for (const r of own) {
    const to = r.each ? items : top;
    const c = r.constraints ?? [];
    switch (r.name ?? r.type) {
      case 'isInt':
        to.type = 'integer';
        break;
      case 'isString':
        to.type = 'string';
        break;
      case 'isBoolean':
        to.type = 'boolean';
        break;
      case 'isArray':
        to.type = 'array';
        break;
      case 'isObject':
        to.type = 'object';
        break;
      case 'equals':
        to.const = c[0];
        break;
      case 'isIn':
        to.enum = [...(c[0] as unknown[])];
        break;
      case 'min':
        to.minimum = c[0];
        break;
      case 'max':
        to.maximum = c[0];
        break;
      case 'arrayMinSize':
        to.minItems = c[0];
        break;
      case 'arrayMaxSize':
        to.maxItems = c[0];
        break;
      case 'maxLength':
        to.maxLength = c[0];
        break;
      case 'isNotEmpty':
        to.minLength = 1;
        break;
      case 'matches':
        to.type ??= 'string';
        to.pattern = (c[0] as RegExp).source;
        break;
      case 'isUuid':
        to.type = 'string';
        to.format = 'uuid';
        break;
      default:
        throw new Error(`${dto.name}.${prop}: no schema mapping for the ${r.name ?? r.type} rule; add one in openapi/dto-schema.ts`);
    }
  }
  if (Object.keys(items).length) {
    top.type = 'array';
    top.items = items;
  }
  // Integers are numbers to the schema's readers too; a bare minimum implies one.
  if (top.type === undefined && (top.minimum !== undefined || top.maximum !== undefined)) top.type = 'number';
  return { ...top, ...extra };
}

/** An object schema of some of a DTO's properties; `overrides` replace or extend the derived keywords per property. */
export function dtoSchema(dto: Function, props: string[], overrides: Record<string, Schema>, opts: { description?: string } = {}): Schema {
  const known = dtoProperties(dto);
  const properties: Record<string, Schema> = {};
  const required: string[] = [];
  for (const p of props) {
    const meta = known.find((k) => k.name === p);
    if (!meta) throw new Error(`${dto.name} has no field ${p}`);
    const o = overrides[p] ?? {};
    properties[p] = '$ref' in o ? o : fieldSchema(dto, p, o);
    if (!meta.optional) required.push(p);
  }
  return {
    type: 'object',
    ...(opts.description ? { description: opts.description } : {}),
    properties,
    ...(required.length ? { required } : {}),
    additionalProperties: false,
  };
}

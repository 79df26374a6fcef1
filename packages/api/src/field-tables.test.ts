// The wire contract as data (conformance/api/field-tables.yaml) against the generated descriptor.
import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs/light.js';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { descriptor } from './gen/descriptor.js';

type FieldRow = [number, string, string, string?];
interface Tables {
  messages: Record<string, { complete: boolean; fields: FieldRow[] }>;
  enums: Record<string, Record<string, number>>;
  services: Record<string, Record<string, [string, string, 'unary' | 'server-stream' | 'client-stream' | 'bidi']>>;
}

const tables = parse(
  readFileSync(new URL('../../../conformance/api/field-tables.yaml', import.meta.url), 'utf8'),
) as Tables;
const root = protobuf.Root.fromJSON(descriptor as protobuf.INamespace);
root.resolveAll();

const camel = (name: string) => protobuf.util.camelCase(name);
const typeName = (field: protobuf.Field) => (field.resolvedType ? field.resolvedType.fullName.slice(1) : field.type);

function cardinality(field: protobuf.Field): string | undefined {
  if (field instanceof protobuf.MapField) return `map<${field.keyType}>`;
  if (field.repeated) return 'repeated';
  if (field.options?.proto3_optional) return 'optional';
  if (field.partOf) return `oneof:${field.partOf.name}`;
  return undefined;
}

describe('field tables', () => {
  for (const [name, table] of Object.entries(tables.messages)) {
    it(`message ${name}`, () => {
      const type = root.lookupType(name);
      const actual = type.fieldsArray.map((f) => [f.id, f.name, typeName(f), cardinality(f)]);
      const expected = table.fields.map(([id, field, type, card]) => [
        id,
        camel(field),
        type,
        card?.startsWith('oneof:') ? `oneof:${camel(card.slice(6))}` : card,
      ]);
      const byId = (rows: unknown[][]) => [...rows].sort((a, b) => (a[0] as number) - (b[0] as number));
      if (table.complete) expect(byId(actual)).toEqual(byId(expected));
      else for (const row of expected) expect(actual).toContainEqual(row);
    });
  }

  for (const [name, values] of Object.entries(tables.enums)) {
    it(`enum ${name}`, () => expect(root.lookupEnum(name).values).toEqual(values));
  }

  for (const [name, methods] of Object.entries(tables.services)) {
    it(`service ${name}`, () => {
      const service = root.lookupService(name);
      for (const [method, [request, response, kind]] of Object.entries(methods)) {
        const m = service.methods[method]!;
        expect(m, method).toBeDefined();
        expect([m.resolvedRequestType!.fullName.slice(1), m.resolvedResponseType!.fullName.slice(1)]).toEqual([
          request,
          response,
        ]);
        const actualKind = m.requestStream
          ? m.responseStream
            ? 'bidi'
            : 'client-stream'
          : m.responseStream
            ? 'server-stream'
            : 'unary';
        expect(actualKind).toBe(kind);
      }
    });
  }
});

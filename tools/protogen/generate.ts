// Generates @mesh/api from .proto sources with protobufjs:
//   - src/gen/descriptor.ts: a pruned protobufjs JSON descriptor of every reachable type (the runtime decodes with it);
//   - src/gen/<proto package>.ts: TypeScript interfaces, codecs, enums and gRPC service definitions per proto package;
//   - the package.json "exports" and the tsup entry list, one subpath per proto package.
// Deterministic: the same sources give the same bytes, so CI can fail when checked-in output drifts.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join } from 'node:path';
import protobuf from 'protobufjs';

export interface CodegenConfig {
  localProtoDir: string;
  upstreamProtoDirs: string[];
  files: string[];
  upstreamFiles: string[];
  upstreamRoots: string[];
  wellKnownTypes: string[];
}

export interface GeneratedOutput {
  /** Path relative to the package root → file content. */
  files: Map<string, string>;
  /** Module names (proto packages), sorted. */
  modules: string[];
  /** Counts for the log line. */
  stats: { messages: number; enums: number; services: number };
}

/** The SPIFFE Workload API proto has no package; its module is named after the spec instead. */
const EMPTY_PACKAGE_MODULE = 'spiffe.workload';

const require = createRequire(import.meta.url);

type Reflected = protobuf.Type | protobuf.Enum | protobuf.Service;

export function loadRoot(packageDir: string, config: CodegenConfig): protobuf.Root {
  const includeDirs = [
    join(packageDir, config.localProtoDir),
    ...config.upstreamProtoDirs.map((spec) => {
      const [scope, name, ...rest] = spec.split('/');
      return join(dirname(require.resolve(`${scope}/${name}/package.json`)), ...rest);
    }),
    dirname(require.resolve('protobufjs/package.json')),
  ];
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    if (isAbsolute(target)) return target;
    for (const dir of includeDirs) {
      const candidate = join(dir, target);
      if (existsSync(candidate)) return candidate;
    }
    return target;
  };
  root.loadSync([...config.files, ...config.upstreamFiles], { keepCase: false, alternateCommentMode: true });
  root.resolveAll();
  return root;
}

function packageOf(obj: protobuf.ReflectionObject): string {
  let ns = obj.parent;
  while (ns && ns instanceof protobuf.Type) ns = ns.parent;
  return !ns || ns instanceof protobuf.Root ? '' : ns.fullName.slice(1);
}

function moduleOf(obj: protobuf.ReflectionObject): string {
  return packageOf(obj) || EMPTY_PACKAGE_MODULE;
}

/** Name inside its module: nested types are joined with "_" (LoadBalancing.Scope → LoadBalancing_Scope). */
function localName(obj: protobuf.ReflectionObject): string {
  const parts: string[] = [];
  for (let o: protobuf.ReflectionObject | null = obj; o && !(o instanceof protobuf.Root); o = o.parent) {
    if (o instanceof protobuf.Type || o instanceof protobuf.Enum || o instanceof protobuf.Service)
      parts.unshift(o.name);
    else break;
  }
  return parts.join('_');
}

function collectReachable(root: protobuf.Root, localFiles: Set<string>, roots: string[]): Set<Reflected> {
  const seen = new Set<Reflected>();
  const visit = (obj: protobuf.ReflectionObject | null | undefined) => {
    if (!obj || seen.has(obj as Reflected)) return;
    if (!(obj instanceof protobuf.Type || obj instanceof protobuf.Enum || obj instanceof protobuf.Service)) return;
    seen.add(obj);
    if (obj.parent instanceof protobuf.Type) visit(obj.parent);
    if (obj instanceof protobuf.Type) {
      for (const field of obj.fieldsArray) visit(field.resolvedType);
    } else if (obj instanceof protobuf.Service) {
      for (const method of obj.methodsArray) {
        visit(method.resolvedRequestType);
        visit(method.resolvedResponseType);
      }
    }
  };
  const walk = (ns: protobuf.NamespaceBase) => {
    for (const child of ns.nestedArray) {
      if (
        (child instanceof protobuf.Type || child instanceof protobuf.Enum || child instanceof protobuf.Service) &&
        child.filename &&
        [...localFiles].some((f) => child.filename!.endsWith(f))
      )
        visit(child);
      if (child instanceof protobuf.Namespace || child instanceof protobuf.Type) walk(child);
    }
  };
  walk(root);
  for (const name of roots) {
    const obj = root.lookup(name);
    if (!obj) throw new Error(`codegen root ${name} is not defined by any loaded proto`);
    visit(obj);
  }
  return seen;
}

// ---------------------------------------------------------------------------------------------------------------
// Descriptor (protobufjs JSON), pruned to the reachable set, with every type reference fully qualified.

type Json = Record<string, unknown>;

/** protobufjs camel-cases parsed protos but not its bundled well-known types (Any.type_url); do it for all. */
const camel = (name: string) => protobuf.util.camelCase(name);

function fieldJson(field: protobuf.Field): Json {
  const json: Json = {};
  if (field instanceof protobuf.MapField) json.keyType = field.keyType;
  else if (field.repeated) json.rule = 'repeated';
  json.type = field.resolvedType ? field.resolvedType.fullName : field.type;
  json.id = field.id;
  const options: Json = {};
  if (field.options?.proto3_optional) options.proto3_optional = true;
  if (field.options?.packed === false) options.packed = false;
  if (Object.keys(options).length) json.options = options;
  return json;
}

function reflectedJson(obj: Reflected, reachable: Set<Reflected>): Json {
  if (obj instanceof protobuf.Enum) return { values: { ...obj.values } };
  if (obj instanceof protobuf.Service) {
    const methods: Json = {};
    for (const m of obj.methodsArray) {
      methods[m.name] = {
        requestType: m.resolvedRequestType!.fullName,
        ...(m.requestStream ? { requestStream: true } : {}),
        responseType: m.resolvedResponseType!.fullName,
        ...(m.responseStream ? { responseStream: true } : {}),
      };
    }
    return { methods };
  }
  const json: Json = {};
  const oneofs = obj.oneofsArray.filter((o) => o.fieldsArray.length);
  if (oneofs.length) {
    json.oneofs = Object.fromEntries(
      oneofs.map((o) => [camel(o.name), { oneof: o.fieldsArray.map((f) => camel(f.name)) }]),
    );
  }
  json.fields = Object.fromEntries(
    [...obj.fieldsArray].sort((a, b) => a.id - b.id).map((f) => [camel(f.name), fieldJson(f)]),
  );
  const nested = nestedJson(obj, reachable);
  if (nested) json.nested = nested;
  return json;
}

function nestedJson(ns: protobuf.NamespaceBase, reachable: Set<Reflected>): Json | undefined {
  const out: Json = {};
  const children = [...ns.nestedArray].sort((a, b) => a.name.localeCompare(b.name));
  for (const child of children) {
    if (child instanceof protobuf.Type || child instanceof protobuf.Enum || child instanceof protobuf.Service) {
      if (reachable.has(child)) out[child.name] = reflectedJson(child, reachable);
    } else if (child instanceof protobuf.Namespace) {
      const nested = nestedJson(child, reachable);
      if (nested) out[child.name] = { nested };
    }
  }
  return Object.keys(out).length ? out : undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// TypeScript per module.

const scalarTs: Record<string, string> = {
  double: 'number',
  float: 'number',
  int32: 'number',
  uint32: 'number',
  sint32: 'number',
  fixed32: 'number',
  sfixed32: 'number',
  int64: '$Int64',
  uint64: '$Int64',
  sint64: '$Int64',
  fixed64: '$Int64',
  sfixed64: '$Int64',
  bool: 'boolean',
  string: 'string',
  bytes: 'Uint8Array',
};

const moduleAlias = (module: string) => `$${module.replace(/\./g, '_')}`;

function docComment(text: string | null | undefined, indent: string): string {
  if (!text) return '';
  const paragraph = text
    .split(/\n\s*\n/)[0]!
    .replace(/\*\//g, '*\\/')
    .replace(/\[#[^\]]*\]/g, '')
    .trim();
  if (!paragraph) return '';
  const clipped = paragraph.length > 400 ? `${paragraph.slice(0, 400).replace(/\s+\S*$/, '')} …` : paragraph;
  const lines = clipped.split('\n').map((l) => l.trimEnd());
  return `${indent}/**\n${lines.map((l) => `${indent} * ${l}`.trimEnd()).join('\n')}\n${indent} */\n`;
}

function lowerFirst(name: string): string {
  return name.charAt(0).toLowerCase() + name.slice(1);
}

class ModuleWriter {
  readonly imports = new Set<string>();
  readonly body: string[] = [];
  constructor(
    readonly module: string,
    /** Upstream proto comments stay upstream: only comments of our own protos are copied into generated code. */
    readonly isLocal: (obj: protobuf.ReflectionObject) => boolean,
  ) {}

  doc(obj: protobuf.ReflectionObject, text: string | null | undefined, indent: string): string {
    return this.isLocal(obj) ? docComment(text, indent) : '';
  }

  ref(obj: protobuf.ReflectionObject): string {
    const target = moduleOf(obj);
    if (target === this.module) return localName(obj);
    this.imports.add(target);
    return `${moduleAlias(target)}.${localName(obj)}`;
  }

  fieldType(field: protobuf.Field): string {
    const base = field.resolvedType ? this.ref(field.resolvedType) : scalarTs[field.type];
    if (!base) throw new Error(`unknown scalar ${field.type} in ${field.fullName}`);
    if (field instanceof protobuf.MapField) return `{ [key: string]: ${base} }`;
    if (field.repeated) return `${base}[]`;
    return base;
  }

  message(type: protobuf.Type): void {
    const name = localName(type);
    const lines: string[] = [];
    lines.push(this.doc(type, type.comment, '') + `export interface ${name} {`);
    const fields = [...type.fieldsArray].sort((a, b) => a.id - b.id);
    for (const field of fields) {
      const tsType = this.fieldType(field);
      const isMessage =
        field.resolvedType instanceof protobuf.Type && !field.repeated && !(field instanceof protobuf.MapField);
      const inOneof = field.partOf !== null;
      const doc = this.doc(type, field.comment, '  ');
      if (inOneof || isMessage) lines.push(`${doc}  ${camel(field.name)}?: ${tsType} | null;`);
      else lines.push(`${doc}  ${camel(field.name)}: ${tsType};`);
    }
    for (const oneof of type.oneofsArray) {
      if (oneof.fieldsArray.length === 1 && oneof.fieldsArray[0]!.options?.proto3_optional) continue;
      const members = oneof.fieldsArray.map((f) => `'${camel(f.name)}'`).join(' | ');
      lines.push(`  /** Which member of the \`${camel(oneof.name)}\` oneof is set (read-only on decoded messages). */`);
      lines.push(`  readonly ${camel(oneof.name)}?: ${members};`);
    }
    lines.push('}');
    lines.push(
      `export const ${name}: $MessageCodec<${name}> = $codec<${name}>(${JSON.stringify(type.fullName.slice(1))});`,
    );
    this.body.push(lines.join('\n'));
  }

  enumeration(en: protobuf.Enum): void {
    const name = localName(en);
    const entries = Object.entries(en.values)
      .map(([key, value]) => `${this.doc(en, en.comments?.[key], '  ')}  ${key}: ${value},`)
      .join('\n');
    this.body.push(
      `${this.doc(en, en.comment, '')}export const ${name} = {\n${entries}\n} as const;\nexport type ${name} = (typeof ${name})[keyof typeof ${name}];`,
    );
  }

  service(service: protobuf.Service): void {
    const name = localName(service);
    const methods = service.methodsArray.map((m) => {
      const req = this.ref(m.resolvedRequestType!);
      const res = this.ref(m.resolvedResponseType!);
      // Codecs are looked up by full name, so a service never needs value imports from other modules.
      return (
        `${this.doc(service, m.comment, '  ')}  ${lowerFirst(m.name)}: $method<${req}, ${res}>({ ` +
        `path: ${JSON.stringify(`/${service.fullName.slice(1)}/${m.name}`)}, originalName: ${JSON.stringify(m.name)}, ` +
        `requestType: ${JSON.stringify(m.resolvedRequestType!.fullName.slice(1))}, ` +
        `responseType: ${JSON.stringify(m.resolvedResponseType!.fullName.slice(1))}, ` +
        `requestStream: ${Boolean(m.requestStream)}, responseStream: ${Boolean(m.responseStream)} }),`
      );
    });
    this.body.push(
      `${this.doc(service, service.comment, '')}export const ${name}Definition = {\n${methods.join('\n')}\n} as const;`,
    );
  }

  render(header: string): string {
    const imports = [...this.imports].sort().map((m) => `import type * as ${moduleAlias(m)} from './${m}.js';`);
    const text = this.body.join('\n\n');
    const names = [
      text.includes('$codec<') ? '$codec' : '',
      text.includes('$method<') ? '$method' : '',
      text.includes('$Int64') ? 'type $Int64' : '',
      text.includes('$MessageCodec<') ? 'type $MessageCodec' : '',
    ].filter(Boolean);
    const runtime = `import { ${names.join(', ')} } from '../runtime.js';`;
    return [header, runtime, ...imports, '', text, ''].join('\n');
  }
}

const HEADER = `// Code generated by tools/protogen from packages/api/codegen.json. DO NOT EDIT: run \`nx run @mesh/api:generate\`.`;

export function generate(packageDir: string, config: CodegenConfig): GeneratedOutput {
  const root = loadRoot(packageDir, config);
  const reachable = collectReachable(root, new Set(config.files), [...config.upstreamRoots, ...config.wellKnownTypes]);

  const localDir = join(packageDir, config.localProtoDir);
  const isLocal = (obj: protobuf.ReflectionObject) => {
    let o: protobuf.ReflectionObject | null = obj;
    while (o && !o.filename) o = o.parent;
    return Boolean(o?.filename?.startsWith(localDir));
  };
  const writers = new Map<string, ModuleWriter>();
  const writerFor = (obj: protobuf.ReflectionObject) => {
    const module = moduleOf(obj);
    let writer = writers.get(module);
    if (!writer) writers.set(module, (writer = new ModuleWriter(module, isLocal)));
    return writer;
  };
  const ordered = [...reachable].sort((a, b) => a.fullName.localeCompare(b.fullName));
  const stats = { messages: 0, enums: 0, services: 0 };
  for (const obj of ordered) {
    if (obj instanceof protobuf.Type) {
      writerFor(obj).message(obj);
      stats.messages++;
    } else if (obj instanceof protobuf.Enum) {
      writerFor(obj).enumeration(obj);
      stats.enums++;
    } else {
      writerFor(obj).service(obj);
      stats.services++;
    }
  }

  // Unreferenced imports would be harmless, but a module importing itself is not: ref() never adds its own module.
  const used = (module: string) => `${moduleAlias(module)}.`;
  const files = new Map<string, string>();
  const modules = [...writers.keys()].sort();
  for (const module of modules) {
    const writer = writers.get(module)!;
    for (const imported of [...writer.imports]) {
      if (!writer.body.some((chunk) => chunk.includes(used(imported)))) writer.imports.delete(imported);
    }
    files.set(`src/gen/${module}.ts`, writer.render(HEADER));
  }

  const descriptor = { nested: nestedJson(root, reachable) ?? {} };
  files.set(
    'src/gen/descriptor.ts',
    `${HEADER}\n// protobufjs JSON descriptor of every generated type; field types are fully qualified.\n` +
      `export const descriptor = JSON.parse(${JSON.stringify(JSON.stringify(descriptor))}) as Record<string, unknown>;\n`,
  );
  files.set('src/gen/modules.json', `${JSON.stringify(modules, null, 2)}\n`);

  const manifestPath = join(packageDir, 'package.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as Json;
  const exports: Json = {
    '.': {
      '@mesh/source': './src/index.ts',
      import: { types: './dist/index.d.ts', default: './dist/index.js' },
      require: { types: './dist/index.d.cts', default: './dist/index.cjs' },
    },
  };
  for (const module of modules) {
    exports[`./${module}`] = {
      '@mesh/source': `./src/gen/${module}.ts`,
      import: { types: `./dist/${module}.d.ts`, default: `./dist/${module}.js` },
      require: { types: `./dist/${module}.d.cts`, default: `./dist/${module}.cjs` },
    };
  }
  exports['./package.json'] = './package.json';
  manifest.exports = exports;
  files.set('package.json', `${JSON.stringify(manifest, null, 2)}\n`);

  return { files, modules, stats };
}

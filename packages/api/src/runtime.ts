// The runtime under the generated modules: one lazily built protobufjs Root for every generated type, the codec and
// gRPC method shapes, and helpers for Any, Struct, Duration and 64-bit integers.
import type Long from 'long';
import protobuf from 'protobufjs/light.js';
import { ApiError } from './errors.js';
import { descriptor } from './gen/descriptor.js';
import type { Any, Duration, Struct, Value } from './gen/google.protobuf.js';

/** A protobuf 64-bit integer: a number when written by you, a Long when decoded from the wire. */
export type $Int64 = number | Long;

/** The shape you may pass to encode/create: every field optional, at any depth. */
export type DeepPartial<T> = T extends Uint8Array | Long | string | number | boolean | null | undefined
  ? T
  : T extends ReadonlyArray<infer U>
    ? Array<DeepPartial<U>>
    : { -readonly [K in keyof T]?: DeepPartial<T[K]> };

/** @internal The name generated modules use. */
export type $MessageCodec<T> = MessageCodec<T>;

export const TYPE_URL_PREFIX = 'type.googleapis.com/';

/**
 * Encodes, decodes and converts one message type.
 *
 * Decoded messages are protobufjs message objects: fields present on the wire are own properties, and every other
 * field reads as its proto3 default through the prototype (`""`, `0`, `[]`, `{}`, `null` for messages and oneof
 * members). Re-encoding a decoded message therefore writes exactly the fields it carried. Spreading one
 * (`{ ...message }`) keeps only the own properties; use `create()` to derive messages instead.
 */
export interface MessageCodec<T> {
  /** Full protobuf name, e.g. `istio.workload.Address`. */
  readonly typeName: string;
  /** `type.googleapis.com/<typeName>`, as used in `google.protobuf.Any` and xDS. */
  readonly typeUrl: string;
  /** Wire bytes of the fields set on `message`; absent (undefined/null) fields are not written. */
  encode(message: DeepPartial<T>): Uint8Array;
  /** @throws ApiError ERR_API_DECODE when the bytes are not a valid encoding of this message. */
  decode(bytes: Uint8Array): T;
  /** A message object with the given fields set, nested objects converted, the rest at defaults. */
  create(fields?: DeepPartial<T>): T;
  /** `null` when `message` can be encoded as this type, else the first problem found. */
  verify(message: unknown): string | null;
  /** The proto3 JSON form: enums by name, 64-bit integers and bytes as strings, defaults omitted. */
  toJson(message: DeepPartial<T>): Record<string, unknown>;
  /** Reads the form `toJson` writes (enum names or numbers, base64 bytes, decimal strings for 64-bit integers). */
  fromJson(json: Record<string, unknown>): T;
}

let sharedRoot: protobuf.Root | undefined;

function root(): protobuf.Root {
  if (!sharedRoot) {
    sharedRoot = protobuf.Root.fromJSON(descriptor as protobuf.INamespace);
    sharedRoot.resolveAll();
  }
  return sharedRoot;
}

const jsonOptions: protobuf.IConversionOptions = {
  enums: String,
  longs: String,
  bytes: String,
  defaults: false,
  arrays: false,
  objects: false,
  oneofs: false,
  json: true,
};

/**
 * protobufjs reads Node Buffers (what gRPC hands over) with a reader whose string() cuts a length prefix that runs
 * past the end short instead of failing, so truncated bytes would decode "successfully". This one fails, as the
 * Uint8Array reader does, and keeps Node's native UTF-8 decoding.
 */
class StrictBufferReader extends protobuf.BufferReader {
  override string(): string {
    const length = this.uint32();
    const start = this.pos;
    const end = start + length;
    if (end > this.len) throw new RangeError(`index out of range: ${start} + ${length} > ${this.len}`);
    this.pos = end;
    return (this.buf as Buffer).toString('utf8', start, end);
  }
}

class Codec<T> implements MessageCodec<T> {
  readonly typeUrl: string;
  #type: protobuf.Type | undefined;

  constructor(readonly typeName: string) {
    this.typeUrl = TYPE_URL_PREFIX + typeName;
  }

  get type(): protobuf.Type {
    if (!this.#type) {
      const found = root().lookup(this.typeName);
      if (!(found instanceof protobuf.Type)) {
        throw new ApiError('ERR_API_UNKNOWN_TYPE', `no generated message type named ${this.typeName}`);
      }
      this.#type = found;
    }
    return this.#type;
  }

  encode(message: DeepPartial<T>): Uint8Array {
    return this.type.encode(message as unknown as protobuf.Message).finish();
  }

  decode(bytes: Uint8Array): T {
    try {
      return this.type.decode(Buffer.isBuffer(bytes) ? new StrictBufferReader(bytes) : bytes) as unknown as T;
    } catch (error) {
      throw new ApiError('ERR_API_DECODE', `cannot decode ${this.typeName}: ${(error as Error).message}`, {
        cause: error,
        details: { typeName: this.typeName, length: bytes.length },
      });
    }
  }

  create(fields: DeepPartial<T> = {} as DeepPartial<T>): T {
    return this.type.fromObject(fields as Record<string, unknown>) as unknown as T;
  }

  verify(message: unknown): string | null {
    if (typeof message !== 'object' || message === null) return `${this.typeName}: object expected`;
    return this.type.verify(message as Record<string, unknown>);
  }

  toJson(message: DeepPartial<T>): Record<string, unknown> {
    const type = this.type;
    const object = message instanceof protobuf.Message ? message : type.fromObject(message as Record<string, unknown>);
    return type.toObject(object, jsonOptions);
  }

  fromJson(json: Record<string, unknown>): T {
    return this.type.fromObject(json) as unknown as T;
  }
}

/** @internal Used by generated modules. */
export function $codec<T>(typeName: string): MessageCodec<T> {
  return new Codec<T>(typeName);
}

/**
 * A gRPC method in the shape @grpc/grpc-js expects for `Server#addService` and `makeGenericClientConstructor`,
 * plus the codecs of its messages.
 */
export interface MethodDefinition<Req, Res> {
  readonly path: string;
  readonly originalName: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
  readonly requestType: MessageCodec<Req>;
  readonly responseType: MessageCodec<Res>;
  requestSerialize(value: DeepPartial<Req>): Buffer;
  requestDeserialize(bytes: Buffer): Req;
  responseSerialize(value: DeepPartial<Res>): Buffer;
  responseDeserialize(bytes: Buffer): Res;
}

const toBuffer = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/** @internal Used by generated modules. */
export function $method<Req, Res>(spec: {
  path: string;
  originalName: string;
  requestType: string;
  responseType: string;
  requestStream: boolean;
  responseStream: boolean;
}): MethodDefinition<Req, Res> {
  const requestType = codecFor<Req>(spec.requestType);
  const responseType = codecFor<Res>(spec.responseType);
  return {
    path: spec.path,
    originalName: spec.originalName,
    requestStream: spec.requestStream,
    responseStream: spec.responseStream,
    requestType,
    responseType,
    requestSerialize: (value) => toBuffer(requestType.encode(value)),
    requestDeserialize: (bytes) => requestType.decode(bytes),
    responseSerialize: (value) => toBuffer(responseType.encode(value)),
    responseDeserialize: (bytes) => responseType.decode(bytes),
  };
}

const codecs = new Map<string, MessageCodec<unknown>>();

/** The codec of a generated message by full name (`istio.workload.Address`) or type URL. */
export function codecFor<T = unknown>(typeNameOrUrl: string): MessageCodec<T> {
  const typeName = typeNameOfUrl(typeNameOrUrl);
  let codec = codecs.get(typeName);
  if (!codec) {
    codec = new Codec<unknown>(typeName);
    void (codec as Codec<unknown>).type; // fail now, not at first use, for unknown names
    codecs.set(typeName, codec);
  }
  return codec as MessageCodec<T>;
}

/** `type.googleapis.com/a.b.C` → `a.b.C` (a bare name is returned as is). */
export function typeNameOfUrl(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
}

/** Wraps a message in a google.protobuf.Any. */
export function packAny<T>(codec: MessageCodec<T>, message: DeepPartial<T>): Any {
  return { typeUrl: codec.typeUrl, value: codec.encode(message) };
}

/**
 * Unwraps a google.protobuf.Any holding `codec`'s type.
 * @throws ApiError ERR_API_ANY_TYPE_MISMATCH for another type, ERR_API_DECODE for bad bytes.
 */
export function unpackAny<T>(any: Pick<Any, 'typeUrl' | 'value'>, codec: MessageCodec<T>): T {
  if (typeNameOfUrl(any.typeUrl) !== codec.typeName) {
    throw new ApiError(
      'ERR_API_ANY_TYPE_MISMATCH',
      `expected ${codec.typeUrl}, got ${any.typeUrl || '(empty type URL)'}`,
      {
        details: { expected: codec.typeUrl, actual: any.typeUrl },
      },
    );
  }
  return codec.decode(any.value);
}

/** A 64-bit protobuf integer as a JS number (exact up to 2^53). */
export function int64ToNumber(value: $Int64 | null | undefined): number {
  if (value === null || value === undefined) return 0;
  return typeof value === 'number' ? value : value.toNumber();
}

export function durationFromMillis(ms: number): Duration {
  const seconds = Math.trunc(ms / 1000);
  return { seconds, nanos: Math.round((ms - seconds * 1000) * 1e6) };
}

export function durationToMillis(duration: Pick<Duration, 'seconds' | 'nanos'> | null | undefined): number {
  if (!duration) return 0;
  return int64ToNumber(duration.seconds) * 1000 + (duration.nanos ?? 0) / 1e6;
}

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export function toValue(json: JsonValue): Value {
  if (json === null) return { nullValue: 0 } as Value;
  switch (typeof json) {
    case 'boolean':
      return { boolValue: json } as Value;
    case 'number':
      return { numberValue: json } as Value;
    case 'string':
      return { stringValue: json } as Value;
    default:
      if (Array.isArray(json)) return { listValue: { values: json.map(toValue) } } as Value;
      return { structValue: toStruct(json) } as Value;
  }
}

/** A JSON object as a google.protobuf.Struct (node metadata, CA request metadata). */
export function toStruct(json: { [key: string]: JsonValue }): Struct {
  const fields: Record<string, Value> = {};
  for (const [key, value] of Object.entries(json)) if (value !== undefined) fields[key] = toValue(value);
  return { fields };
}

const valueKinds = ['structValue', 'listValue', 'stringValue', 'numberValue', 'boolValue', 'nullValue'] as const;

export function fromValue(value: Partial<Value> | null | undefined): JsonValue {
  if (!value) return null;
  // Decoded messages name their set member; plain objects (from toValue) carry only that member.
  const kind = value.kind ?? valueKinds.find((k) => value[k] !== undefined && value[k] !== null);
  switch (kind) {
    case 'structValue':
      return fromStruct(value.structValue);
    case 'listValue':
      return (value.listValue?.values ?? []).map(fromValue);
    case 'stringValue':
      return value.stringValue ?? '';
    case 'numberValue':
      return value.numberValue ?? 0;
    case 'boolValue':
      return value.boolValue ?? false;
    default:
      return null;
  }
}

/** A google.protobuf.Struct as a plain JSON object. */
export function fromStruct(struct: Partial<Struct> | null | undefined): { [key: string]: JsonValue } {
  const out: { [key: string]: JsonValue } = {};
  for (const [key, value] of Object.entries(struct?.fields ?? {})) out[key] = fromValue(value);
  return out;
}

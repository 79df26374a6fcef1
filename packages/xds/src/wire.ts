// Response frames assembled from pre-encoded parts. A server encodes each resource once and copies those bytes into
// every subscriber's response, instead of re-encoding 10,000 messages per subscriber. The output is byte-identical to
// what protobufjs writes for the same message (fields in number order, defaults omitted); golden tests hold it to
// that and to frames encoded by hand.
import { Resource } from '@mesh/api/envoy.service.discovery.v3';
import { durationFromMillis } from '@mesh/api';
import type { Any } from '@mesh/api/google.protobuf';

function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    size++;
  }
  return size;
}

class FrameWriter {
  readonly buffer: Buffer;
  offset = 0;

  constructor(size: number) {
    this.buffer = Buffer.allocUnsafe(size);
  }

  varint(value: number): void {
    while (value >= 0x80) {
      this.buffer[this.offset++] = (value & 0x7f) | 0x80;
      value = Math.floor(value / 128);
    }
    this.buffer[this.offset++] = value;
  }

  bytes(tag: number, bytes: Uint8Array): void {
    this.buffer[this.offset++] = tag;
    this.varint(bytes.length);
    this.buffer.set(bytes, this.offset);
    this.offset += bytes.length;
  }

  string(tag: number, text: string, length: number): void {
    this.buffer[this.offset++] = tag;
    this.varint(length);
    this.offset += this.buffer.write(text, this.offset, 'utf8');
  }
}

const fieldSize = (length: number) => 1 + varintSize(length) + length;

/** An optional string field: size 0 when empty (proto3 default, not written). */
function stringParts(text: string | undefined): { text: string; length: number; size: number } {
  if (!text) return { text: '', length: 0, size: 0 };
  const length = Buffer.byteLength(text, 'utf8');
  return { text, length, size: fieldSize(length) };
}

export interface DeltaFrame {
  systemVersionInfo?: string;
  /** Each an encoded `envoy.service.discovery.v3.Resource`. */
  resources: readonly Uint8Array[];
  typeUrl: string;
  nonce: string;
  removedResources?: readonly string[];
  /** An encoded `envoy.config.core.v3.ControlPlane`. */
  controlPlane?: Uint8Array;
}

/** Encodes a DeltaDiscoveryResponse: 1 system_version_info, 2 resources, 4 type_url, 5 nonce, 6 removed, 7 control_plane. */
export function encodeDeltaFrame(frame: DeltaFrame): Buffer {
  const version = stringParts(frame.systemVersionInfo);
  const typeUrl = stringParts(frame.typeUrl);
  const nonce = stringParts(frame.nonce);
  const removed = (frame.removedResources ?? []).map((name) => {
    const length = Buffer.byteLength(name, 'utf8');
    return { name, length };
  });
  let size = version.size + typeUrl.size + nonce.size;
  for (const r of frame.resources) size += fieldSize(r.length);
  for (const r of removed) size += fieldSize(r.length);
  if (frame.controlPlane?.length) size += fieldSize(frame.controlPlane.length);
  const w = new FrameWriter(size);
  if (version.size) w.string(0x0a, version.text, version.length);
  for (const r of frame.resources) w.bytes(0x12, r);
  if (typeUrl.size) w.string(0x22, typeUrl.text, typeUrl.length);
  if (nonce.size) w.string(0x2a, nonce.text, nonce.length);
  for (const r of removed) w.string(0x32, r.name, r.length);
  if (frame.controlPlane?.length) w.bytes(0x3a, frame.controlPlane);
  return w.buffer;
}

export interface SotwFrame {
  versionInfo: string;
  /** Each an encoded `google.protobuf.Any`. */
  resources: readonly Uint8Array[];
  typeUrl: string;
  nonce: string;
  /** An encoded `envoy.config.core.v3.ControlPlane`. */
  controlPlane?: Uint8Array;
}

/** Encodes a DiscoveryResponse: 1 version_info, 2 resources, 4 type_url, 5 nonce, 6 control_plane. */
export function encodeSotwFrame(frame: SotwFrame): Buffer {
  const version = stringParts(frame.versionInfo);
  const typeUrl = stringParts(frame.typeUrl);
  const nonce = stringParts(frame.nonce);
  let size = version.size + typeUrl.size + nonce.size;
  for (const r of frame.resources) size += fieldSize(r.length);
  if (frame.controlPlane?.length) size += fieldSize(frame.controlPlane.length);
  const w = new FrameWriter(size);
  if (version.size) w.string(0x0a, version.text, version.length);
  for (const r of frame.resources) w.bytes(0x12, r);
  if (typeUrl.size) w.string(0x22, typeUrl.text, typeUrl.length);
  if (nonce.size) w.string(0x2a, nonce.text, nonce.length);
  if (frame.controlPlane?.length) w.bytes(0x32, frame.controlPlane);
  return w.buffer;
}

/** Encodes a google.protobuf.Any: 1 type_url, 2 value. */
export function encodeAny(typeUrl: string, value: Uint8Array): Buffer {
  const url = stringParts(typeUrl);
  const valueSize = value.length ? fieldSize(value.length) : 0;
  const w = new FrameWriter(url.size + valueSize);
  if (url.size) w.string(0x0a, url.text, url.length);
  if (valueSize) w.bytes(0x12, value);
  return w.buffer;
}

/** Encodes the `Resource` wrapper of delta xDS around an already encoded message. */
export function encodeResource(entry: {
  name: string;
  version: string;
  aliases: readonly string[];
  typeUrl: string;
  body: Uint8Array;
  ttlMs?: number | undefined;
}): Uint8Array {
  const any: Any = { typeUrl: entry.typeUrl, value: entry.body };
  return Resource.encode({
    version: entry.version,
    resource: any,
    name: entry.name,
    aliases: [...entry.aliases],
    ttl: entry.ttlMs ? durationFromMillis(entry.ttlMs) : undefined,
  });
}

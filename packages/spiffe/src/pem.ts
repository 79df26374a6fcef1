// PEM (RFC 7468): strict decoding of every block in a text, and encoding with 64-character lines.
import { SpiffeError } from './errors.js';

export interface PemBlock {
  /** The label between BEGIN and END, e.g. CERTIFICATE. */
  readonly label: string;
  readonly der: Buffer;
}

const BEGIN = /^-----BEGIN ([A-Z0-9 ]+)-----$/;
const BASE64_LINE = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Every PEM block of `text`, in order. Text between blocks is allowed (RFC 7468 §5.2); anything malformed inside a
 * block (unterminated block, mismatched END label, headers such as encrypted-key Proc-Type, bad base64) is an error.
 * With `labels`, blocks with other labels are an error too. No block at all is an error.
 */
export function decodePem(text: string | Uint8Array, options: { labels?: readonly string[] } = {}): PemBlock[] {
  const source = typeof text === 'string' ? text : Buffer.from(text).toString('latin1');
  const lines = source.split(/\r?\n/);
  const blocks: PemBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const begin = BEGIN.exec(lines[i]!.trim());
    if (!begin) {
      if (lines[i]!.includes('-----BEGIN')) throw bad(`malformed BEGIN line at line ${i + 1}`);
      continue;
    }
    const label = begin[1]!;
    if (options.labels && !options.labels.includes(label))
      throw bad(`unexpected PEM block "${label}" at line ${i + 1} (expected ${options.labels.join(' or ')})`);
    const body: string[] = [];
    let closed = false;
    for (i++; i < lines.length; i++) {
      const line = lines[i]!.trim();
      if (line.startsWith('-----END ')) {
        if (line !== `-----END ${label}-----`) throw bad(`"${label}" block closed by ${JSON.stringify(line)}`);
        closed = true;
        break;
      }
      if (line.includes(':'))
        throw bad(`PEM headers are not supported ("${label}" block, line ${i + 1}); is the key encrypted?`);
      if (!BASE64_LINE.test(line)) throw bad(`invalid base64 in "${label}" block at line ${i + 1}`);
      body.push(line);
    }
    if (!closed) throw bad(`"${label}" block has no END line`);
    const b64 = body.join('');
    if (b64.length % 4 !== 0 || /=[^=]/.test(b64)) throw bad(`invalid base64 length or padding in "${label}" block`);
    const der = Buffer.from(b64, 'base64');
    if (der.length === 0) throw bad(`empty "${label}" block`);
    blocks.push({ label, der });
  }
  if (blocks.length === 0) throw bad('no PEM block found');
  return blocks;
}

/** One PEM block with a trailing newline, so blocks concatenate into a valid bundle. */
export function encodePem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** True when `input` looks like PEM text rather than DER bytes (DER structures here start with a SEQUENCE, 0x30). */
export function looksLikePem(input: string | Uint8Array): boolean {
  if (typeof input === 'string') return true;
  if (input.length > 0 && input[0] === 0x30) return false;
  return Buffer.from(input.buffer, input.byteOffset, input.byteLength).includes('-----BEGIN ');
}

function bad(message: string): SpiffeError {
  return new SpiffeError('ERR_SPIFFE_BAD_PEM', message);
}

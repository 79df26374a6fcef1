import { describe, expect, it } from 'vitest';
import { ManualClock, MeshError, seededRng } from '@mesh/core';
import { CertificateAuthority } from '@mesh/ca';
import { IdentityManager, type IdentityEvent, type Timers } from './identity.js';

/** Timers driven by the manual clock: advance() fires what is due, in order. */
function manualTimers(clock: ManualClock) {
  let seq = 0;
  const pending = new Map<number, { at: number; fn: () => void }>();
  const timers: Timers = {
    setTimeout: (fn, ms) => {
      pending.set(++seq, { at: clock.now() + ms, fn });
      return seq;
    },
    clearTimeout: (h) => void pending.delete(h as number),
  };
  const advance = async (ms: number) => {
    const end = clock.now() + ms;
    for (;;) {
      const next = [...pending.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!next) break;
      pending.delete(next[0]);
      clock.advance(Math.max(0, next[1].at - clock.now()));
      next[1].fn();
      for (let i = 0; i < 5; i++) await Promise.resolve();
    }
    clock.advance(end - clock.now());
  };
  return { timers, advance, pending };
}

const WEB = 'spiffe://cluster.local/ns/shop/sa/web';

describe('IdentityManager', () => {
  function setup() {
    const clock = new ManualClock(Date.UTC(2026, 5, 1));
    const ca = CertificateAuthority.selfSigned({ trustDomain: 'cluster.local', clock, backdateMs: 0 });
    const { timers, advance } = manualTimers(clock);
    const events: IdentityEvent[] = [];
    let fail = false;
    let calls = 0;
    const manager = new IdentityManager({
      clock,
      timers,
      rng: seededRng(3),
      onEvent: (e) => events.push(e),
      fetch: async (identity) => {
        calls++;
        if (fail) throw new Error('CA unavailable');
        const issued = ca.issue({ identity, ttlMs: 3_600_000 });
        return { svid: issued.svid!, bundle: ca.bundle };
      },
    });
    return { clock, manager, advance, events, setFail: (v: boolean) => (fail = v), calls: () => calls };
  }

  it('fetches a certificate per identity, renews at half-life, and drops identities no longer wanted', async () => {
    const { manager, advance, events } = setup();
    manager.setIdentities([WEB]);
    expect(manager.ready()).toBe(false);
    const first = await manager.get(WEB);
    expect(first.id.toString()).toBe(WEB);
    expect(manager.ready()).toBe(true);
    await advance(30 * 60_000 - 1_000);
    expect(manager.current(WEB)).toBe(first);
    await advance(2_000);
    expect(manager.current(WEB)).not.toBe(first);
    expect(events.map((e) => e.type)).toEqual(['issued', 'issued']);
    expect(events[1]).toMatchObject({ renewal: true });
    manager.setIdentities([]);
    expect(manager.current(WEB)).toBeUndefined();
    await expect(manager.get(WEB)).rejects.toSatisfy((e: unknown) => MeshError.is(e, 'ERR_ZTUNNEL_IDENTITY'));
  });

  it('keeps the current certificate while renewals fail, retries with backoff, and reports it', async () => {
    const { manager, advance, events, setFail, calls } = setup();
    manager.setIdentities([WEB]);
    const first = await manager.get(WEB);
    setFail(true);
    await advance(30 * 60_000 + 1);
    expect(manager.current(WEB)).toBe(first); // kept: still valid
    await advance(10 * 60_000);
    const failures = events.filter((e) => e.type === 'failed');
    expect(failures.length).toBeGreaterThan(3);
    expect(failures[0]).toMatchObject({ keptUntil: first.expiresAt });
    // Backoff grows: the gaps between retries are not constant.
    const gaps = failures.slice(0, 4).map((e) => (e as { retryInMs: number }).retryInMs);
    expect(gaps[3]!).toBeGreaterThan(gaps[0]!);
    expect(manager.status()[0]!.state).toBe('Available');
    setFail(false);
    const before = calls();
    await advance(5 * 60_000);
    expect(calls()).toBeGreaterThan(before);
    expect(manager.current(WEB)).not.toBe(first);
    manager.close();
  });

  it('reports Unavailable once the certificate has expired and the CA still fails', async () => {
    const { manager, advance, setFail } = setup();
    manager.setIdentities([WEB]);
    await manager.get(WEB);
    setFail(true);
    await advance(61 * 60_000);
    expect(manager.current(WEB)).toBeUndefined();
    expect(manager.ready()).toBe(false);
    expect(manager.status()[0]!.state).toBe('Unavailable: CA unavailable');
    manager.close();
  });
});

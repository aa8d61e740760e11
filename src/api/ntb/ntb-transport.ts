import { debuglog } from 'node:util';
import type { Subscription } from 'rxjs';
import { EpdmaError, isEpdmaError } from '../../device/errors.js';
import { createCpuPool, type CpuPool } from '../../actors/cpu-pool.js';
import type { DmaChannel, DmaEngine, Testbed } from '../types.js';
import { MwTranslation } from './mw-translation.js';
import { resolveNtbConfig } from './ntb-config.js';
import { NtbDoorbell } from './ntb-doorbell.js';
import { NtbPortImpl, type TransportConfig } from './ntb-port.js';
import type { NtbTransport, NtbTransportOptions } from './ntb-types.js';
import { Scratchpads } from './scratchpad-handshake.js';
import { SideMemory } from './side-memory.js';
import { channelKindFor, type ChannelSide } from '../../device/direction.js';

/**
 * createNtbTransport (API.md "NTB-style transport"): ntb_transport's queue pairs over the
 * testbed, with payload moved by DMA on both sides, the design the reference (8.6) describes
 * for ntb_transport_edma: the host drives a delegated READ channel for host->EP frames (host
 * memory -> EP memory), the endpoint drives a local WRITE channel for EP->host frames.
 *
 * Each side's receive rings live in its own memory; the peer writes payload into them by DMA
 * and headers / consumed indices by CPU. Scratchpads, window translations and doorbells are
 * small shared register sets. One piscina pool (one thread) does the CPU copies of both ports.
 *
 * Lifetime: each port closes on its own (its sends reject ESHUTDOWN, its channels go back);
 * the shared pool, the link-event subscription and all ring/staging/payload memory are
 * released when the second port has closed, because until then the other port may still DMA
 * into this one's rings. The returned object's close() closes both.
 */

const log = debuglog('epdma');

/**
 * A queue transmits by moving this side's memory to the peer: the host with a delegated read
 * channel (host -> EP), the endpoint with a local write channel (EP -> host).
 */
const TX_DIRECTION = 'mem-to-dev';

async function requestTxChannels(engine: DmaEngine, side: ChannelSide, cfg: TransportConfig): Promise<(DmaChannel | null)[]> {
  const out: (DmaChannel | null)[] = [];
  const kind = channelKindFor(side, TX_DIRECTION);
  for (let qp = 0; qp < cfg.queues; qp++) {
    if (!cfg.useDma) {
      out.push(null);
      continue;
    }
    try {
      out.push(await engine.requestChannel({ direction: TX_DIRECTION, kind }));
    } catch (err) {
      if (!isEpdmaError(err, 'EBUSY')) throw err;
      // ntb_transport_create_queue: a missing channel is logged and the CPU copies instead.
      log('ntb %s qp%d: no free %s channel, using CPU copies: %s', side, qp, kind, err.message);
      out.push(null);
    }
  }
  return out;
}

export async function createNtbTransport(testbed: Testbed, options?: NtbTransportOptions): Promise<NtbTransport> {
  const cfg = resolveNtbConfig(options);
  if (testbed === null || typeof testbed !== 'object' || testbed.host === undefined || testbed.endpoint === undefined) {
    throw new EpdmaError('EINVAL', `createNtbTransport: testbed ${String(testbed)} has no host and endpoint sides`);
  }
  const hostMemory = new SideMemory(testbed.host.memory, 'host');
  const epMemory = new SideMemory(testbed.endpoint.memory, 'endpoint');
  const channels: (DmaChannel | null)[] = [];
  let pool: CpuPool | undefined;
  const ports: NtbPortImpl[] = [];
  let events: Subscription | undefined;
  let linkUp = true; // the testbed is ready (link up) once createTestbed resolved
  let shared: Promise<void> | undefined;

  // Channels are released by their ports; only a failed creation (no ports yet) releases them here.
  const releaseShared = async (releaseChannels: boolean): Promise<void> => {
    events?.unsubscribe();
    if (releaseChannels) await Promise.allSettled(channels.map((c) => c?.release()));
    await pool?.close();
    for (const p of ports) {
      const mem = p.side === 'host' ? hostMemory : epMemory;
      for (const b of p.takeBuffers()) mem.free(b);
    }
  };

  try {
    const hostChannels = await requestTxChannels(testbed.host.dma, 'host', cfg);
    channels.push(...hostChannels);
    const epChannels = await requestTxChannels(testbed.endpoint.dma, 'endpoint', cfg);
    channels.push(...epChannels);
    pool = createCpuPool({ maxThreads: 1 });
    const hostSpads = Scratchpads.create(cfg.mwCount);
    const epSpads = Scratchpads.create(cfg.mwCount);
    const hostXlat = MwTranslation.create(cfg.mwCount);
    const epXlat = MwTranslation.create(cfg.mwCount);
    const hostDb = NtbDoorbell.create();
    const epDb = NtbDoorbell.create();
    const onClosed = async (): Promise<void> => {
      if (ports.every((p) => p.isClosed)) {
        shared ??= releaseShared(false);
        await shared;
      }
    };
    const common = { pool, linkIsUp: () => linkUp, log: (m: string) => log('ntb %s', m), onClosed };
    ports.push(new NtbPortImpl({
      side: 'host', memory: hostMemory, peerMemory: epMemory, spads: hostSpads, peerSpads: epSpads,
      translation: hostXlat, peerTranslation: epXlat, doorbell: hostDb, peerDoorbell: epDb, channels: hostChannels, ...common,
    }, cfg));
    ports.push(new NtbPortImpl({
      side: 'endpoint', memory: epMemory, peerMemory: hostMemory, spads: epSpads, peerSpads: hostSpads,
      translation: epXlat, peerTranslation: hostXlat, doorbell: epDb, peerDoorbell: hostDb, channels: epChannels, ...common,
    }, cfg));
  } catch (err) {
    await releaseShared(true);
    throw err;
  }

  events = testbed.events$.subscribe((e) => {
    if (e.type === 'link-down' && linkUp) {
      linkUp = false;
      for (const p of ports) p.linkDown();
    } else if (e.type === 'link-up' && !linkUp) {
      linkUp = true;
      for (const p of ports) p.linkUp();
    }
  });
  for (const p of ports) p.start();

  const [host, endpoint] = ports as [NtbPortImpl, NtbPortImpl];
  const close = async (): Promise<void> => {
    await Promise.all([host.close(), endpoint.close()]);
  };
  return { host, endpoint, close, [Symbol.asyncDispose]: close };
}

import { NEVER, type Observable } from 'rxjs';
import { EpdmaError } from '../../device/errors.js';
import { ramRegion } from '../../device/bus/memory-region.js';
import { RegionMemory } from '../dma-memory.js';
import type { ChannelInfo, Completion, DmaChannel, DmaEngine, EndpointSide, HostSide, RuntimeEvent, Testbed } from '../types.js';
import { openHostSide, type OpenHostOptions } from './open-host.js';
import { channelIdentity } from '../../device/direction.js';

/**
 * A Testbed-shaped view of an endpoint process, from a host process (`epdma loadtest --attach
 * DIR`): `host` is the openHost side; `endpoint.memory` hands out the UPPER half of the EP's
 * RAM (the endpoint process's own clients allocate from the lower half, so the two never
 * overlap) for device addresses and verification; `endpoint.dma` has no channels (they belong
 * to the endpoint process); metadata and delegated channels are what the probe found. The
 * link belongs to the endpoint process: linkDown/linkUp reject EOPNOTSUPP.
 */
export async function attachTestbed(options: OpenHostOptions): Promise<Testbed & AsyncDisposable> {
  const host = await openHostSide(options);
  try {
    const ram = host.endpointRam;
    const half = Math.floor(ram.size / 2 / 4096) * 4096;
    const upper = ramRegion(`${ram.name} (upper half)`, ram.base + half, ram.size - half, ram.buffer, ram.bufferOffset + half);
    const endpoint: EndpointSide = {
      memory: new RegionMemory(upper),
      dma: new NoChannels(),
      metadata: host.device.metadata,
      delegated: host.manifest.delegated.map((d) => channelIdentity('host', d.kind, d.hwChannel)),
    };
    return new AttachedTestbed(host, endpoint);
  } catch (err) {
    await host.close();
    throw err;
  }
}

class NoChannels implements DmaEngine {
  readonly channels: readonly ChannelInfo[] = [];
  readonly completions$: Observable<Completion> = NEVER;
  readonly completionBatches$: Observable<readonly Completion[]> = NEVER;
  requestChannel(): Promise<DmaChannel> {
    return Promise.reject(new EpdmaError('ENODEV', 'attached testbed: the endpoint\'s own channels belong to the endpoint process'));
  }
}

class AttachedTestbed implements Testbed, AsyncDisposable {
  readonly host: HostSide;
  readonly endpoint: EndpointSide;
  readonly completions$: Observable<Completion>;
  readonly events$: Observable<RuntimeEvent>;
  readonly faults: { crashChannel(name: string): Promise<void> };
  private readonly side: Awaited<ReturnType<typeof openHostSide>>;

  constructor(side: Awaited<ReturnType<typeof openHostSide>>, endpoint: EndpointSide) {
    this.side = side;
    this.host = side;
    this.endpoint = endpoint;
    this.completions$ = side.completions$;
    this.events$ = side.events$;
    this.faults = {
      crashChannel: async (name: string): Promise<void> => {
        if (!name.startsWith('host/')) throw new EpdmaError('EINVAL', `crashChannel: '${name}': only host/... channels run in this process`);
        await side.dmaDevice.crash(name);
      },
    };
  }

  linkDown(): Promise<void> {
    return Promise.reject(new EpdmaError('EOPNOTSUPP', 'attached testbed: the link belongs to the endpoint process'));
  }

  linkUp(): Promise<void> {
    return Promise.reject(new EpdmaError('EOPNOTSUPP', 'attached testbed: the link belongs to the endpoint process'));
  }

  close(): Promise<void> {
    return this.side.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

import { CHANNEL_KINDS, channelIdentity, type ChannelIdentity } from '../device/direction.js';
import type { DwEdmaChannelRegion, DwEdmaChip } from '../device/dma-chip.js';
import { CTRL_READY, PCI_EP_DMA_METADATA_CTRL } from '../device/metadata/metadata-format.js';
import type { PciFunction } from '../device/pci/pci-function.js';
import type { ChannelKind } from '../device/regs/channel-registers.js';
import { DW_EDMA_PCIE_DRIVER, HostDriver, type HostDriverOptions, type HostEvent } from '../dw-edma-pcie/host-driver.js';
import type { LinkGate } from '../protocol/channel-worker-data.js';
import { DmaDevice, type ChannelSpec, type DmaDeviceOptions } from './dma-device.js';
import type { HostSide } from './types.js';

/**
 * How both topologies put a side together: the in-process testbed builds both sides, the
 * two-process mode the endpoint's in one process (endpoint-process.ts) and the host's in
 * another (open-host.ts). What differs between them is only where a channel's engine runs and
 * how its worker idles (ChannelRuntime); the rest is here once.
 */

/** What a chip does not decide about a channel: its engine, idle policy, timeouts, tracing. */
export type ChannelRuntime = Omit<ChannelSpec, 'name' | 'kind' | 'hwChannel' | 'direction' | 'mapFormat' | 'funcNo' | 'remote' | 'registers' | 'll' | 'gate'>;

/**
 * One channel worker per channel of a dw_edma_chip (write channels first, as dw-edma sets them
 * up), named and directed for the DmaDevice's side, each run only while `gate` is open.
 * `claim` takes a channel before its worker starts (the EP's dma_request_chan on its own
 * channels; the host's are the function's already).
 */
export async function startChipChannels(
  dma: DmaDevice,
  chip: DwEdmaChip,
  gate: LinkGate,
  runtime: (info: ChannelIdentity, region: DwEdmaChannelRegion) => ChannelRuntime,
  claim?: (kind: ChannelKind, hwChannel: number) => void,
): Promise<void> {
  const starts: Promise<unknown>[] = [];
  for (const kind of CHANNEL_KINDS) {
    for (const region of chip[kind]) {
      claim?.(kind, region.hwChannel);
      const info = channelIdentity(dma.side, kind, region.hwChannel);
      starts.push(dma.addChannel(info, {
        name: info.name, kind, hwChannel: region.hwChannel, direction: info.direction, mapFormat: chip.mapFormat,
        funcNo: chip.funcNo, remote: !chip.local, registers: chip.registers.buffer, ll: region.ll, gate,
        ...runtime(info, region),
      }));
    }
  }
  await Promise.all(starts);
}

/** The EP's own channels run while its side of the link is up: bit 0 of `word`[0]. */
export function linkUpGate(word: Int32Array): LinkGate {
  return { buffer: word.buffer as SharedArrayBuffer, byteOffset: word.byteOffset, index: 0, mask: 1 };
}

/**
 * The host's channels run only while READY (metadata CTRL bit 31) is set, so they never move
 * data through windows the EP has torn down: the gate is the CTRL dword as the host maps it.
 */
function metadataReadyGate(fn: PciFunction, metadataBar: number): LinkGate {
  const ctrl = fn.bars[metadataBar]!.aperture.iomap(0, PCI_EP_DMA_METADATA_CTRL + 4);
  return {
    buffer: ctrl.region.buffer,
    byteOffset: ctrl.region.bufferOffset + ctrl.offset,
    index: PCI_EP_DMA_METADATA_CTRL / 4,
    // CTRL_READY is kept unsigned; the gate tests an Int32Array word.
    mask: CTRL_READY | 0,
  };
}

export interface HostBindingOptions {
  readonly probe: HostDriverOptions;
  /** The host's DmaDevice (its side is 'host'). */
  readonly device: Omit<DmaDeviceOptions, 'side'>;
  /** The bound driver's READY changes, from the first one on. */
  readonly onDriverEvent: (e: HostEvent) => void;
}

/** The host side once dw-edma-pcie is bound; the channels start with startChannels. */
export interface HostBinding {
  readonly driver: HostDriver;
  readonly dma: DmaDevice;
  /** HostSide.device: the function as enumerated, and the metadata the driver parsed. */
  readonly device: HostSide['device'];
  /** One channel worker per channel the driver found (startChipChannels), gated on READY. */
  startChannels(runtime: (info: ChannelIdentity, region: DwEdmaChannelRegion) => ChannelRuntime): Promise<void>;
}

/**
 * The host half both topologies share: binds dw-edma-pcie to `fn` as `echo dw-edma-pcie >
 * driver_override` does, probes it (metadata, H, READY) and makes the host's DmaDevice. Nothing
 * is left running if the probe fails; after that the caller owns `driver` and `dma`.
 */
export async function bindHost(fn: PciFunction, options: HostBindingOptions): Promise<HostBinding> {
  fn.driverOverride = DW_EDMA_PCIE_DRIVER;
  const driver = await HostDriver.probe(fn, options.probe);
  driver.events$.subscribe(options.onDriverEvent);
  const dma = new DmaDevice({ ...options.device, side: 'host' });
  const gate = metadataReadyGate(fn, driver.metadataBar);
  return {
    driver,
    dma,
    device: {
      vendorId: fn.config.vendorId,
      deviceId: fn.config.deviceId,
      classCode: fn.config.classCode,
      bars: fn.bars.flatMap((b) => (b === undefined ? [] : [{ index: b.index, size: b.size, busAddr: b.busAddr }])),
      metadata: driver.metadata,
    },
    startChannels: (runtime) => startChipChannels(dma, driver.chip, gate, runtime),
  };
}

import { Subject, type Observable } from 'rxjs';
import { EpdmaError } from '../device/errors.js';
import type { DwEdmaChip } from '../device/dma-chip.js';
import { DW_PCIE_EP_DMA_READY_TIMEOUT_US, type HeaderLayout } from '../device/metadata/metadata-format.js';
import { clearHostRequest, readReady, setHostRequest } from '../device/metadata/metadata-handshake.js';
import type { MetadataLayout } from '../device/metadata/metadata-layout.js';
import { parseMetadata } from '../device/metadata/metadata-parser.js';
import type { PciFunction } from '../device/pci/pci-function.js';
import { BACKOFF } from '../protocol/backoff.js';
import { waitUntil } from '../protocol/wait-until.js';
import { discoverMetadata, type DiscoveredMetadata } from './metadata-discovery.js';
import { buildRemoteChip, type HostChannelInfo } from './remote-chip.js';

export type { HostChannelInfo } from './remote-chip.js';

export interface HostDriverOptions {
  /** R poll period during probe (kernel: 1 ms). */
  readyPollMs?: number;
  /** R wait limit during probe (kernel: 2 s). */
  readyTimeoutMs?: number;
  /** The header layout the EP publishes (must match the function's headerLayout). */
  headerLayout?: HeaderLayout;
  /** Cancels a probe still waiting for R: H is cleared and the probe fails ESHUTDOWN. */
  signal?: AbortSignal;
  /** R watch period after probe (default readyPollMs). */
  watchPollMs?: number;
}

export interface HostEvent {
  readonly type: 'link-down' | 'link-up';
  readonly bdf: string;
}

export const DW_EDMA_PCIE_DRIVER = 'dw-edma-pcie';

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new EpdmaError('EINVAL', `dw-edma-pcie: ${name} ${value} must be a positive number`);
  return value;
}

/**
 * dw-edma-pcie bound to a pci-epf-dma function (reference 5): discovery, the H/R handshake,
 * parse, and the remote partial dw-edma instance. Unlike the kernel, which looks at R only
 * during probe, the bound driver keeps watching R and reports link-down / link-up, so
 * transfers submitted while the EP's windows are gone can wait (`whenReady`) or fail
 * (`isReady`), instead of faulting on unmapped BAR windows.
 */
export class HostDriver {
  readonly fn: PciFunction;
  readonly metadataBar: number;
  readonly metadata: MetadataLayout;
  readonly chip: DwEdmaChip;
  readonly channels: readonly HostChannelInfo[];
  readonly nrIrqs: number;
  readonly events$: Observable<HostEvent>;
  private readonly words: Uint32Array;
  private readonly headerLayout: HeaderLayout;
  private readonly subject = new Subject<HostEvent>();
  private watch: NodeJS.Timeout | undefined;
  private lastReady = true;
  private waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private gone = false;

  /** Probe: ENODEV without driver_override, then discovery, H, wait for R, parse, build. */
  static async probe(fn: PciFunction, options: HostDriverOptions = {}): Promise<HostDriver> {
    const readyPollMs = positive('readyPollMs', options.readyPollMs ?? BACKOFF.readyRegister.parkMs);
    const readyTimeoutMs = positive('readyTimeoutMs', options.readyTimeoutMs ?? DW_PCIE_EP_DMA_READY_TIMEOUT_US / 1000);
    const watchPollMs = positive('watchPollMs', options.watchPollMs ?? readyPollMs);
    const headerLayout = options.headerLayout ?? 'v4';
    if (fn.driverOverride !== DW_EDMA_PCIE_DRIVER) {
      throw new EpdmaError('ENODEV', `dw-edma-pcie: ${fn.bdf} (${fn.config.vendorId.toString(16)}:${fn.config.deviceId.toString(16)}) has no ID-table entry; bind it with driver_override`);
    }
    if (options.signal?.aborted === true) throw new EpdmaError('ESHUTDOWN', `dw-edma-pcie: ${fn.bdf}: probe aborted`);

    const found = discoverMetadata(fn, headerLayout);
    // readl / OR / writel through the BAR mapping.
    setHostRequest(found.words, headerLayout);
    try {
      // read_poll_timeout on a register: nothing wakes the reader, every park is the poll period.
      await waitUntil(() => readReady(found.words, headerLayout), { ...BACKOFF.readyRegister, parkMs: readyPollMs, maxParkMs: readyPollMs }, {
        timeoutMs: readyTimeoutMs,
        signal: options.signal,
        what: `dw-edma-pcie: ${fn.bdf}: waiting for READY in BAR${found.bar.index}`,
      });
    } catch (err) {
      clearHostRequest(found.words, headerLayout);
      throw err;
    }
    let metadata: MetadataLayout;
    try {
      metadata = parseMetadata(found.bytes, { barIndex: found.bar.index, barSizes: fn.barSizes(), headerLayout });
    } catch (err) {
      // The v4 commit text says H stays set on a parse failure; the code clears it. So do we.
      clearHostRequest(found.words, headerLayout);
      throw err;
    }
    const built = buildRemoteChip(fn, metadata);
    return new HostDriver(fn, found, metadata, built, headerLayout, watchPollMs);
  }

  private constructor(
    fn: PciFunction,
    found: DiscoveredMetadata,
    metadata: MetadataLayout,
    built: ReturnType<typeof buildRemoteChip>,
    headerLayout: HeaderLayout,
    watchPollMs: number,
  ) {
    this.fn = fn;
    this.metadataBar = found.bar.index;
    this.words = found.words;
    this.metadata = metadata;
    this.chip = built.chip;
    this.channels = built.channels;
    this.nrIrqs = built.nrIrqs;
    this.headerLayout = headerLayout;
    this.events$ = this.subject.asObservable();
    this.watch = setInterval(() => this.check(), watchPollMs);
    this.watch.unref();
  }

  get removed(): boolean {
    return this.gone;
  }

  /** R as the host reads it through the metadata BAR right now. */
  isReady(): boolean {
    return !this.gone && readReady(this.words, this.headerLayout);
  }

  /** Resolves when R is set (at once if it is); rejects ESHUTDOWN on remove() or abort. */
  whenReady(signal?: AbortSignal): Promise<void> {
    if (this.gone) return Promise.reject(new EpdmaError('ESHUTDOWN', `dw-edma-pcie: ${this.fn.bdf} removed`));
    if (this.isReady()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (e: Error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      const onAbort = (): void => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        if (this.waiters.length === 0) this.watch?.unref();
        reject(new EpdmaError('ESHUTDOWN', `dw-edma-pcie: ${this.fn.bdf}: wait for READY aborted`));
      };
      if (signal?.aborted === true) {
        onAbort();
        return;
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
      // Someone awaits R: the watch must keep the process alive until it settles.
      this.watch?.ref();
    });
  }

  /** dw_edma_remove(): stops watching; the metadata (H included) is left as it is. */
  remove(): void {
    if (this.gone) return;
    this.gone = true;
    if (this.watch !== undefined) clearInterval(this.watch);
    this.watch = undefined;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(new EpdmaError('ESHUTDOWN', `dw-edma-pcie: ${this.fn.bdf} removed`));
    this.subject.complete();
  }

  private check(): void {
    if (this.gone) return;
    const ready = readReady(this.words, this.headerLayout);
    if (ready !== this.lastReady) {
      this.lastReady = ready;
      this.subject.next({ type: ready ? 'link-up' : 'link-down', bdf: this.fn.bdf });
    }
    // A waiter may have started during a flap the watch never saw; R is what counts.
    if (ready && this.waiters.length > 0) {
      const waiters = this.waiters;
      this.waiters = [];
      this.watch?.unref();
      for (const w of waiters) w.resolve();
    }
  }
}

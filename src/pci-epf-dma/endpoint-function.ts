import { Subject, type Observable } from 'rxjs';
import { EpdmaError, isEpdmaError } from '../device/errors.js';
import type { EndpointController, EpcFunctionDriver } from '../device/epc/endpoint-controller.js';
import { PCI_BASE_CLASS_SYSTEM, PCI_SUBCLASS_SYSTEM_DMA, type EpfHeader } from '../device/epc/epf-header.js';
import { PCI_EPF_DMA_HOST_REQ_POLL_MS } from '../device/metadata/metadata-format.js';
import { clearHandshake, clearReady, readHostRequest, readReady, setReady } from '../device/metadata/metadata-handshake.js';
import type { MetadataLayout } from '../device/metadata/metadata-layout.js';
import { EPF_DEFAULT_ATTRIBUTES, storeAttribute, storeAttributes, configfsName, type EpfAttributes } from './epf-attributes.js';
import { chooseBars } from './epf-bar-choice.js';
import { buildLayout, type EpfLayout } from './epf-layout.js';
import { collectAndDelegate, releaseAll, type SelectedResources } from './epf-resources.js';

export type { EpfAttributes } from './epf-attributes.js';
export type { EpfLayout,   } from './epf-layout.js';

export type EpfEventType = 'ready' | 'link-up' | 'link-down' | 'map-failed' | 'init-failed';

export interface EpfEvent {
  readonly type: EpfEventType;
  readonly funcNo: number;
  readonly reason?: string;
  readonly error?: EpdmaError;
}

export interface EndpointFunctionOptions extends Partial<EpfAttributes> {
  /** How often map work polls H while waiting for the host (kernel: 500 ms). */
  hostRequestPollMs?: number;
}

/** A channel handed to the host, as the EP records it. */
export interface DelegatedChannelInfo {
  readonly kind: 'write' | 'read';
  readonly hwChannel: number;
}

/**
 * pci-epf-dma: the endpoint function that delegates EP DMA channels to the host. bind()
 * follows reference 3.3/3.4 rule by rule; the lifecycle of 3.5 runs on unref'd timers where the
 * kernel uses delayed work (map work polling H), everything else is synchronous like the
 * kernel's callbacks.
 */
export class EndpointFunction implements EpcFunctionDriver {
  readonly hostRequestPollMs: number;
  private attrs: EpfAttributes;
  private epc: EndpointController | undefined;
  private func = -1;
  private selected: SelectedResources | undefined;
  private built: EpfLayout | undefined;
  private view: Uint32Array | undefined;
  private initDone = false;
  private programmed = false;
  private exposed = false;
  private timer: NodeJS.Timeout | undefined;
  private polls = 0;
  private readonly failures: EpdmaError[] = [];
  private readonly subject = new Subject<EpfEvent>();
  readonly events$: Observable<EpfEvent> = this.subject.asObservable();

  constructor(options: EndpointFunctionOptions = {}) {
    const { hostRequestPollMs, ...attrs } = options;
    this.hostRequestPollMs = hostRequestPollMs ?? PCI_EPF_DMA_HOST_REQ_POLL_MS;
    if (!Number.isFinite(this.hostRequestPollMs) || this.hostRequestPollMs <= 0) {
      throw new EpdmaError('EINVAL', `pci_epf_dma: hostRequestPollMs ${String(hostRequestPollMs)} must be a positive number`);
    }
    this.attrs = storeAttributes(EPF_DEFAULT_ATTRIBUTES, attrs);
  }

  // ---- configfs ----

  get attributes(): Readonly<EpfAttributes> {
    return { ...this.attrs };
  }

  /**
   * Writes one attribute; EOPNOTSUPP once bound, EINVAL naming the attribute if out of range or
   * if metadata_bar and dma_window_bar would name the same BAR (the old value stays).
   */
  set<K extends keyof EpfAttributes>(name: K, value: EpfAttributes[K]): void {
    if (this.epc !== undefined) {
      throw new EpdmaError('EOPNOTSUPP', `pci_epf_dma: ${name} (${configfsName(name)}) cannot change while the function is bound`);
    }
    this.attrs = storeAttribute(this.attrs, name, value);
  }

  configure(partial: Partial<EpfAttributes>): void {
    for (const key of Object.keys(partial) as (keyof EpfAttributes)[]) {
      if (partial[key] !== undefined) this.set(key, partial[key]);
    }
  }

  // ---- state, for the testbed and tests ----

  get bound(): boolean {
    return this.epc !== undefined;
  }
  get funcNo(): number {
    return this.func;
  }
  get layout(): EpfLayout | undefined {
    return this.built;
  }
  get metadata(): MetadataLayout | undefined {
    return this.built?.metadata;
  }
  /** The BARs bind() resolved ('auto' made concrete). */
  get metadataBar(): number | undefined {
    return this.built?.metadataBar;
  }
  get dmaWindowBar(): number | undefined {
    return this.built?.windowBar;
  }
  get submapsProgrammed(): boolean {
    return this.programmed;
  }
  /** True once R was ever set: unbind then reclaims with quiesce. */
  get channelsExposed(): boolean {
    return this.exposed;
  }
  /** Map work and epc_init failures, logged like the kernel's dev_err and not retried. */
  get failuresLog(): readonly EpdmaError[] {
    return this.failures;
  }
  get delegated(): readonly DelegatedChannelInfo[] {
    return (this.selected?.handles ?? []).map((h) => ({ kind: h.dir === 'ep-to-rc' ? 'write' : 'read', hwChannel: h.hwChannel }));
  }
  /** The live metadata BAR as 32-bit words (the EP CPU's view of its own memory). */
  get metadataWords(): Uint32Array | undefined {
    return this.view;
  }
  get ready(): boolean {
    return this.view !== undefined && readReady(this.view, this.attrs.headerLayout);
  }
  get mapWorkPending(): boolean {
    return this.timer !== undefined;
  }
  /** How many times map work has run (each H poll counts). */
  get mapWorkRuns(): number {
    return this.polls;
  }

  // ---- bind / unbind ----

  bind(epc: EndpointController): void {
    if (this.epc !== undefined) throw new EpdmaError('EBUSY', `pci_epf_dma: already bound as function ${this.func}`);
    const funcNo = epc.attach(this);
    let selected: SelectedResources | undefined;
    try {
      const f = epc.features;
      if (!f.msiCapable && !f.msixCapable) throw new EpdmaError('EOPNOTSUPP', 'pci_epf_dma: the EPC is neither MSI nor MSI-X capable');
      const msi = f.msiCapable && this.attrs.msiInterrupts > 0;
      const msix = f.msixCapable && this.attrs.msixInterrupts > 0;
      if (!msi && !msix) {
        throw new EpdmaError('EINVAL', `pci_epf_dma: no usable interrupt vectors (msi_interrupts ${this.attrs.msiInterrupts}, msix_interrupts ${this.attrs.msixInterrupts})`);
      }
      selected = collectAndDelegate(epc, funcNo, this.attrs.wrChans, this.attrs.rdChans);
      const bars = chooseBars(epc, selected, this.attrs.metadataBar, this.attrs.dmaWindowBar);
      this.built = buildLayout(epc, { selected, bars, msixInterrupts: this.attrs.msixInterrupts, headerLayout: this.attrs.headerLayout });
    } catch (err) {
      if (selected !== undefined) releaseAll(epc, selected.handles);
      epc.detach(funcNo);
      throw err;
    }
    this.epc = epc;
    this.func = funcNo;
    this.selected = selected;
    const bytes = this.built.metadataSpace.block.bytes;
    this.view = new Uint32Array(bytes.buffer, bytes.byteOffset, this.built.metadataSpace.barSize / 4);
    if (epc.initComplete) this.epcInit();
  }

  /** Cancels work, deinits, reclaims every channel (quiesce iff R was ever set), frees all. */
  unbind(): void {
    const epc = this.epc;
    if (epc === undefined) return;
    this.cancelWork();
    if (this.initDone) this.epcDeinit();
    for (const h of this.selected?.handles ?? []) epc.reclaimDmaChan(h, this.exposed);
    if (this.built !== undefined) {
      epc.freeSpace(this.built.metadataSpace);
      if (this.built.windowSpace !== undefined) epc.freeSpace(this.built.windowSpace);
    }
    epc.detach(this.func);
    this.epc = undefined;
    this.func = -1;
    this.selected = undefined;
    this.built = undefined;
    this.view = undefined;
    this.programmed = false;
    this.exposed = false;
  }

  // ---- EPC callbacks (reference 3.5) ----

  epcInit(): void {
    const epc = this.epc;
    const l = this.built;
    if (epc === undefined || l === undefined || this.view === undefined || this.initDone) return;
    const hl = this.attrs.headerLayout;
    try {
      clearHandshake(this.view, hl);
      epc.writeHeader(this.func, this.header());
      epc.setBar(this.func, l.metadataBar, { phys: l.metadataSpace.block.phys, size: l.metadataSpace.barSize });
      if (l.windowSpace !== undefined && l.windowBar !== undefined) {
        // Plain BAR first: the submaps need the address the host assigns at enumeration.
        epc.setBar(this.func, l.windowBar, { phys: l.windowSpace.block.phys, size: l.windowSpace.barSize });
      }
      if (epc.features.msiCapable && this.attrs.msiInterrupts > 0) epc.setMsi(this.func, this.attrs.msiInterrupts);
      if (epc.features.msixCapable && this.attrs.msixInterrupts > 0 && l.msixTableOffset !== undefined) {
        epc.setMsix(this.func, { count: this.attrs.msixInterrupts, bir: l.metadataBar, tableOffset: l.msixTableOffset });
      }
    } catch (err) {
      this.unpublish();
      this.fail('init-failed', err);
      return;
    }
    this.initDone = true;
    this.schedule(0);
  }

  epcDeinit(): void {
    this.cancelWork();
    if (!this.initDone) return;
    this.unpublish();
    this.initDone = false;
  }

  linkUp(): void {
    if (this.epc === undefined) return;
    this.emit({ type: 'link-up', funcNo: this.func });
    if (this.initDone) this.schedule(0);
  }

  linkDown(): void {
    if (this.epc === undefined) return;
    this.cancelWork();
    if (this.view !== undefined) clearReady(this.view, this.attrs.headerLayout);
    if (this.programmed && this.built?.windowBar !== undefined) {
      // Non-sticky iATU state is lost with the link; the next link-up reprograms.
      this.epc.dropInboundWindows(this.func, this.built.windowBar);
    }
    this.programmed = false;
    this.emit({ type: 'link-down', funcNo: this.func });
  }

  // ---- map work ----

  private schedule(delayMs: number): void {
    this.cancelWork();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.mapWork();
    }, delayMs);
    this.timer.unref();
  }

  private cancelWork(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private mapWork(): void {
    const epc = this.epc;
    if (epc === undefined || this.view === undefined || this.built === undefined) return;
    this.polls++;
    if (!epc.initComplete || !this.initDone || !readHostRequest(this.view, this.attrs.headerLayout)) {
      this.schedule(this.hostRequestPollMs);
      return;
    }
    const l = this.built;
    if (l.windowBar !== undefined) {
      if (this.programmed) return;
      try {
        epc.setBarSubmaps(this.func, l.windowBar, l.submaps.map((s) => ({ barOffset: s.barOffset, size: s.size, localAddr: s.phys })));
      } catch (err) {
        this.fail('map-failed', err);
        return; // not retried, like the kernel; the next link-up tries again
      }
      this.programmed = true;
    }
    const wasReady = readReady(this.view, this.attrs.headerLayout);
    // The Atomics store in setReady orders after the window programming (the kernel's wmb()).
    setReady(this.view, this.attrs.headerLayout);
    this.exposed = true;
    if (!wasReady) this.emit({ type: 'ready', funcNo: this.func });
  }

  // ---- helpers ----

  private unpublish(): void {
    const epc = this.epc;
    const l = this.built;
    if (epc === undefined || l === undefined) return;
    if (this.view !== undefined) clearHandshake(this.view, this.attrs.headerLayout);
    if (l.windowBar !== undefined) epc.clearBar(this.func, l.windowBar);
    epc.clearBar(this.func, l.metadataBar);
    epc.clearInterrupts(this.func);
    this.programmed = false;
  }

  private header(): EpfHeader {
    return {
      vendorId: this.attrs.vendorId,
      deviceId: this.attrs.deviceId,
      revisionId: 0,
      progIf: 0,
      subclassCode: PCI_SUBCLASS_SYSTEM_DMA,
      baseClassCode: PCI_BASE_CLASS_SYSTEM,
      subsysVendorId: 0,
      subsysId: 0,
      interruptPin: 1,
    };
  }

  private fail(type: 'map-failed' | 'init-failed', err: unknown): void {
    const e = isEpdmaError(err) ? err : new EpdmaError('EIO', `pci_epf_dma: ${String(err)}`, err);
    this.failures.push(e);
    this.emit({ type, funcNo: this.func, reason: e.message, error: e });
  }

  private emit(event: EpfEvent): void {
    this.subject.next(event);
  }
}

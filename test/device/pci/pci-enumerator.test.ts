import { describe, expect, it } from 'vitest';
import { EndpointController } from '../../../dist/device/epc/endpoint-controller.js';
import { PciEnumerator } from '../../../dist/device/pci/pci-enumerator.js';

const header = {
  vendorId: 0x1234, deviceId: 0x5678, revisionId: 2, progIf: 0, subclassCode: 0x01, baseClassCode: 0x08,
  subsysVendorId: 0, subsysId: 0, interruptPin: 1,
};

/** An EP function that publishes BAR0 (4 KiB) and BAR2 (128 KiB) like pci-epf-dma would. */
function publishedEndpoint(): { epc: EndpointController; funcNo: number } {
  let funcNo = -1;
  const epc = new EndpointController({ registerBar: { bar: 4, size: 0x10000 }, memoryBytes: 1 << 20 });
  funcNo = epc.attach({
    epcInit() {
      epc.writeHeader(funcNo, header);
      const a = epc.allocSpace(0, 0x1000);
      epc.setBar(funcNo, 0, { phys: a.block.phys, size: a.barSize });
      const b = epc.allocSpace(2, 0x12000);
      epc.setBar(funcNo, 2, { phys: b.block.phys, size: b.barSize });
      epc.setMsi(funcNo, 8);
    },
    epcDeinit() {}, linkUp() {}, linkDown() {},
  });
  return { epc, funcNo };
}

describe('PciEnumerator', () => {
  it('sees nothing while the link is down', () => {
    const { epc } = publishedEndpoint();
    expect(new PciEnumerator().enumerate(epc)).toEqual([]);
    epc.coreInit();
    expect(new PciEnumerator().enumerate(epc)).toEqual([]);
  });

  it('reads the header (class 0x0801) and assigns naturally aligned BAR addresses from 0xf000_0000', () => {
    const { epc } = publishedEndpoint();
    epc.start();
    const [fn] = new PciEnumerator().enumerate(epc);
    expect(fn).toBeDefined();
    expect(fn!.bdf).toBe('0000:01:00.0');
    expect(fn!.config).toMatchObject({ vendorId: 0x1234, deviceId: 0x5678, revisionId: 2, classCode: 0x080100, interruptPin: 1 });
    expect(fn!.classBaseSub).toBe(0x0801);
    expect(fn!.bars.map((b) => (b === undefined ? undefined : [b.busAddr, b.size]))).toEqual([
      [0xf000_0000, 0x1000], undefined, [0xf002_0000, 0x20000], undefined, [0xf004_0000, 0x10000], undefined,
    ]);
    for (const b of fn!.bars) if (b !== undefined) expect(b.busAddr % b.size).toBe(0);
    expect(fn!.barSizes()).toEqual([0x1000, 0, 0x20000, 0, 0x10000, 0]);
    expect(fn!.msiVectors).toBe(8);
    expect(fn!.driverOverride).toBeUndefined();
    // The aperture carries the address, so the EP can use it for dynamic inbound mapping.
    expect(fn!.bars[2]!.aperture.busAddr).toBe(0xf002_0000);
  });

  it('keeps assigned addresses on re-enumeration', () => {
    const { epc } = publishedEndpoint();
    epc.start();
    const e = new PciEnumerator({ mmioBase: 0xe000_0000 });
    const a = e.enumerate(epc)[0]!;
    const b = e.enumerate(epc)[0]!;
    expect(b.bars.map((x) => x?.busAddr)).toEqual(a.bars.map((x) => x?.busAddr));
    expect(a.bars[0]!.busAddr).toBe(0xe000_0000);
  });

  it('fails ENODEV for a function that wrote no header, ENOMEM when the MMIO window is full', () => {
    const epc = new EndpointController({ memoryBytes: 1 << 20 });
    const f = epc.attach({ epcInit() {}, epcDeinit() {}, linkUp() {}, linkDown() {} });
    epc.start();
    expect(() => new PciEnumerator().enumerateFunction(epc, f)).toThrow(expect.objectContaining({ code: 'ENODEV' }));
    const { epc: big } = publishedEndpoint();
    big.start();
    expect(() => new PciEnumerator({ mmioSize: 0x10000 }).enumerate(big)).toThrow(expect.objectContaining({ code: 'ENOMEM' }));
  });
});

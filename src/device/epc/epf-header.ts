/**
 * `struct pci_epf_header`: what a function writes into its configuration header at epc_init
 * and what the host reads at enumeration.
 */
export interface EpfHeader {
  readonly vendorId: number;
  readonly deviceId: number;
  readonly revisionId: number;
  readonly progIf: number;
  readonly subclassCode: number;
  readonly baseClassCode: number;
  readonly subsysVendorId: number;
  readonly subsysId: number;
  /** 1 = INTA. */
  readonly interruptPin: number;
}

/** PCI_BASE_CLASS_SYSTEM, PCI_CLASS_SYSTEM_DMA & 0xff: lspci shows "0801". */
export const PCI_BASE_CLASS_SYSTEM = 0x08;
export const PCI_SUBCLASS_SYSTEM_DMA = 0x01;
/** PCI_ANY_ID: the configfs default, meaning "the user must set it". */
export const PCI_ANY_ID = 0xffff;

/** The MSI-X capability a function configured: table and PBA live in BAR `bir`. */
export interface MsixConfig {
  readonly count: number;
  readonly bir: number;
  readonly tableOffset: number;
}

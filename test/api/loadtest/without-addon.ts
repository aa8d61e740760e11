/**
 * Imported first by a test file that must run without the native addon: the loader decides on
 * its first call (createTestbed makes it), and EPDMA_NO_NATIVE=1 makes the decision "no" for
 * this test process and the workers it starts.
 */
process.env.EPDMA_NO_NATIVE = '1';

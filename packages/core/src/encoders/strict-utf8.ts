/** Decodes UTF-8 and throws on bytes that are not, instead of inventing U+FFFD: a corrupt value must read as a miss. */
export const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

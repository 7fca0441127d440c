/** A command as Keyshard writes it itself: its name in lower case, as iovalkey names commands, then its arguments. */
export type WireCommand = readonly (string | Buffer)[]

/**
 * `commands` in the wire format (RESP arrays of bulk strings), as iovalkey writes a command: one string when every
 * argument is text, else one Buffer. Text is written as UTF-8; Keyshard's keys and text values are well-formed
 * (keys.ts, the raw-string encoder), so the byte lengths counted here are the bytes the socket sends.
 */
export function encodeCommands(commands: readonly WireCommand[]): string | Buffer {
  let text = ''
  let chunks: Buffer[] | undefined
  for (const command of commands) {
    text += `*${command.length}\r\n`
    for (const arg of command) {
      if (typeof arg === 'string') {
        text += `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`
        continue
      }
      chunks ??= []
      chunks.push(Buffer.from(`${text}$${arg.length}\r\n`), arg)
      text = '\r\n'
    }
  }
  if (chunks === undefined) return text
  chunks.push(Buffer.from(text))
  return Buffer.concat(chunks)
}

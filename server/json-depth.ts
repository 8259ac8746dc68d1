// How deep a JSON text nests, found by one pass over its characters before it is parsed: a body
// nested thousands deep parses, but whatever walks it afterwards (validation, serialisation)
// recurses and overflows the stack.

const OPEN = new Set([0x7b, 0x5b]) // { [
const CLOSE = new Set([0x7d, 0x5d]) // } ]

/** The greatest nesting of objects and arrays in `text` (brackets inside strings do not count). */
export function jsonDepth(text: string): number {
  let depth = 0
  let max = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c)
        i++ // backslash: skip the escaped character
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (OPEN.has(c)) {
      if (++depth > max) max = depth
    } else if (CLOSE.has(c)) depth--
  }
  return max
}

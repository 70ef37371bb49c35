/**
 * Where a refused browser is sent: `target` with `next` set to the page it asked for.
 * The prefix is computed once per guard; `next` per refused request.
 */
export function redirectPrefix (target: string): { before: string, after: string } {
  const hash = target.indexOf('#')
  const before = hash === -1 ? target : target.slice(0, hash)
  const after = hash === -1 ? '' : target.slice(hash)
  return { before: before + (before.includes('?') ? '&' : '?') + 'next=', after }
}

/**
 * The original path and query as a same-origin path. Browsers read `\` as `/` and drop tabs
 * and newlines, so a path like `//evil.example`, `/\evil.example` or `/\t/evil.example` would
 * leave the origin once a login page redirects to it: every leading run of slashes,
 * backslashes and control characters becomes one `/`.
 */
export function safeNext (url: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are what is stripped
  return '/' + url.replace(/^[/\\\x00-\x20\x7f]+/, '')
}
